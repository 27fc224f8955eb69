"""Named scenarios: the seed's lab and the bugs other union implementations shipped.

Each runs on the kernel and on the front end under test, with identical layer copies;
the outcomes of every step, the merged trees and the upper dirs must be equal.
"""

from __future__ import annotations

import errno

import pytest

from .conftest import UnionFactory
from .layers import Stack, dir_, fifo, file, hardlink, opaque, symlink, whiteout
from .scenario import CHECK, REMOUNT, Scenario, fails, ok, probe, run

SEED_LAB = Scenario(
    "seed-lab-part1",
    Stack(((file("base.txt", "base file\n"), file("modify.txt", "will be modified\n"),
            file("delete.txt", "will be deleted\n")),)),
    (
        ok("listdir", "/"),
        ok("read", "/base.txt"),
        ok("write_file", "/new.txt", b"new file\n", 0o644),
        CHECK,
        ok("write_file", "/modify.txt", b"modified content\n", 0o644),
        CHECK,
        ok("unlink", "/delete.txt"),
        fails(errno.ENOENT, "lstat", "/delete.txt"),
        ok("read", "/modify.txt"),
    ),
)

NESTED_DELETE = Scenario(
    "seed-lab-nested-delete",
    Stack(((file("subdir/nested.txt", "nested\n"), file("subdir/keep.txt", "keep\n")),)),
    (
        ok("unlink", "/subdir/nested.txt"),
        CHECK,
        fails(errno.ENOTEMPTY, "rmdir", "/subdir"),
        ok("unlink", "/subdir/keep.txt"),
        ok("rmdir", "/subdir"),
        fails(errno.ENOENT, "listdir", "/subdir"),
    ),
)

OPAQUE_AFTER_RM_RF = Scenario(
    # fuse-overlayfs#306: rm -rf a lower dir, mkdir it again, create files: the new dir
    # must be opaque and hold no whiteouts (the kernel calls that combination corrupt)
    "opaque-dir-with-whiteouts-fuse-overlayfs-306",
    Stack(((file("d/a", "a"), file("d/sub/b", "b")), (file("d/c", "c"), file("d/e", "e")))),
    (
        ok("unlink", "/d/a"),
        ok("unlink", "/d/sub/b"),
        ok("rmdir", "/d/sub"),
        ok("unlink", "/d/c"),
        ok("unlink", "/d/e"),
        CHECK,
        ok("rmdir", "/d"),
        ok("mkdir", "/d", 0o755),
        ok("write_file", "/d/new", b"fresh", 0o644),
        ok("listdir", "/d"),
        fails(errno.ENOENT, "lstat", "/d/a"),
    ),
)

SYMLINK_OVER_WHITEOUT = Scenario(
    # fuse-overlayfs#279: a symlink created where a lower file was deleted
    "symlink-over-whiteout-fuse-overlayfs-279",
    Stack(((file("f", "lower"), dir_("d"), file("d/x", "x")),)),
    (
        ok("unlink", "/f"),
        ok("symlink", "target-of-f", "/f"),
        ok("readlink", "/f"),
        ok("unlink", "/d/x"),
        ok("rmdir", "/d"),
        ok("symlink", "/f", "/d"),
        ok("lstat", "/d"),
    ),
)

ROOT_WHITEOUT_SCOPE = Scenario(
    # fuse-overlayfs#151: deleting /foo must not hide /bar/foo
    "root-whiteout-hides-only-its-name-fuse-overlayfs-151",
    Stack((
        (whiteout("foo"), file("baz/foo", "baz foo")),
        (file("foo", "root foo"), file("bar/foo", "bar foo"), file("baz/foo", "old")),
    )),
    (
        fails(errno.ENOENT, "lstat", "/foo"),
        ok("read", "/bar/foo"),
        ok("write_file", "/foo", b"new root foo", 0o644),
        ok("unlink", "/foo"),
        ok("read", "/bar/foo"),
        ok("unlink", "/baz/foo"),
        ok("lstat", "/bar/foo"),
    ),
)

DIR_OVER_WHITEOUT = Scenario(
    # buildkit#2614: a directory recreated over a whiteout must not show the old content
    "dir-recreated-over-whiteout-buildkit-2614",
    Stack((
        (whiteout("gone"),),
        (file("d/old", "old"), file("gone/inside", "hidden"), file("f", "file")),
    )),
    (
        ok("unlink", "/d/old"),
        ok("rmdir", "/d"),
        ok("mkdir", "/d", 0o750),
        ok("listdir", "/d"),
        ok("mkdir", "/gone", 0o755),
        ok("listdir", "/gone"),
        ok("unlink", "/f"),
        ok("mkdir", "/f", 0o700),
        ok("write_file", "/f/new", b"n", 0o600),
    ),
)

