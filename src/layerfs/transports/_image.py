"""The pieces every representation shares: an image held as raw manifest + config bytes
with `archive.layer.BlobLayer`s (verified while streaming), the bytes a writer must emit,
and byte counting for progress bars.
"""

from __future__ import annotations

import functools
import io
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from layerfs.archive.compress import compress_stream, decompressed
from layerfs.archive.layer import BlobLayer
from layerfs.digest import Digest
from layerfs.errors import InvalidInput
from layerfs.oci import mediatypes as mt
from layerfs.oci.config import ImageConfig
from layerfs.oci.descriptor import Descriptor
from layerfs.oci.image import Image, Layer
from layerfs.oci.manifest import Manifest
from layerfs.store.blobs import CHUNK

Opener = Callable[[], BinaryIO]
OnBytes = Callable[[int], None]


class RawImage:
    """An image held as its raw manifest and config bytes plus its layers (base first)."""

    def __init__(self, raw_manifest: bytes, raw_config: bytes, layers: Sequence[Layer]) -> None:
        self._raw_manifest = raw_manifest
        self._raw_config = raw_config
        self._manifest = Manifest.parse(raw_manifest)
        self._config = ImageConfig.parse(raw_config)
        self._layers = list(layers)

    def raw_manifest(self) -> bytes:
        return self._raw_manifest

    def raw_config(self) -> bytes:
        return self._raw_config

    def manifest(self) -> Manifest:
        return self._manifest

    def config(self) -> ImageConfig:
        return self._config

    def layers(self) -> list[Layer]:
        return list(self._layers)

    def digest(self) -> Digest:
        return Digest.of_bytes(self._raw_manifest)


def check_config(raw_config: bytes, desc: Descriptor, where: str) -> None:
    """DigestMismatch unless the config bytes match their descriptor."""
    desc.digest.verify(raw_config, f"{where}: config {desc.digest}")
    if len(raw_config) != desc.size:
        raise InvalidInput(
            f"{where}.config.size: {desc.size}, the blob has {len(raw_config)} bytes"
        )


def layers_of(manifest: Manifest, config: ImageConfig, opener: Callable[[Descriptor], Opener],
              where: str,
              ranged: Callable[[Descriptor], Callable[[int], BinaryIO]] | None = None,
              ) -> list[Layer]:
    """The BlobLayers of a manifest (diff_ids from the config, counts must agree);
    `ranged` gives them streams from an offset on (resumable downloads)."""
    if len(manifest.layers) != len(config.diff_ids):
        raise InvalidInput(
            f"{where}: {len(manifest.layers)} layers but the config lists"
            f" {len(config.diff_ids)} diff_ids"
        )
    for i, d in enumerate(manifest.layers):
        if not mt.is_layer(d.media_type):
            raise InvalidInput(f"{where}.layers[{i}].mediaType: not a layer: {d.media_type!r}")
    return [BlobLayer(opener(d), d, diff, ranged=ranged(d) if ranged else None)
            for d, diff in zip(manifest.layers, config.diff_ids, strict=True)]


@dataclass(frozen=True)
class Encoded:
    """What a writer emits for an image: the manifest (value and bytes) and config bytes."""

    manifest: Manifest
    manifest_bytes: bytes
    config_bytes: bytes

    @property
    def config_digest(self) -> Digest:
        return Digest.of_bytes(self.config_bytes)


def encode(image: Image, *, family: str | None = None) -> Encoded:
    """The manifest and config bytes of `image`, raw bytes kept where the image has them.

    `family` "oci" or "docker" converts the manifest's media types (a new manifest digest;
    the config bytes, hence the image id, never change). The layer descriptors always
    describe `image.layers()`.
    """
    raw_config = getattr(image, "raw_config", None)
    config_bytes = raw_config() if callable(raw_config) else image.config().to_json()
    manifest = image.manifest()
    layers = image.layers()
    descs: list[Descriptor] = []
    for i, lay in enumerate(layers):
        d = manifest.layers[i] if i < len(manifest.layers) else None
        if d is None or d.digest != lay.digest() or d.size != lay.size():
            d = Descriptor(lay.media_type(), lay.digest(), lay.size())
        descs.append(d)
    config_desc = manifest.config
    if config_desc.digest != Digest.of_bytes(config_bytes) or config_desc.size != len(
            config_bytes):
        config_desc = Descriptor(config_desc.media_type, Digest.of_bytes(config_bytes),
                                 len(config_bytes))
    rebuilt = Manifest(config_desc, tuple(descs), manifest.media_type, manifest.annotations,
                       manifest.subject, manifest.artifact_type)
    if family == "oci" and rebuilt.media_type != mt.OCI_MANIFEST:
        rebuilt = rebuilt.to_oci()
    elif family == "docker" and rebuilt.media_type != mt.DOCKER_MANIFEST:
        rebuilt = rebuilt.to_docker()
    raw_manifest = getattr(image, "raw_manifest", None)
    if rebuilt == manifest and callable(raw_manifest):
        return Encoded(manifest, raw_manifest(), config_bytes)
    return Encoded(rebuilt, rebuilt.to_json(), config_bytes)


