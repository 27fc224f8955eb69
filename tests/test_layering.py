"""The import arrows of DESIGN.md point down only.

Every module under ``src/layerfs`` is parsed with `ast` (nothing is imported) and each
reference to another layerfs module is checked against the room table below.

The rule, read from the diagram in DESIGN.md ("each folder a room; arrows point down
only"; "a module imports only from rooms below it"): the diagram lists the rooms one
per line, top to bottom, in four bands separated by arrows. Within a band a room may use
the rooms drawn *below* it (the store uses archive and oci, archive uses oci, the mounts
use the union engine that the FUSE server adapts, a build runs its RUN steps in the
runtime), never the ones above it. That gives one total order, highest first:

    rank  room
    10    cli (and layerfs/__main__.py)
     9    analysis
     8    build
     7    runtime
     6    transports
     5    store
     4    archive
     3    oci
     2    mounts
     1    union
     0    digest  (may import errors only)
     0    errors  (imports nothing of ours)

A module may import its own room and any room of lower rank. Nothing outside cli
imports cli. digest.py and errors.py are the leaves: errors imports nothing of ours and
digest imports nothing of ours but errors. The root package ``layerfs`` (only
``__version__``) imports nothing of ours and may be imported by anyone.

What counts as a reference: ``import layerfs.x``, ``from layerfs.x import y``, relative
imports (resolved against the module's package), imports under ``if TYPE_CHECKING`` (a
type-only import is still an arrow), and string constants that are exactly a layerfs
module path (``"layerfs.union.view"``, as lazy ``importlib.import_module`` tables use).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "layerfs"

RANK: dict[str, int] = {
    "cli": 10,
    "__main__": 10,
    "analysis": 9,
    "build": 8,
    "runtime": 7,
    "transports": 6,
    "store": 5,
    "archive": 4,
    "oci": 3,
    "mounts": 2,
    "union": 1,
    "digest": 0,
    "errors": 0,
}

# The leaves may not use each other freely: errors is the very bottom.
LEAF_ALLOWED: dict[str, frozenset[str]] = {
    "errors": frozenset(),
    "digest": frozenset({"errors"}),
}

ROOT = ""  # the room of `layerfs/__init__.py` itself
_MODULE_STRING = re.compile(r"^layerfs(\.[A-Za-z_][A-Za-z0-9_]*)+$")


@dataclass(frozen=True)
class Arrow:
    """One reference from a module (dotted name) to a layerfs module, with its line."""

    source: str
    target: str
    line: int


def module_name(path: Path, src: Path = SRC) -> str:
    """`src/layerfs/union/view.py` → `layerfs.union.view` (packages drop `__init__`)."""
    parts = list(path.relative_to(src.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def room_of(module: str) -> str:
    """The room of a dotted layerfs module name (`""` for the root package)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ROOT


def _resolve_relative(module: str, is_package: bool, level: int, name: str | None) -> str:
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, name] if name else base)


def arrows_of(path: Path, src: Path = SRC) -> list[Arrow]:
    """Every reference from the module at `path` to a layerfs module."""
    module = module_name(path, src)
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[Arrow] = []
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _resolve_relative(module, is_package, node.level, node.module)
            else:
                base = node.module or ""
            targets = [base]
            # `from layerfs import cli` names a room through the root package.
            if base == "layerfs":
                targets = [f"layerfs.{alias.name}" for alias in node.names]
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and _MODULE_STRING.match(node.value)
        ):
            targets = [node.value]
        for target in targets:
            if target == "layerfs" or target.startswith("layerfs."):
                found.append(Arrow(module, target, getattr(node, "lineno", 0)))
    return found


def violation(arrow: Arrow) -> str | None:
    """Why `arrow` breaks the rules, or None if it is allowed."""
    src_room, dst_room = room_of(arrow.source), room_of(arrow.target)
    where = f"{arrow.source}:{arrow.line} -> {arrow.target}"
    if dst_room == ROOT:
        return None if src_room != ROOT else f"{where}: the root package imports nothing"
    if src_room == ROOT:
        return f"{where}: the root package layerfs/__init__.py must import nothing of ours"
    if dst_room not in RANK:
        return f"{where}: unknown room {dst_room!r} (add it to DESIGN.md and RANK)"
    if src_room == dst_room:
        return None
    if dst_room in ("cli", "__main__"):
        return f"{where}: nothing imports cli"
    if src_room in LEAF_ALLOWED:
        if dst_room in LEAF_ALLOWED[src_room]:
            return None
        return f"{where}: {src_room}.py may import only {sorted(LEAF_ALLOWED[src_room])}"
    if RANK[dst_room] < RANK[src_room]:
        return None
    return (
        f"{where}: {src_room} (rank {RANK[src_room]}) may not use"
        f" {dst_room} (rank {RANK[dst_room]})"
    )


