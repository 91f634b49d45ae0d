"""Run a Kubernetes Pod the way the kubelet + containerd (CRI) + runc run it: each container under
Debian's ``runc`` with an OCI runtime spec made here, rooted in an overlayfs over a builder image.

What follows whom (read from the sources):
* the spec's defaults: containerd ``pkg/oci/spec.go`` (``populateDefaultUnixSpec``: default
  capabilities, masked and read-only paths, mounts, PID/IPC/UTS/mount namespaces) and
  ``internal/cri/server/container_create.go`` (``WithoutDefaultSecuritySettings``: no rlimits, no
  seccomp unless asked; ``WithNewPrivileges`` unless ``allowPrivilegeEscalation: false``;
  ``WithProcessArgs``; ``WithCapabilities`` add/drop incl. ``ALL``; ``HOSTNAME`` env; image Env then
  container env);
* the kubelet: ``$(VAR)`` expansion (:mod:`expansion`), ``/etc/hosts`` for a host-network pod with
  ``hostAliases``, ``/etc/hostname``, ``/etc/resolv.conf``, ``/dev/termination-log``, the volume
  plugins (emptyDir 0777; Secret/ConfigMap/projected/downwardAPI written by its atomic writer —
  ``..data`` → ``..<timestamp>/``, one symlink per key — and mounted read-only, defaultMode 0644),
  ``subPath``, init containers one after another, then the containers concurrently.

Seccomp: ``seccompProfile.type: RuntimeDefault`` applies moby's default profile (the one containerd's
RuntimeDefault is a copy of), printed for the container's capabilities by ``seccomp-profile``
(``tools/seccomp-profile``); ``Unconfined`` and an unset profile apply none — the kubelet's default for
an unset profile is Unconfined unless it runs with ``--seccomp-default``. ``Localhost`` is refused.
AppArmor: this machine has none; the fields are accepted and have no effect.

Network: the containers share the host's network (our registries listen on host loopback), like a
``hostNetwork: true`` pod; they get their own mount, PID, IPC and UTS namespaces.
Nothing runs privileged: ``privileged: true`` is refused.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from e2e.expansion import expand, mapping_func_for
from e2e.images import tools_bin

DEFAULT_CAPABILITIES = (  # containerd pkg/oci/spec.go defaultUnixCaps
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
)
MASKED_PATHS = (
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
    "/proc/scsi",
)
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")
DEFAULT_MOUNTS: tuple[dict[str, Any], ...] = (  # containerd pkg/oci/mounts.go (CRI drops /run: WithoutRunMount)
    {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {
        "destination": "/dev/pts",
        "type": "devpts",
        "source": "devpts",
        "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
    },
    {
        "destination": "/dev/shm",
        "type": "tmpfs",
        "source": "shm",
        "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
    },
    {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
    # CRI withMounts: the cgroup filesystem, read-only (nested runc, e.g. BuildKit's, looks for it)
    {
        "destination": "/sys/fs/cgroup",
        "type": "cgroup",
        "source": "cgroup",
        "options": ["nosuid", "noexec", "nodev", "relatime", "ro"],
    },
)
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
TERMINATION_MESSAGE_LIMIT = 4096  # bytes, as the kubelet caps it
_FALLBACK_LOG_LINES = 80
_NAMESPACE = "default"


class PodRefused(Exception):
    """The pod asks for something this runner never does (privileged, a Localhost seccomp profile ...)."""


# -- the node ---------------------------------------------------------------------------------
@dataclass
class Secret:
    """A Kubernetes Secret: ``type`` (``Opaque``, ``kubernetes.io/dockerconfigjson`` ...) and its data."""

    data: dict[str, bytes]
    type: str = "Opaque"

    @classmethod
    def docker_config(cls, config_json: bytes) -> Secret:
        return cls({".dockerconfigjson": config_json}, "kubernetes.io/dockerconfigjson")


@dataclass
class Node:
    """What the kubelet would find: images by reference, PVCs by claim name, Secrets and ConfigMaps by name."""

    images: dict[str, Path]
    claims: dict[str, Path] = field(default_factory=dict)
    secrets: dict[str, Secret] = field(default_factory=dict)
    config_maps: dict[str, dict[str, str]] = field(default_factory=dict)
    work_dir: Path = Path("/tmp/cachebuild-pods")


# -- results ----------------------------------------------------------------------------------
@dataclass
class ContainerResult:
    name: str
    exit_code: int | None = None
    reason: str = ""  # Completed, Error, DeadlineExceeded, ContainerCannotRun, NotStarted
    log: str = ""
    termination_message: str = ""
    seconds: float = 0.0


@dataclass
class _Prepared:
    """A container ready to run: its bundle and how to find its files after exit."""

    name: str
    runc_id: str
    bundle: Path
    image_rootfs: Path
    upper: Path
    work: Path
    merged: Path
    termination_file: Path
    binds: list[tuple[str, Path]]  # (container path, host path), longest first
    termination_policy: str
    mounted: bool = False


@dataclass
class PodResult:
    phase: str  # Succeeded / Failed
    message: str
    init_containers: dict[str, ContainerResult]
    containers: dict[str, ContainerResult]
    pod_dir: Path
    _prepared: dict[str, _Prepared] = field(default_factory=dict, repr=False)

    def container(self, name: str) -> ContainerResult:
        found = self.containers.get(name) or self.init_containers.get(name)
        if found is None:
            raise KeyError(f"no container {name!r} in this pod ({', '.join([*self.init_containers, *self.containers])})")
        return found

    def read_file(self, container: str, path: str) -> bytes:
        """A file as ``container`` saw it (volumes, else its overlay rootfs), read after it exited."""
        prepared = self._prepared.get(container)
        if prepared is None:
            raise KeyError(f"container {container!r} never ran in this pod")
        clean = "/" + os.path.normpath(path).lstrip("/")
        for target, source in prepared.binds:
            if clean == target or clean.startswith(target.rstrip("/") + "/"):
                inside = os.path.relpath(clean, target)
                if source.is_file():
                    return source.read_bytes()
                return _read_under(source, inside if inside != "." else "")
        return _read_overlay_file(prepared, clean)

    def remove(self) -> None:
        """Delete the pod's folder (overlay uppers, volumes); the images are untouched."""
        shutil.rmtree(self.pod_dir, ignore_errors=True)


