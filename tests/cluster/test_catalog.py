"""The catalog on a real cluster: every task turned into Pods by the real controllers, admitted by Pod
Security at each README's level, run by the kubelet and containerd, against a registry on the host
over plain HTTP by name and over TLS with a private CA and credentials.

Each row: a cold build through ``cachebuild submit --wait`` (the real Argo Server for Argo, the real
kube-apiserver for Tekton), then the same build through ``cachebuild workflow | kubectl create -f -`` in
new pods, every step from the remote cache. The digest each returns is the registry's; the matrix table
closes the run.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
import time
from typing import Any

import pytest

from cachebuild.submit import argo as argo_submit
from cachebuild.submit import tekton as tekton_submit
from cachebuild.submit.common import BuildStatus
from cluster.conftest import CA_CONFIG_MAP, DOCKER_SECRET, POD_SECURITY, SOURCE_CLAIM, TASKS, Env, namespace
from e2e import raw
from e2e.conftest import record_row
from e2e.registries import TestRegistry

BUILDERS = ["buildkit", "kaniko", "buildah"]
ENGINES = ["argo", "tekton"]
MODES = ["http", "tls"]
SUBMIT_TIMEOUT = 900


def _base(registry: TestRegistry, builder: str) -> str:
    # upstream kaniko v1.24.0 cannot push an image built on a warmed OCI base (kaniko#2423)
    repository = "cachebuild/busybox-docker" if builder == "kaniko" else "cachebuild/busybox"
    return f"{registry.address}/{repository}:1"


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
        args += ["--warm-image", _base(registry, builder)]
    return args


def submit(env: Env, engine: str, builder: str, registry: TestRegistry, repository: str, context: str) -> dict[str, Any]:
    """``cachebuild submit --wait --output json``: what a user runs, the build's result as it prints it."""
    ns = namespace(builder)
    args = [sys.executable, "-m", "cachebuild", "submit", "--on", engine, "--namespace", ns,
            *_spec_args(builder, registry, repository, context),
            "--wait", "--timeout", str(SUBMIT_TIMEOUT), "--output", "json"]  # fmt: skip
    if engine == "argo":
        args += ["--argo-server", env.argo_server, "--token", env.cluster.tokens["admin"], "--insecure-skip-verify"]
    else:
        args += ["--kubeconfig", str(env.cluster.kubeconfig)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=SUBMIT_TIMEOUT + 120, check=False)
    try:
        printed = json.loads(done.stdout)  # one result per build submitted, or {"error": ...}
    except json.JSONDecodeError:
        raise AssertionError(f"submit printed no JSON (exit {done.returncode}):\n{done.stdout}\n{done.stderr}") from None
    if done.returncode != 0 or not isinstance(printed, list) or len(printed) != 1 or not printed[0]["succeeded"]:
        raise AssertionError(
            f"submit exited {done.returncode}:\n{json.dumps(printed, indent=1)}\n{done.stderr}\n{_diagnose(env, ns)}"
        )
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
    deadline = time.monotonic() + SUBMIT_TIMEOUT
    while True:
        obj = env.cluster.get("-n", ns, name)
        status = _argo_status(obj) if engine == "argo" else _tekton_status(env, ns, obj)
        if status.done:
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} not done within {SUBMIT_TIMEOUT}s: {status}\n{_diagnose(env, ns)}")
        time.sleep(2)
    if not status.succeeded:
        raise AssertionError(f"{name} {status.phase}: {status.message}\n{_diagnose(env, ns)}")
    result: dict[str, Any] = status.to_dict()
    return result


def _argo_status(workflow: dict[str, Any]) -> BuildStatus:
    return argo_submit.workflow_status(workflow)


def _tekton_status(env: Env, ns: str, run: dict[str, Any]) -> BuildStatus:
    class Kubectl:  # what TektonBuild asks its client for, answered by kubectl
        def get(self, plural: str, name: str) -> dict[str, Any]:
            return env.cluster.get(f"{plural}.tekton.dev", name, "-n", ns)

    build = tekton_submit.TektonBuild(Kubectl(), "pipelineruns", run["metadata"]["name"])  # type: ignore[arg-type]
    return build.status()


