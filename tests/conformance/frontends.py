"""The registry the suite is parametrised over: one factory per union front end.

Front ends (`FACTORIES`): "kernel" (the reference: a kernel overlay mount through
`layerfs.mounts.kernel`), "library" (`layerfs.union.UnionView`) and "fuse" (the FUSE
server, `layerfs.mounts.fuse`). A front end whose code is not there reports why through
`unavailable(name)` (tests skip with that reason). Adding a front end = one factory here.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable

from .frontend_library import LibraryFrontEnd
from .frontend_mount import Mounter, MountFrontEnd, overlay_mount
from .layers import Dirs
from .protocol import FrontEnd, Options

__all__ = ["FACTORIES", "REFERENCE", "FrontEnd", "Options", "unavailable"]



Factory = Callable[[Dirs, Options, str], FrontEnd]


def _kernel_mounter() -> Mounter:
    kernel = importlib.import_module("layerfs.mounts.kernel")
    return Mounter(kernel.mount, kernel.umount)


def _kernel(dirs: Dirs, options: Options, workspace: str) -> FrontEnd:
    merged = os.path.join(workspace, "merged")
    os.mkdir(merged)
    return MountFrontEnd("kernel", dirs, overlay_mount(dirs, options, "overlay"),
                         _kernel_mounter(), merged)


def _library(dirs: Dirs, options: Options, workspace: str) -> FrontEnd:
    return LibraryFrontEnd(dirs, options)


def _fuse(dirs: Dirs, options: Options, workspace: str) -> FrontEnd:
    fuse = importlib.import_module("layerfs.mounts.fuse")
    merged = os.path.join(workspace, "merged")
    os.mkdir(merged)
    umount = getattr(fuse, "umount", None) or _kernel_mounter().umount
    return MountFrontEnd("fuse", dirs, overlay_mount(dirs, options, "fuse.layerfs"),
                         Mounter(fuse.mount, umount), merged)


FACTORIES: dict[str, Factory] = {"kernel": _kernel, "library": _library, "fuse": _fuse}
REFERENCE = "kernel"
# What each front end needs: (module, attribute) pairs (the FUSE server serves a UnionView).
_REQUIRES = {
    "library": (("layerfs.union.view", "UnionView"),),
    "fuse": (("layerfs.union.view", "UnionView"), ("layerfs.mounts.fuse", "mount")),
}


def unavailable(name: str) -> str | None:
    """Why front end `name` cannot run here (None when it can): for a skip reason."""
    if os.geteuid() != 0:
        return "the conformance suite needs root (kernel overlay mounts)"
    if name == "kernel":
        with open("/proc/filesystems") as f:
            if "\toverlay\n" not in f.read():
                return "the kernel has no overlay file system"
        return None
    for module, attr in _REQUIRES[name]:
        try:
            mod = importlib.import_module(module)
        except ImportError as e:
            return f"{name} front end unavailable: cannot import {module} ({e})"
        if not hasattr(mod, attr):
            return f"{name} front end unavailable: {module} has no {attr}"
    return None
