"""Chain ids: the OCI identity of a stack of layers (image-spec config.md)."""

from __future__ import annotations

from collections.abc import Sequence

from layerfs.digest import Digest


def chain_ids(diff_ids: Sequence[Digest]) -> list[Digest]:
    """One chain id per layer, base first.

    ``ChainID(L0) = DiffID(L0)``; ``ChainID(L0..n) = sha256(ChainID(L0..n-1) + " " +
    DiffID(Ln))`` over the ``sha256:<hex>`` strings. An empty input gives an empty list.
    """
    out: list[Digest] = []
    for diff_id in diff_ids:
        if not out:
            out.append(diff_id)
        else:
            out.append(Digest.of_bytes(f"{out[-1]} {diff_id}".encode()))
    return out


def chain_id(diff_ids: Sequence[Digest]) -> Digest:
    """The chain id of the whole stack (the top layer's); InvalidInput-free, ValueError if empty."""
    if not diff_ids:
        raise ValueError("chain_id of an empty layer stack")
    return chain_ids(diff_ids)[-1]
