"""How the cluster tier runs a build, as a user would: ``cachebuild submit --wait``, or ``cachebuild
workflow … | kubectl create -f -`` watched with kubectl; and what it shows when one fails."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cachebuild.submit import argo as argo_submit
from cachebuild.submit import tekton as tekton_submit
from cachebuild.submit.common import BuildStatus
from cluster.conftest import CA_CONFIG_MAP, DOCKER_SECRET, GITHUB_HOST, SOURCE_CLAIM, Env, claim_folder, namespace
from e2e import raw
from e2e.gitserver import make_repository
from e2e.registries import TestRegistry

SUBMIT_TIMEOUT = 900


def _spec_args(builder: str, registry: TestRegistry, repository: str, context: str) -> list[str]:
    """The build, as flags of ``cachebuild submit`` and ``cachebuild workflow``."""
    args = [
        "--engine",
        builder,
        "--image",
        f"{registry.address}/{repository}:1",
        "--context",
        context,
        "--workspace-pvc",
        SOURCE_CLAIM,
    ]
    if registry.tls:
        args += ["--registry-ca", CA_CONFIG_MAP, "--docker-config-secret", DOCKER_SECRET]
    else:
        args += ["--insecure-registry", registry.address]
    if builder == "kaniko":
        args += ["--warm-image", raw.base_image(registry, builder)]
    return args


def control_plane_args(env: Env, engine: str) -> list[str]:
    """How ``cachebuild submit`` reaches the cluster: the Argo Server (the admin token; it serves a
    self-signed certificate), or the kube-apiserver through the admin kubeconfig."""
    if engine == "argo":
        return ["--argo-server", env.argo_server, "--token", env.cluster.tokens["admin"], "--insecure-skip-verify"]
    return ["--kubeconfig", str(env.cluster.kubeconfig)]


def run_submit(env: Env, engine: str, ns: str, build_args: list[str], timeout: float = SUBMIT_TIMEOUT) -> tuple[int, Any, str]:
    """``cachebuild submit --wait --output json`` of ``build_args`` into ``ns``: exit code, the JSON it
    printed (one result per build, or ``{"error": ...}``), its stderr."""
    args = [sys.executable, "-m", "cachebuild", "submit", "--on", engine, "--namespace", ns, *build_args,
            "--wait", "--timeout", str(int(timeout)), "--output", "json", *control_plane_args(env, engine)]  # fmt: skip
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout + 120, check=False)
    try:
        return done.returncode, json.loads(done.stdout), done.stderr
    except json.JSONDecodeError:
        raise AssertionError(f"submit printed no JSON (exit {done.returncode}):\n{done.stdout}\n{done.stderr}") from None


def submit(env: Env, engine: str, builder: str, registry: TestRegistry, repository: str, context: str) -> dict[str, Any]:
    """A build by ``cachebuild submit --wait``, which must succeed: its result as submit prints it."""
    ns = namespace(builder)
    code, printed, stderr = run_submit(env, engine, ns, _spec_args(builder, registry, repository, context))
    if code != 0 or not isinstance(printed, list) or len(printed) != 1 or not printed[0]["succeeded"]:
        raise AssertionError(f"submit exited {code}:\n{json.dumps(printed, indent=1)}\n{stderr}\n{diagnose(env, ns)}")
    result: dict[str, Any] = printed[0]
    return result


def kubectl_create(env: Env, engine: str, builder: str, registry: TestRegistry, repository: str, context: str) -> dict[str, Any]:
    """``cachebuild workflow … | kubectl create -f -``, then the object watched with kubectl until done;
    its status read by the code ``submit`` reads it with."""
    ns = namespace(builder)
    printed = subprocess.run(
        [sys.executable, "-m", "cachebuild", "workflow", "--on", engine, *_spec_args(builder, registry, repository, context)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    name = env.cluster.kubectl("create", "-n", ns, "-f", "-", "-o", "name", input=printed).strip()
    result: dict[str, Any] = wait_until_done(env, ns, name).to_dict()
    return result


def wait_until_done(env: Env, ns: str, name: str, timeout: float = SUBMIT_TIMEOUT) -> BuildStatus:
    """A Workflow, PipelineRun or TaskRun (``kind.group/name``, as ``kubectl create -o name`` prints it)
    watched with kubectl until done, which must succeed; its status read by the code ``submit`` reads
    it with."""
    deadline = time.monotonic() + timeout
    while not (status := build_status(env, ns, name)).done:
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} not done within {timeout:.0f}s: {status}\n{diagnose(env, ns)}")
        time.sleep(2)
    if not status.succeeded:
        raise AssertionError(f"{name} {status.phase}: {status.message}\n{diagnose(env, ns)}")
    return status


def build_status(env: Env, ns: str, name: str) -> BuildStatus:
    kind = name.split(".", 1)[0]
    if kind == "workflow":
        return argo_submit.workflow_status(env.cluster.get("-n", ns, name))

    class Kubectl:  # what TektonBuild asks its client for, answered by kubectl
        def get(self, plural: str, name: str) -> dict[str, Any]:
            return env.cluster.get(f"{plural}.tekton.dev", name, "-n", ns)

    build = tekton_submit.TektonBuild(Kubectl(), f"{kind}s", name.rsplit("/", 1)[1])  # type: ignore[arg-type]
    return build.status()


def make_claim(env: Env, ns: str, claim: str, size: str = "1Gi") -> Path:
    """A claim a file names and expects the user to have made (``kaniko-cache``, ``app-source``): its host folder."""
    env.cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": claim},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}},
    }))  # fmt: skip
    return claim_folder(env.cluster, ns, claim)


def file_base_image(env: Env, builder: str, warmed: list[str]) -> str:
    """The base image of the contexts the test writes for one of the catalog's files: the last image the
    file warms (its kaniko build starts from a warmed image), else ours in the stand-in registry."""
    return warmed[-1] if warmed else raw.base_image(env.examples, builder)


def write_contexts(env: Env, contexts: list[str], base: str, folder: Path, workspace: Path | None = None) -> set[str]:
    """Each build context with the test build (:func:`e2e.raw.write_context`) on ``base``, as the user
    would have it: a path in the ``workspace`` folder (a claim's), or a git context
    (``https://github.com/org/name.git#ref:subdir``) as a repository on the GitHub stand-in with the
    branch or tag it names (files made in ``folder``). Returns the repositories made (``org/name.git``)."""
    repositories: dict[str, set[str]] = {}
    for context in contexts:
        if "://" not in context:
            assert workspace is not None, f"{context}: a path, and no workspace to write it in"
            raw.write_context(workspace / context, base)
            continue
        url, _, fragment = context.partition("#")
        ref, _, subdir = fragment.partition(":")
        assert url.startswith(f"https://{GITHUB_HOST}/"), f"{context}: no stand-in answers for its host"
        path = url.removeprefix(f"https://{GITHUB_HOST}/")
        raw.write_context(folder / path / subdir, base)
        repositories.setdefault(path, set()).add(ref or "main")
    for path, refs in repositories.items():
        tags = tuple(sorted(r for r in refs if re.fullmatch(r"v[0-9][0-9A-Za-z.-]*", r)))
        branches = tuple(sorted(refs - set(tags))) or ("main",)
        make_repository(env.github.root, path, folder / path, branches, tags)
    return set(repositories)


def diagnose(env: Env, ns: str) -> str:
    """What a user would look at: the pods, their events, the last lines of each container."""
    cluster = env.cluster
    parts = [cluster.kubectl("get", "pods", "-n", ns, "-o", "wide", check=False)]
    parts.append(cluster.kubectl("get", "events", "-n", ns, "--sort-by=.lastTimestamp", check=False)[-4000:])
    for pod in cluster.get("pods", "-n", ns)["items"]:
        if pod["status"].get("phase") in ("Failed",) or any(
            (s.get("state", {}).get("terminated") or {}).get("exitCode", 0) != 0
            for s in pod["status"].get("containerStatuses") or []
        ):
            name = pod["metadata"]["name"]
            parts.append(f"--- {name}\n" + cluster.kubectl("logs", "-n", ns, name, "--all-containers", "--tail=40", check=False))
    return "\n".join(parts)
