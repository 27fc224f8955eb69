"""The shell side of `layerfs lint`: a RUN instruction's script split into simple
commands, and what each command does to package caches and files.

Only what the lint rules need is recognised: package managers' index updates, installs
and cleanups (apt, apk, yum/dnf/microdnf, zypper), `rm` and its targets, and the
dependency installers whose input is a manifest file (pip, npm, yarn, go, bundler, ...).
The splitter honours quotes and backslashes; it is not a shell: command substitutions
and control flow stay inside the command text they appear in.
"""

from __future__ import annotations

import fnmatch
import posixpath
import shlex
from dataclasses import dataclass

from layerfs.build.parser import Instruction

_SEPARATORS = ("&&", "||", ";", "|", "\n")
_COPIERS = frozenset({"cp", "mv", "ln", "install", "rsync"})
_READERS = frozenset({"cat", "ls", "test", "[", "stat", "du", "sha256sum", "md5sum", "grep",
                      "head", "tail", "file", "wc", "diff", "cmp"})
_WRAPPERS = frozenset({"sudo", "env", "nice", "nohup", "command", "exec", "time"})


@dataclass(frozen=True)
class Command:
    """One simple command of a script: its text as written and its words (variables
    and globs not expanded; leading `NAME=value` assignments and wrappers dropped)."""

    text: str
    argv: tuple[str, ...]


@dataclass(frozen=True)
class Manager:
    """A system package manager: the directories its index and downloads live in, and
    the command that removes them (what a RUN should end with)."""

    name: str
    cache_dirs: tuple[str, ...]
    clean: str
    install_fetches: bool  # an install downloads the index itself (no separate update)


APT = Manager("apt", ("/var/lib/apt/lists", "/var/cache/apt"), "rm -rf /var/lib/apt/lists/*",
              False)
APK = Manager("apk", ("/var/cache/apk",), "rm -rf /var/cache/apk/*", False)
DNF = Manager("dnf", ("/var/cache/dnf", "/var/cache/yum"), "dnf clean all", True)
YUM = Manager("yum", ("/var/cache/yum", "/var/cache/dnf"), "yum clean all", True)
ZYPPER = Manager("zypper", ("/var/cache/zypp",), "zypper clean --all", True)
MANAGERS = (APT, APK, DNF, YUM, ZYPPER)

_RPM_VERBS = {"makecache": "update", "install": "install", "update": "install",
              "upgrade": "install", "groupinstall": "install", "clean": "clean"}
_VERBS: dict[str, tuple[Manager, dict[str, str]]] = {
    "apt-get": (APT, {"update": "update", "install": "install", "upgrade": "install",
                      "dist-upgrade": "install", "clean": "clean"}),
    "apt": (APT, {"update": "update", "install": "install", "upgrade": "install",
                  "full-upgrade": "install", "clean": "clean"}),
    "apk": (APK, {"update": "update", "add": "install", "upgrade": "install"}),
    "dnf": (DNF, _RPM_VERBS),
    "microdnf": (DNF, _RPM_VERBS),
    "yum": (YUM, _RPM_VERBS),
    "zypper": (ZYPPER, {"refresh": "update", "ref": "update", "install": "install",
                        "in": "install", "update": "install", "up": "install",
                        "clean": "clean", "cc": "clean"}),
}

#: dependency installers: program (and verb) -> the manifest files they read
_INSTALLERS: dict[tuple[str, str], tuple[str, ...]] = {
    ("npm", "install"): ("package.json", "package-lock.json"),
    ("npm", "i"): ("package.json", "package-lock.json"),
    ("npm", "ci"): ("package.json", "package-lock.json"),
    ("yarn", "install"): ("package.json", "yarn.lock"),
    ("yarn", ""): ("package.json", "yarn.lock"),
    ("pnpm", "install"): ("package.json", "pnpm-lock.yaml"),
    ("go", "mod"): ("go.mod", "go.sum"),
    ("bundle", "install"): ("Gemfile", "Gemfile.lock"),
    ("composer", "install"): ("composer.json", "composer.lock"),
    ("poetry", "install"): ("pyproject.toml", "poetry.lock"),
    ("pipenv", "install"): ("Pipfile", "Pipfile.lock"),
    ("cargo", "fetch"): ("Cargo.toml", "Cargo.lock"),
}