LOWER_OPAQUE_AND_WHITEOUTS = Scenario(
    "lower-opaque-dirs-and-whiteouts",
    Stack((
        (opaque("o"), file("o/top", "top"), whiteout("w/gone"), file("w/here", "here")),
        (file("o/hidden", "hidden"), file("w/gone", "gone"), file("w/below", "below")),
        (file("o/deeper", "deeper"), file("w/bottom", "bottom"), symlink("s", "w/here")),
    )),
    (
        ok("listdir", "/o"),
        ok("listdir", "/w"),
        fails(errno.ENOENT, "read", "/o/hidden"),
        ok("unlink", "/o/top"),
        ok("rmdir", "/o"),
        ok("mkdir", "/o", 0o755),
        ok("rename", "/w/below", "/w/moved"),
        ok("write_file", "/w/gone", b"back", 0o640),
        probe("read", "/s/x"),
    ),
)

WHITEOUT_IN_UNMERGED_DIR = Scenario(
    # the kernel reads a directory found in one layer only straight from that layer: its
    # whiteouts are listed by readdir (d_type DT_CHR) while lookup of them gives ENOENT
    "whiteout-in-unmerged-lower-dir",
    Stack(((file("b/a", "a"), whiteout("b/c"), opaque("o"), file("o/x", "x")),
           (dir_("c"),))),
    (
        ok("listdir", "/b"),
        fails(errno.ENOENT, "lstat", "/b/c"),
        ok("write_file", "/b/new", b"n", 0o644),
        ok("listdir", "/b"),
    ),
)

COPY_UP_METADATA = Scenario(
    "copy-up-keeps-metadata",
    Stack(((
        file("bin/suid", "#!", 0o4755, uid=1000, gid=1000),
        file("etc/conf", "k=v\n", 0o640, uid=33, gid=44, xattrs=(("user.note", b"kept"),)),
        dir_("var/log", 0o1777, uid=7, gid=8, xattrs=(("user.dir", b"d"),)),
        fifo("run/pipe", 0o620),
        symlink("link", "etc/conf"),
    ),)),
    (
        ok("append", "/etc/conf", b"more\n"),
        ok("chmod", "/bin/suid", 0o4750),
        ok("chown", "/run/pipe", 5, 6),
        ok("write_file", "/var/log/app.log", b"log\n", 0o644),
        ok("setxattr", "/var/log", "user.new", b"1"),
        ok("removexattr", "/etc/conf", "user.note"),
        ok("utime", "/link", (1_000_000_000_000_000_001, 1_100_000_000_000_000_002)),
        ok("truncate", "/bin/suid", 1),
        fails(errno.ENODATA, "removexattr", "/bin/suid", "user.none"),
        probe("chmod", "/link", 0o600),
        probe("setxattr", "/link", "user.x", b"1"),
        probe("truncate", "/run/pipe", 0),
    ),
)

STICKY_DIR_CREATE = Scenario(
    # open(O_CREAT) of an existing object in a sticky world-writable dir, owned neither by
    # the caller nor by the dir's owner: EACCES (fs/namei.c may_create_in_sticky; for a
    # symlink or a directory whatever fs.protected_regular/fifos say), checked before
    # O_NOFOLLOW's ELOOP; mkdir/symlink of an existing name stay EEXIST
    "sticky-dir-create-over-foreign-object",
    Stack(((dir_("tmp", 0o1777), symlink("tmp/link", "target"), file("tmp/f", "f", uid=1000),
            dir_("tmp/d", uid=1000)),)),
    (
        ok("chown", "/tmp/link", 1000, 1000),
        fails(errno.EACCES, "write_file", "/tmp/link", b"", 0o644),
        probe("write_file", "/tmp/f", b"root writes", 0o644),
        fails(errno.EEXIST, "mkdir", "/tmp/d", 0o755),
        fails(errno.EEXIST, "symlink", "x", "/tmp/link"),
    ),
)

SPARSE_COPY_UP = Scenario(
    # copy-up keeps holes: a 8 MiB file with 4 bytes of data stays sparse in the upper dir
    "copy-up-keeps-holes",
    Stack(((file("s1", "head", size=8 << 20), file("s2", "head", size=8 << 20),
            file("s3", "head", size=8 << 20)),)),
    (
        ok("chmod", "/s1", 0o600),
        ok("append", "/s2", b"tail"),
        ok("truncate", "/s3", 16 << 20),
        ok("read", "/s2"),
    ),
)

