"""Realistic documents as registries and tools write them (made at run time)."""

from __future__ import annotations

import json

H = ["a" * 64, "b" * 64, "c" * 64, "d" * 64]

DOCKER_MANIFEST = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
    "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1469,
               "digest": f"sha256:{H[0]}"},
    "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "size": 2818413, "digest": f"sha256:{H[1]}"},
               {"mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                "size": 5, "digest": f"sha256:{H[2]}", "urls": ["https://example/x"]}],
}

OCI_MANIFEST = {
    "schemaVersion": 2,
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 7023,
               "digest": f"sha256:{H[0]}"},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd", "size": 32654,
                "digest": f"sha256:{H[1]}", "annotations": {"k": "v"}}],
    "annotations": {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"},
}

DOCKER_LIST = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
    "manifests": [
        {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "size": 528,
         "digest": f"sha256:{H[0]}", "platform": {"architecture": "arm", "os": "linux",
                                                   "variant": "v6"}},
        {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "size": 528,
         "digest": f"sha256:{H[1]}", "platform": {"architecture": "arm", "os": "linux",
                                                   "variant": "v7"}},
        {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "size": 528,
         "digest": f"sha256:{H[2]}", "platform": {"architecture": "arm64", "os": "linux",
                                                   "variant": "v8"}},
        {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "size": 528,
         "digest": f"sha256:{H[3]}", "platform": {"architecture": "amd64", "os": "linux"}},
    ],
}

DOCKER_CONFIG = {
    "architecture": "amd64",
    "os": "linux",
    "created": "2023-05-19T20:19:22.751398522Z",
    "docker_version": "20.10.23",
    "container": "3c6d5b8a",
    "container_config": {"Hostname": "3c6d5b8a", "Cmd": ["/bin/sh", "-c", "#(nop) CMD [\"sh\"]"]},
    "config": {
        "Hostname": "", "Env": ["PATH=/usr/local/sbin:/usr/bin", "EMPTY="],
        "Cmd": ["sh"], "Entrypoint": None, "WorkingDir": "/app", "User": "1000:1000",
        "Labels": {"maintainer": "me"}, "ExposedPorts": {"8080/tcp": {}, "53/udp": {}},
        "Volumes": {"/data": {}}, "StopSignal": "SIGTERM", "ArgsEscaped": True,
        "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 30000000000, "Retries": 3},
        "OnBuild": ["RUN echo hi"], "Shell": ["/bin/bash", "-c"],
    },
    "rootfs": {"type": "layers", "diff_ids": [f"sha256:{H[2]}", f"sha256:{H[3]}"]},
    "history": [
        {"created": "2023-05-19T20:19:22Z", "created_by": "/bin/sh -c #(nop) ADD file:x in /"},
        {"created": "2023-05-19T20:19:22Z", "created_by": "/bin/sh -c #(nop)  CMD [\"sh\"]",
         "empty_layer": True},
        {"created": "2023-05-19T20:19:23Z", "created_by": "RUN make", "comment": "buildkit"},
    ],
}


def dumps(obj: object) -> bytes:
    return json.dumps(obj, indent=3).encode()
