"""`changes()`: docker diff's rules (checked against a port of moby's ChangesDirs run on
kernel mounts) and podman's; `upper_summary`, `change_sizes`, `layer_usage`."""

from __future__ import annotations

import os
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from kstack import DIR, OPAQUE, WHITEOUT, build, needs_root, overlay, readonly_view
from naive_diff import changes_dirs

from layerfs.errors import InvalidOption
from layerfs.union.changes import Change, changes
from layerfs.union.usage import change_sizes, layer_usage, upper_summary


def lines(found: list[Change]) -> list[str]:
    return [str(c) for c in found]


def kernel_session(tmp_path: Path, lowers: list[Path], act: Callable[[Path], None],
                   extra: str = "") -> Path:
    """Run `act(merged)` on a kernel overlay of `lowers`; returns the upper dir."""
    upper, work = tmp_path / "upper", tmp_path / "work"
    upper.mkdir()
    work.mkdir()
    with overlay(tmp_path / "merged", lowers, upper, work, extra) as merged:
        act(merged)
    return upper


def docker_reference(
    tmp_path: Path, upper: Path, lowers: list[Path], extra: str = ""
) -> list[Change]:
    """What docker diff prints: ChangesDirs(union with upper, union without it)."""
    spare = tmp_path / "spare"
    with (
        readonly_view(tmp_path / "new", [upper, *lowers], spare, extra) as new,
        readonly_view(tmp_path / "old", lowers, spare) as old,
    ):
        return changes_dirs(str(new), str(old))


# ------------------------------------------------------------------ fixed scenarios


@pytest.fixture
def lab(tmp_path: Path) -> list[Path]:
    """The seed's lab: a lower with base/modify/delete, a nested tree, a second lower."""
    l2 = build(tmp_path / "l2", {
        "/base.txt": "base\n", "/modify.txt": "orig\n", "/delete.txt": "bye\n",
        "/etc/apk/repositories": "r\n", "/etc/passwd": "root\n",
        "/dir/sub/f": "f\n", "/dir/g": "g\n",
    })
    l1 = build(tmp_path / "l1", {"/modify.txt": "top\n", "/only1/x": "x\n"})
    for p in (l2 / "etc", l2 / "etc/apk", l2 / "dir"):
        os.utime(p, (1_500_000_000, 1_500_000_000))
    return [l1, l2]


@needs_root
def test_seed_lab_docker_and_podman(tmp_path: Path, lab: list[Path]) -> None:
    def act(m: Path) -> None:
        (m / "modify.txt").write_text("changed\n")
        (m / "delete.txt").unlink()
        (m / "new.txt").write_text("new\n")

    upper = kernel_session(tmp_path, lab, act)
    expected = ["D /delete.txt", "C /modify.txt", "A /new.txt"]
    assert lines(changes(str(upper), [str(p) for p in lab])) == expected
    assert lines(changes(str(upper), [str(p) for p in lab], rules="podman")) == expected
    assert changes(str(upper), [str(p) for p in lab]) == docker_reference(tmp_path, upper, lab)


@needs_root
def test_nested_delete_lists_every_ancestor_for_docker_only_parent_for_podman(
    tmp_path: Path, lab: list[Path]
) -> None:
    upper = kernel_session(tmp_path, lab, lambda m: (m / "etc/apk/repositories").unlink())
    lowers = [str(p) for p in lab]
    # copy-up keeps /etc's mtime: podman skips it as unchanged, then lists it for the D
    assert lines(changes(str(upper), lowers)) == [
        "C /etc", "C /etc/apk", "D /etc/apk/repositories",
    ]
    assert lines(changes(str(upper), lowers, rules="podman")) == [
        "C /etc", "C /etc/apk", "D /etc/apk/repositories",
    ]


@needs_root
def test_modified_file_in_copied_up_dir(tmp_path: Path, lab: list[Path]) -> None:
    """docker lists the parent dir (a change inside); podman does not (copy-up keeps the
    parent's mtime and a C does not pull its parents in)."""
    upper = kernel_session(tmp_path, lab, lambda m: (m / "etc/passwd").write_text("x\n"))
    lowers = [str(p) for p in lab]
    assert lines(changes(str(upper), lowers)) == ["C /etc", "C /etc/passwd"]
    assert lines(changes(str(upper), lowers, rules="podman")) == ["C /etc/passwd"]


