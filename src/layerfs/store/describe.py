"""What `inspect` and `history` show of an image, as plain data (docker's shapes).

`inspect_image` returns the dict docker's `image inspect` prints (one element of the
array); `history_rows` one `HistoryRow` per history entry, newest first, each with the
id of the layer it made or sits on (never docker's `<missing>`).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from layerfs.digest import Digest

if TYPE_CHECKING:
    from layerfs.store.image import StoreImage

_DOCKER_CONFIG_DEFAULTS: dict[str, Any] = {
    "Hostname": "",
    "Domainname": "",
    "User": "",
    "AttachStdin": False,
    "AttachStdout": False,
    "AttachStderr": False,
    "Tty": False,
    "OpenStdin": False,
    "StdinOnce": False,
    "Env": None,
    "Cmd": None,
    "Image": "",
    "Volumes": None,
    "WorkingDir": "",
    "Entrypoint": None,
    "OnBuild": None,
    "Labels": None,
}


def inspect_image(image: StoreImage) -> dict[str, Any]:
    """docker image inspect's object for one stored image (plus `Digest`, `ChainIDs`)."""
    config = image.config()
    layers = image.store_layers()
    diffs = [layer.path for layer in reversed(layers)]
    history = config.history
    data: dict[str, Any] = {"UpperDir": diffs[0]} if diffs else {}
    if len(diffs) > 1:
        data["LowerDir"] = ":".join(diffs[1:])
    return {
        "Id": str(image.id),
        "RepoTags": list(image.record.tags),
        "RepoDigests": [],
        "Digest": str(image.digest()),
        "Parent": "",
        "Comment": history[-1].comment if history else "",
        "Created": config.created or "",
        "Author": config.author or "",
        "Config": {**_DOCKER_CONFIG_DEFAULTS, **config.config.to_dict()},
        "Architecture": config.architecture,
        **({"Variant": config.variant} if config.variant else {}),
        "Os": config.os,
        "Size": image.record.size,
        "VirtualSize": image.record.size,
        "GraphDriver": {"Name": "overlay", "Data": data},
        "RootFS": {"Type": "layers", "Layers": [str(d) for d in config.diff_ids]},
        "ChainIDs": [str(layer.chain_id) for layer in layers],
        "Metadata": {"LastTagTime": _iso(image.record.added)},
    }


@dataclass(frozen=True)
class HistoryRow:
    """One history entry: `id` is the image id for the newest row, else the chain id of
    the layer the entry made (or, for an empty_layer entry, of the layer below it)."""

    id: Digest | None
    created: str | None
    created_by: str
    size: int
    comment: str
    empty_layer: bool
    diff_id: Digest | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": None if self.id is None else str(self.id),
            "created": self.created,
            "created_by": self.created_by,
            "size": self.size,
            "comment": self.comment,
            "empty_layer": self.empty_layer,
            "diff_id": None if self.diff_id is None else str(self.diff_id),
        }


def history_rows(image: StoreImage) -> list[HistoryRow]:
    """The image's history, newest first, with layer sizes (uncompressed tar bytes)."""
    by_diff = iter(image.store_layers())
    rows: list[HistoryRow] = []
    current: Digest | None = None
    for entry, diff_id in image.config().layer_history():
        size = 0
        if diff_id is not None:
            layer = next(by_diff, None)
            if layer is not None:
                current, size = layer.chain_id, layer.uncompressed_size
        rows.append(
            HistoryRow(
                id=current,
                created=entry.created,
                created_by=entry.created_by,
                size=size,
                comment=entry.comment,
                empty_layer=diff_id is None,
                diff_id=diff_id,
            )
        )
    rows.reverse()
    if rows:
        top = rows[0]
        rows[0] = HistoryRow(
            image.id,
            top.created,
            top.created_by,
            top.size,
            top.comment,
            top.empty_layer,
            top.diff_id,
        )
    return rows


def _iso(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).isoformat().replace("+00:00", "Z")
