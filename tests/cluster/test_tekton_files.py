"""Every Task's ``samples/`` and ``tests/run.yaml`` on the cluster, applied as they are (``kubectl create
-f``), against the hosts they name (:mod:`cluster.conftest`: the stand-ins for ``github.com``,
``registry.example.com`` and Docker Hub).

* A sample fetches its Tasks with Tekton's git resolver from ``github.com/cachebuild/cachebuild.git`` at
  the release it names: the stand-in holds this checkout's ``tasks/`` at that tag. It builds the
  context the sample names from the claim it names, which the test makes (a user's).
* ``tests/run.yaml`` builds a git context and pushes to ``localhost:5000``: as the Tekton catalog's CI
  does (its ``add_sidecar_registry`` pre-apply hook), the Tasks it runs are installed, in a namespace
  of their own, with a registry sidecar (:data:`cluster.images.REGISTRY_IMAGE`).
"""

from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from cluster.conftest import EXAMPLES_HOST, GITHUB_HOST, POD_SECURITY, REPO, TASKS, Env, make_namespace, namespace
from cluster.images import REGISTRY_IMAGE
from cluster.runs import file_base_image, make_claim, wait_until_done, write_contexts
from e2e.gitserver import make_repository


def _unique(paths: list[Path]) -> list[Path]:
    """One path per content: kaniko-warm's and kaniko-build's sample are the same PipelineRun."""
    seen: dict[str, Path] = {}
    for path in paths:
        seen.setdefault(path.read_text(), path)
    return sorted(seen.values())


SAMPLES = _unique(sorted(REPO.glob("tasks/*/0.1/samples/*.yaml")))
RUNS = sorted(REPO.glob("tasks/*/0.1/tests/run.yaml"))


def _pipeline_tasks(run: dict[str, Any]) -> list[dict[str, Any]]:
    """A TaskRun's spec, or each task of a PipelineRun's ``pipelineSpec``: ``taskRef`` and ``params``."""
    return run["spec"]["pipelineSpec"]["tasks"] if run["kind"] == "PipelineRun" else [run["spec"]]


def _params(task: dict[str, Any]) -> dict[str, Any]:
    """``params`` (of a task, or of a resolver's ``taskRef``) by name."""
    return {p["name"]: p["value"] for p in task.get("params") or []}


def _task_name(task: dict[str, Any]) -> str:
    ref = task["taskRef"]
    if ref.get("resolver") == "git":
        return str(_params(ref)["pathInRepo"].split("/")[1])
    return str(ref["name"])


def _builder(run: dict[str, Any]) -> str:
    (builder,) = {_task_name(task).split("-", 1)[0] for task in _pipeline_tasks(run)}
    return builder


def _base(env: Env, run: dict[str, Any]) -> str:
    warmed = [image for task in _pipeline_tasks(run) for image in _params(task).get("WARM_IMAGES", [])]
    return file_base_image(env, _builder(run), warmed)


def _publish_tasks(env: Env, tasks: list[dict[str, Any]], folder: Path) -> set[str]:
    """The repositories the git resolver fetches Tasks from, with this checkout's ``tasks/`` at the
    revision each names."""
    revisions: dict[str, set[str]] = {}
    for task in tasks:
        ref = task["taskRef"]
        if ref.get("resolver") != "git":
            continue
        params = _params(ref)
        assert params["url"].startswith(f"https://{GITHUB_HOST}/"), params
        revisions.setdefault(params["url"].removeprefix(f"https://{GITHUB_HOST}/"), set()).add(params["revision"])
    for path, tags in revisions.items():
        shutil.copytree(REPO / "tasks", folder / path / "tasks")
        make_repository(env.github.root, path, folder / path, ("main",), tuple(sorted(tags)))
    return set(revisions)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: str(p.relative_to(REPO / "tasks")))
