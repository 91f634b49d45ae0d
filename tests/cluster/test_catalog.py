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
import time

import pytest

from cluster.conftest import POD_SECURITY, SOURCE_CLAIM, TASKS, Env, namespace
from cluster.runs import kubectl_create, run_submit, submit
from e2e import raw
from e2e.conftest import record_row
from e2e.registries import TestRegistry

BUILDERS = ["buildkit", "kaniko", "buildah"]
ENGINES = ["argo", "tekton"]
MODES = ["http", "tls"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("builder", BUILDERS)
def test_task_cold_by_submit_then_warm_by_kubectl(env: Env, builder: str, engine: str, mode: str) -> None:
    registry = env.registry(mode)
    repository = f"cluster/{engine}-{builder}-{mode}"
    context = f"{engine}-{mode}/app"
    folder = env.sources[namespace(builder)] / context
    shutil.rmtree(folder, ignore_errors=True)
    raw.write_context(folder, raw.base_image(registry, builder))
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
    build = ["--engine", "buildkit", "--image", f"{registry.address}/cluster/refused:1", "--context", "refused/app",
             "--workspace-pvc", SOURCE_CLAIM, "--insecure-registry", registry.address]  # fmt: skip
    code, printed, stderr = run_submit(env, engine, ns, build, timeout=300)
    assert code == 1, (printed, stderr)
    (result,) = printed
    text = json.dumps(result)
    assert 'violates PodSecurity \\"baseline:latest\\"' in text, text
    assert "seccompProfile" in text, text
    assert registry.tags("cluster/refused") == []
