"""Image configs and chain ids."""

from __future__ import annotations

import hashlib
import json

import pytest

from layerfs.digest import Digest
from layerfs.errors import InvalidInput
from layerfs.oci.chain import chain_id, chain_ids
from layerfs.oci.config import ContainerConfig, Healthcheck, HistoryEntry, ImageConfig

from .samples import DOCKER_CONFIG, H, dumps


def test_docker_config_parses_every_field():
    c = ImageConfig.parse(dumps(DOCKER_CONFIG))
    cc = c.config
    assert (c.architecture, c.os, c.created) == ("amd64", "linux",
                                                 "2023-05-19T20:19:22.751398522Z")
    assert cc.env == ("PATH=/usr/local/sbin:/usr/bin", "EMPTY=")
    assert cc.env_dict()["EMPTY"] == ""
    assert cc.cmd == ("sh",) and cc.entrypoint is None
    assert (cc.working_dir, cc.user) == ("/app", "1000:1000")
    assert cc.labels == {"maintainer": "me"}
    assert cc.exposed_ports == ("53/udp", "8080/tcp")
    assert cc.volumes == ("/data",)
    assert cc.stop_signal == "SIGTERM" and cc.args_escaped
    assert cc.healthcheck == Healthcheck(("CMD-SHELL", "true"), interval=30_000_000_000,
                                         retries=3)
    assert cc.onbuild == ("RUN echo hi",) and cc.shell == ("/bin/bash", "-c")
    assert c.diff_ids == (Digest(H[2]), Digest(H[3]))
    assert [h.empty_layer for h in c.history] == [False, True, False]


def test_round_trip_keeps_unknown_fields():
    c = ImageConfig.parse(dumps(DOCKER_CONFIG))
    again = json.loads(c.to_json())
    assert again["docker_version"] == "20.10.23"
    assert again["container_config"] == DOCKER_CONFIG["container_config"]
    assert again["config"]["Hostname"] == ""
    assert ImageConfig.parse(c.to_json()) == c
    assert c.to_json() == ImageConfig.parse(c.to_json()).to_json()


def test_layer_history_pairs_layers():
    c = ImageConfig.parse(dumps(DOCKER_CONFIG))
    pairs = c.layer_history()
    assert [d for _, d in pairs] == [Digest(H[2]), None, Digest(H[3])]
    short = c.replace(history=c.history[:1])
    assert [d for _, d in short.layer_history()] == [Digest(H[2]), Digest(H[3])]


def test_building_a_config():
    base = ImageConfig("amd64", "linux")
    c = (base.with_layer(Digest(H[0]), HistoryEntry(created_by="ADD rootfs", empty_layer=True))
         .with_history(HistoryEntry(created_by="ENV A=1", empty_layer=True))
         .with_config(env=("A=1",), cmd=["sh"]))
    assert base.diff_ids == () and c.diff_ids == (Digest(H[0]),)
    assert [h.empty_layer for h in c.history] == [False, True]
    assert c.config.cmd == ("sh",)
    doc = json.loads(c.to_json())
    assert doc["rootfs"] == {"type": "layers", "diff_ids": [f"sha256:{H[0]}"]}
    assert doc["config"] == {"Env": ["A=1"], "Cmd": ["sh"]}
    assert c.digest() == Digest.of_bytes(c.to_json())
    assert ContainerConfig(cmd=()).to_dict() == {"Cmd": []}  # CMD [] differs from unset


@pytest.mark.parametrize("mutate,field", [
    (lambda d: d["config"].__setitem__("Env", "A=1"), "config.config.Env"),
    (lambda d: d["config"].__setitem__("Cmd", [1]), "config.config.Cmd[0]"),
    (lambda d: d["config"].__setitem__("ExposedPorts", ["80"]), "config.config.ExposedPorts"),
    (lambda d: d["rootfs"].__setitem__("diff_ids", ["nope"]), "config.rootfs.diff_ids[0]"),
    (lambda d: d["rootfs"].__setitem__("type", "other"), "config.rootfs.type"),
    (lambda d: d["history"][1].__setitem__("empty_layer", "yes"), "config.history[1]"),
    (lambda d: d["config"]["Healthcheck"].__setitem__("Retries", 1.5),
     "config.config.Healthcheck.Retries"),
])
def test_strict_config_errors(mutate, field):
    doc = json.loads(dumps(DOCKER_CONFIG))
    mutate(doc)
    with pytest.raises(InvalidInput) as err:
        ImageConfig.parse(dumps(doc))
    assert str(err.value).startswith(field)


def test_chain_ids_follow_the_spec():
    d = [Digest(h) for h in H[:3]]
    ids = chain_ids(d)
    assert ids[0] == d[0]
    want1 = hashlib.sha256(f"sha256:{H[0]} sha256:{H[1]}".encode()).hexdigest()
    assert ids[1].hex == want1
    want2 = hashlib.sha256(f"sha256:{want1} sha256:{H[2]}".encode()).hexdigest()
    assert ids[2].hex == want2
    assert chain_id(d) == ids[2] and chain_ids([]) == []
    with pytest.raises(ValueError):
        chain_id([])
