"""The images the cluster runs, made here and imported into its containerd: nothing is ever pulled.

* ``pause``: Kubernetes' own ``build/pause/linux/pause.c`` (from the k8s.io/kubernetes module),
  compiled static.
* Argo's ``workflow-controller``, ``argocli`` and ``argoexec`` under the names and tag of its release
  manifests (``quay.io/argoproj/…:<v>``), laid out as its Dockerfile does (``/bin/<program>``, user
  8737 but for argoexec).
* Tekton's programs where ko puts them (``/ko-app/<program>``, user 65532, ``KO_DATA_PATH``; the
  resolvers with tini and git, as their base in Tekton's ``.ko.yaml`` has them), named
  ``cachebuild.test/tekton/<program>:<v>``; :mod:`cluster.install` writes these names where the
  release manifests have ``ko://`` references.
* A busybox for Tekton's ``-shell-image`` (Debian's busybox-static).
* A registry (Debian's docker-registry, laid out as the ``registry:2`` image: port 5000, the config at
  ``/etc/docker/registry/config.yml``), the sidecar the Tekton catalog's tests add to a Task.
* The builder images of the end-to-end tier (:mod:`e2e.images`), under their pinned names.

Each image that holds a CA bundle also trusts the CA of the stand-ins for the internet's hosts.
Each is an OCI archive (:func:`e2e.images.oci_archive`) of one layer.
"""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import Callable
from pathlib import Path

from e2e.images import (
    HOST_BUSYBOX,
    HOST_CA_BUNDLE,
    RECIPES,
    ImageError,
    Recipe,
    _add_git,
    ensure_image,
    host_binary,
    module_file,
    oci_archive,
    pinned_versions,
)

from .node import PAUSE_IMAGE, Cluster, cluster_bin

TEKTON_PROGRAMS = ("controller", "webhook", "resolvers", "events", "entrypoint", "nop", "sidecarlogresults", "workingdirinit")
BUSYBOX_IMAGE = "cachebuild.test/busybox:1.35"
REGISTRY_IMAGE = "cachebuild.test/registry:2"
_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_NSSWITCH = "passwd: files\ngroup: files\nhosts: files dns\n"


def tekton_image(program: str) -> str:
    return f"cachebuild.test/tekton/{program}:{pinned_versions()['TEKTON_NEWEST_VERSION']}"


def argo_image(name: str) -> str:
    return f"quay.io/argoproj/{name}:{pinned_versions()['ARGO_VERSION']}"


def _built(name: str) -> Path:
    path = cluster_bin() / name
    if not path.exists():
        raise ImageError(f"{path} is missing: run `bash scripts/cluster-tools.sh`")
    return path.resolve()


def _base(recipe: Recipe, user: str, uid: int, home: str) -> None:
    """What a distroless/static base holds: users, CA certificates, /tmp, nsswitch."""
    for folder in ("/etc", "/etc/ssl", "/etc/ssl/certs", "/var", "/var/run", "/home"):
        recipe.directory(folder)
    recipe.directory("/tmp", 0o1777)
    recipe.directory(home, 0o755, uid, uid)
    recipe.text("/etc/passwd", f"root:x:0:0:root:/root:/sbin/nologin\n{user}:x:{uid}:{uid}:{user}:{home}:/sbin/nologin\n")
    recipe.text("/etc/group", f"root:x:0:\n{user}:x:{uid}:\n")
    recipe.text("/etc/nsswitch.conf", _NSSWITCH)
    recipe.file("/etc/ssl/certs/ca-certificates.crt", HOST_CA_BUNDLE, 0o644)


def pause_recipe() -> Recipe:
    source = module_file("k8s.io/kubernetes", pinned_versions()["KUBERNETES_VERSION"], "build/pause/linux/pause.c")
    binary = cluster_bin().parent / f"pause-{pinned_versions()['KUBERNETES_VERSION']}"
    if not binary.exists():
        partial = binary.with_suffix(".partial")
        subprocess.run(["gcc", "-static", "-Os", "-DVERSION=3.10", "-o", str(partial), str(source)], check=True)
        subprocess.run(["strip", str(partial)], check=True)
        partial.rename(binary)
    recipe = Recipe("cluster-pause", PAUSE_IMAGE, {"User": "65535:65535", "Entrypoint": ["/pause"]})
    recipe.file("/pause", binary, 0o755)
    return recipe


def busybox_recipe() -> Recipe:
    recipe = Recipe("cluster-busybox", BUSYBOX_IMAGE, {"Env": [f"PATH={_PATH}"], "Cmd": ["sh"]})
    _base(recipe, "nonroot", 65532, "/home/nonroot")
    recipe.directory("/bin")
    recipe.file("/bin/busybox", HOST_BUSYBOX, 0o755)
    applets = subprocess.run([str(HOST_BUSYBOX), "--list"], capture_output=True, text=True, check=True).stdout.split()
    for applet in applets:
        if applet != "busybox":
            recipe.symlink(f"/bin/{applet}", "busybox")
    return recipe


