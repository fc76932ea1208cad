"""A multi-platform image made here, as an OCI image layout tar that ``docker load`` takes
on a containerd image store: linux/amd64 (busybox's own layer, runnable here) and
linux/arm64 (a layer of random bytes, which no export for amd64 may carry). No registry
and no buildx are needed."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass
from typing import Any

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"


@dataclass(frozen=True)
class MultiPlatform:
    archive: bytes  # the OCI layout, as a tar
    layers: dict[str, str]  # architecture -> its layer's digest ("sha256:...")


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _tar(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def first_layer(docker_save: bytes) -> bytes:
    """The first layer tar of a ``docker save`` archive (of a one-layer image)."""
    with tarfile.open(fileobj=io.BytesIO(docker_save)) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        member = tar.extractfile(manifest[0]["Layers"][0])
        assert member is not None
        return member.read()


def multi_platform(name: str, amd64_layer: bytes, arm64_size: int = 2_000_000) -> MultiPlatform:
    blobs: dict[str, bytes] = {}

    def blob(data: bytes) -> dict[str, Any]:
        digest = _digest(data)
        blobs[digest] = data
        return {"digest": digest, "size": len(data)}

    arm64_layer = _tar({"arm64-only.bin": os.urandom(arm64_size)})
    manifests, layers = [], {}
    for arch, layer in (("amd64", amd64_layer), ("arm64", arm64_layer)):
        config = {
            "architecture": arch,
            "os": "linux",
            "config": {"Cmd": ["sh"]},
            "rootfs": {"type": "layers", "diff_ids": [_digest(layer)]},
        }
        layer_ref = {"mediaType": OCI_LAYER, **blob(layer)}
        layers[arch] = layer_ref["digest"]
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, **blob(json.dumps(config).encode())},
            "layers": [layer_ref],
        }
        manifests.append(
            {
                "mediaType": OCI_MANIFEST,
                **blob(json.dumps(manifest).encode()),
                "platform": {"architecture": arch, "os": "linux"},
            }
        )
    image_index = blob(
        json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}).encode()
    )
    tag = name.rsplit(":", 1)[1]
    top = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": OCI_INDEX,
                **image_index,
                "annotations": {
                    "io.containerd.image.name": f"docker.io/{name}",
                    "org.opencontainers.image.ref.name": tag,
                },
            }
        ],
    }
    files = {
        "oci-layout": json.dumps({"imageLayoutVersion": "1.0.0"}).encode(),
        "index.json": json.dumps(top).encode(),
        **{f"blobs/sha256/{d.split(':', 1)[1]}": data for d, data in blobs.items()},
    }
    return MultiPlatform(_tar(files), layers)
