"""Part 1a of `make demo`: the seed's overlay labs with the library, no mount at all.

`layerfs.union.UnionView` over plain directories does what `mount -t overlay` does; this
script replays the seed's "manual overlay" lab and its "Lab Part 1" through it. Every
Python line printed after `>>>` is exactly the code that runs (it is evaluated from the
printed text); the real layer directories are shown with the real `ls`. A step that does
not show what the seed says stops the demo with "DEMO FAILED" and exit status 1.

Usage: python3 demo/part1_library.py [SCRATCH_DIR]   (default: a new temp dir, removed)
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from layerfs.union import UnionView

# `from layerfs.union import changes` gives the submodule once it is imported (the name
# of the function and of its module collide), so the function is taken from its module.
from layerfs.union.changes import changes

TTY = sys.stdout.isatty()
BOLD, GREEN, RED, CYAN, RESET = (
    ("\033[1m", "\033[32m", "\033[31m", "\033[36m", "\033[0m") if TTY else ("",) * 5
)

NS: dict[str, Any] = {"UnionView": UnionView, "changes": changes, "os": os}


class DemoFailed(Exception):
    """A step did not show what the seed says."""


def banner(text: str) -> None:
    print(f"\n{BOLD}==== {text} ===={RESET}")


def say(text: str) -> None:
    print(f"\n{CYAN}# {text}{RESET}")


def seed(text: str) -> None:
    print(f"    {CYAN}seed:{RESET} {text}")


def ok(text: str) -> None:
    print(f"    {GREEN}✓ {text}{RESET}")


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise DemoFailed(what)
    ok(what)


def py(code: str, show: bool = True) -> Any:
    """Print `>>> code`, run it in the demo namespace, print (if `show`) and return its value."""
    print(f"{BOLD}>>> {code}{RESET}")
    try:
        value = eval(compile(code, "<demo>", "eval"), NS)
    except SyntaxError:
        exec(compile(code, "<demo>", "exec"), NS)
        return None
    if value is not None and show:
        print(f"    {value!r}")
    return value


def sh(*argv: str) -> str:
    """Run a real command (ls, cat) on a real directory; print it and its output."""
    print(f"{BOLD}$ {' '.join(argv)}{RESET}")
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        print(f"    {line}")
    return out


def whiteout_line(ls_la: str, name: str) -> bool:
    """True if an `ls -la` listing shows `name` as a character device 0, 0."""
    return any(
        line.startswith("c") and re.search(r"\s0,\s+0\s", line) and line.split()[-1] == name
        for line in ls_la.splitlines()
    )


def write_then_ls(
    code: str, lab: Path, seed_says: str, names: list[str], heading: str | None = None
) -> None:
    """Run a write through the view, then `ls` the real upper dir: it holds `names`."""
    py(code)
    if heading:
        say(heading)
    upper = sh("ls", f"{lab}/upper/").split()
    seed(seed_says)
    expect(upper == names, f"upper holds {' '.join(names)}")


def show_trace(code: str) -> Any:
    trace = py(code, show=False)
    for row in trace.rows:
        size = "" if row.size is None else f"{row.size} B"
        win = "  <- wins" if trace.winner == row.index else ""
        print(f"      {row.index}  {row.role:<9} {row.state:<11} {size:>8}  {row.realpath}{win}")
    return trace


# --------------------------------------------------------------------------- the labs


def lab_dirs(name: str, var: str) -> Path:
    """The seed's `mkdir -p NAME/{lower,upper,work}`; the code shown names it `var`."""
    base = Path(name)
    for sub in ("lower", "upper", "work"):
        (base / sub).mkdir(parents=True)
    NS[var] = name
    return base


def manual_lab() -> None:
    banner("Part 1a (library): the seed's manual overlay lab, with layerfs.union.UnionView")
    o = lab_dirs("overlay", "O")
    say("Add some files to lower (plain files in a plain directory)")
    py("open(f'{O}/lower/base.txt', 'w').write('base file\\n')")
    py("open(f'{O}/lower/modify.txt', 'w').write('will be modified\\n')")
    py("open(f'{O}/lower/delete.txt', 'w').write('will be deleted\\n')")
    say("'Mount' the overlay: a UnionView is the merged view, no mount needed")
    py("view = UnionView([f'{O}/lower'], f'{O}/upper', f'{O}/work')")
    say("View merged filesystem (ls merged/)")
    names = py("view.listdir('/')")
    seed("Shows: base.txt delete.txt modify.txt")
    expect(sorted(names) == ["base.txt", "delete.txt", "modify.txt"], "the three lower files")
    say("Read from lower layer (cat merged/base.txt)")
    data = py("view.read_bytes('/base.txt')")
    seed("Output: base file")
    expect(data == b"base file\n", "read from the lower layer")
    say("Create new file (goes to upper)")
    write_then_ls("view.write_bytes('/new.txt', b'new file\\n')", o, "Shows: new.txt", ["new.txt"])
    say("Modify existing (copy-on-write)")
    write_then_ls(
        "view.write_bytes('/modify.txt', b'modified content\\n')",
        o,
        "Shows: modify.txt new.txt",
        ["modify.txt", "new.txt"],
    )
    expect(py("view.read_bytes('/modify.txt')") == b"modified content\n", "the new content")
    say("Delete file (creates whiteout)")
    py("view.unlink('/delete.txt')")
    listing = sh("ls", "-la", f"{o}/upper/")
    seed("Shows: delete.txt (whiteout character device)")
    expect(whiteout_line(listing, "delete.txt"), "delete.txt is a 0, 0 character device")
    expect(py("view.exists('/delete.txt')") is False, "gone from the merged view")
    say("Original still exists in lower")
    lower = sh("ls", f"{o}/lower/").split()
    seed("Shows: base.txt delete.txt modify.txt")
    expect(lower == ["base.txt", "delete.txt", "modify.txt"], "lower is untouched")
    expect(sh("cat", f"{o}/lower/modify.txt") == "will be modified\n", "old data kept")
    manual_lab_explain(o)


