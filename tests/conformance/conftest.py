"""Fixtures of the conformance suite: the front ends compared with the kernel, and
`union(stack, **options)` which builds a `Differential` and always releases its mounts."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from .frontends import REFERENCE, Options, unavailable
from .harness import Differential
from .layers import Stack

# Compared with the reference (the kernel). "kernel#2" is a second kernel mount of another
# copy: a self-check that the fixtures are deterministic and the comparison's exclusions
# are neither too narrow nor needed for anything but what they say.
OTHERS = ("kernel#2", "library", "fuse")

UnionFactory = Callable[..., Differential]


@pytest.fixture(params=OTHERS)
def frontend(request: pytest.FixtureRequest) -> str:
    """The name of the front end compared with the kernel (skips when unavailable)."""
    name: str = request.param
    reason = unavailable(REFERENCE) or unavailable(name.partition("#")[0])
    if reason:
        pytest.skip(reason)
    return name


@pytest.fixture
def union(frontend: str, tmp_path: os.PathLike[str]) -> Iterator[UnionFactory]:
    """`union(stack, redirect_dir=False) -> Differential` (kernel vs `frontend`)."""
    made: list[Differential] = []

    def make(stack: Stack, **options: bool) -> Differential:
        workspace = os.path.join(tmp_path, f"union{len(made)}")
        os.mkdir(workspace)
        d = Differential(stack, (REFERENCE, frontend), workspace, Options(**options))
        made.append(d)
        return d

    yield make
    for d in made:
        d.close()