def registry_recipe() -> Recipe:
    config = "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /var/lib/registry\nhttp:\n  addr: :5000\n"
    recipe = Recipe("cluster-registry", REGISTRY_IMAGE, {"Env": [f"PATH={_PATH}"], "ExposedPorts": {"5000/tcp": {}},
                    "Entrypoint": ["/bin/registry", "serve", "/etc/docker/registry/config.yml"]})  # fmt: skip
    _base(recipe, "nonroot", 65532, "/home/nonroot")
    for folder in ("/bin", "/etc/docker", "/etc/docker/registry", "/var/lib", "/var/lib/registry"):
        recipe.directory(folder)
    recipe.binary_with_libraries("/bin/registry", host_binary("/usr/bin/docker-registry", "docker-registry"), 0o755)
    recipe.text("/etc/docker/registry/config.yml", config)
    return recipe


def tekton_recipe(program: str) -> Recipe:
    recipe = Recipe(
        f"cluster-tekton-{program}",
        tekton_image(program),
        {"User": "65532", "Env": [f"PATH={_PATH}", "KO_DATA_PATH=/var/run/ko"], "Entrypoint": [f"/ko-app/{program}"]},
    )
    _base(recipe, "nonroot", 65532, "/home/nonroot")
    recipe.directory("/ko-app")
    recipe.directory("/var/run/ko")
    recipe.file(f"/ko-app/{program}", _built(program), 0o755)
    if program == "resolvers":  # its base is tektoncd/plumbing's tini-git (.ko.yaml): tini as /sbin/tini, git
        recipe.directory("/sbin")
        recipe.file("/sbin/tini", host_binary("/usr/bin/tini-static", "tini"), 0o755)
        _add_git(recipe)
    return recipe


def argo_recipe(name: str, program: str, *, root: bool = False) -> Recipe:
    config: dict[str, object] = {"Env": [f"PATH={_PATH}"], "Entrypoint": [program]}
    if not root:
        config["User"] = "8737"
    if name == "argocli":
        config["WorkingDir"] = "/home/argo"
    recipe = Recipe(f"cluster-argo-{name}", argo_image(name), config)
    _base(recipe, "argo", 8737, "/home/argo")
    recipe.directory("/bin")
    recipe.file(f"/bin/{program}", _built(program), 0o755)
    return recipe


def cluster_recipes() -> list[Recipe]:
    return [
        pause_recipe(),
        busybox_recipe(),
        registry_recipe(),
        *(tekton_recipe(program) for program in TEKTON_PROGRAMS),
        argo_recipe("workflow-controller", "workflow-controller"),
        argo_recipe("argocli", "argo"),
        argo_recipe("argoexec", "argoexec", root=True),
    ]


def import_images(cluster: Cluster, log: Callable[[str], None] = print, trusted_ca: Path | None = None) -> list[str]:
    """Every image into the cluster's containerd (namespace ``k8s.io``, where the kubelet looks).

    Every image with a CA bundle trusts ``trusted_ca`` besides the system's CAs: the stand-ins for the
    hosts the catalog's files name (``registry.example.com``, Docker Hub, GitHub), which the builders
    and Tekton's git resolver reach without a CA setting, as a company's CA is baked into its images.

    A builder image's pinned reference carries upstream's digest, which an image made here cannot
    have; it is imported by name and tag, and that name is also given under the pinned
    ``name@digest`` so that a template's default ``builder-image`` resolves to it."""
    names = []
    for recipe in [*cluster_recipes(), *(make() for make in RECIPES)]:
        if trusted_ca is not None:
            recipe = _trusting(recipe, trusted_ca)
        image = ensure_image(recipe, log=log)
        tagged = _import(cluster, image.folder, image.reference)
        if "@" in image.reference:
            name, digest = image.reference.split("@", 1)
            cluster.ctr("images", "tag", "--force", tagged, name.rsplit(":", 1)[0] + "@" + digest)
        names.append(image.reference)
    log(f"images: {len(names)} imported into containerd")
    return names


def _trusting(recipe: Recipe, ca: Path) -> Recipe:
    """``recipe`` with ``ca`` added to each CA bundle it holds, under a name of its own."""
    bundles = [e for e in recipe.entries if e.path.endswith("/ca-certificates.crt") and e.source is not None]
    if not bundles:
        return recipe
    recipe = dataclasses.replace(recipe, name=f"{recipe.name}-trusting", entries=list(recipe.entries))
    for entry in bundles:
        assert entry.source is not None
        recipe.text(entry.path, entry.source.read_text() + ca.read_text(), entry.mode)
    return recipe


def _import(cluster: Cluster, folder: Path, reference: str) -> str:
    archive = oci_archive(folder)
    cluster.ctr("images", "import", str(archive))
    return reference.split("@", 1)[0]
