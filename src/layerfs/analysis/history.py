"""`history` of an image from any source, with sizes: the rows `store.describe` gives
for stored images, computed from the image itself (layer tars listed once).

SIZE is the uncompressed tar's byte count of the layer an entry made (podman's and the
store's measure), 0 for entries that made none; the newest row's id is the image id
(the config digest), the others carry the chain id of their layer (or the one below).
"""

from __future__ import annotations

import dataclasses

from layerfs.analysis.layers import list_layers
from layerfs.digest import Digest
from layerfs.oci.chain import chain_ids
from layerfs.oci.image import Image
from layerfs.store.describe import HistoryRow


def image_history(image: Image) -> list[HistoryRow]:
    """The image's history, newest first, with layer sizes (uncompressed tar bytes)."""
    config = image.config()
    layers = image.layers()
    sizes = iter(lst.tar_size for lst in list_layers(layers))
    chains = iter(chain_ids(list(config.diff_ids)))
    rows: list[HistoryRow] = []
    current: Digest | None = None
    for entry, diff_id in config.layer_history():
        size = 0
        if diff_id is not None:
            current, size = next(chains, current), next(sizes, 0)
        rows.append(HistoryRow(current, entry.created, entry.created_by, size, entry.comment,
                               diff_id is None, diff_id))
    rows.reverse()
    if rows:
        rows[0] = dataclasses.replace(rows[0], id=image.manifest().config.digest)
    return rows