def _read_under(root: Path, relative: str) -> bytes:
    """Read ``relative`` under ``root`` resolving symlinks as if ``root`` were ``/`` (a forked chroot)."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: chroot, read, write to the pipe
        code = 0
        try:
            os.close(read_fd)
            os.chroot(root)
            os.chdir("/")
            with open("/" + relative, "rb") as handle:
                data = handle.read()
            os.write(write_fd, b"ok\n")
            view = memoryview(data)
            while view:
                view = view[os.write(write_fd, view) :]
        except BaseException as err:  # noqa: BLE001 (reported to the parent through the pipe)
            with contextlib.suppress(OSError):
                os.write(write_fd, f"error {type(err).__name__}: {err}\n".encode())
            code = 1
        finally:
            os._exit(code)
    os.close(write_fd)
    chunks = []
    with os.fdopen(read_fd, "rb") as reader:
        chunks.append(reader.read())
    os.waitpid(pid, 0)
    raw = b"".join(chunks)
    status, _, data = raw.partition(b"\n")
    if status != b"ok":
        raise FileNotFoundError(f"/{relative}: {status.decode(errors='replace')}")
    return data


def _read_overlay_file(prepared: _Prepared, path: str) -> bytes:
    """Mount the container's overlay again, read-only, and read ``path`` inside it."""
    view = prepared.bundle / "readback"
    view.mkdir(exist_ok=True)
    subprocess.run(
        ["mount", "-t", "overlay", "overlay", "-o", f"ro,lowerdir={prepared.upper}:{prepared.image_rootfs}", str(view)],
        check=True,
        capture_output=True,
    )
    try:
        return _read_under(view, path.lstrip("/"))
    finally:
        subprocess.run(["umount", str(view)], check=False, capture_output=True)


# -- users ------------------------------------------------------------------------------------
def _passwd(rootfs: Path) -> list[list[str]]:
    try:
        return [line.split(":") for line in (rootfs / "etc/passwd").read_text().splitlines() if line.count(":") >= 6]
    except OSError:
        return []


def _groups(rootfs: Path) -> list[list[str]]:
    try:
        return [line.split(":") for line in (rootfs / "etc/group").read_text().splitlines() if line.count(":") >= 3]
    except OSError:
        return []


def _resolve_user(
    rootfs: Path, image_user: str, run_as_user: int | None, run_as_group: int | None
) -> tuple[int, int, str | None]:
    """``(uid, gid, user name)``: runAsUser/runAsGroup over the image's ``User`` (``name``, ``uid``, ``uid:gid``)."""
    users = _passwd(rootfs)
    name: str | None = None
    uid, gid = 0, 0
    if run_as_user is not None:
        uid = run_as_user
        entry = next((u for u in users if u[2] == str(uid)), None)
        gid, name = (int(entry[3]), entry[0]) if entry else (0, None)
    elif image_user:
        user_part, _, group_part = image_user.partition(":")
        if user_part.isdigit():
            uid = int(user_part)
            entry = next((u for u in users if u[2] == user_part), None)
        else:
            entry = next((u for u in users if u[0] == user_part), None)
            if entry is None:
                raise PodRefused(f"unable to find user {user_part}: no matching entries in passwd file")
            uid = int(entry[2])
        gid, name = (int(entry[3]), entry[0]) if entry else (0, None)
        if group_part:
            if group_part.isdigit():
                gid = int(group_part)
            else:
                group = next((g for g in _groups(rootfs) if g[0] == group_part), None)
                if group is None:
                    raise PodRefused(f"unable to find group {group_part}: no matching entries in group file")
                gid = int(group[2])
    else:
        name = "root"
    if run_as_group is not None:
        gid = run_as_group
    return uid, gid, name