XATTR_ESCAPES = Scenario(
    # overlay xattrs of a layer are private; escaped ones (trusted.overlay.overlay.X) are
    # shown unescaped, and setting an overlay name through the union escapes it
    "xattr-namespaces-and-escapes",
    Stack(((
        file("f", "f", xattrs=(("trusted.overlay.overlay.mine", b"esc"), ("trusted.plain", b"t"),
                               ("user.u", b"u"))),
        dir_("d", xattrs=(("trusted.overlay.overlay.opaque", b"y"),)),
        file("d/x", "x"),
    ),)),
    (
        ok("listxattr", "/f"),
        ok("getxattr", "/f", "trusted.overlay.mine"),
        ok("listdir", "/d"),
        probe("setxattr", "/f", "trusted.overlay.new", b"v"),
        ok("listxattr", "/f"),
        ok("setxattr", "/d", "trusted.other", b"o"),
        probe("removexattr", "/f", "trusted.overlay.mine"),
        ok("listxattr", "/d"),
    ),
)

ERRNOS = Scenario(
    "errors-match-the-kernel",
    Stack(((file("d/f", "f"), dir_("e"), file("g", "g"), symlink("s", "d")),)),
    (
        fails(errno.ENOTEMPTY, "rmdir", "/d"),
        fails(errno.EISDIR, "rename", "/g", "/e"),
        fails(errno.ENOTDIR, "rename", "/e", "/g"),
        fails(errno.EPERM, "link", "/d", "/d2"),
        fails(errno.EEXIST, "mkdir", "/g", 0o755),
        fails(errno.ENOTDIR, "write_file", "/g/x", b"", 0o644),
        fails(errno.ENOENT, "unlink", "/nothing"),
        fails(errno.EISDIR, "unlink", "/e"),
        fails(errno.ENOTDIR, "rmdir", "/g"),
        fails(errno.ELOOP, "write_file", "/s", b"", 0o644),
        probe("read", "/s/f"),
        probe("write_file", "/s/new", b"via symlink", 0o644),
        fails(errno.EINVAL, "rename", "/e", "/e/sub"),
        ok("rename", "/g", "/e/g"),
        ok("rename", "/e/g", "/g2"),
    ),
)

SYMLINK_LOOPS = Scenario(
    # 40 hops at most, then ELOOP (also for a loop met while resolving a parent)
    "symlink-loops-eloop",
    Stack(((symlink("b", "/b/a"), symlink("self", "self"), symlink("x", "y"),
            symlink("y", "x"), file("f", "f")),)),
    (
        fails(errno.ELOOP, "lstat", "/b/a"),
        fails(errno.ELOOP, "read", "/self/f"),
        fails(errno.ELOOP, "listdir", "/x"),
        fails(errno.ELOOP, "write_file", "/y/new", b"", 0o644),
        fails(errno.ELOOP, "link", "/b/a", "/l"),
        fails(errno.ELOOP, "link", "/f", "/b/a/l"),
        fails(errno.ELOOP, "rename", "/f", "/x/f"),
        ok("lstat", "/self"),
        ok("unlink", "/x"),
        fails(errno.ENOENT, "listdir", "/y"),
    ),
)

RENAME_LOWER_DIR_EXDEV = Scenario(
    "rename-lower-dir-exdev-without-redirect",
    Stack(((file("d/f", "f"), dir_("p/q")),)),
    (
        fails(errno.EXDEV, "rename", "/d", "/e"),
        fails(errno.EXDEV, "rename", "/p/q", "/q"),
        ok("mkdir", "/new", 0o755),
        ok("write_file", "/new/x", b"x", 0o644),
        ok("rename", "/new", "/p/new"),  # upper-only dir into a merged parent: renames
        ok("rename", "/d/f", "/p/f"),
    ),
)

RENAME_LOWER_DIR_REDIRECT = Scenario(
    "rename-lower-dir-with-redirect",
    Stack(((file("d/f", "f"), file("p/q/r", "r"), dir_("other")), (file("d/below", "b"),))),
    (
        ok("rename", "/d", "/e"),
        CHECK,
        ok("rename", "/p/q", "/other/q2"),
        CHECK,
        ok("listdir", "/e"),
        ok("read", "/other/q2/r"),
        ok("mkdir", "/d", 0o755),
        ok("rename", "/e", "/p/e"),
    ),
    {"redirect_dir": True},
)

