"""The instructions that change only the image config (no layer), as docker applies them.

`apply_metadata(ins, config, env, escape, cmd_set)` returns the new config and the
instruction normalized (variables expanded, one canonical spelling: what the history
shows and the cache key hashes). ENV, LABEL, WORKDIR, USER, CMD, ENTRYPOINT, EXPOSE,
VOLUME, STOPSIGNAL, HEALTHCHECK, SHELL, ONBUILD (stored in the config, as docker does:
its triggers are not run here) and MAINTAINER.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping

from layerfs.build.parser import DockerfileError, Instruction
from layerfs.build.words import expand_word, split_words
from layerfs.errors import InvalidInput
from layerfs.oci.config import Healthcheck, ImageConfig

DEFAULT_SHELL = ("/bin/sh", "-c")
METADATA = frozenset({
    "ENV", "LABEL", "WORKDIR", "USER", "CMD", "ENTRYPOINT", "EXPOSE", "VOLUME", "STOPSIGNAL",
    "HEALTHCHECK", "SHELL", "ONBUILD", "MAINTAINER",
})
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1, "us": 10**3, "µs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9,
          "h": 3600 * 10**9}


def fail(ins: Instruction, message: str) -> DockerfileError:
    return DockerfileError(f"{ins.keyword}: {message}", ins.line, ins.column)


def key_values(ins: Instruction, env: Mapping[str, str], escape: str) -> list[tuple[str, str]]:
    """ENV/LABEL arguments: `K=V ...` pairs, or the legacy `K V with spaces` form."""
    try:
        words = split_words(ins.rest, env, escape)
    except InvalidInput as e:
        raise fail(ins, str(e)) from None
    if not words:
        raise fail(ins, "requires at least one argument")
    if "=" not in words[0]:
        if ins.keyword == "LABEL" or len(words) < 2:
            raise fail(ins, f"{ins.keyword} names must be followed by =value")
        key, _, value = ins.rest.strip().partition(" ")
        return [(key, expand_word(value.strip(), env, escape))]
    out = []
    for w in words:
        key, eq, value = w.partition("=")
        if not eq or not key:
            raise fail(ins, f"syntax error - can't find = in {w!r}."
                       " Must be of the form: name=value")
        out.append((key, value))
    return out


def command_args(ins: Instruction, shell: tuple[str, ...]) -> tuple[str, ...]:
    """CMD/ENTRYPOINT/RUN argv: the exec form as given, the shell form as shell + text."""
    if ins.exec_args is not None:
        return ins.exec_args
    return (*shell, ins.rest)


def duration(text: str, ins: Instruction) -> int:
    """A Go duration ("30s", "1m30s") in nanoseconds."""
    pos, total = 0, 0.0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise fail(ins, f"invalid duration {text!r}")
    return int(total)


def _healthcheck(ins: Instruction, shell: tuple[str, ...]) -> Healthcheck:
    if ins.rest.strip().upper() == "NONE":
        return Healthcheck(("NONE",))
    word, _, rest = ins.rest.strip().partition(" ")
    if word.upper() != "CMD":
        raise fail(ins, 'requires "CMD" or "NONE"')
    rest = rest.strip()
    try:
        exec_args = json.loads(rest) if rest.startswith("[") else None
    except ValueError:
        exec_args = None
    test = ("CMD", *exec_args) if isinstance(exec_args, list) else ("CMD-SHELL", rest)
    values = {n: duration(ins.flag(n) or "0s", ins) for n in
              ("interval", "timeout", "start-period", "start-interval")}
    retries = ins.flag("retries")
    return Healthcheck(test, values["interval"], values["timeout"], values["start-period"],
                       values["start-interval"], int(retries) if retries else 0)


def apply_metadata(
    ins: Instruction,
    config: ImageConfig,
    env: Mapping[str, str],
    escape: str,
    cmd_set: bool,
) -> tuple[ImageConfig, str]:
    """The config after `ins` and its normalized text (`env`: variables for expansion)."""
    cc = config.config
    kw = ins.keyword
    shell = cc.shell or DEFAULT_SHELL
    if kw in ("ENV", "LABEL"):
        pairs = key_values(ins, env, escape)
        text = f"{kw} " + " ".join(f"{k}={v}" for k, v in pairs)
        if kw == "ENV":
            current = cc.env_dict()
            current.update(pairs)
            return config.with_config(env=tuple(f"{k}={v}" for k, v in current.items())), text
        return config.with_config(labels={**cc.labels, **dict(pairs)}), text
    if kw == "WORKDIR":
        path = expand_word(ins.rest, env, escape)
        full = posixpath.normpath(posixpath.join(cc.working_dir or "/", path))
        return config.with_config(working_dir=full), f"WORKDIR {full}"
    if kw == "USER":
        user = expand_word(ins.rest, env, escape)
        return config.with_config(user=user), f"USER {user}"
    if kw == "CMD":
        args = command_args(ins, shell)
        return config.with_config(cmd=args), f"CMD {json.dumps(list(args))}"
    if kw == "ENTRYPOINT":
        args = command_args(ins, shell)
        changes: dict[str, object] = {"entrypoint": args}
        if not cmd_set:
            changes["cmd"] = None  # docker: ENTRYPOINT resets a CMD inherited from the base
        return config.with_config(**changes), f"ENTRYPOINT {json.dumps(list(args))}"
    if kw == "EXPOSE":
        ports = []
        for p in split_words(ins.rest, env, escape):
            ports.append(p if "/" in p else f"{p}/tcp")
        all_ports = tuple(sorted(set(cc.exposed_ports) | set(ports)))
        return config.with_config(exposed_ports=all_ports), "EXPOSE " + " ".join(sorted(ports))
    if kw == "VOLUME":
        vols = list(ins.exec_args) if ins.exec_args is not None else split_words(
            ins.rest, env, escape)
        vols = [expand_word(v, env, escape) for v in vols] if ins.exec_args else vols
        if not vols or any(not v for v in vols):
            raise fail(ins, "VOLUME specified can not be an empty string")
        merged = tuple(sorted(set(cc.volumes) | set(vols)))
        return config.with_config(volumes=merged), f"VOLUME {json.dumps(vols)}"
    if kw == "STOPSIGNAL":
        sig = expand_word(ins.rest, env, escape)
        return config.with_config(stop_signal=sig), f"STOPSIGNAL {sig}"
    if kw == "HEALTHCHECK":
        return config.with_config(healthcheck=_healthcheck(ins, shell)), ins.original
    if kw == "SHELL":
        if ins.exec_args is None or not ins.exec_args:
            raise fail(ins, "SHELL requires the arguments to be in JSON form")
        return (config.with_config(shell=ins.exec_args),
                f"SHELL {json.dumps(list(ins.exec_args))}")
    if kw == "ONBUILD":
        trigger = ins.rest.strip()
        word = trigger.split(" ", 1)[0].upper()
        if word in ("ONBUILD", "FROM", "MAINTAINER"):
            raise fail(ins, f"{word} isn't allowed as an ONBUILD trigger")
        return config.with_config(onbuild=(*cc.onbuild, trigger)), f"ONBUILD {trigger}"
    if kw == "MAINTAINER":
        author = expand_word(ins.rest, env, escape)
        return config.replace(author=author), f"MAINTAINER {author}"
    raise fail(ins, "not a metadata instruction")