def _additional_gids(rootfs: Path, name: str | None, primary: int) -> list[int]:
    """containerd WithAdditionalGIDs: the groups in the image's /etc/group that list the user."""
    if name is None:
        return []
    found = [int(g[2]) for g in _groups(rootfs) if name in g[3].split(",") and g[2].isdigit()]
    return sorted({primary, *found})


# -- volumes ----------------------------------------------------------------------------------
def _go_quote(value: str) -> str:
    """Go's ``%q`` for the kubelet's downward API label/annotation files (fieldpath.FormatMap)."""
    out = ['"']
    for ch in value:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _format_map(values: Mapping[str, str]) -> str:
    return "\n".join(f"{key}={_go_quote(values[key])}" for key in sorted(values))


class SetupError(Exception):
    """The pod cannot start (a missing Secret, an unbound claim, an unknown image ...): the kubelet's message."""


def _atomic_write(folder: Path, files: dict[str, tuple[bytes, int]]) -> None:
    """The kubelet's AtomicWriter layout: ``..<timestamp>/`` with the files, ``..data`` → it, a link per top entry."""
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o777 & ~0o022 | 0o755)
    stamp = ".." + datetime.datetime.now(datetime.timezone.utc).strftime("%Y_%m_%d_%H_%M_%S.") + secrets.token_hex(4)
    data_dir = folder / stamp
    data_dir.mkdir()
    os.chmod(data_dir, 0o755)
    tops: set[str] = set()
    for relative, (content, mode) in files.items():
        target = data_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        os.chmod(target, mode)
        tops.add(relative.split("/", 1)[0])
    os.symlink(stamp, folder / "..data")
    for top in sorted(tops):
        os.symlink(f"..data/{top}", folder / top)


def _check_path(path: str, what: str) -> None:
    if path.startswith("/") or ".." in path.split("/"):
        raise SetupError(f"{what} {path!r} must be a relative path without '..'")


def _projected_files(
    kind: str, name: str, data: Mapping[str, bytes] | None, items: list[dict[str, Any]] | None, optional: bool, default_mode: int
) -> dict[str, tuple[bytes, int]]:
    """The kubelet's MakePayload for a Secret or ConfigMap (volume or projected source), with its messages."""
    if data is None:
        if optional:
            return {}
        raise SetupError(f'{"secret" if kind == "secret" else "configmap"} "{name}" not found')
    files: dict[str, tuple[bytes, int]] = {}
    if not items:
        for key, value in data.items():
            files[key] = (value, default_mode)
        return files
    for item in items:
        key, path = item["key"], item["path"]
        _check_path(path, "items path")
        if key not in data:
            if optional:
                continue
            raise SetupError(
                f"configmap references non-existent config key: {key}"
                if kind == "configMap"
                else f"references non-existent secret key: {key}"
            )
        files[path] = (data[key], int(item.get("mode", default_mode)))
    return files


def _downward_files(pod: dict[str, Any], items: list[dict[str, Any]], default_mode: int) -> dict[str, tuple[bytes, int]]:
    meta = pod.get("metadata") or {}
    files: dict[str, tuple[bytes, int]] = {}
    for item in items:
        _check_path(item["path"], "items path")
        field_path = (item.get("fieldRef") or {}).get("fieldPath", "")
        if field_path == "metadata.annotations":
            value = _format_map(meta.get("annotations") or {})
        elif field_path == "metadata.labels":
            value = _format_map(meta.get("labels") or {})
        elif field_path in ("metadata.name", "metadata.namespace", "metadata.uid"):
            value = str(meta.get(field_path.split(".")[1], _NAMESPACE if field_path == "metadata.namespace" else ""))
        elif m := re.fullmatch(r"metadata\.(annotations|labels)\['(.+)'\]", field_path):
            value = str((meta.get(m.group(1)) or {}).get(m.group(2), ""))
        else:
            raise SetupError(f"downwardAPI fieldPath {field_path!r} is not supported by this runner")
        files[item["path"]] = (value.encode(), int(item.get("mode", default_mode)))
    return files


def _config_map_bytes(node: Node, name: str) -> dict[str, bytes] | None:
    data = node.config_maps.get(name)
    return None if data is None else {k: v.encode() for k, v in data.items()}


def _secret_bytes(node: Node, name: str) -> dict[str, bytes] | None:
    secret = node.secrets.get(name)
    return None if secret is None else dict(secret.data)


def _set_volume_ownership(root: Path, fs_group: int, read_only: bool) -> None:
    """The kubelet's SetVolumeOwnership for ``fsGroup``: group ``fs_group`` on everything (links skipped),
    group read (+write unless read-only) bits, setgid and group execute on directories."""
    mask = 0o440 if read_only else 0o660
    for dirpath, dirnames, filenames in os.walk(root):
        for path in [Path(dirpath), *(Path(dirpath, n) for n in dirnames + filenames)]:
            if path.is_symlink() or (path != Path(dirpath) and path.is_dir()):
                continue  # directories are handled when walked into
            os.chown(path, -1, fs_group)
            mode = path.stat().st_mode & 0o7777 | mask
            if path.is_dir():
                mode |= 0o2000 | 0o110
            os.chmod(path, mode)