def manual_lab_explain(o: Path) -> None:
    say("Trace a file read/write through the overlay stack: where does each path come from?")
    t = show_trace("view.trace('/modify.txt')")
    expect(t.winner == 0 and t.rows[0].role == "upperdir", "modify.txt: the upperdir copy wins")
    expect(t.rows[1].kind == "file", "modify.txt: the lower copy is still there below it")
    t = show_trace("view.trace('/delete.txt')")
    expect(t.winner is None and t.rows[0].state == "whiteout", "delete.txt: whited out in upper")
    t = show_trace("view.trace('/base.txt')")
    expect(t.winner == 1 and t.rows[0].state == "absent", "base.txt: served from lower")
    say("What changed in the upper layer (docker diff's A/C/D)")
    diff = py("[(c.kind, c.path) for c in changes(f'{O}/upper', [f'{O}/lower'])]")
    expect(
        diff == [("D", "/delete.txt"), ("C", "/modify.txt"), ("A", "/new.txt")],
        "D /delete.txt, C /modify.txt, A /new.txt",
    )


def lab_part1() -> None:
    banner("Part 1a (library): the seed's Lab Part 1 (nested delete), with UnionView")
    t = lab_dirs("overlay-test", "T")
    say("2. Add content to lower")
    py("open(f'{T}/lower/readme.txt', 'w').write('original file\\n')")
    py("os.mkdir(f'{T}/lower/subdir')")
    py("open(f'{T}/lower/subdir/nested.txt', 'w').write('nested file\\n')")
    say("3. 'Mount' overlay")
    py("view = UnionView([f'{T}/lower'], f'{T}/upper', f'{T}/work')")
    say("4. Explore (ls -la merged/)")
    entries = py("[(e.name, e.kind.value) for e in view.readdir('/')]")
    expect(sorted(entries) == [("readme.txt", "file"), ("subdir", "dir")], "readme.txt, subdir/")
    say("5. Create new file")
    write_then_ls(
        "view.write_bytes('/newfile.txt', b'new content\\n')",
        t,
        "newfile.txt is here!",
        ["newfile.txt"],
        "6. Check upper layer",
    )
    say("7. Modify existing file")
    write_then_ls(
        "view.write_bytes('/readme.txt', b'modified\\n')",
        t,
        "readme.txt copied here (COW)",
        ["newfile.txt", "readme.txt"],
    )
    say("8. Delete a file")
    py("view.unlink('/subdir/nested.txt')")
    listing = sh("ls", "-la", f"{t}/upper/subdir/")
    seed("Whiteout file created")
    expect(whiteout_line(listing, "nested.txt"), "nested.txt is a whiteout in upper/subdir")
    expect(py("view.listdir('/subdir')") == [], "subdir is empty in the merged view")
    expect(sh("ls", f"{t}/lower/subdir/").split() == ["nested.txt"], "lower/subdir still has it")


def main(argv: list[str]) -> int:
    base = Path(argv[1]) if len(argv) > 1 else Path(tempfile.mkdtemp(prefix="layerfs-demo-lib."))
    # The seed works in /tmp; the demo in a scratch dir of its own, with the seed's names.
    os.chdir(base)
    print(f"\n{CYAN}# Working in {base} (the seed's /tmp): overlay/ and overlay-test/{RESET}")
    try:
        manual_lab()
        lab_part1()
    except DemoFailed as e:
        print(f"{RED}{BOLD}DEMO FAILED{RESET}: {e}", file=sys.stderr)
        return 1
    finally:
        if len(argv) <= 1:
            shutil.rmtree(base, ignore_errors=True)
    print(f"\n{GREEN}Part 1a: the library showed every step the seed describes.{RESET}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
