"""The "raw tool" pods: each builder run by hand with its plain remote-cache recipe, no cachebuild in
between (the benchmark's baseline, and the proof that the images, the pod runner and the registries
work). Each builder returns a :class:`RawBuild`: the Pod, the Secrets and ConfigMaps it needs, and
where it leaves its digest.

Recipes (shared/reference/builders.md):
* BuildKit: ``buildctl-daemonless.sh build ... --export-cache type=registry,ref=R/cache:buildcache,mode=max
  --import-cache type=registry,ref=R/cache:buildcache`` (:func:`buildkit_cache_ref`) as uid 1000,
  ``BUILDKITD_FLAGS=--oci-worker-no-process-sandbox``, seccomp and AppArmor Unconfined; a registry over
  plain HTTP by name needs ``http = true`` and a private CA ``ca = [...]`` in
  ``~/.config/buildkit/buildkitd.toml`` (rootless reads it there);
* kaniko: ``--cache=true --cache-repo=R --cache-dir=/cache``; ``--insecure-registry=HOST:PORT`` for
  plain HTTP by name, ``--registry-certificate HOST:PORT=CA`` for a private CA;
* buildah: ``build --layers --cache-from R --cache-to R`` with ``--isolation chroot --storage-driver vfs``
  then ``push``; ``--tls-verify=false`` on both for plain HTTP, ``--cert-dir`` for a private CA.
Credentials come from a ``kubernetes.io/dockerconfigjson`` Secret mounted read-only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cachebuild.builders import buildah, buildkit, kaniko
from e2e.pods import Secret
from e2e.registries import TestRegistry

SOURCE_CLAIM = "source"  # the build context: a PVC the caller maps to a host folder
# Each RUN prints a marker only when it runs (the printf format differs from its output, so the
# command line echoed in a log never matches): a step taken from the cache leaves no marker.
DOCKERFILE = """\
FROM {base}
RUN printf 'step %s ran\\n' one && sleep {seconds} && echo one > /one
COPY file.txt /file.txt
RUN printf 'step %s ran\\n' two && sleep {seconds} && cat /file.txt /one > /two
"""
RUN_MARKERS = {"one": "step one ran", "two": "step two ran"}


def steps_run(log: str) -> set[str]:
    """Which RUN steps (``one``, ``two``) of :data:`DOCKERFILE` ran, rather than came from a cache."""
    return {name for name, marker in RUN_MARKERS.items() if marker in log}


def base_image(registry: TestRegistry, builder: str) -> str:
    """The base image a task's test build starts from, in ``registry``. Upstream kaniko v1.24.0 (the
    pinned osscontainertools fork is not served here) cannot push an image built on a warmed OCI base
    (kaniko#2423), so kaniko's builds use a Docker-typed one."""
    repository = "cachebuild/busybox-docker" if builder == "kaniko" else "cachebuild/busybox"
    return f"{registry.address}/{repository}:1"


def write_context(folder: Path, base: str, content: str = "v1\n", seconds: int = 2) -> Path:
    """The test build context: a slow RUN, a COPY, a slow RUN."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Dockerfile").write_text(DOCKERFILE.format(base=base, seconds=seconds))
    (folder / "file.txt").write_text(content)
    for path in (folder, folder / "Dockerfile", folder / "file.txt"):
        path.chmod(0o755 if path.is_dir() else 0o644)  # readable by BuildKit's uid 1000
    return folder


@dataclass
class RawBuild:
    pod: dict[str, Any]
    secrets: dict[str, Secret] = field(default_factory=dict)
    config_maps: dict[str, dict[str, str]] = field(default_factory=dict)
    digest_file: tuple[str, str] = ("main", "")  # (container, path) of the digest it writes
    digest_is_metadata_json: bool = False


def _credentials(registry: TestRegistry, name: str) -> dict[str, Secret]:
    return {name: Secret.docker_config(registry.docker_config())} if registry.credentials else {}


def _docker_volume(registry: TestRegistry, secret: str) -> list[dict[str, Any]]:
    if not registry.credentials:
        return []
    return [
        {
            "name": "docker-config",
            "secret": {"secretName": secret, "items": [{"key": ".dockerconfigjson", "path": "config.json"}]},
        }
    ]


def _ca_volume(registry: TestRegistry, config_map: str) -> list[dict[str, Any]]:
    return [{"name": "registry-ca", "configMap": {"name": config_map}}] if registry.ca_file else []


def _pod(name: str, registry: TestRegistry, container: dict[str, Any], volumes: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "hostAliases": [registry.host_alias],
            "containers": [container],
            "volumes": [{"name": "source", "persistentVolumeClaim": {"claimName": SOURCE_CLAIM}}, *volumes],
        },
    }


def buildkit_cache_ref(registry: TestRegistry, repository: str) -> str:
    """The raw recipe's cache ref: ``REPO/cache:buildcache``, a repository of its own. BuildKit's README
    puts it in the image's repository (``REPO:buildcache``), but then the image push and the cache
    export upload the same layer blob to one repository at once, and docker-registry now and then
    refuses one of the two uploads (``provided digest did not match uploaded content``, cf.
    moby/buildkit#3856). This failed one CI dry run. cachebuild's tasks keep the cache apart as well."""
    return f"{registry.address}/{repository}/cache:buildcache"


def buildkit_build(name: str, registry: TestRegistry, image: str, cache: str, *, platforms: str = "") -> RawBuild:
    """``image``: ``REPO:TAG`` to push; ``cache``: the cache ref (:func:`buildkit_cache_ref`)."""
    toml = f'[registry."{registry.address}"]\n'
    toml += '  ca = ["/home/user/.config/registry-ca/ca.crt"]\n' if registry.ca_file else "  http = true\n"
    config_maps = {f"{name}-buildkitd": {"buildkitd.toml": toml}}
    mounts = [
        {"name": "source", "mountPath": "/workspace/src", "readOnly": True},
        {"name": "buildkitd", "mountPath": "/home/user/.local/share/buildkit"},
        {"name": "buildkitd-config", "mountPath": "/home/user/.config/buildkit", "readOnly": True},
        {"name": "out", "mountPath": "/workspace/out"},
    ]
    volumes: list[dict[str, Any]] = [
        {"name": "buildkitd", "emptyDir": {}},
        {"name": "buildkitd-config", "configMap": {"name": f"{name}-buildkitd"}},
        {"name": "out", "emptyDir": {}},
    ]
    if registry.ca_file:
        config_maps[f"{name}-ca"] = {"ca.crt": registry.ca_file.read_text()}
        volumes += _ca_volume(registry, f"{name}-ca")
        mounts.append({"name": "registry-ca", "mountPath": "/home/user/.config/registry-ca", "readOnly": True})
    volumes += _docker_volume(registry, f"{name}-docker")
    if registry.credentials:
        mounts.append({"name": "docker-config", "mountPath": "/home/user/.docker", "readOnly": True})
    args = ["build", "--frontend", "dockerfile.v0", "--local", "context=/workspace/src", "--local", "dockerfile=/workspace/src"]
    if platforms:
        args += ["--opt", f"platform={platforms}"]
    args += [
        "--output", f"type=image,name={image},push=true",
        "--export-cache", f"type=registry,ref={cache},mode=max",
        "--import-cache", f"type=registry,ref={cache}",
        "--metadata-file", "/workspace/out/metadata.json",
    ]  # fmt: skip
    container = {
        "name": "main",
        "image": buildkit.IMAGE,
        "command": ["buildctl-daemonless.sh"],
        "args": args,
        "env": [{"name": "BUILDKITD_FLAGS", "value": "--oci-worker-no-process-sandbox"}],
        "securityContext": {
            "runAsUser": 1000,
            "runAsGroup": 1000,
            "seccompProfile": {"type": "Unconfined"},
            "appArmorProfile": {"type": "Unconfined"},
        },
        "volumeMounts": mounts,
    }
    return RawBuild(
        _pod(name, registry, container, volumes),
        _credentials(registry, f"{name}-docker"),
        config_maps,
        ("main", "/workspace/out/metadata.json"),
        digest_is_metadata_json=True,
    )


KANIKO_CACHE_CLAIM = "kaniko-cache"  # the warmer's base images, shared with the executor


def _kaniko_registry_access(
    name: str, registry: TestRegistry, mounts: list[dict[str, Any]]
) -> tuple[list[str], list[dict[str, Any]], dict[str, dict[str, str]]]:
    """Flags, volumes and ConfigMaps for kaniko (executor or warmer) to reach ``registry``."""
    volumes: list[dict[str, Any]] = []
    config_maps = {}
    if registry.ca_file:
        config_maps[f"{name}-ca"] = {"ca.crt": registry.ca_file.read_text()}
        volumes += _ca_volume(registry, f"{name}-ca")
        mounts.append({"name": "registry-ca", "mountPath": "/kaniko/registry-ca", "readOnly": True})
        flags = [f"--registry-certificate={registry.address}=/kaniko/registry-ca/ca.crt"]
    else:
        flags = [f"--insecure-registry={registry.address}"]
    volumes += _docker_volume(registry, f"{name}-docker")
    if registry.credentials:
        mounts.append({"name": "docker-config", "mountPath": "/kaniko/.docker", "readOnly": True})
    return flags, volumes, config_maps


def kaniko_warm(name: str, registry: TestRegistry, base_images: list[str]) -> RawBuild:
    """The warmer: ``--cache-dir=/cache --image=REF ...`` into the :data:`KANIKO_CACHE_CLAIM` claim."""
    mounts = [{"name": "cache", "mountPath": "/cache"}]
    flags, volumes, config_maps = _kaniko_registry_access(name, registry, mounts)
    args = ["--cache-dir=/cache", *(f"--image={ref}" for ref in base_images), *flags]
    volumes.append({"name": "cache", "persistentVolumeClaim": {"claimName": KANIKO_CACHE_CLAIM}})
    container = {"name": "main", "image": kaniko.IMAGE, "command": ["/kaniko/warmer"], "args": args, "volumeMounts": mounts}
    pod = _pod(name, registry, container, volumes)
    pod["spec"]["volumes"] = [v for v in pod["spec"]["volumes"] if v["name"] != "source"]  # the warmer needs no context
    return RawBuild(pod, _credentials(registry, f"{name}-docker"), config_maps, ("main", ""))


def kaniko_build(name: str, registry: TestRegistry, image: str, cache_repo: str, *, warmed: bool = False) -> RawBuild:
    """``warmed``: ``/cache`` is the warmer's claim (:func:`kaniko_warm`), else an emptyDir."""
    args = [
        "--context=dir:///workspace/src",
        "--dockerfile=Dockerfile",
        f"--destination={image}",
        "--cache=true",
        f"--cache-repo={cache_repo}",
        "--cache-dir=/cache",
        "--digest-file=/workspace/out/digest",
    ]
    mounts = [
        {"name": "source", "mountPath": "/workspace/src", "readOnly": True},
        {"name": "cache", "mountPath": "/cache"},
        {"name": "out", "mountPath": "/workspace/out"},
    ]
    flags, volumes, config_maps = _kaniko_registry_access(name, registry, mounts)
    args += flags
    cache = {"persistentVolumeClaim": {"claimName": KANIKO_CACHE_CLAIM}} if warmed else {"emptyDir": {}}
    volumes += [{"name": "cache", **cache}, {"name": "out", "emptyDir": {}}]
    container = {"name": "main", "image": kaniko.IMAGE, "command": ["/kaniko/executor"], "args": args, "volumeMounts": mounts}
    return RawBuild(
        _pod(name, registry, container, volumes),
        _credentials(registry, f"{name}-docker"),
        config_maps,
        ("main", "/workspace/out/digest"),
    )


def buildah_build(name: str, registry: TestRegistry, image: str, cache_repo: str) -> RawBuild:
    common = ["--storage-driver", "vfs"]
    tls: list[str] = []
    mounts = [{"name": "source", "mountPath": "/workspace/src", "readOnly": True}, {"name": "out", "mountPath": "/workspace/out"}]
    volumes: list[dict[str, Any]] = [{"name": "out", "emptyDir": {}}]
    config_maps = {}
    if registry.ca_file:
        config_maps[f"{name}-ca"] = {"ca.crt": registry.ca_file.read_text()}
        volumes += _ca_volume(registry, f"{name}-ca")
        mounts.append({"name": "registry-ca", "mountPath": "/etc/registry-ca", "readOnly": True})
        tls = ["--cert-dir", "/etc/registry-ca"]
    else:
        tls = ["--tls-verify=false"]
    auth: list[str] = []
    volumes += _docker_volume(registry, f"{name}-docker")
    if registry.credentials:
        mounts.append({"name": "docker-config", "mountPath": "/root/.docker", "readOnly": True})
        auth = ["--authfile", "/root/.docker/config.json"]
    cache = ["--layers", "--cache-from", cache_repo, "--cache-to", cache_repo]
    build = ["buildah", *common, "build", "--isolation", "chroot", *cache, *tls, *auth,
             "-f", "/workspace/src/Dockerfile", "-t", image, "/workspace/src"]  # fmt: skip
    push = ["buildah", *common, "push", *tls, *auth, "--digestfile", "/workspace/out/digest", image]
    # A shell joins the two steps as the buildah-build task does; the argv words are fixed here.
    script = " ".join(_quote(w) for w in build) + " && " + " ".join(_quote(w) for w in push)
    container = {"name": "main", "image": buildah.IMAGE, "command": ["/bin/sh", "-c", script], "volumeMounts": mounts}
    return RawBuild(
        _pod(name, registry, container, volumes),
        _credentials(registry, f"{name}-docker"),
        config_maps,
        ("main", "/workspace/out/digest"),
    )


def _quote(word: str) -> str:
    return "'" + word.replace("'", "'\"'\"'") + "'"