def _setup_volumes(pod: dict[str, Any], node: Node, pod_dir: Path) -> dict[str, tuple[Path, bool]]:
    """Each volume name → (host folder, read-only as the kubelet forces it for API data volumes).

    With the pod's ``securityContext.fsGroup`` the kubelet gives emptyDir, Secret, ConfigMap,
    downwardAPI and projected volumes (and claims) to that group; so does this."""
    fs_group = ((pod.get("spec") or {}).get("securityContext") or {}).get("fsGroup")
    volumes: dict[str, tuple[Path, bool]] = {}
    base = pod_dir / "volumes"
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        name = volume["name"]
        where = base / name
        if "emptyDir" in volume:
            where.mkdir(parents=True)
            os.chmod(where, 0o777)
            volumes[name] = (where, False)
        elif "persistentVolumeClaim" in volume:
            claim = volume["persistentVolumeClaim"]["claimName"]
            if claim not in node.claims:
                raise SetupError(f'pod has unbound immediate PersistentVolumeClaims: persistentvolumeclaim "{claim}" not found')
            volumes[name] = (node.claims[claim], bool(volume["persistentVolumeClaim"].get("readOnly")))
        elif "hostPath" in volume:
            raise PodRefused(f"volume {name!r}: hostPath volumes are not allowed here")
        elif "secret" in volume:
            spec = volume["secret"]
            files = _projected_files(
                "secret", spec["secretName"], _secret_bytes(node, spec["secretName"]), spec.get("items"),
                bool(spec.get("optional")), int(spec.get("defaultMode", 0o644)),
            )  # fmt: skip
            _atomic_write(where, files)
            volumes[name] = (where, True)
        elif "configMap" in volume:
            spec = volume["configMap"]
            files = _projected_files(
                "configMap", spec["name"], _config_map_bytes(node, spec["name"]), spec.get("items"),
                bool(spec.get("optional")), int(spec.get("defaultMode", 0o644)),
            )  # fmt: skip
            _atomic_write(where, files)
            volumes[name] = (where, True)
        elif "downwardAPI" in volume:
            spec = volume["downwardAPI"]
            _atomic_write(where, _downward_files(pod, spec.get("items") or [], int(spec.get("defaultMode", 0o644))))
            volumes[name] = (where, True)
        elif "projected" in volume:
            spec = volume["projected"]
            mode = int(spec.get("defaultMode", 0o644))
            files = {}
            for source in spec.get("sources") or []:
                if "secret" in source:
                    s = source["secret"]
                    files.update(
                        _projected_files(
                            "secret", s["name"], _secret_bytes(node, s["name"]), s.get("items"), bool(s.get("optional")), mode
                        )
                    )
                elif "configMap" in source:
                    c = source["configMap"]
                    files.update(
                        _projected_files(
                            "configMap",
                            c["name"],
                            _config_map_bytes(node, c["name"]),
                            c.get("items"),
                            bool(c.get("optional")),
                            mode,
                        )
                    )
                elif "downwardAPI" in source:
                    files.update(_downward_files(pod, source["downwardAPI"].get("items") or [], mode))
                else:
                    raise PodRefused(f"volume {name!r}: projected source {sorted(source)} is not supported by this runner")
            _atomic_write(where, files)
            volumes[name] = (where, True)
        else:
            raise PodRefused(f"volume {name!r}: kind {sorted(set(volume) - {'name'})} is not supported by this runner")
        if fs_group is not None:
            _set_volume_ownership(volumes[name][0], int(fs_group), volumes[name][1])
    return volumes


