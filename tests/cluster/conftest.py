"""Fixtures of the cluster tier: one single-node cluster for the session (``cluster.node``), Tekton and
Argo installed from their release manifests' content (``cluster.install``), the catalog applied as a
user applies it, and the two registries of the end-to-end tier on the node's address.

The catalog's own files (``workflows/examples/``, ``tasks/*/0.1/samples/``, ``tests/run.yaml``) name
hosts on the internet, which these machines cannot reach; stand-ins answer for them, by name, as the
pods' DNS resolves them: ``registry.example.com`` and Docker Hub's registry hosts are one registry (TLS
on 443, a CA of the test's own baked into the images), ``github.com`` a git server (``git
http-backend`` over TLS on 443 of another address of this machine, the same CA) holding the
repositories they clone.

Each builder has its namespace, labelled with the Pod Security level its README states
(``pod-security.kubernetes.io/enforce``): the API server's Pod Security admission enforces it on every
pod the controllers make there. Needs root and what ``scripts/setup.sh`` and
``scripts/cluster-tools.sh`` install; a missing piece fails the session, it is never skipped. Not
collected by a plain ``pytest``: run ``bash scripts/cluster-e2e.sh``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cluster.images import import_images
from cluster.install import install_argo, install_tekton
from cluster.node import Cluster, ClusterError, running_cluster
from e2e.conftest import matrix_lines, pytest_terminal_summary  # noqa: F401 (the matrix at the end)
from e2e.gitserver import GitServer, GitServerError, start_git_server
from e2e.images import ImageError
from e2e.registries import TestRegistry, registries, start_registry

REPO = Path(__file__).resolve().parents[2]
TASKS = ("buildkit-build", "kaniko-warm", "kaniko-build", "buildah-build")
# The level each README states (tasks/*/0.1/README.md "Pod Security", workflows/README.md).
POD_SECURITY = {"buildkit": "privileged", "kaniko": "baseline", "buildah": "baseline"}
DOCKER_SECRET = "registry-credentials"  # noqa: S105 (a Secret's name)
CA_CONFIG_MAP = "registry-ca"
SOURCE_CLAIM = "source"
EXAMPLES_HOST = "registry.example.com"  # the registry workflows/examples/ and the samples push to
# Docker Hub as kaniko (go-containerregistry) and as buildah and BuildKit (containerd) reach docker.io.
DOCKER_HUB_HOSTS = ("index.docker.io", "registry-1.docker.io")
DOCKER_HUB_IMAGES = ("library/golang:1.23", "library/alpine:3.20", "library/python:3.12-slim")  # the files' base images
GITHUB_HOST = "github.com"
GITHUB_IP = "198.18.0.1"  # another address of this machine (RFC 2544's range): 443 of the node's is the registry's


def namespace(builder: str) -> str:
    return f"cachebuild-{builder}"


@dataclass
class Env:
    cluster: Cluster
    http: TestRegistry
    tls: TestRegistry
    examples: TestRegistry  # registry.example.com and Docker Hub's hosts: TLS on 443, its CA in the images
    github: GitServer  # github.com: the repositories the catalog's files clone
    argo_server: str  # https://<ClusterIP>:2746
    sources: dict[str, Path]  # namespace -> the host folder of its "source" claim

    def registry(self, mode: str) -> TestRegistry:
        return self.http if mode == "http" else self.tls


def _say(text: str) -> None:
    print(text, flush=True)


def claim_folder(cluster: Cluster, ns: str, claim: str, seconds: float = 60) -> Path:
    """The host folder of a bound claim (the host-path provisioner's PersistentVolume)."""
    deadline = time.monotonic() + seconds
    while True:
        pvc = cluster.get("pvc", claim, "-n", ns)
        if pvc.get("status", {}).get("phase") == "Bound":
            pv = cluster.get("pv", pvc["spec"]["volumeName"])
            folder = Path(pv["spec"]["hostPath"]["path"])
            folder.mkdir(parents=True, exist_ok=True)
            folder.chmod(0o777)
            return folder
        if time.monotonic() > deadline:
            raise ClusterError(f"claim {ns}/{claim} not Bound within {seconds:.0f}s: {pvc.get('status')}")
        time.sleep(1)


def make_namespace(cluster: Cluster, ns: str, level: str, seconds: float = 60) -> None:
    """A namespace whose pods Pod Security admission holds to ``level``, once it takes pods (its
    ``default`` ServiceAccount made by the controller manager)."""
    cluster.kubectl("create", "namespace", ns)
    cluster.kubectl("label", "namespace", ns, f"pod-security.kubernetes.io/enforce={level}",
                    f"pod-security.kubernetes.io/warn={level}")  # fmt: skip
    deadline = time.monotonic() + seconds
    while not cluster.kubectl("get", "serviceaccount", "default", "-n", ns, "--ignore-not-found", "-o", "name"):
        if time.monotonic() > deadline:
            raise ClusterError(f"namespace {ns}: no default ServiceAccount within {seconds:.0f}s")
        time.sleep(0.5)


def _prepare_namespace(cluster: Cluster, ns: str, level: str, tls: TestRegistry) -> Path:
    make_namespace(cluster, ns, level)
    # As a user installs the catalog: the WorkflowTemplates (kustomize) and every Task.
    cluster.kubectl("apply", "-n", ns, "-k", str(REPO / "workflows"))
    for task in TASKS:
        cluster.kubectl("apply", "-n", ns, "-f", str(REPO / "tasks" / task / "0.1" / f"{task}.yaml"))
    # What Argo's docs have every namespace that runs workflows grant its pods' ServiceAccount: the
    # executor reports outputs through WorkflowTaskResults.
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "argo-executor"},
             "rules": [{"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"], "verbs": ["create", "patch"]}]},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "argo-executor"},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "argo-executor"},
             "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": ns}]},
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": DOCKER_SECRET}, "type": "kubernetes.io/dockerconfigjson",
             "data": {".dockerconfigjson": base64.b64encode(tls.docker_config()).decode()}},
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": CA_CONFIG_MAP},
             "data": {"ca.crt": tls.ca_file.read_text() if tls.ca_file else ""}},
            {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": SOURCE_CLAIM},
             "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}},
        ],
    }))  # fmt: skip
    return claim_folder(cluster, ns, SOURCE_CLAIM)


