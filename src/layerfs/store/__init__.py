"""The local store: blobs, layers, images, snapshots; SQLite metadata, locks, gc, fsck.

```python
from layerfs.store import Store
with Store.open() as store:                       # $LAYERFS_ROOT or ~/.local/share/layerfs
    image = store.image("busybox")                # the Image interface of layerfs.oci.image
    mounts = store.snapshots.prepare("c1", image.record.top_chain)
```

Public names are imported lazily (the modules of this package import each other).
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "Store": "layerfs.store.store",
    "StorePaths": "layerfs.store.paths",
    "default_root": "layerfs.store.paths",
    "StoreImage": "layerfs.store.image",
    "StoreLayer": "layerfs.store.image",
    "Snapshotter": "layerfs.store.snapshots",
    "SnapshotInfo": "layerfs.store.snapshots",
    "Usage": "layerfs.store.snapshots",
    "add_image": "layerfs.store.put",
    "import_rootfs": "layerfs.store.rootfs",
    "commit_image": "layerfs.store.commit",
    "layer_from_upper": "layerfs.store.commit",
    "export_image": "layerfs.store.export",
    "collect": "layerfs.store.gc",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'layerfs.store' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