# -- env --------------------------------------------------------------------------------------
def _container_env(container: dict[str, Any], pod: dict[str, Any], node: Node) -> list[tuple[str, str]]:
    """The kubelet's makeEnvironmentVariables: envFrom, then env in order, each value expanded over the earlier ones."""
    values: dict[str, str] = {}
    order: list[str] = []

    def put(name: str, value: str) -> None:
        if name not in values:
            order.append(name)
        values[name] = value

    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        if "configMapRef" in source:
            ref = source["configMapRef"]
            data = node.config_maps.get(ref["name"])
            if data is None and not ref.get("optional"):
                raise SetupError(f'configmap "{ref["name"]}" not found')
            for k, v in (data or {}).items():
                put(prefix + k, v)
        elif "secretRef" in source:
            ref = source["secretRef"]
            secret = node.secrets.get(ref["name"])
            if secret is None and not ref.get("optional"):
                raise SetupError(f'secret "{ref["name"]}" not found')
            for k, b in (secret.data if secret else {}).items():
                put(prefix + k, b.decode())
    mapping = mapping_func_for(values)
    meta = pod.get("metadata") or {}
    for env in container.get("env") or []:
        value = env.get("value", "")
        if value:
            value = expand(value, mapping)
        elif "valueFrom" in env:
            source = env["valueFrom"]
            if "fieldRef" in source:
                path = source["fieldRef"]["fieldPath"]
                simple = {
                    "metadata.name": meta.get("name", ""),
                    "metadata.namespace": meta.get("namespace", _NAMESPACE),
                    "metadata.uid": meta.get("uid", ""),
                    "spec.nodeName": "cachebuild-node",
                    "spec.serviceAccountName": (pod.get("spec") or {}).get("serviceAccountName", "default"),
                    "status.podIP": "127.0.0.1",
                    "status.hostIP": "127.0.0.1",
                }
                if path in simple:
                    value = str(simple[path])
                elif m := re.fullmatch(r"metadata\.(annotations|labels)\['(.+)'\]", path):
                    value = str((meta.get(m.group(1)) or {}).get(m.group(2), ""))
                else:
                    raise PodRefused(f"env {env['name']}: fieldPath {path!r} is not supported by this runner")
            elif "secretKeyRef" in source:
                ref = source["secretKeyRef"]
                secret = node.secrets.get(ref["name"])
                if secret is None or ref["key"] not in secret.data:
                    if ref.get("optional"):
                        continue
                    raise SetupError(
                        f'secret "{ref["name"]}" not found'
                        if secret is None
                        else f"couldn't find key {ref['key']} in Secret {_NAMESPACE}/{ref['name']}"
                    )
                value = secret.data[ref["key"]].decode()
            elif "configMapKeyRef" in source:
                ref = source["configMapKeyRef"]
                data = node.config_maps.get(ref["name"])
                if data is None or ref["key"] not in data:
                    if ref.get("optional"):
                        continue
                    raise SetupError(
                        f'configmap "{ref["name"]}" not found'
                        if data is None
                        else f"couldn't find key {ref['key']} in ConfigMap {_NAMESPACE}/{ref['name']}"
                    )
                value = data[ref["key"]]
            else:
                raise PodRefused(f"env {env['name']}: valueFrom {sorted(source)} is not supported by this runner")
        put(env["name"], value)
    return [(name, values[name]) for name in order]


def _merge_env(base: list[str], extra: list[str]) -> list[str]:
    """containerd replaceOrAppendEnvValues: a later NAME=... replaces an earlier one in place."""
    result = list(base)
    index = {entry.split("=", 1)[0]: i for i, entry in enumerate(result)}
    for entry in extra:
        key = entry.split("=", 1)[0]
        if key in index:
            result[index[key]] = entry
        else:
            index[key] = len(result)
            result.append(entry)
    return result


# -- the OCI runtime spec -----------------------------------------------------------------------
def _capabilities(security: dict[str, Any]) -> list[str]:
    """containerd WithCapabilities: ``ALL`` in add/drop first, then each added, then each dropped."""
    caps = list(DEFAULT_CAPABILITIES)
    wanted = security.get("capabilities") or {}
    add = [c.upper() for c in wanted.get("add") or []]
    drop = [c.upper() for c in wanted.get("drop") or []]
    if "ALL" in add:
        caps = _all_capabilities()
    if "ALL" in drop:
        caps = []
    for c in add:
        if c != "ALL" and f"CAP_{c}" not in caps:
            caps.append(f"CAP_{c}")
    return [c for c in caps if c[4:] not in drop]


def _all_capabilities() -> list[str]:
    last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    names = (
        "CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP LINUX_IMMUTABLE NET_BIND_SERVICE",
        "NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN",
        "SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE",
        "MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF CHECKPOINT_RESTORE",
    )  # in capability number order (linux/capability.h)
    numbered = " ".join(names).split(" ")
    return [f"CAP_{n}" for n in numbered[: last + 1]]


def _seccomp(profile: dict[str, Any] | None, capabilities: list[str]) -> dict[str, Any] | None:
    kind = (profile or {}).get("type", "Unconfined")
    if kind == "Unconfined":
        return None
    if kind == "RuntimeDefault":
        program = tools_bin() / "seccomp-profile"
        if not program.exists():
            raise PodRefused(f"{program} is missing: run `bash scripts/tools.sh`")
        done = subprocess.run([str(program), *capabilities], capture_output=True, text=True, check=True)
        data: dict[str, Any] = json.loads(done.stdout)
        return data
    raise PodRefused(f"seccompProfile type {kind!r} is not supported by this runner (RuntimeDefault or Unconfined)")


def _security(pod_security: dict[str, Any], container: dict[str, Any]) -> dict[str, Any]:
    """The container's securityContext over the pod's (for the fields both have)."""
    merged: dict[str, Any] = {
        k: pod_security[k]
        for k in ("runAsUser", "runAsGroup", "runAsNonRoot", "seccompProfile", "appArmorProfile")
        if k in pod_security
    }
    merged.update(container.get("securityContext") or {})
    return merged