def all_modules(src: Path = SRC) -> list[Path]:
    return sorted(p for p in src.rglob("*.py") if "__pycache__" not in p.parts)


# --------------------------------------------------------------------------- the rules


def test_every_module_is_in_a_known_room() -> None:
    unknown = sorted(
        module_name(p)
        for p in all_modules()
        if room_of(module_name(p)) not in RANK and room_of(module_name(p)) != ROOT
    )
    assert not unknown, f"modules outside the rooms of DESIGN.md: {unknown}"


def test_the_project_has_modules_to_check() -> None:
    rooms = {room_of(module_name(p)) for p in all_modules()}
    assert {"cli", "union", "mounts", "digest", "errors"} <= rooms


def test_imports_point_down_only() -> None:
    problems = [v for p in all_modules() for a in arrows_of(p) if (v := violation(a))]
    assert not problems, "imports that break DESIGN.md:\n" + "\n".join(problems)


def test_every_imported_layerfs_module_exists() -> None:
    names = {module_name(p) for p in all_modules()}
    missing = [
        f"{a.source}:{a.line} -> {a.target}"
        for p in all_modules()
        for a in arrows_of(p)
        if a.target not in names
    ]
    assert not missing, "references to layerfs modules that do not exist:\n" + "\n".join(missing)


# --------------------------------------------------------------------------- the checker


def _write(root: Path, rel: str, text: str) -> Path:
    path = root / "layerfs" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("rel", "text", "bad"),
    [
        ("store/db.py", "from layerfs.archive import apply\n", False),
        ("store/db.py", "from layerfs.oci.manifest import Manifest\n", False),
        ("archive/apply.py", "import layerfs.oci.media\n", False),
        ("mounts/fuse/server.py", "from layerfs.union.view import UnionView\n", False),
        ("build/run.py", "from layerfs.runtime import run\n", False),
        ("digest.py", "from layerfs.errors import InvalidInput\n", False),
        ("cli/mount.py", "from layerfs.mounts import kernel\n", False),
        ("union/view.py", "from . import whiteouts\n", False),
        ("union/view.py", "from .whiteouts import scan_dir\n", False),
        ("cli/main.py", "import layerfs\n", False),
        ("union/view.py", "from layerfs.mounts import kernel\n", True),
        ("oci/manifest.py", "from layerfs.archive import apply\n", True),
        ("archive/apply.py", "from layerfs.store import db\n", True),
        ("runtime/spec.py", "from layerfs.build import parser\n", True),
        ("store/db.py", "from ..cli import main\n", True),
        ("analysis/trace.py", "from layerfs import cli\n", True),
        ("errors.py", "from layerfs.digest import Digest\n", True),
        ("digest.py", "from layerfs.union import whiteouts\n", True),
        ("union/__init__.py", "X = {'a': 'layerfs.store.db'}\n", True),
        (
            "union/view.py",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from layerfs.oci import x\n",
            True,
        ),
        ("__init__.py", "from layerfs.union import UnionView\n", True),
        ("union/view.py", "from layerfs.nowhere import x\n", True),
    ],
)
def test_checker_judges_synthetic_modules(tmp_path: Path, rel: str, text: str, bad: bool) -> None:
    path = _write(tmp_path, rel, text)
    arrows = arrows_of(path, tmp_path / "layerfs")
    assert arrows, "the checker must see the reference"
    problems = [v for a in arrows if (v := violation(a))]
    assert bool(problems) is bad, problems


def test_relative_import_resolution() -> None:
    assert _resolve_relative("layerfs.union.view", False, 1, "whiteouts") == (
        "layerfs.union.whiteouts"
    )
    assert _resolve_relative("layerfs.union", True, 1, "view") == "layerfs.union.view"
    assert _resolve_relative("layerfs.mounts.fuse.server", False, 2, "kernel") == (
        "layerfs.mounts.kernel"
    )
    assert _resolve_relative("layerfs.store.db", False, 2, None) == "layerfs"