def test_sample_runs_as_it_is(env: Env, sample: Path, tmp_path: Path) -> None:
    run = yaml.safe_load(sample.read_text())
    ns = namespace(_builder(run))
    tasks = _pipeline_tasks(run)
    fetched = _publish_tasks(env, tasks, tmp_path / "github")
    assert fetched, f"{sample}: fetches no Task with the git resolver"
    (claim,) = {w["persistentVolumeClaim"]["claimName"] for w in run["spec"]["workspaces"] if "persistentVolumeClaim" in w}
    workspace = make_claim(env, ns, claim)
    contexts = [_params(task)["CONTEXT"] for task in tasks if "CONTEXT" in _params(task)]
    write_contexts(env, contexts, _base(env, run), tmp_path / "contexts", workspace)
    name = env.cluster.kubectl("create", "-n", ns, "-f", str(sample), "-o", "name").strip()
    status = wait_until_done(env, ns, name)
    (image,) = {_params(task)["IMAGE"] for task in tasks if "IMAGE" in _params(task)}
    repository, tag = image.removeprefix(f"{EXAMPLES_HOST}/").rsplit(":", 1)
    _, digest = env.examples.manifest(repository, tag)
    (result,) = [i for i in status.images if i.url]
    assert (result.url, result.digest) == (image, digest), f"{name} says {result}, the registry has {digest}"
    for path in fetched:  # the Tasks came through Tekton's git resolver, from the stand-in
        assert f"POST /{path}/git-upload-pack" in env.github.log(), env.github.log()[-2000:]


def _with_registry_sidecar(task: dict[str, Any]) -> dict[str, Any]:
    """The Task as the Tekton catalog's tests install it: with a registry on localhost:5000 beside its steps
    (here with a readiness probe, so that no step starts before the registry answers)."""
    task = copy.deepcopy(task)
    task["spec"].setdefault("sidecars", []).append({
        "name": "registry", "image": REGISTRY_IMAGE,
        "readinessProbe": {"httpGet": {"path": "/v2/", "port": 5000}, "periodSeconds": 1},
    })  # fmt: skip
    return task


@pytest.fixture(scope="module")
def sidecar_namespaces(env: Env) -> dict[str, str]:
    """Per builder, a namespace at its README's Pod Security level with every Task, registry sidecar added."""
    made = {}
    for builder, level in POD_SECURITY.items():
        ns = f"{namespace(builder)}-tests"
        make_namespace(env.cluster, ns, level)
        tasks = [_with_registry_sidecar(yaml.safe_load((REPO / "tasks" / t / "0.1" / f"{t}.yaml").read_text())) for t in TASKS]
        env.cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": tasks}))
        made[builder] = ns
    return made


@pytest.mark.parametrize("run_file", RUNS, ids=lambda p: p.parts[-4])
def test_run_yaml_runs_as_it_is(env: Env, sidecar_namespaces: dict[str, str], run_file: Path, tmp_path: Path) -> None:
    run = yaml.safe_load(run_file.read_text())
    ns = sidecar_namespaces[_builder(run)]
    tasks = _pipeline_tasks(run)
    contexts = [_params(task)["CONTEXT"] for task in tasks if "CONTEXT" in _params(task)]
    assert contexts and all(c.startswith(f"https://{GITHUB_HOST}/") for c in contexts), contexts
    repositories = write_contexts(env, contexts, _base(env, run), tmp_path / "github")
    name = env.cluster.kubectl("create", "-n", ns, "-f", str(run_file), "-o", "name").strip()
    status = wait_until_done(env, ns, name)
    (image,) = {_params(task)["IMAGE"] for task in tasks if "IMAGE" in _params(task)}
    (result,) = [i for i in status.images if i.url]
    assert result.url == image, result
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", result.digest), result  # the sidecar registry's, gone with the pod
    for path in repositories:
        assert f"POST /{path}/git-upload-pack" in env.github.log(), env.github.log()[-2000:]
