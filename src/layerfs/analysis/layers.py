"""An image's layers with the history instruction that made each, and their tar listings.

Shared by dive, image diff, trace and history: `layer_steps` pairs each layer (base
first) with its non-empty history entry (`ImageConfig.layer_history`), and
`list_layers` reads every layer tar once (threads: decompression, hashing and file
reads release the GIL).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from layerfs.analysis.tarlist import TarListing, list_tar
from layerfs.oci.image import Image, Layer

_WORKERS = 2


@dataclass(frozen=True)
class LayerStep:
    """Layer `index` (0 = base) of an image and the instruction that made it."""

    index: int
    layer: Layer
    created_by: str
    created: str | None = None
    comment: str = ""


def layer_steps(image: Image) -> list[LayerStep]:
    """The image's layers, base first, each with its history entry (empty text when the
    producer wrote no history for it)."""
    layers = image.layers()
    history = [h for h, diff_id in image.config().layer_history() if diff_id is not None]
    out = []
    for i, layer in enumerate(layers):
        h = history[i] if i < len(history) else None
        out.append(LayerStep(i, layer, h.created_by if h else "", h.created if h else None,
                             h.comment if h else ""))
    return out


def list_layer(layer: Layer, *, content: bool = False) -> TarListing:
    """The listing of one layer (its uncompressed tar read once, diff_id verified);
    `content`: with each entry's metadata and data digest (`tarlist.list_tar`).

    A layer that offers `open_headers()` (a seekable plain tar: `seekable.WindowLayer`)
    is listed from its headers alone, unverified, unless `content` is asked for."""
    opener = getattr(layer, "open_headers", None)
    stream = opener() if callable(opener) and not content else layer.uncompressed()
    with stream:
        return list_tar(stream, content=content)


def list_layers(layers: list[Layer], *, content: bool = False) -> list[TarListing]:
    """The listings of `layers`, in order."""
    if len(layers) <= 1:
        return [list_layer(layer, content=content) for layer in layers]
    with ThreadPoolExecutor(_WORKERS) as pool:
        return list(pool.map(lambda lay: list_layer(lay, content=content), layers))