def _diagnose(env: Env, ns: str) -> str:
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


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("builder", BUILDERS)
def test_task_cold_by_submit_then_warm_by_kubectl(env: Env, builder: str, engine: str, mode: str) -> None:
    registry = env.registry(mode)
    repository = f"cluster/{engine}-{builder}-{mode}"
    context = f"{engine}-{mode}/app"
    folder = env.sources[namespace(builder)] / context
    shutil.rmtree(folder, ignore_errors=True)
    raw.write_context(folder, _base(registry, builder))
    row: dict[str, object] = {
        "task": {"kaniko": "kaniko-warm + kaniko-build"}.get(builder, f"{builder}-build"),
        "engine": engine,
        "mode": mode,
    }
    try:
        # cold: cachebuild submit --wait; warm: cachebuild workflow | kubectl create, in new pods
        for attempt, run in (("cold", submit), ("warm", kubectl_create)):
            start = time.monotonic()
            result = run(env, engine, builder, registry, repository, context)
            row[attempt] = time.monotonic() - start
            (image,) = [i for i in result["images"] if i["digest"]] or [None]
            assert image is not None, f"{attempt}: no digest in {result}"
            _, digest = registry.manifest(repository, "1")
            assert image["digest"] == digest, f"{attempt}: submit says {image['digest']}, the registry {digest}"
            assert image["url"] == f"{registry.address}/{repository}:1"
            hits = image["cache_hits"]
            if attempt == "cold":
                assert hits.startswith("0/"), hits
            else:  # kaniko caches COPY only with --cache-copy-layers
                assert hits == ("2/3" if builder == "kaniko" else "3/3"), hits
        _check_no_credentials(env, builder, registry)
        row["result"] = "PASS"
    finally:
        row.setdefault("result", "FAIL")
        row.setdefault("cold", None)
        row.setdefault("warm", None)
        record_row(row)


def _check_no_credentials(env: Env, builder: str, registry: TestRegistry) -> None:
    if registry.credentials is None:
        return
    user, password = registry.credentials
    secret = base64.b64encode(f"{user}:{password}".encode()).decode()
    ns = namespace(builder)
    for pod in env.cluster.get("pods", "-n", ns)["items"]:
        log = env.cluster.kubectl("logs", "-n", ns, pod["metadata"]["name"], "--all-containers", check=False)
        assert password not in log and secret not in log, f"a credential in the log of {pod['metadata']['name']}"


def test_the_catalog_is_installed_as_a_user_installs_it(env: Env) -> None:
    """``kubectl apply -k workflows/`` and ``kubectl apply -f`` of every Task, in every namespace."""
    for builder in POD_SECURITY:
        ns = namespace(builder)
        templates = {t["metadata"]["name"] for t in env.cluster.get("workflowtemplates", "-n", ns)["items"]}
        assert {"buildkit-build-v1", "kaniko-warm-v1", "kaniko-build-v1", "buildah-build-v1"} <= templates, templates
        installed = {t["metadata"]["name"] for t in env.cluster.get("tasks.tekton.dev", "-n", ns)["items"]}
        assert installed == set(TASKS), installed


@pytest.mark.parametrize("engine", ENGINES)
def test_pod_security_baseline_refuses_buildkit_as_its_readme_says(env: Env, engine: str) -> None:
    """buildkit-build's README: the namespace needs ``privileged`` (Unconfined seccomp and AppArmor);
    in a ``baseline`` namespace the API server's Pod Security admission refuses its pod."""
    ns = namespace("kaniko")  # baseline
    assert env.cluster.get("namespace", ns)["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "baseline"
    registry = env.http
    args = [
        sys.executable, "-m", "cachebuild", "submit", "--on", engine, "--engine", "buildkit", "--namespace", ns,
        "--image", f"{registry.address}/cluster/refused:1", "--context", "refused/app", "--workspace-pvc", SOURCE_CLAIM,
        "--insecure-registry", registry.address, "--wait", "--timeout", "300", "--output", "json",
    ]  # fmt: skip
    if engine == "argo":
        args += ["--argo-server", env.argo_server, "--token", env.cluster.tokens["admin"], "--insecure-skip-verify"]
    else:
        args += ["--kubeconfig", str(env.cluster.kubeconfig)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=420, check=False)
    assert done.returncode == 1, (done.stdout, done.stderr)
    (result,) = json.loads(done.stdout)
    text = json.dumps(result)
    assert 'violates PodSecurity \\"baseline:latest\\"' in text, text
    assert "seccompProfile" in text, text
    assert registry.tags("cluster/refused") == []
