"""A base image made on this machine: Debian's static busybox on ``scratch``, pushed to a registry
(one platform with :func:`push`, or an index of several with :func:`push_index`).

The demo and the tests run without internet, so their Dockerfile's ``FROM`` must come from here.
The image is byte-for-byte reproducible (fixed timestamps and owners), so its digest, and with it
every cache key built on it, is the same on every run and every machine with the same busybox.
Layout: https://github.com/opencontainers/image-spec/blob/main/manifest.md
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import platform
import struct
import subprocess
import tarfile
from pathlib import Path

from cachebuild.local import LocalError
from cachebuild.local.distribution import Registry

BUSYBOX = Path("/bin/busybox")
REPOSITORY = "cachebuild/busybox"
TAG = "1"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
# The same image in Docker's media types (manifest, manifest list, config, layer), for tools that
# mishandle OCI base images (kaniko v1.24.0's warmed cache: upstream issue #2423).
MEDIA_TYPES = {
    "oci": (
        MANIFEST_TYPE,
        INDEX_TYPE,
        "application/vnd.oci.image.config.v1+json",
        "application/vnd.oci.image.layer.v1.tar+gzip",
    ),
    "docker": (
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.container.image.v1+json",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
    ),
}
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x"}


def _is_static_elf(path: Path) -> bool:
    """An ELF file without a PT_INTERP program header (no dynamic loader needed inside ``scratch``)."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2:  # 64-bit only
        return False
    endian = "<" if data[5] == 1 else ">"
    phoff = struct.unpack_from(endian + "Q", data, 0x20)[0]
    phentsize, phnum = struct.unpack_from(endian + "HH", data, 0x36)
    return all(struct.unpack_from(endian + "I", data, phoff + i * phentsize)[0] != 3 for i in range(phnum))


def layer(busybox: Path = BUSYBOX) -> bytes:
    """The uncompressed layer: ``/bin/busybox``, a symlink in ``/bin`` per applet, and ``/tmp``."""
    if not busybox.is_file() or not _is_static_elf(busybox):
        raise LocalError(f"{busybox} is not a static busybox (apt-get install busybox-static)")
    applets = subprocess.run([str(busybox), "--list"], capture_output=True, text=True, check=True).stdout.split()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:

        def add(info: tarfile.TarInfo, data: bytes | None = None) -> None:
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            tar.addfile(info, io.BytesIO(data) if data is not None else None)

        for name, mode in (("bin", 0o755), ("tmp", 0o1777)):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, mode
            add(info)
        content = busybox.read_bytes()
        info = tarfile.TarInfo("bin/busybox")
        info.size, info.mode = len(content), 0o755
        add(info, content)
        for applet in sorted(set(applets) - {"busybox"}):
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname, info.mode = tarfile.SYMTYPE, "busybox", 0o777
            add(info)
    return out.getvalue()


def _push_image(registry: Registry, repository: str, busybox: Path, architecture: str, media: str = "oci") -> bytes:
    """Push the layer and config of one platform's image; its manifest (not yet pushed)."""
    manifest_type, _, config_type, layer_type = MEDIA_TYPES[media]
    tar = layer(busybox)
    diff_id = "sha256:" + hashlib.sha256(tar).hexdigest()
    compressed = gzip.compress(tar, compresslevel=6, mtime=0)
    config = {
        "architecture": architecture,
        "os": "linux",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "cachebuild: Debian busybox-static on scratch"}],
    }
    config_blob = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": manifest_type,
        "config": {
            "mediaType": config_type,
            "digest": registry.push_blob(repository, config_blob),
            "size": len(config_blob),
        },
        "layers": [
            {
                "mediaType": layer_type,
                "digest": registry.push_blob(repository, compressed),
                "size": len(compressed),
            }
        ],
    }
    return json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()


def push(registry: Registry, repository: str = REPOSITORY, tag: str = TAG) -> str:
    """Push the busybox base image (this machine's architecture) to ``registry``; its reference ``HOST/REPOSITORY:TAG``."""
    body = _push_image(registry, repository, BUSYBOX, _ARCH.get(platform.machine(), platform.machine()))
    registry.put_manifest(repository, tag, body, MANIFEST_TYPE)
    return f"{registry.host}/{repository}:{tag}"


def push_index(
    registry: Registry, busyboxes: dict[str, Path], repository: str = REPOSITORY, tag: str = TAG, *, media: str = "oci"
) -> str:
    """Push a multi-platform busybox image: one image per ``{architecture: static busybox}`` (e.g.
    ``{"amd64": /bin/busybox, "arm64": <Debian's busybox-static:arm64>}``, the arm64 one run through
    qemu's binfmt_misc entry to list its applets) and an index of them under ``tag``.
    ``media``: ``oci`` (an OCI index of OCI manifests) or ``docker`` (a Docker manifest list)."""
    manifest_type, index_type, _, _ = MEDIA_TYPES[media]
    manifests = []
    for architecture, busybox in sorted(busyboxes.items()):
        body = _push_image(registry, repository, busybox, architecture, media)
        digest = registry.put_manifest(repository, "sha256:" + hashlib.sha256(body).hexdigest(), body, manifest_type)
        entry_platform = {"architecture": architecture, "os": "linux"}
        manifests.append({"mediaType": manifest_type, "digest": digest, "size": len(body), "platform": entry_platform})
    index = {"schemaVersion": 2, "mediaType": index_type, "manifests": manifests}
    registry.put_manifest(repository, tag, json.dumps(index, sort_keys=True, separators=(",", ":")).encode(), index_type)
    return f"{registry.host}/{repository}:{tag}"