def _hosts_file(pod: dict[str, Any]) -> str:
    """kubelet nodeHostsFileContent (host network) + hostsEntriesFromHostAliases."""
    text = "# Kubernetes-managed hosts file (host network).\n" + Path("/etc/hosts").read_text()
    aliases = (pod.get("spec") or {}).get("hostAliases") or []
    if aliases:
        text += "\n# Entries added by HostAliases.\n"
        for alias in aliases:
            text += f"{alias['ip']}\t{chr(9).join(alias.get('hostnames') or [])}\n"
    return text


def _bind(destination: str, source: Path, read_only: bool) -> dict[str, Any]:
    return {
        "destination": destination,
        "type": "bind",
        "source": str(source),
        "options": ["rbind", "rprivate", "ro" if read_only else "rw"],
    }


# -- running ----------------------------------------------------------------------------------
def _runc(*args: str, state: Path, check: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["runc", "--root", str(state), *args], capture_output=True, text=True, check=check)


def _image_config(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / "config.json").read_text())
    return data


class _Pod:
    def __init__(self, pod: dict[str, Any], node: Node, timeout: float, on_output: Callable[[str, str], None] | None) -> None:
        self.pod = pod
        self.node = node
        active_deadline = (pod.get("spec") or {}).get("activeDeadlineSeconds")
        if active_deadline is not None:  # the kubelet's own deadline for the pod, when shorter
            timeout = min(timeout, float(active_deadline))
        self.deadline = time.monotonic() + timeout
        self.timeout = timeout
        self.on_output = on_output
        meta = pod.get("metadata") or {}
        self.name = meta.get("name") or "pod"
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", self.name):
            raise PodRefused(f"metadata.name {self.name!r} is not a valid pod name")
        node.work_dir.mkdir(parents=True, exist_ok=True)
        self.dir = node.work_dir / f"{self.name[:40]}-{secrets.token_hex(3)}"
        self.dir.mkdir()
        self.state = self.dir / "runc"
        self.state.mkdir()
        self.prepared: dict[str, _Prepared] = {}
        self.running: set[str] = set()
        self.lock = threading.Lock()
        spec = pod.get("spec") or {}
        self.spec = spec
        self.hostname = spec.get("hostname") or self.name[:63]

    # The pod-wide files the kubelet bind-mounts into every container.
    def write_pod_files(self) -> None:
        (self.dir / "etc-hosts").write_text(_hosts_file(self.pod))
        (self.dir / "etc-hostname").write_text(self.hostname + "\n")
        resolv = Path("/etc/resolv.conf")
        (self.dir / "resolv.conf").write_text(resolv.read_text() if resolv.exists() else "")

    def prepare(self, container: dict[str, Any], volumes: dict[str, tuple[Path, bool]]) -> tuple[_Prepared, dict[str, Any]]:
        name = container["name"]
        image = container.get("image", "")
        if image not in self.node.images:
            raise SetupError(
                f'Failed to pull image "{image}": this node has no such image (known: {", ".join(self.node.images)})'
            )
        folder = self.node.images[image]
        rootfs = folder / "rootfs"
        config = _image_config(folder)
        security = _security(self.spec.get("securityContext") or {}, container)
        if security.get("privileged"):
            raise PodRefused(f"container {name!r}: privileged containers are never run here")
        uid, gid, user_name = _resolve_user(
            rootfs, str(config.get("User") or ""), security.get("runAsUser"), security.get("runAsGroup")
        )
        image_user = str(config.get("User") or "").partition(":")[0]
        if security.get("runAsNonRoot"):  # the kubelet's verifyRunAsNonRoot
            if security.get("runAsUser") is None and image_user and not image_user.isdigit():
                raise SetupError(
                    f"container {name!r}: container has runAsNonRoot and image has non-numeric user ({image_user}),"
                    " cannot verify user is non-root"
                )
            if uid == 0:
                raise SetupError(f"container {name!r}: container has runAsNonRoot and image will run as root")
        pod_security = self.spec.get("securityContext") or {}
        gids = _additional_gids(rootfs, user_name, gid)
        extra = [int(g) for g in pod_security.get("supplementalGroups") or []]
        if pod_security.get("fsGroup") is not None:
            extra.append(int(pod_security["fsGroup"]))
        gids = sorted({*gids, *extra} - {gid}) if gids or extra else []

        env_pairs = _container_env(container, self.pod, self.node)
        mapping = mapping_func_for(dict(env_pairs))
        command = [expand(c, mapping) for c in container.get("command") or []]
        args = [expand(a, mapping) for a in container.get("args") or []]
        if not command:  # CRI WithProcessArgs
            command = list(config.get("Entrypoint") or [])
            if not args:
                args = list(config.get("Cmd") or [])
        argv = command + args
        if not argv:
            raise SetupError(f"container {name!r}: no command specified")
        image_env = list(config.get("Env") or [])
        if not any(e.startswith("PATH=") for e in image_env):
            image_env.insert(0, DEFAULT_PATH)
        env = _merge_env(image_env, [f"HOSTNAME={self.hostname}", *(f"{k}={v}" for k, v in env_pairs)])
        cwd = container.get("workingDir") or str(config.get("WorkingDir") or "") or "/"

        runc_id = f"cb-{self.dir.name}-{name}"[:120]
        bundle = self.dir / "containers" / name
        upper, work, merged = bundle / "upper", bundle / "work", bundle / "rootfs"
        for d in (upper, work, merged):
            d.mkdir(parents=True)
        termination = bundle / "termination-log"
        termination.touch()
        os.chmod(termination, 0o666)
        termination_path = container.get("terminationMessagePath") or "/dev/termination-log"

        mounts = [dict(m) for m in DEFAULT_MOUNTS]
        binds: list[tuple[str, Path]] = []
        for mount in container.get("volumeMounts") or []:
            vname = mount["name"]
            if vname not in volumes:
                raise SetupError(f"container {name!r}: volumeMount {vname!r} names no volume of the pod")
            source, forced_ro = volumes[vname]
            sub = mount.get("subPath", "")
            if sub:
                sub = expand(sub, mapping) if "subPathExpr" in mount else sub
                _check_path(sub, "subPath")
                source = source / sub
                if not source.exists():
                    source.mkdir(parents=True)
                    os.chmod(source, 0o777 if not forced_ro else 0o755)
            read_only = forced_ro or bool(mount.get("readOnly"))
            mounts.append(_bind(mount["mountPath"], source, read_only))
            binds.append(("/" + os.path.normpath(mount["mountPath"]).lstrip("/"), source))
        mounts.append(_bind("/etc/hosts", self.dir / "etc-hosts", False))
        mounts.append(_bind("/etc/hostname", self.dir / "etc-hostname", False))
        mounts.append(_bind("/etc/resolv.conf", self.dir / "resolv.conf", False))
        mounts.append(_bind(termination_path, termination, False))
        binds.append((termination_path, termination))
        binds.sort(key=lambda b: -len(b[0]))

        caps = _capabilities(security)
        process: dict[str, Any] = {
            "terminal": False,
            "user": {"uid": uid, "gid": gid, **({"additionalGids": gids} if gids else {})},
            "args": argv,
            "env": env,
            "cwd": cwd,
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "noNewPrivileges": security.get("allowPrivilegeEscalation") is False,
        }
        linux: dict[str, Any] = {
            "namespaces": [{"type": t} for t in ("pid", "ipc", "uts", "mount")],
            "maskedPaths": list(MASKED_PATHS),
            "readonlyPaths": list(READONLY_PATHS),
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "cgroupsPath": f"/cachebuild/{runc_id}",
        }
        seccomp = _seccomp(security.get("seccompProfile"), caps)
        if seccomp is not None:
            linux["seccomp"] = seccomp
        spec = {
            "ociVersion": "1.0.2-dev",
            "process": process,
            "root": {"path": str(merged), "readonly": bool(security.get("readOnlyRootFilesystem"))},
            "hostname": self.hostname,
            "mounts": mounts,
            "linux": linux,
        }
        (bundle / "config.json").write_text(json.dumps(spec, indent=1))
        policy = container.get("terminationMessagePolicy") or "File"
        prepared = _Prepared(name, runc_id, bundle, rootfs, upper, work, merged, termination, binds, policy)
        self.prepared[name] = prepared
        return prepared, spec

    def mount_rootfs(self, prepared: _Prepared) -> None:
        options = f"lowerdir={prepared.image_rootfs},upperdir={prepared.upper},workdir={prepared.work}"
        done = subprocess.run(
            ["mount", "-t", "overlay", "overlay", "-o", options, str(prepared.merged)], capture_output=True, text=True
        )
        if done.returncode != 0:
            raise SetupError(f"mounting the overlay rootfs of {prepared.name!r} failed: {done.stderr.strip()}")
        prepared.mounted = True
        # containerd creates the working directory when the image lacks it
        spec = json.loads((prepared.bundle / "config.json").read_text())
        cwd = prepared.merged / spec["process"]["cwd"].lstrip("/")
        if not cwd.exists():
            cwd.mkdir(parents=True)
            os.chown(cwd, spec["process"]["user"]["uid"], spec["process"]["user"]["gid"])

    def run_container(self, container: dict[str, Any], prepared: _Prepared) -> ContainerResult:
        result = ContainerResult(prepared.name)
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            result.reason = "DeadlineExceeded"
            result.log = f"pod deadline of {self.timeout:.0f}s passed before {prepared.name!r} started\n"
            return result
        start = time.monotonic()
        try:
            self.mount_rootfs(prepared)
        except SetupError as err:
            result.reason, result.log = "ContainerCannotRun", str(err) + "\n"
            return result
        with self.lock:
            self.running.add(prepared.runc_id)
        process = subprocess.Popen(
            ["runc", "--root", str(self.state), "run", "--bundle", str(prepared.bundle), prepared.runc_id],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us, not runc: we stop the container ourselves
        )
        chunks: list[str] = []
        timed_out = threading.Event()

        def reader() -> None:
            assert process.stdout is not None
            for raw in iter(process.stdout.readline, b""):
                line = raw.decode(errors="replace")
                chunks.append(line)
                if self.on_output is not None:
                    self.on_output(prepared.name, line)

        thread = threading.Thread(target=reader, daemon=True)
        thread.start()
        try:
            process.wait(timeout=remaining)
        except subprocess.TimeoutExpired:
            timed_out.set()
            _runc("kill", prepared.runc_id, "KILL", state=self.state)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        thread.join(timeout=10)
        result.seconds = time.monotonic() - start
        result.log = "".join(chunks)
        if timed_out.is_set():
            result.reason = "DeadlineExceeded"
            result.exit_code = 137
            note = f"cachebuild pod runner: {prepared.name!r} killed after the pod's timeout of {self.timeout:.0f}s\n"
            result.log += note
            if self.on_output is not None:
                self.on_output(prepared.name, note)
        else:
            result.exit_code = process.returncode
            result.reason = "Completed" if process.returncode == 0 else "Error"
        self.stop(prepared)
        message = prepared.termination_file.read_bytes()[:TERMINATION_MESSAGE_LIMIT].decode(errors="replace")
        if not message and prepared.termination_policy == "FallbackToLogsOnError" and result.exit_code != 0:
            message = "".join(result.log.splitlines(keepends=True)[-_FALLBACK_LOG_LINES:])[-2048:]
        result.termination_message = message
        return result

    def stop(self, prepared: _Prepared) -> None:
        """Delete the runc container (killing what is left) and unmount its rootfs."""
        if prepared.runc_id in self.running:
            _runc("delete", "--force", prepared.runc_id, state=self.state)
            with self.lock:
                self.running.discard(prepared.runc_id)
        if prepared.mounted:
            done = subprocess.run(["umount", str(prepared.merged)], capture_output=True, text=True)
            if done.returncode != 0:
                subprocess.run(["umount", "-l", str(prepared.merged)], capture_output=True, text=True)
            prepared.mounted = False

    def cleanup(self) -> None:
        for prepared in self.prepared.values():
            with contextlib.suppress(Exception):
                self.stop(prepared)
        shutil.rmtree(self.state, ignore_errors=True)


