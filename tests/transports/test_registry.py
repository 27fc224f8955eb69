"""The registry client against an in-process fake registry: push/pull, auth, chunked
upload, cross-repo mount, resumable pulls, index platform selection, and hostile
replies (malformed JSON, wrong digests, missing blobs, huge manifests): clear errors and
the store unchanged."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from layerfs.digest import Digest
from layerfs.errors import DigestMismatch, InvalidInput, NotFound, PermissionDenied
from layerfs.oci import mediatypes as mt
from layerfs.oci.descriptor import Descriptor
from layerfs.oci.index import Index
from layerfs.oci.platform import Platform
from layerfs.store.put import add_image
from layerfs.transports.registry import auth
from layerfs.transports.registry.auth import Challenge, Credentials
from layerfs.transports.registry.client import RegistryClient
from layerfs.transports.registry.pull import open_image
from layerfs.transports.registry.push import push_image
from layerfs.transports.registry.reference import RegistryRef
from store.helpers import listing, rows

from .fakeregistry import State, fake_registry


@pytest.fixture
def reg() -> Iterator[State]:
    with fake_registry() as state:
        yield state


def _ref(reg: State, name: str = "app:1") -> RegistryRef:
    return RegistryRef.parse(f"127.0.0.1:{reg.port}/{name}")


def _client(reg: State, creds: Credentials | None = None) -> RegistryClient:
    return RegistryClient(f"127.0.0.1:{reg.port}", tls_verify=False,
                          creds=creds or Credentials("nobody", "x"))


def _push(reg: State, store, name: str = "app:1", **kw):  # type: ignore[no-untyped-def]
    return push_image(_client(reg, kw.pop("creds", None)), _ref(reg, name),
                      store.image("sample:1"), **kw)


def test_reference_parsing():
    r = RegistryRef.parse("busybox")
    assert (r.host, r.repository, r.tag, r.api_host) == (
        "docker.io", "library/busybox", "latest", "registry-1.docker.io")
    r = RegistryRef.parse("localhost:5000/a/b@sha256:" + "a" * 64)
    assert (r.host, r.repository, r.tag, r.reference) == (
        "localhost:5000", "a/b", None, "sha256:" + "a" * 64)
    assert RegistryRef.parse("127.0.0.1:5000/x:v1").name == "127.0.0.1:5000/x:v1"
    for bad in ("Upper/x", "h:5000/x:bad tag", "h.io/-x"):
        with pytest.raises(InvalidInput):
            RegistryRef.parse(bad)


def test_challenge_and_auth_files(tmp_path, monkeypatch):
    ch = Challenge.parse('Bearer realm="https://a/t?x=1,y",service="reg",scope="r:a:pull"')
    assert ch.scheme == "bearer" and ch.params["realm"] == "https://a/t?x=1,y"
    assert ch.params["scope"] == "r:a:pull"
    import base64

    f = tmp_path / "auth.json"
    f.write_text(json.dumps({"auths": {"reg.example:5000": {
        "auth": base64.b64encode(b"bob:pw").decode()}}}))
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(f))
    assert auth.lookup("reg.example:5000") == Credentials("bob", "pw")
    assert auth.lookup("other:1") is None
    f.write_text(json.dumps({"auths": {"reg.example:5000": {"auth": "!!"}}}))
    with pytest.raises(InvalidInput, match=r"auths\.reg\.example:5000\.auth"):
        auth.lookup("reg.example:5000")


@pytest.mark.parametrize("mode", [None, "basic", "bearer"])
def test_push_pull_round_trip_with_auth(reg, store, mode):
    reg.auth = mode
    creds = Credentials(*reg.user)
    digest = _push(reg, store, creds=creds)
    image = store.image("sample:1")
    assert digest == image.digest()  # media types and bytes kept
    pulled = open_image(_client(reg, creds), _ref(reg))
    assert pulled.raw_config() == image.raw_config()
    store.remove_images(["sample:1"])
    rec = add_image(store, pulled, ["back:1"])
    assert rec.id == image.id
    if mode == "bearer":
        assert any(line.startswith("GET /token?") for line in reg.log)


def test_wrong_credentials_are_refused(reg, store):
    reg.auth = "basic"
    with pytest.raises(PermissionDenied, match="401"):
        _push(reg, store, creds=Credentials("alice", "wrong"))


def test_chunked_upload_and_existing_blobs(reg, store):
    _push(reg, store, chunk_size=20)
    patches = [line for line in reg.log if line.startswith("PATCH")]
    assert len(patches) > 2
    reg.log.clear()
    _push(reg, store, "app:2")
    assert not [line for line in reg.log if line.startswith(("POST", "PATCH"))]
    assert sum(line.startswith("HEAD") for line in reg.log) == 3


def test_cross_repo_mount(reg, store):
    _push(reg, store, "a:1")
    reg.log.clear()
    _push(reg, store, "b:1", mount_from=["a"])
    posts = [line for line in reg.log if line.startswith("POST")]
    assert posts and all("mount=" in p and "from=a" in p for p in posts)
    assert not [line for line in reg.log if line.startswith("PUT /v2/b/blobs")]


@pytest.mark.parametrize("range_ok", [True, False])
def test_pull_resumes_after_a_dropped_connection(reg, store, range_ok):
    _push(reg, store)
    reg.drop_after, reg.range_ok = 100, range_ok
    image = store.image("sample:1")
    store.remove_images(["sample:1"])
    rec = add_image(store, open_image(_client(reg), _ref(reg)), ["back:1"])
    assert rec.id == image.id and reg.drops == 1
    ranged = [line for line in reg.log if line.startswith("GET /v2/app/blobs")]
    assert len(ranged) >= 3


def test_index_platform_selection(reg, store):
    digest = _push(reg, store)
    body, media_type = reg.manifests[("app", str(digest))]
    desc = Descriptor(media_type, digest, len(body))
    index = Index((
        Descriptor(desc.media_type, desc.digest, desc.size,
                   platform=Platform("linux", "arm64", "v8")),
        Descriptor(desc.media_type, Digest("0" * 64), 10, platform=Platform("linux", "riscv64")),
    ))
    reg.manifests[("app", "multi")] = (index.to_json(), mt.OCI_INDEX)
    img = open_image(_client(reg), _ref(reg, "app:multi"), Platform.parse("linux/arm64"))
    assert img.digest() == digest
    with pytest.raises(NotFound, match="linux/arm64/v8"):
        open_image(_client(reg), _ref(reg, "app:multi"), Platform.parse("linux/s390x"))


def _hostile(reg: State, store, case: str) -> Exception:  # type: ignore[no-untyped-def]
    digest = _push(reg, store)
    store.remove_images(["sample:1"])  # so that every blob must come from the registry
    body, media_type = reg.manifests[("app", "1")]
    manifest = json.loads(body)
    if case == "malformed":
        reg.manifests[("app", "1")] = (b'{"schemaVersion": 2, "config": ', media_type)
    elif case == "bad_field":
        manifest["layers"][0]["size"] = "big"
        reg.manifests[("app", "1")] = (json.dumps(manifest).encode(), media_type)
    elif case == "wrong_blob":
        layer = manifest["layers"][1]["digest"]
        data = bytearray(reg.blobs[layer])
        data[-5] ^= 1
        reg.blobs[layer] = bytes(data)
    elif case == "missing_blob":
        del reg.blobs[manifest["layers"][1]["digest"]]
    elif case == "huge":
        reg.manifests[("app", "1")] = (b" " * (5 << 20) + body, media_type)
    elif case == "wrong_manifest_digest":
        reg.manifests[("app", str(digest))] = (body + b" ", media_type)
    ref = _ref(reg, f"app@{digest}") if case == "wrong_manifest_digest" else _ref(reg)
    before, before_rows = listing(store.paths.root), rows(store)
    with pytest.raises((InvalidInput, NotFound)) as info:
        add_image(store, open_image(_client(reg), ref), ["x:1"])
    assert listing(store.paths.root) == before and rows(store) == before_rows
    return info.value


@pytest.mark.parametrize("case,kind,text", [
    ("malformed", InvalidInput, "manifest: malformed JSON"),
    ("bad_field", InvalidInput, "manifest.layers[0].size"),
    ("wrong_blob", DigestMismatch, "expected sha256:"),
    ("missing_blob", NotFound, "HTTP 404"),
    ("huge", InvalidInput, "over the limit"),
    ("wrong_manifest_digest", DigestMismatch, "manifest"),
])
def test_hostile_registry(reg, store, case, kind, text):
    err = _hostile(reg, store, case)
    assert isinstance(err, kind) and text in str(err), err


def test_push_of_a_corrupt_store_blob_fails_before_commit(reg, store):
    layer = store.image("sample:1").store_layers()[1]
    path = store.blobs.path(layer.digest())
    with open(path, "r+b") as f:
        f.seek(-3, 2)
        f.write(b"\0\0\0")
    with pytest.raises((DigestMismatch, InvalidInput, OSError)):
        _push(reg, store)
    assert str(layer.digest()) not in reg.blobs
    assert ("app", "1") not in reg.manifests


def test_plain_layers_are_gzipped_for_a_push(reg, store, tmp_path):
    """An image with uncompressed layers (as loaded from a docker-archive) goes to the
    registry with gzip blobs; the config, so the image id, is the same."""
    from layerfs.transports import loadsave
    from layerfs.transports.locations import Location, RegistryOptions, write_image

    archive = str(tmp_path / "d.tar")
    loadsave.save(store, ["sample:1"], archive)
    image_id = store.image("sample:1").id
    store.remove_images(["sample:1"])
    loadsave.load(store, archive)
    plain = store.image("sample:1")
    assert {lay.media_type() for lay in plain.layers()} == {mt.DOCKER_LAYER}
    opts = RegistryOptions(tls_verify=False, creds=Credentials("n", "x"))
    write_image(Location("docker", f"127.0.0.1:{reg.port}/app:gz"), plain, opts)
    pulled = open_image(_client(reg), _ref(reg, "app:gz"))
    assert {lay.media_type() for lay in pulled.layers()} == {mt.DOCKER_LAYER_GZIP}
    assert [lay.diff_id() for lay in pulled.layers()] == [lay.diff_id() for lay in plain.layers()]
    store.remove_images(["sample:1"])
    assert add_image(store, pulled, ["gz:1"]).id == image_id


def test_blob_redirect_drops_authorization_on_another_host(reg, store):
    reg.auth = "bearer"
    creds = Credentials(*reg.user)
    _push(reg, store, creds=creds)
    store.remove_images(["sample:1"])
    reg.redirect_blobs = True
    rec = add_image(store, open_image(_client(reg, creds), _ref(reg)), ["back:1"])
    assert rec.tags == ("back:1",)
    assert reg.storage_auth and reg.storage_auth == [None] * len(reg.storage_auth)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_https_unverified_and_verified(store, tmp_path):
    cert, key = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    with fake_registry(tls=(cert, key)) as reg:
        _push(reg, store)  # tls_verify=False: https without verification
        assert any(line.startswith("PUT /v2/app/manifests/1") for line in reg.log)
        strict = RegistryClient(f"127.0.0.1:{reg.port}", tls_verify=True, creds=None)
        with pytest.raises(OSError, match="CERTIFICATE_VERIFY_FAILED"):
            open_image(strict, _ref(reg))