@needs_root
def test_runtime_mount_point_explains_podman_only_c_etc(tmp_path: Path, lab: list[Path]) -> None:
    """podman creates /etc/resolv.conf in the container's upper and hides it by name; its
    parent /etc stays listed. docker keeps such files in its -init layer instead."""
    upper = kernel_session(tmp_path, lab, lambda m: (m / "etc/resolv.conf").write_text(""))
    podman = [c for c in changes(str(upper), [str(p) for p in lab], rules="podman")
              if c.path != "/etc/resolv.conf"]
    assert lines(podman) == ["C /etc"]
    init = build(tmp_path / "init", {"/etc/resolv.conf": ""})
    container = build(tmp_path / "container", {"/tmp/x": "x"})
    docker = changes(str(container), [str(init), *map(str, lab)])
    assert lines(docker) == ["A /tmp", "A /tmp/x"]


@needs_root
def test_deleted_dir_children_not_listed_recreated_dir_lists_hidden_ones(
    tmp_path: Path, lab: list[Path]
) -> None:
    def act(m: Path) -> None:
        shutil.rmtree(m / "dir")
        (m / "dir").mkdir()
        (m / "dir/new").write_text("n")
        shutil.rmtree(m / "only1")

    upper = kernel_session(tmp_path, lab, act)
    lowers = [str(p) for p in lab]
    assert lines(changes(str(upper), lowers)) == [
        "C /dir", "D /dir/g", "A /dir/new", "D /dir/sub", "D /only1",
    ]
    assert lines(changes(str(upper), lowers, rules="podman")) == [
        "D /dir", "A /dir/new", "D /only1",
    ]
    assert changes(str(upper), lowers) == docker_reference(tmp_path, upper, lab)


@needs_root
def test_unchanged_copy_up_is_not_a_docker_change(tmp_path: Path, lab: list[Path]) -> None:
    def act(m: Path) -> None:
        st = os.lstat(m / "base.txt")
        os.utime(m / "base.txt", ns=(st.st_atime_ns, st.st_mtime_ns))  # copy-up only

    upper = kernel_session(tmp_path, lab, act)
    assert (upper / "base.txt").exists()
    assert changes(str(upper), [str(p) for p in lab]) == []
    assert lines(changes(str(upper), [str(p) for p in lab], rules="podman")) == ["C /base.txt"]


@needs_root
def test_redirected_directory_rename(tmp_path: Path, lab: list[Path]) -> None:
    upper = kernel_session(
        tmp_path, lab, lambda m: (m / "dir").rename(m / "moved"), extra="redirect_dir=on"
    )
    lowers = [str(p) for p in lab]
    assert lines(changes(str(upper), lowers)) == [
        "D /dir", "A /moved", "A /moved/g", "A /moved/sub", "A /moved/sub/f",
    ]
    assert changes(str(upper), lowers) == docker_reference(tmp_path, upper, lab)


def test_hand_built_layers_need_no_mount(tmp_path: Path) -> None:
    low = build(tmp_path / "low", {"/a/b": "1", "/c": "2", "/d/e": "3"})
    up = build(tmp_path / "up", {"/a": OPAQUE, "/a/n": "n", "/c": WHITEOUT, "/f/g": "g"})
    assert lines(changes(str(up), [str(low)])) == [
        "C /a", "D /a/b", "A /a/n", "D /c", "A /f", "A /f/g",
    ]


def test_bad_rules_and_missing_layer(tmp_path: Path) -> None:
    up = build(tmp_path / "up", {})
    with pytest.raises(InvalidOption, match="unknown change rules"):
        changes(str(up), [], rules="aufs")
    with pytest.raises(InvalidOption, match="lowerdir 1"):
        changes(str(up), [str(tmp_path / "missing")])


# ------------------------------------------------------------------ random sessions


def _random_lower(rng: random.Random, root: Path, names: list[str]) -> Path:
    spec: dict[str, object] = {}
    for _ in range(rng.randint(3, 9)):
        depth = rng.randint(1, 3)
        path = "/" + "/".join(rng.choice(names) for _ in range(depth))
        value: object = DIR if rng.random() < 0.25 else f"{path} {rng.random()}\n"
        clash = any(
            p == path
            or (path.startswith(p + "/") and v != DIR)
            or (p.startswith(path + "/") and value != DIR)
            for p, v in spec.items()
        )
        if not clash:
            spec[path] = value
    layer = build(root, spec)
    stamp = 1_600_000_000 + rng.randint(0, 1000)
    for dirpath, dirnames, _ in os.walk(layer):
        for d in dirnames:
            os.utime(os.path.join(dirpath, d), (stamp, stamp))
    return layer