def _why(result: ContainerResult) -> str:
    if result.reason == "DeadlineExceeded":
        return "timed out"
    if result.reason == "ContainerCannotRun":
        return f"could not run: {result.log.strip()}"
    return f"exited with {result.exit_code}"


def run_pod(pod: dict[str, Any], node: Node, *, timeout: float, on_output: Callable[[str, str], None] | None = None) -> PodResult:
    """Run ``pod`` to completion (restartPolicy Never) on ``node``; ``on_output(container, line)`` streams output.

    Raises :class:`PodRefused` for what is never run here (privileged, hostPath ...). Setup failures the
    kubelet would report (a missing Secret, an unbound claim, an unknown image) give a ``Failed`` pod
    with that message. ``timeout`` (or the pod's ``activeDeadlineSeconds`` when shorter) covers the whole
    pod; at it the running containers are killed.
    """
    runner = _Pod(pod, node, timeout, on_output)
    init_results: dict[str, ContainerResult] = {}
    results: dict[str, ContainerResult] = {}

    def finish(phase: str, message: str) -> PodResult:
        return PodResult(phase, message, init_results, results, runner.dir, runner.prepared)

    try:
        spec = runner.spec
        runner.write_pod_files()
        try:
            volumes = _setup_volumes(pod, node, runner.dir)
            plans = []
            for kind in ("initContainers", "containers"):
                for container in spec.get(kind) or []:
                    prepared, _ = runner.prepare(container, volumes)
                    plans.append((kind, container, prepared))
        except SetupError as err:
            return finish("Failed", str(err))
        for kind, container, prepared in plans:
            if kind != "initContainers":
                continue
            result = runner.run_container(container, prepared)
            init_results[prepared.name] = result
            if result.exit_code != 0:
                return finish("Failed", f"init container {prepared.name!r} {_why(result)}")
        mains = [(c, p) for kind, c, p in plans if kind == "containers"]
        threads = []
        for container, prepared in mains:

            def run(c: dict[str, Any] = container, p: _Prepared = prepared) -> None:
                results[p.name] = runner.run_container(c, p)

            thread = threading.Thread(target=run, name=f"pod-{prepared.name}")
            thread.start()
            threads.append(thread)
        for thread in threads:
            thread.join()
        failed = [r for r in results.values() if r.exit_code != 0]
        if failed:
            return finish("Failed", "; ".join(f"container {r.name!r} {_why(r)}" for r in failed))
        return finish("Succeeded", "")
    finally:
        runner.cleanup()


@contextlib.contextmanager
def pod_result(
    pod: dict[str, Any], node: Node, *, timeout: float, on_output: Callable[[str, str], None] | None = None
) -> Iterator[PodResult]:
    """:func:`run_pod`, and the pod's folder removed afterwards."""
    result = run_pod(pod, node, timeout=timeout, on_output=on_output)
    try:
        yield result
    finally:
        result.remove()
