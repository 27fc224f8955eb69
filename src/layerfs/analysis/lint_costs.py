"""Costs of lint findings, measured on the built image: which layer each instruction of
the built stage made, and the bytes of that layer's changes and of the copies its
successors hid (from `analysis.dive.analyze`).

Layers are matched to instructions from the top of the image down: every RUN, COPY
and ADD of the stage made one layer (a WORKDIR too when its history entry says so, as
docker's classic builder does); the layers below the stage's first one are the base
image's. A RUN's layer must name its command in its history entry (when the command
has no variables to expand), a COPY/ADD layer must say COPY or ADD: an image that was
not built from the Dockerfile is refused rather than measured wrongly. (The history
text ends with the command in BuildKit's, buildah's and docker's classic forms.)
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from layerfs.analysis.lint_model import Charge
from layerfs.analysis.lint_shell import script_of, squeeze, under
from layerfs.analysis.model import ADDED, MODIFIED, REMOVED, ImageAnalysis, LayerAnalysis
from layerfs.build.parser import Instruction
from layerfs.build.stages import Stage
from layerfs.errors import InvalidInput

LAYER_KEYWORDS = frozenset({"RUN", "COPY", "ADD"})
_NOISE = re.compile(r"^(\|\d+( \S+=\S*)* )?(/bin/sh -c )?(#\(nop\) )?|\s*# buildkit$")


@dataclass(frozen=True)
class ImageMap:
    """The built stage's instructions (by first line) mapped to layer indexes of
    `analysis`; layers below `first_own` are the base image's."""

    analysis: ImageAnalysis
    layer_of: dict[int, int]
    first_own: int
    _hidden: dict[int, list[tuple[str, int, int, str]]] = field(repr=False, hash=False,
                                                                compare=False)

    def layer(self, ins: Instruction) -> LayerAnalysis | None:
        index = self.layer_of.get(ins.line)
        return None if index is None else self.analysis.layers[index]

    def indexes(self, instructions: Iterable[Instruction]) -> set[int]:
        return {self.layer_of[i.line] for i in instructions if i.line in self.layer_of}

    def written(self, instructions: Iterable[Instruction], dirs: Iterable[str]) -> list[Charge]:
        """Every file copy the instructions' layers wrote (added or replaced) under one of
        `dirs`: what a RUN that deleted them before its end would not have stored."""
        dirs = tuple(dirs)
        out = []
        for index in sorted(self.indexes(instructions)):
            for c in self.analysis.layers[index].changes:
                if c.kind in (ADDED, MODIFIED) and not c.is_dir and c.size > 0 and \
                        any(under(c.path, d) for d in dirs):
                    out.append(Charge(index, c.path, c.size))
        return out

    def hidden_by(self, ins: Instruction, *, removed_only: bool = True) -> list[Charge]:
        """The copies of lower layers that `ins`'s layer hid (deleted, or also overwrote
        with `removed_only=False`), as dive's waste items name them."""
        index = self.layer_of.get(ins.line)
        if index is None:
            return []
        return [Charge(layer, path, size) for path, layer, size, kind in self._hidden[index]
                if kind == REMOVED or not removed_only]

    def hidden_within(self, instructions: Iterable[Instruction]) -> list[Charge]:
        """The copies one of the instructions' layers wrote and a later one of them hid."""
        group = self.indexes(instructions)
        return [Charge(layer, path, size) for index in sorted(group)
                for path, layer, size, _ in self._hidden[index] if layer in group]


def map_stage(analysis: ImageAnalysis, stage: Stage, image_name: str) -> ImageMap:
    """Match `stage`'s instructions to the top layers of `analysis`; InvalidInput when
    the image cannot have been built from them."""
    layers = analysis.layers
    top = len(layers) - 1
    layer_of: dict[int, int] = {}
    for ins in reversed(stage.instructions):
        made = ins.keyword in LAYER_KEYWORDS or (
            ins.keyword == "WORKDIR" and top >= 0 and "WORKDIR" in layers[top].created_by)
        if not made:
            continue
        if top < 0:
            raise InvalidInput(f"{image_name} has {len(layers)} layers, fewer than the "
                               f"{stage.label} stage makes: not built from this Dockerfile")
        _check(layers[top], ins, image_name)
        layer_of[ins.line] = top
        top -= 1
    hidden: dict[int, list[tuple[str, int, int, str]]] = defaultdict(list)
    for item in analysis.waste:
        for copy in item.copies:
            hidden[copy.hidden_by].append((item.path, copy.layer_index, copy.size, copy.kind))
    return ImageMap(analysis, layer_of, top + 1, hidden)


def _check(layer: LayerAnalysis, ins: Instruction, image_name: str) -> None:
    made_by = _NOISE.sub("", layer.created_by.strip())
    if not made_by:
        return  # no history: nothing to check against
    words = set(made_by.split()[:2])
    if ins.keyword in ("COPY", "ADD"):
        ok = bool(words & {"COPY", "ADD"})
    elif ins.keyword == "WORKDIR":
        ok = "WORKDIR" in words
    else:
        script = squeeze(script_of(ins))
        ok = not words & {"COPY", "ADD"} and (
            "$" in script or bool(ins.heredocs) or squeeze(made_by).endswith(script))
    if not ok:
        raise InvalidInput(
            f"{image_name}: layer {layer.index} was made by {layer.created_by.strip()!r}, "
            f"not by line {ins.line} ({ins.original!r}): was the image built from this "
            "Dockerfile (and --target)?")