def _random_ops(rng: random.Random, merged: Path, names: list[str]) -> None:
    for _ in range(rng.randint(2, 8)):
        entries = sorted(str(p) for p in merged.rglob("*"))
        target = Path(rng.choice(entries)) if entries else merged
        op = rng.choice(["write", "append", "rm", "mkdir", "chmod", "touch", "rename",
                         "symlink", "recreate", "same-times", "chown", "link", "fifo"])
        fresh = target.parent / rng.choice([*names, "n1", "n2"])
        try:
            if op == "write":
                fresh.write_text(f"w{rng.random()}")
            elif op == "append" and target.is_file() and not target.is_symlink():
                with open(target, "a") as f:
                    f.write("+")
            elif op == "rm":
                if target.is_dir() and not target.is_symlink():
                    shutil.rmtree(target)
                else:
                    target.unlink()
            elif op == "mkdir":
                fresh.mkdir()
            elif op == "chmod" and not target.is_symlink():
                os.chmod(target, 0o700)
            elif op == "touch":
                os.utime(target, (1_234_567_890, 1_234_567_890), follow_symlinks=False)
            elif op == "rename" and not target.is_dir():
                target.rename(fresh)
            elif op == "symlink":
                fresh.symlink_to("somewhere")
            elif op == "recreate" and target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
                target.mkdir()
                (target / "again").write_text("a")
            elif op == "chown":
                os.chown(target, 1000, 1000, follow_symlinks=False)
            elif op == "link" and target.is_file() and not target.is_symlink():
                os.link(target, fresh)
            elif op == "fifo":
                os.mkfifo(fresh)
            elif op == "same-times" and not target.is_symlink():
                st = os.lstat(target)
                os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
        except OSError:
            pass  # EEXIST, EISDIR, ENOTEMPTY...: the op simply does not apply


@needs_root
@pytest.mark.parametrize("seed", range(40))
def test_random_sessions_match_moby_changesdirs(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    names = ["a", "b", "c", "d"]
    lowers = [_random_lower(rng, tmp_path / f"l{i}", names) for i in range(rng.randint(1, 3))]
    extra = {3: "redirect_dir=on", 1: "metacopy=on"}.get(seed % 4, "")
    upper = kernel_session(tmp_path, lowers, lambda m: _random_ops(rng, m, names), extra)
    ours = changes(str(upper), [str(p) for p in lowers])
    reference = docker_reference(tmp_path, upper, lowers, "metacopy=on" if extra else "")
    assert ours == reference, lines(ours)


# ------------------------------------------------------------------ sizes


def test_layer_usage_counts_hard_links_once(tmp_path: Path) -> None:
    layer = build(tmp_path / "layer", {"/a": b"x" * 5000, "/d/b": b"y" * 10,
                                       "/l": ("symlink", "a")})
    os.link(layer / "a", layer / "d/hard")
    usage = layer_usage(str(layer))
    assert usage.bytes == 5000 + 10 + 1
    assert (usage.files, usage.dirs, usage.symlinks, usage.whiteouts) == (3, 1, 1, 0)
    assert usage.disk_bytes >= 4096 * 3


def test_upper_summary_and_change_sizes(tmp_path: Path) -> None:
    low = build(tmp_path / "low", {"/keep": "k", "/gone": "g" * 100, "/mod": "m"})
    up = build(tmp_path / "up", {"/gone": WHITEOUT, "/mod": "changed!", "/new/big": b"z" * 3000})
    summary = upper_summary(str(up), [str(low)])
    assert (summary.added, summary.changed, summary.deleted) == (2, 1, 1)
    assert summary.bytes == 3000 + 8
    assert summary.changed_bytes == 3008
    assert summary.usage.whiteouts == 1
    sizes = {str(c): size for c, size in change_sizes(str(up), [str(low)])}
    assert sizes == {"D /gone": 0, "C /mod": 8, "A /new": 0, "A /new/big": 3000}
