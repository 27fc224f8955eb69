"""Descriptors, manifests and indexes: strict parsing, canonical JSON, conversions."""

from __future__ import annotations

import copy
import json

import pytest

from layerfs.digest import Digest
from layerfs.errors import InvalidInput, NotFound
from layerfs.oci import mediatypes as mt
from layerfs.oci.descriptor import Descriptor
from layerfs.oci.index import Index
from layerfs.oci.manifest import Manifest
from layerfs.oci.platform import Platform

from .samples import DOCKER_LIST, DOCKER_MANIFEST, OCI_MANIFEST, H, dumps


def test_docker_manifest_parses():
    m = Manifest.parse(dumps(DOCKER_MANIFEST))
    assert m.is_docker and m.config.media_type == mt.DOCKER_CONFIG
    assert [x.size for x in m.layers] == [2818413, 5]
    assert m.layers[1].urls == ("https://example/x",)
    assert mt.is_foreign(m.layers[1].media_type)
    assert json.loads(m.to_json()) == DOCKER_MANIFEST


def test_oci_manifest_without_media_type_defaults():
    m = Manifest.parse(dumps(OCI_MANIFEST))
    assert m.media_type == mt.OCI_MANIFEST
    assert m.layers[0].annotations == {"k": "v"}
    assert mt.layer_compression(m.layers[0].media_type) == "zstd"
    assert Manifest.parse(m.to_json()) == m


def test_canonical_json_is_deterministic():
    a = Manifest.parse(dumps(OCI_MANIFEST))
    b = Manifest.parse(json.dumps(OCI_MANIFEST, sort_keys=False).encode())
    assert a.to_json() == b.to_json()
    assert b" " not in a.to_json().replace(b"2024-01-01T00:00:00Z", b"")
    assert a.descriptor().digest == Digest.of_bytes(a.to_json())


def test_conversions_round_trip():
    m = Manifest.parse(dumps(OCI_MANIFEST))
    d = m.to_docker()
    assert d.media_type == mt.DOCKER_MANIFEST and d.config.media_type == mt.DOCKER_CONFIG
    assert d.layers[0].media_type == mt.DOCKER_LAYER_ZSTD
    assert d.to_oci() == m
    assert mt.layer_type("gzip", docker=True) == mt.DOCKER_LAYER_GZIP


def _mutated(path: list, value: object, base: dict = DOCKER_MANIFEST) -> bytes:
    doc = copy.deepcopy(base)
    target = doc
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return dumps(doc)


@pytest.mark.parametrize("path,value,field", [
    (["layers", 0, "size"], "12", "manifest.layers[0].size"),
    (["layers", 0, "size"], -1, "manifest.layers[0].size"),
    (["layers", 0, "size"], True, "manifest.layers[0].size"),
    (["layers", 1, "digest"], "sha256:xyz", "manifest.layers[1].digest"),
    (["layers", 1, "digest"], "md5:" + "a" * 32, "manifest.layers[1].digest"),
    (["config", "mediaType"], KeyError, "manifest.config.mediaType"),
    (["config"], KeyError, "manifest.config"),
    (["layers"], {}, "manifest.layers"),
    (["layers", 0, "annotations"], {"k": 1}, "manifest.layers[0].annotations.k"),
    (["layers", 0, "urls"], "http://x", "manifest.layers[0].urls"),
    (["schemaVersion"], 3, "manifest.schemaVersion"),
    (["mediaType"], "text/plain", "manifest.mediaType"),
])
def test_strict_errors_name_the_field(path, value, field):
    with pytest.raises(InvalidInput) as err:
        Manifest.parse(_mutated(path, value))
    assert str(err.value).startswith(field)


@pytest.mark.parametrize("data,needle", [
    (b"{not json", "malformed JSON"),
    (b"[]", "expected an object"),
    (b'{"schemaVersion": 1, "fsLayers": []}', "schema 1"),
    (dumps(DOCKER_LIST), "is an index"),
    (b"\xff\xfe", "malformed JSON"),
    (b"[" * 100000, "malformed JSON"),
])
def test_malformed_documents(data, needle):
    with pytest.raises(InvalidInput, match=needle):
        Manifest.parse(data)


def test_descriptor_values():
    d = Descriptor(mt.OCI_LAYER, Digest(H[0]), 3, {"a": "b"})
    with pytest.raises(TypeError):
        d.annotations["a"] = "c"  # type: ignore[index]
    assert hash(d) == hash(Descriptor(mt.OCI_LAYER, Digest(H[0]), 3, {"a": "x"}))
    assert Descriptor.from_dict(d.to_dict()) == d
    assert d.with_annotations(**{"org.opencontainers.image.ref.name": "v1"}).ref_name == "v1"
    with pytest.raises(InvalidInput):
        Descriptor(mt.OCI_LAYER, Digest(H[0]), -1)
    assert "annotations" not in Descriptor(mt.OCI_LAYER, Digest(H[0]), 3).to_dict()


def test_index_parse_and_select():
    idx = Index.parse(dumps(DOCKER_LIST))
    assert idx.media_type == mt.DOCKER_MANIFEST_LIST
    assert idx.select(Platform.parse("linux/amd64")).digest.hex == H[3]
    assert idx.select(Platform.parse("linux/arm64")).digest.hex == H[2]  # v8 is implied
    assert idx.select(Platform.parse("linux/aarch64")).digest.hex == H[2]
    assert idx.select(Platform.parse("linux/arm/v7")).digest.hex == H[1]
    assert idx.select(Platform.parse("linux/arm")).digest.hex == H[0]
    with pytest.raises(NotFound, match="linux/amd64, linux/arm/v6"):
        idx.select(Platform.parse("linux/s390x"))
    assert Index.parse(idx.to_json()) == idx
    assert idx.select().platform is not None  # the host


def test_index_without_platforms_and_tags():
    doc = {"schemaVersion": 2, "manifests": [
        {"mediaType": mt.OCI_MANIFEST, "size": 1, "digest": f"sha256:{H[0]}",
         "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}
    idx = Index.parse(dumps(doc))
    assert idx.media_type == mt.OCI_INDEX
    assert idx.select().digest.hex == H[0]
    assert idx.by_ref_name("latest").digest.hex == H[0]
    with pytest.raises(NotFound):
        idx.by_ref_name("nope")
    with pytest.raises(InvalidInput, match="is a manifest"):
        Index.parse(dumps(OCI_MANIFEST))
    with pytest.raises(InvalidInput, match=r"index\.manifests"):
        Index.parse(b'{"schemaVersion": 2}')


def test_platform_strings():
    assert str(Platform.parse("linux/arm64/v8")) == "linux/arm64/v8"
    assert Platform.parse("linux/x86_64").architecture == "amd64"
    for bad in ("linux", "linux/", "a/b/c/d"):
        with pytest.raises(InvalidInput):
            Platform.parse(bad)
    p = Platform("windows", "amd64", os_version="10.0.17763.1879")
    assert Platform.from_dict(p.to_dict()) == p