@pytest.fixture(scope="session")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    if os.geteuid() != 0:
        pytest.fail("the cluster tier runs a kubelet, containerd and kube-proxy: run it as root")
    folder = Path(os.environ.get("CACHEBUILD_CLUSTER_DIR", "/var/lib/cachebuild/cluster"))
    start = time.monotonic()
    try:
        with (
            running_cluster(
                folder, log=_say, dns_names=(EXAMPLES_HOST, *DOCKER_HUB_HOSTS), more_hosts={GITHUB_HOST: GITHUB_IP}
            ) as cluster,
            registries(tmp_path_factory.mktemp("registries"), ip=cluster.node_ip) as (
                http,
                tls,
            ),
            contextlib.ExitStack() as stack,
        ):
            examples = start_registry(
                tmp_path_factory.mktemp("examples-registry"), tls=True, name="examples", ip=cluster.node_ip,
                host_name=EXAMPLES_HOST, port=443, auth=False, more_names=(*DOCKER_HUB_HOSTS, GITHUB_HOST),
            )  # fmt: skip
            stack.callback(examples.stop)
            for registry in (http, tls, examples):
                registry.push_base_image()
                registry.push_base_image("cachebuild/busybox-docker", media="docker")  # kaniko#2423
            for image in DOCKER_HUB_IMAGES:  # Docker-typed: kaniko warms them (kaniko#2423)
                examples.push_base_image(*image.split(":"), media="docker")
            assert examples.ca_file is not None
            github = start_git_server(tmp_path_factory.mktemp("github") / "repositories", GITHUB_HOST, GITHUB_IP, 443,
                                      examples.folder / "tls" / "server.crt", examples.folder / "tls" / "server.key")  # fmt: skip
            stack.callback(github.stop)
            import_images(cluster, log=_say, trusted_ca=examples.ca_file)
            install_tekton(cluster, log=_say)
            install_argo(cluster, log=_say)
            sources = {namespace(b): _prepare_namespace(cluster, namespace(b), level, tls) for b, level in POD_SECURITY.items()}
            service = cluster.get("service", "argo-server", "-n", "argo")
            argo_server = f"https://{service['spec']['clusterIP']}:2746"
            _say(f"cluster: ready in {time.monotonic() - start:.0f}s (Argo Server {argo_server})")
            yield Env(cluster, http, tls, examples, github, argo_server, sources)
    except (ClusterError, ImageError, GitServerError) as err:
        pytest.fail(str(err))