REDIRECT_CHAINS = Scenario(
    # a redirected dir renamed again (same parent, other parent, back to its first name),
    # renamed over an empty lower dir, and a child of a redirected dir renamed out
    "redirect-chains",
    Stack((
        (file("a/f", "f"), dir_("empty"), file("p/q/r", "r")),
        (file("a/g", "g"), file("p/q/s", "s"), dir_("t")),
    )),
    (
        ok("rename", "/a", "/b"),
        ok("rename", "/b", "/c"),
        CHECK,
        ok("rename", "/c", "/t/c"),
        ok("rename", "/t/c", "/a"),
        CHECK,
        probe("rename", "/p/q", "/empty"),
        ok("listdir", "/empty"),
        ok("rename", "/a/g", "/g"),
        ok("rename", "/p", "/t/p"),
        ok("listdir", "/t/p"),
        probe("rmdir", "/t"),
    ),
    {"redirect_dir": True},
)

FAILED_DIR_RENAME = Scenario(
    # redirect_dir=on: the kernel copies the lower dir up and writes its redirect before
    # the rename itself fails (ENOTEMPTY): the upper dir keeps both after the error
    "failed-dir-rename-keeps-copy-up-and-redirect",
    Stack(((file("a/f", "f"), whiteout("b")), (dir_("b"), file("b/x", "x")))),
    (
        ok("mkdir", "/b", 0o755),
        ok("mkdir", "/b/a", 0o755),
        fails(errno.ENOTEMPTY, "rename", "/a", "/b"),
        ok("listdir", "/a"),
    ),
    {"redirect_dir": True},
)

HARDLINK_BREAKS = Scenario(
    # index=off: writing through one name of a lower hard link copies up that name only
    "hard-link-write-remount",
    Stack(((file("f", "shared"), hardlink("h", "f"), file("g", "solo")),)),
    (
        ok("lstat", "/h"),
        ok("lstat", "/f"),
        ok("append", "/f", b"+f"),
        ok("lstat", "/f"),  # copied up alone: nlink 1 now (a cached nlink 2 is wrong)
        ok("read", "/h"),
        ok("lstat", "/h"),
        ok("append", "/h", b""),  # opened for writing, nothing written: copied up all the same
        ok("lstat", "/h"),
        REMOUNT,
        ok("read", "/f"),
        ok("link", "/g", "/g2"),
        ok("append", "/g2", b"+g2"),
        ok("read", "/g"),
        REMOUNT,
        ok("read", "/g"),
        ok("lstat", "/g2"),
    ),
)

RENAME_BETWEEN_LOWER_LINKS = Scenario(
    # with index=off two names of one lower inode are two overlay inodes: rename(2) from
    # one to the other is a real rename (copy-up + whiteout), not POSIX's same-inode no-op
    "rename-between-names-of-one-lower-inode",
    Stack(((file("a/c", "data"), hardlink("c", "a/c")),)),
    (
        ok("rename", "/a/c", "/c"),
        fails(errno.ENOENT, "lstat", "/a/c"),
        ok("lstat", "/c"),
    ),
)

SCENARIOS = [SEED_LAB, NESTED_DELETE, OPAQUE_AFTER_RM_RF, SYMLINK_OVER_WHITEOUT,
             ROOT_WHITEOUT_SCOPE, DIR_OVER_WHITEOUT, LOWER_OPAQUE_AND_WHITEOUTS,
             WHITEOUT_IN_UNMERGED_DIR, COPY_UP_METADATA, STICKY_DIR_CREATE, SPARSE_COPY_UP,
             XATTR_ESCAPES,
             ERRNOS, SYMLINK_LOOPS,
             RENAME_LOWER_DIR_EXDEV, RENAME_LOWER_DIR_REDIRECT, REDIRECT_CHAINS, HARDLINK_BREAKS,
             RENAME_BETWEEN_LOWER_LINKS, FAILED_DIR_RENAME]


# Differences found by this suite and not fixed when it was last run: (scenario, front end)
# -> what differs. They are xfail(strict=True): once fixed, the test XPASSes and fails,
# and the entry must go.
KNOWN_DIFFERENCES: dict[tuple[str, str], str] = {}


@pytest.mark.root
@pytest.mark.parametrize("scenario", [pytest.param(s, id=s.name) for s in SCENARIOS])
def test_scenario(scenario: Scenario, frontend: str, union: UnionFactory,
                  request: pytest.FixtureRequest) -> None:
    known = KNOWN_DIFFERENCES.get((scenario.name, frontend))
    if known:
        request.applymarker(pytest.mark.xfail(strict=True, reason=known))
    run(union(scenario.stack, **scenario.options), scenario.steps)