def script_of(ins: Instruction) -> str:
    """The shell text a RUN executes: the shell form as written, the `-c` argument of
    an exec form that calls a shell, the exec words joined otherwise, plus heredocs."""
    if ins.exec_args is not None:
        args = list(ins.exec_args)
        if len(args) >= 3 and posixpath.basename(args[0]) in ("sh", "bash", "ash", "dash") \
                and args[1] == "-c":
            return args[2]
        return shlex.join(args)
    bodies = [h.content for h in ins.heredocs]
    return "\n".join([ins.rest, *bodies]) if bodies else ins.rest


def squeeze(script: str) -> str:
    """`script` on one line: comments dropped, backslash-newlines and runs of blanks
    outside quotes become one space (`RUN a && \\<newline>    b` runs as `a && b`)."""
    out: list[str] = []
    quote = ""
    i = 0
    while i < len(script):
        ch = script[i]
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (not out or out[-1] == " "):  # a comment, to the line's end
            while i < len(script) and script[i] != "\n":
                i += 1
            continue
        elif ch.isspace() or (ch == "\\" and script[i + 1:i + 2] == "\n"):
            i += 2 if ch == "\\" else 1
            if not out or out[-1] != " ":
                out.append(" ")
            continue
        out.append(ch)
        i += 1
    return "".join(out).strip()


def split_and(script: str) -> list[str]:
    """A one-line script cut at its top-level ` && ` (not inside quotes, parentheses or
    braces), for printing one command per line."""
    out: list[str] = []
    quote, depth, start, i = "", 0, 0, 0
    while i < len(script):
        ch = script[i]
        if quote:
            quote = "" if ch == quote else quote
            i += 2 if ch == "\\" and quote == '"' else 1
            continue
        if ch in "'\"":
            quote = ch
        elif ch in "({":
            depth += 1
        elif ch in ")}":
            depth -= 1
        elif ch == "\\":
            i += 1
        elif depth == 0 and script.startswith(" && ", i):
            out.append(script[start:i])
            start = i + 4
            i += 4
            continue
        i += 1
    out.append(script[start:])
    return out


def split_commands(script: str) -> list[Command]:
    """The simple commands of `script`, in order (separators outside quotes split;
    backslash-newline joins; `#` comments at a word start are dropped)."""
    out: list[Command] = []
    current: list[str] = []
    quote = ""
    i = 0
    while i < len(script):
        ch = script[i]
        if quote:
            current.append(ch)
            if ch == "\\" and quote == '"' and i + 1 < len(script):
                current.append(script[i + 1])
                i += 1
            elif ch == quote:
                quote = ""
        elif ch == "\\" and i + 1 < len(script):
            if script[i + 1] != "\n":
                current.append(script[i:i + 2])
            i += 1
        elif ch in "'\"":
            quote = ch
            current.append(ch)
        elif ch == "#" and (not current or current[-1] in " \t\n"):
            while i < len(script) and script[i] != "\n":
                i += 1
            continue
        else:
            sep = next((s for s in _SEPARATORS if script.startswith(s, i)), "")
            if sep:
                _flush(current, out)
                current = []
                i += len(sep)
                continue
            current.append(ch)
        i += 1
    _flush(current, out)
    return out


def _flush(chars: list[str], out: list[Command]) -> None:
    text = "".join(chars).strip()
    if not text or text in ("(", ")", "{", "}"):
        return
    text = text.strip("(){} \t")
    try:
        words = shlex.split(text, comments=False, posix=True)
    except ValueError:
        words = text.split()
    while words and ("=" in words[0] and not words[0].startswith("=")
                     and words[0].split("=", 1)[0].isidentifier()):
        words.pop(0)
    while words and words[0] in _WRAPPERS:
        words.pop(0)
    if words:
        out.append(Command(text, tuple(words)))


def _operands(argv: tuple[str, ...]) -> list[str]:
    return [w for w in argv[1:] if not w.startswith("-")]


