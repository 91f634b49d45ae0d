"""Tekton Pipelines and Argo Workflows installed on the cluster from their release manifests' content.

Neither release file can be downloaded here, so each is made as its release process makes it, from the
module source the Go module proxy serves:

* Tekton's ``release.yaml`` is ``ko resolve -f config/`` (with ``config/resolvers/``): the same files in
  the same order, each ``ko://github.com/tektoncd/pipeline/cmd/<program>`` replaced by the image made
  here for that program (:func:`cluster.images.tekton_image`), and the shell image by the busybox made
  here.
* Argo's ``install.yaml`` is ``kustomize build manifests/cluster-install`` with the images' ``:latest``
  set to the release's tag (the release Makefile's ``sed``); kubectl's kustomize builds it.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from e2e.images import pinned_versions

from .images import BUSYBOX_IMAGE, tekton_image
from .node import Cluster, ClusterError, program


def module_dir(module: str, version: str) -> Path:
    done = subprocess.run(
        ["go", "mod", "download", "-json", f"{module}@{version}"], capture_output=True, text=True, check=False, cwd="/"
    )
    match = re.search(r'"Dir": "([^"]+)"', done.stdout)
    if done.returncode != 0 or match is None:
        raise ClusterError(f"go mod download {module}@{version} failed: {done.stderr[-800:]}{done.stdout[-800:]}")
    return Path(match.group(1))


def tekton_release() -> str:
    """Tekton Pipelines' release.yaml at the newest pinned version, with the images made here."""
    version = pinned_versions()["TEKTON_NEWEST_VERSION"]
    config = module_dir("github.com/tektoncd/pipeline", version) / "config"
    documents = []
    for path in sorted(config.rglob("*.yaml")):
        text = path.read_text()
        text = re.sub(r"ko://github\.com/tektoncd/pipeline/cmd/([a-z]+)", lambda m: tekton_image(m.group(1)), text)
        text = re.sub(r"cgr\.dev/chainguard/busybox@sha256:[0-9a-f]{64}", BUSYBOX_IMAGE, text)
        text = text.replace('app.kubernetes.io/version: "devel"', f'app.kubernetes.io/version: "{version}"')
        text = text.replace('pipeline.tekton.dev/release: "devel"', f'pipeline.tekton.dev/release: "{version}"')
        documents.append(f"# Source: {path.relative_to(config.parent)}\n{text.strip()}\n")
    if "ko://" in "".join(documents):
        raise ClusterError("a ko:// reference is left in Tekton's config/: a program is missing from TEKTON_PROGRAMS")
    return "---\n".join(documents)


def argo_release() -> str:
    """Argo Workflows' install.yaml at the pinned v4 release, with the images made here."""
    version = pinned_versions()["ARGO_VERSION"]
    manifests = module_dir("github.com/argoproj/argo-workflows/v4", version) / "manifests"
    done = subprocess.run(
        [program("kubectl"), "kustomize", str(manifests / "cluster-install")], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise ClusterError(f"kubectl kustomize {manifests / 'cluster-install'} failed: {done.stderr[-1500:]}")
    return re.sub(r"(quay\.io/argoproj/[a-z-]+):latest", rf"\1:{version}", done.stdout)


def _wait_available(cluster: Cluster, namespace: str, seconds: float, log: Callable[[str], None]) -> None:
    deadline = time.monotonic() + seconds
    while True:
        deployments = cluster.get("deployments", "-n", namespace)["items"]
        waiting = [
            d["metadata"]["name"]
            for d in deployments
            if not any(c["type"] == "Available" and c["status"] == "True" for c in d.get("status", {}).get("conditions", []))
        ]
        if deployments and not waiting:
            return
        crashing = [
            p["metadata"]["name"]
            for p in cluster.get("pods", "-n", namespace)["items"]
            if any(s.get("restartCount", 0) >= 2 for s in p.get("status", {}).get("containerStatuses") or [])
        ]
        if crashing or time.monotonic() > deadline:
            pods = cluster.kubectl("get", "pods", "-n", namespace, "-o", "wide", check=False)
            events = cluster.kubectl("get", "events", "-n", namespace, "--sort-by=.lastTimestamp", check=False)
            logs = "".join(
                f"--- {name} (previous run)\n"
                + cluster.kubectl("logs", "-n", namespace, name, "--previous", "--tail=25", check=False)
                for name in crashing
            )
            why = f"pods restarting: {', '.join(crashing)}" if crashing else f"not Available within {seconds:.0f}s"
            raise ClusterError(f"deployments in {namespace} ({', '.join(waiting)}): {why}\n{pods}\n{logs}\n{events[-2500:]}")
        time.sleep(2)


def install_tekton(cluster: Cluster, log: Callable[[str], None] = print) -> None:
    log("install: Tekton Pipelines")
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=tekton_release())
    _wait_available(cluster, "tekton-pipelines", 300, log)
    _wait_available(cluster, "tekton-pipelines-resolvers", 300, log)


def install_argo(cluster: Cluster, log: Callable[[str], None] = print) -> None:
    log("install: Argo Workflows")
    cluster.kubectl("create", "namespace", "argo")
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-n", "argo", "-f", "-", input=argo_release())
    _wait_available(cluster, "argo", 300, log)
