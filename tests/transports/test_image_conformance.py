"""The one image interface, the same checks over every representation: the store, an OCI
layout, an oci-archive, a docker-archive and a registry (the in-process fake)."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator

import pytest

from layerfs.digest import Digest
from layerfs.oci.image import Image, Layer
from layerfs.store.put import add_image
from layerfs.transports import docker_archive, layout, oci_archive
from layerfs.transports.registry.auth import Credentials
from layerfs.transports.registry.client import RegistryClient
from layerfs.transports.registry.pull import open_image
from layerfs.transports.registry.push import push_image
from layerfs.transports.registry.reference import RegistryRef

from .fakeregistry import fake_registry

KINDS = ["store", "oci", "oci-archive", "docker-archive", "registry"]


@contextlib.contextmanager
def represented(kind: str, store, tmp_path) -> Iterator[Image]:  # type: ignore[no-untyped-def]
    image = store.image("sample:1")
    if kind == "store":
        yield image
    elif kind == "oci":
        layout.save_dir(str(tmp_path / "lay"), image, "t")
        yield layout.open_dir(str(tmp_path / "lay"), "t")
    elif kind == "oci-archive":
        oci_archive.save_archive(str(tmp_path / "o.tar"), [(image, "t")])
        img, files = oci_archive.open_archive(str(tmp_path / "o.tar"), "t")
        with files:
            yield img
    elif kind == "docker-archive":
        docker_archive.save_archive(str(tmp_path / "d.tar"), [(image, ["t:1"])])
        img, files = docker_archive.open_archive(str(tmp_path / "d.tar"), "t:1")
        with files:
            yield img
    else:
        with fake_registry() as reg:
            client = RegistryClient(f"127.0.0.1:{reg.port}", tls_verify=False,
                                    creds=Credentials("n", "x"))
            ref = RegistryRef.parse(f"127.0.0.1:{reg.port}/conf:1")
            push_image(client, ref, image)
            yield open_image(client, ref)


def _sha(stream) -> tuple[Digest, int]:  # type: ignore[no-untyped-def]
    h, n = hashlib.sha256(), 0
    with stream:
        while chunk := stream.read(1 << 16):
            h.update(chunk)
            n += len(chunk)
    return Digest(h.hexdigest()), n


@pytest.mark.parametrize("kind", KINDS)
def test_image_interface(kind, store, tmp_path):
    source = store.image("sample:1")
    with represented(kind, store, tmp_path) as image:
        assert isinstance(image, Image)
        manifest, config, layers = image.manifest(), image.config(), image.layers()
        assert config.diff_ids == source.config().diff_ids
        assert config.history == source.config().history
        assert len(layers) == len(manifest.layers) == len(config.diff_ids)
        raw = getattr(image, "raw_manifest", None)
        if raw is not None:
            assert image.digest() == Digest.of_bytes(raw())
        assert manifest.config.digest == source.id
        for layer, desc, diff_id in zip(layers, manifest.layers, config.diff_ids, strict=True):
            assert isinstance(layer, Layer)
            assert (layer.digest(), layer.size(), layer.media_type()) == (
                desc.digest, desc.size, desc.media_type)
            assert layer.diff_id() == diff_id
            assert _sha(layer.compressed()) == (layer.digest(), layer.size())
            assert _sha(layer.uncompressed())[0] == diff_id
        if kind != "store":  # a store image reads the store itself: keep it there
            store.remove_images(["sample:1"])
        assert add_image(store, image, ["back:1"]).id == source.id