def package_role(cmd: Command) -> tuple[Manager, str] | None:
    """(manager, "update" | "install" | "clean") for a package manager command, or
    for an `rm` of a manager's cache directory ("clean"); None otherwise. An `apk add
    --no-cache` keeps no cache and is no install in this sense."""
    prog = posixpath.basename(cmd.argv[0])
    if prog == "rm":
        for target in _operands(cmd.argv):
            for manager in MANAGERS:
                if any(_under(target, d) for d in manager.cache_dirs):
                    return manager, "clean"
        return None
    entry = _VERBS.get(prog)
    if entry is None:
        return None
    manager, verbs = entry
    words = _operands(cmd.argv)
    role = verbs.get(words[0]) if words else None
    if role is None:
        return None
    if manager is APK and role == "install" and "--no-cache" in cmd.argv:
        return None
    if manager is APK and words[:2] == ["cache", "clean"]:
        return manager, "clean"
    return manager, role


def rm_targets(cmd: Command) -> list[str]:
    """The operands of an `rm` command (none for any other command)."""
    if posixpath.basename(cmd.argv[0]) != "rm":
        return []
    return _operands(cmd.argv)


def writes(cmd: Command, path: str) -> bool:
    """True when `cmd` may create something at or under `path`: the path appears as an
    output (a redirection target, the destination of cp/mv/ln/install, an `of=`), or
    anywhere in a command that does not only read or delete."""
    prog = posixpath.basename(cmd.argv[0])
    words = list(cmd.argv[1:])

    def hit(word: str) -> bool:
        return path in word

    if any(w.startswith(">") and (hit(w) or (k + 1 < len(words) and hit(words[k + 1])))
           for k, w in enumerate(words)):
        return True
    if prog in _COPIERS:
        return bool(_operands(cmd.argv)) and hit(_operands(cmd.argv)[-1])
    if prog in _READERS or prog == "rm":
        return False
    return any(hit(w) for w in words)


def manifests(cmd: Command) -> tuple[str, ...] | None:
    """The manifest files a dependency install reads (`pip install -r FILE` gives FILE's
    path as written), () for a system package install (it needs no file of the context),
    None when the command installs nothing or installs the context itself (`pip install .`)."""
    argv = cmd.argv
    prog = posixpath.basename(argv[0])
    if prog.startswith("python") and argv[1:3] == ("-m", "pip"):
        argv, prog = argv[2:], "pip"
    if prog in ("pip", "pip3") or (prog.startswith("pip3.") and prog[5:].isdigit()):
        if len(argv) < 2 or argv[1] != "install":
            return None
        files = [argv[i + 1] for i, w in enumerate(argv[:-1]) if w in ("-r", "--requirement",
                                                                        "-c", "--constraint")]
        files += [w.split("=", 1)[1] for w in argv if w.startswith("--requirement=")]
        return tuple(files) if files else (None if _local_install(argv) else ())
    words = _operands(argv)
    key = (prog, words[0] if words else "")
    if key in _INSTALLERS:
        if prog == "go" and words[1:2] != ["download"]:
            return None
        return _INSTALLERS[key]
    role = package_role(cmd)
    if role is not None and role[1] == "install":
        return ()
    if prog == "apk" and words[:1] == ["add"]:  # apk add --no-cache
        return ()
    return None


def _local_install(argv: tuple[str, ...]) -> bool:
    return any(w in (".", "./") or w.startswith(("./", "/")) or w == "-e" for w in argv[2:])


def _under(target: str, directory: str) -> bool:
    """True when `target` (glob characters allowed) names `directory` or a path in it."""
    clean = target.split("*", 1)[0].split("?", 1)[0].rstrip("/")
    if not clean.startswith("/"):
        return False
    return clean == directory or clean.startswith(directory + "/")


def under(path: str, target: str) -> bool:
    """True when image path `path` is removed by `rm -rf target`: `target` (glob
    characters allowed in any component) matches `path` or one of its parents."""
    want = [c for c in target.split("/") if c]
    have = [c for c in path.split("/") if c]
    if not target.startswith("/") or not want or len(have) < len(want):
        return False
    return all(fnmatch.fnmatchcase(h, w) for h, w in zip(have, want, strict=False))