class _Counting(io.RawIOBase):
    """Reports the bytes read through it; closes `inner`."""

    def __init__(self, inner: BinaryIO, on_bytes: OnBytes) -> None:
        self._inner = inner
        self._on_bytes = on_bytes

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._inner.read(len(b))
        b[: len(data)] = data
        if data:
            self._on_bytes(len(data))
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._inner.close()
        super().close()


class ObservedLayer:
    """A layer whose `compressed()` reports the bytes read (for progress bars)."""

    def __init__(self, layer: Layer, on_bytes: OnBytes) -> None:
        self.inner = layer
        self._on_bytes = on_bytes

    def __getattr__(self, name: str) -> object:  # the store's extras, e.g. uncompressed_size
        return getattr(self.inner, name)

    def digest(self) -> Digest:
        return self.inner.digest()

    def diff_id(self) -> Digest:
        return self.inner.diff_id()

    def size(self) -> int:
        return self.inner.size()

    def media_type(self) -> str:
        return self.inner.media_type()

    def compressed(self) -> BinaryIO:
        return io.BufferedReader(_Counting(self.inner.compressed(), self._on_bytes), CHUNK)  # type: ignore[return-value]

    def uncompressed(self) -> BinaryIO:
        return decompressed(self.compressed())


class ObservedImage:
    """`image` with every layer wrapped in an `ObservedLayer` (raw bytes kept)."""

    def __init__(self, image: Image, on_bytes: OnBytes) -> None:
        self.inner = image
        self._on_bytes = on_bytes

    def __getattr__(self, name: str) -> object:  # raw_manifest / raw_config when present
        return getattr(self.inner, name)

    def manifest(self) -> Manifest:
        return self.inner.manifest()

    def config(self) -> ImageConfig:
        return self.inner.config()

    def layers(self) -> list[Layer]:
        return [ObservedLayer(lay, self._on_bytes) for lay in self.inner.layers()]

    def digest(self) -> Digest:
        return self.inner.digest()


def gzip_plain_layers(image: Image, tmpdir: str) -> Image:
    """`image` with every uncompressed layer gzip-compressed into `tmpdir` (what skopeo
    does on the way to a registry); `image` itself when no layer is plain.

    The config bytes (so the image id and diff_ids) are kept; the manifest is new
    (canonical), in the same media-type family. Compressed files live as long as `tmpdir`.
    """
    layers = image.layers()
    if all(mt.layer_compression(lay.media_type()) != "none" for lay in layers):
        return image
    enc = encode(image)
    docker = enc.manifest.is_docker
    new_layers: list[Layer] = []
    descs: list[Descriptor] = []
    for i, (lay, old) in enumerate(zip(layers, enc.manifest.layers, strict=True)):
        if mt.layer_compression(lay.media_type()) != "none":
            new_layers.append(lay)
            descs.append(old)
            continue
        path = os.path.join(tmpdir, f"layer-{i}.gz")
        with lay.uncompressed() as src, open(path, "wb") as out:
            done = compress_stream(src, out, "gzip")
        desc = Descriptor(mt.layer_type("gzip", docker=docker), done.digest, done.size)
        new_layers.append(BlobLayer(functools.partial(open, path, "rb"), desc, lay.diff_id()))
        descs.append(desc)
    manifest = Manifest(enc.manifest.config, tuple(descs), enc.manifest.media_type,
                        enc.manifest.annotations)
    return RawImage(manifest.to_json(), enc.config_bytes, new_layers)
