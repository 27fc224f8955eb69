"""`layerfs fsck`: prove the store's invariants, and repair what can be repaired.

Checks: every blob a row names is present and hashes to its name; every layer row has
its dir and its parent; every image's manifest and config parse and agree with its rows
(config digest = image id, layer blobs, diff_ids along the chain); no orphans (blobs,
layer dirs, snapshot dirs nothing references, layers with no reference, leftovers of
dead ingests, stale partial downloads). `deep` re-tars every layer and compares with
the digest recorded at commit. `repair` removes what nothing references (it never
removes referenced content) and unpacks a missing layer dir again from a blob of an
image that has it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from layerfs.errors import LayerfsError
from layerfs.oci.chain import chain_ids
from layerfs.oci.config import ImageConfig
from layerfs.oci.manifest import Manifest
from layerfs.store import gc, images, partial
from layerfs.store.durable import remove_tree
from layerfs.store.layers import rebuild_layer, tree_digest
from layerfs.store.lock import is_free

if TYPE_CHECKING:
    from layerfs.store.store import Store


@dataclass(frozen=True)
class Problem:
    """One finding: `kind` a stable word, `subject` what it is about, `repaired` if fixed."""

    kind: str
    subject: str
    detail: str
    repaired: bool = False

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "subject": self.subject,
            "detail": self.detail,
            "repaired": self.repaired,
        }


@dataclass(frozen=True)
class FsckReport:
    """Problems found (repaired or not) and what was checked."""

    problems: tuple[Problem, ...]
    checked: dict[str, int] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        """True when nothing is left to fix (repaired problems do not count)."""
        return all(p.repaired for p in self.problems)


def _check_blobs(store: Store, out: list[Problem]) -> int:
    referenced = gc.referenced_blobs(store)
    for digest in sorted(referenced):
        if not store.blobs.exists(digest):
            out.append(Problem("missing-blob", str(digest), "a row names it; no file"))
        elif not store.blobs.verify(digest):
            out.append(Problem("corrupt-blob", str(digest), "content does not hash to its name"))
    return len(referenced)


def _check_layers(store: Store, deep: bool, repair: bool, out: list[Problem]) -> int:
    layers = store.layers()
    for layer in layers:
        diff = store.paths.layer_diff(layer.chain_id)
        if not os.path.isdir(diff):
            fixed = repair and rebuild_layer(store, layer)
            detail = f"{diff} is missing" + ("; unpacked again from its blob" if fixed else "")
            out.append(Problem("missing-layer-dir", str(layer.chain_id), detail, fixed))
            continue
        if layer.parent is not None and not store.has_layer(layer.parent):
            out.append(Problem("missing-parent", str(layer.chain_id), f"parent {layer.parent}"))
        if deep:
            got = tree_digest(diff)
            if got != layer.tree_digest:
                out.append(
                    Problem(
                        "layer-changed",
                        str(layer.chain_id),
                        f"re-tar hashes to {got}, committed as {layer.tree_digest}"
                        f" (diff_id {layer.diff_id})",
                    )
                )
    return len(layers)


def _check_images(store: Store, out: list[Problem]) -> int:
    records = images.list_images(store)
    for rec in records:
        subject = str(rec.id)
        try:
            manifest = Manifest.parse(store.blobs.read_bytes(rec.manifest_digest))
            config = ImageConfig.parse(store.blobs.read_bytes(rec.id))
        except (LayerfsError, KeyError) as e:
            out.append(Problem("bad-image", subject, str(e)))
            continue
        rows = images.image_layers(store, rec.id)
        if manifest.config.digest != rec.id:
            out.append(Problem("bad-image", subject, "manifest names another config"))
        if [d.digest for d in manifest.layers] != [r.blob_digest for r in rows]:
            out.append(Problem("bad-image", subject, "manifest layers differ from the rows"))
        if chain_ids(config.diff_ids) != [r.chain_id for r in rows]:
            out.append(Problem("bad-image", subject, "config diff_ids differ from its layers"))
    return len(records)


def _orphans(store: Store, repair: bool, out: list[Problem]) -> None:
    known = {layer.chain_id.hex for layer in store.layers()}
    for name in sorted(os.listdir(store.paths.layers)):
        if name not in known:
            path = os.path.join(store.paths.layers, name)
            if repair:
                remove_tree(path)
            out.append(Problem("orphan-layer-dir", path, "no layer row", repair))
    q = "SELECT key FROM snapshots WHERE kind != 'committed'"
    keys = {r[0] for r in store.db.execute(q)}
    for name in sorted(os.listdir(store.paths.containers)):
        path = os.path.join(store.paths.containers, name)
        if name not in keys:
            if repair:
                remove_tree(path)
            out.append(Problem("orphan-snapshot-dir", path, "no snapshot row", repair))
    for key in sorted(keys):
        if not os.path.isdir(store.paths.snapshot(key)):
            out.append(Problem("missing-snapshot-dir", key, "row without its directory"))
    for chain in gc.unreferenced_layers(store):
        out.append(Problem("unreferenced-layer", str(chain), "nothing uses it", repair))
    referenced = gc.referenced_blobs(store)
    for digest in store.blobs.digests():
        if digest not in referenced:
            out.append(Problem("orphan-blob", str(digest), "nothing references it", repair))
    if repair:
        gc.collect(store)


def _ingests(store: Store, repair: bool, out: list[Problem]) -> None:
    if repair:
        for what in store.recover():
            out.append(Problem("interrupted-ingest", what, "left by a dead writer", True))
    for name in sorted(os.listdir(store.paths.ingest)):
        lock = os.path.join(store.paths.ingest, name.removesuffix(".lock") + ".lock")
        if name != partial.PARTIAL and is_free(lock):
            out.append(Problem("interrupted-ingest", name, "left by a dead writer"))
    for path in partial.stale(store):  # a partial of a live pull is not a problem
        out.append(Problem("stale-partial", path, "its blob landed or it is too old", repair))


def fsck(store: Store, *, deep: bool = False, repair: bool = False) -> FsckReport:
    """Check the store (see the module docstring). With `repair`, takes the writer lock."""
    problems: list[Problem] = []
    if repair:
        store.lock.acquire()
    try:
        _ingests(store, repair, problems)
        checked = {
            "blobs": _check_blobs(store, problems),
            "layers": _check_layers(store, deep, repair, problems),
            "images": _check_images(store, problems),
        }
        _orphans(store, repair, problems)
    finally:
        if repair:
            store.lock.release()
    return FsckReport(tuple(problems), checked)
