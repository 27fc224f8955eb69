"""Source names for the analysis commands, and the header-only listing of docker-archive
layers (same analysis as the verified stream; tampering caught only with --verify)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from layerfs.analysis.dive import analyze
from layerfs.analysis.seekable import WindowLayer
from layerfs.analysis.sources import engine_location, open_source, with_source
from layerfs.errors import InvalidInput


def test_engine_names() -> None:
    assert engine_location("docker-overlay2:/srv/docker:app:1") == (
        "docker-overlay2", "/srv/docker", "app:1")
    assert engine_location("docker-overlay2:app") == ("docker-overlay2", "/var/lib/docker", "app")
    assert engine_location("containers-storage:[overlay@/s+/r]localhost/app:1") == (
        "containers-storage", "/s", "localhost/app:1")
    assert engine_location("containers-storage:app", "/s") == ("containers-storage", "/s", "app")
    assert engine_location("containers-storage:app") is None  # layerfs's own store
    assert engine_location("oci:/x:tag") is None
    assert with_source("docker-archive", "x.tar") == "docker-archive:x.tar"
    assert with_source("podman", "app") == "containers-storage:app"
    assert with_source(None, "oci:/l") == "oci:/l"
    with pytest.raises(InvalidInput):
        with_source("nope", "x")


def test_header_listing_equals_verified_stream(lab: Any) -> None:
    lab.build("src:1", "FROM busybox\nRUN dd if=/dev/urandom of=/r bs=1k count=300\n"
              "RUN rm /r && echo x > /x\n")
    archive = lab.save("src:1")
    with open_source(f"docker-archive:{archive}") as fast:
        assert all(isinstance(la, WindowLayer) for la in fast.layers())
        quick = analyze(fast).to_dict()
    with open_source(f"docker-archive:{archive}", verify=True) as slow:
        assert not any(isinstance(la, WindowLayer) for la in slow.layers())
        assert analyze(slow).to_dict() == quick
    with open_source("src:1", store_root=str(lab.root / "store")) as stored:
        from_store = analyze(stored).to_dict()  # the same but for the compressed digests
    for layers in (from_store["layers"], quick["layers"]):
        for la in layers:
            del la["digest"]
    assert from_store == quick


def test_tampered_layer_caught_with_verify(lab: Any, tmp_path: Path) -> None:
    lab.build("tamper:1", "FROM busybox\nRUN echo SECRET-CONTENT > /payload\n")
    data = bytearray(Path(lab.save("tamper:1")).read_bytes())
    at = data.find(b"SECRET-CONTENT")
    data[at] ^= 0x20  # same size, other bytes: headers intact, diff_id wrong
    bad = tmp_path / "bad.tar"
    bad.write_bytes(bytes(data))
    assert lab.cli("dive", "--json", f"docker-archive:{bad}").exit_code == 0
    verified = lab.cli("dive", "--verify", f"docker-archive:{bad}")
    assert verified.exit_code == 1 and "expected sha256:" in verified.output


@pytest.mark.timeout(120)
def test_bench_quick_runs(tmp_path: Path) -> None:
    bench = Path(__file__).resolve().parents[2] / "bench" / "analysis.py"
    proc = subprocess.run([sys.executable, str(bench), "--quick", "--json", "--dir",
                           str(tmp_path)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert '"dive --ci (wall)"' in proc.stdout


def test_history_from_an_archive_equals_the_store(lab: Any) -> None:
    lab.build("hist:1", "FROM busybox\nENV A=1\nRUN echo hi > /hi\n")
    archive = lab.save("hist:1")
    stored = lab.cli("history", "--json", "hist:1")
    from_archive = lab.cli("history", "--json", f"docker-archive:{archive}")
    assert stored.exit_code == 0 and from_archive.exit_code == 0, from_archive.output
    assert stored.output == from_archive.output
    assert '"empty_layer": true' in stored.output
