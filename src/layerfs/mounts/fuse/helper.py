"""`mount.fuse.layerfs`: the helper mount(8) runs for ``mount -t fuse.layerfs``.

mount(8) calls ``mount.fuse.layerfs SOURCE TARGET [-sfnv] [-o OPTIONS] [-t TYPE]``; the
helper mounts in the background and exits 0 once the mount is ready (1 for a refused
mount, 2 for bad options), printing one line on stderr when it fails. ``-f`` (not used by
mount(8)) serves in the foreground instead.
"""

from __future__ import annotations

import sys

from layerfs.errors import InvalidOption, MountError
from layerfs.mounts.mount import Mount
from layerfs.mounts.options import split_unescaped

USAGE = "usage: mount.fuse.layerfs SOURCE TARGET [-f] [-o lowerdir=A:B,upperdir=U,workdir=W]"


def parse_args(argv: list[str]) -> tuple[Mount, str, bool]:
    """(mount, target, foreground) from the helper's command line; ValueError if unusable."""
    positional: list[str] = []
    options: list[str] = []
    foreground = False
    it = iter(argv)
    for arg in it:
        if arg == "-o":
            options.extend(o for o in split_unescaped(next(it, ""), ",") if o)
        elif arg.startswith("-o"):
            options.extend(o for o in split_unescaped(arg[2:], ",") if o)
        elif arg == "-t":
            next(it, None)
        elif arg == "-f":
            foreground = True
        elif arg in ("-s", "-n", "-v", "-r", "-w"):
            if arg == "-r":
                options.append("ro")
        else:
            positional.append(arg)
    if len(positional) != 2:
        raise ValueError(USAGE)
    source, target = positional
    return Mount("fuse.layerfs", source, tuple(options)), target, foreground


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    from layerfs.mounts import fuse

    try:
        m, target, foreground = parse_args(sys.argv[1:] if argv is None else argv)
        fuse.mount(m, target, foreground=foreground)
    except (ValueError, InvalidOption) as e:
        print(f"mount.fuse.layerfs: {e}", file=sys.stderr)
        return 2
    except (MountError, OSError) as e:
        print(f"mount.fuse.layerfs: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
