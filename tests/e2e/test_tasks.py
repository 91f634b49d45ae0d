"""Every task of the catalog, run for real: buildkit-build; kaniko-warm then kaniko-build; buildah-build,
each through its Argo WorkflowTemplate and its Tekton Task, against a registry over plain HTTP
addressed by name and one over TLS with a CA of the test's own (trusted through the task's
registry-CA setting) and htpasswd credentials from a mounted Secret.

Each row: a cold build, a rebuild in new pods with empty builder state that takes every step from the
remote cache, and a one-file change that rebuilds only the steps after it. Checked: every tag is in
the registry, the digest output is the registry's digest of the pushed manifest, the cache is there,
which RUN steps ran, no credential in any log. BuildKit and buildah also build linux/amd64 +
linux/arm64 into one index. The matrix table closes the run (conftest).
"""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

import pytest

from cachebuild import BuildSpec
from cachebuild.tekton import pipelines
from cachebuild.tekton import tasks as tekton_tasks
from e2e import raw, tasks
from e2e.conftest import record_row
from e2e.registries import TestRegistry

BUILDERS = ["buildkit", "kaniko", "buildah"]
ENGINES = ["argo", "tekton"]
MODES = ["http", "tls"]


def _registry(pair: tuple[TestRegistry, TestRegistry], mode: str) -> TestRegistry:
    return pair[0] if mode == "http" else pair[1]


def _spec(engine: str, builder: str, registry: TestRegistry, repository: str, **extra: object) -> BuildSpec:
    images = [f"{registry.address}/{repository}:1"]
    if engine == "argo":
        images.append(f"{registry.address}/{repository}:latest")  # a Tekton build pushes one IMAGE
    fields: dict[str, object] = {
        "images": images,
        "context": "app",
        "workspace_pvc": "source",
        **tasks.registry_spec_fields(registry),
        **extra,
    }
    if builder == "kaniko":
        fields["warm_images"] = [raw.base_image(registry, builder)]  # the warm → build chain
    return BuildSpec(**fields)  # type: ignore[arg-type]


def _check_pushed(run: tasks.Run, spec: BuildSpec, registry: TestRegistry) -> None:
    for image in spec.images:
        repository, tag = image.removeprefix(registry.address + "/").rsplit(":", 1)
        _, digest = registry.manifest(repository, tag)
        assert run.digest == digest, f"{image}: the digest output {run.digest!r} is not the registry's {digest!r}"
    assert run.url == spec.images[0]


def _check_cache(builder: str, registry: TestRegistry, repository: str) -> None:
    tags = registry.tags(f"{repository}/cache")
    if builder == "buildkit":
        assert "buildcache" in tags, tags
    else:
        assert len(tags) >= 2, tags  # a cache image per RUN (kaniko) or per step (buildah)


def _check_no_credentials(run: tasks.Run, registry: TestRegistry) -> None:
    if registry.credentials is None:
        return
    user, password = registry.credentials
    secret = base64.b64encode(f"{user}:{password}".encode()).decode()
    for pod in run.pods:
        assert password not in pod.log and secret not in pod.log, f"a credential in the log of {pod.task}"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("builder", BUILDERS)
def test_task_cold_warm_and_one_file_change(
    builder: str, engine: str, mode: str, images: dict[str, Path], both_registries, tmp_path: Path
) -> None:
    registry = _registry(both_registries, mode)
    repository = f"e2e/{engine}-{builder}-{mode}"
    source = tmp_path / "source"
    context = raw.write_context(source / "app", raw.base_image(registry, builder))
    row = {"task": {"kaniko": "kaniko-warm + kaniko-build"}.get(builder, f"{builder}-build"), "engine": engine, "mode": mode}
    runs: dict[str, tasks.Run] = {}
    try:
        for attempt, expected_steps in (("cold", {"one", "two"}), ("warm", set()), ("change", {"two"})):
            if attempt == "change":
                (context / "file.txt").write_text("v2\n")
            spec = _spec(engine, builder, registry, repository)
            node = tasks.node_for(registry, images, source, tmp_path / attempt)
            run = tasks.run(engine, spec, builder, registry, node, tmp_path / attempt)
            runs[attempt] = run
            _check_pushed(run, spec, registry)
            _check_cache(builder, registry, repository)
            _check_no_credentials(run, registry)
            assert raw.steps_run(run.build.log) == expected_steps, f"{attempt}: RUN steps that ran"
            # the cache report (kaniko copies COPY again: it caches COPY only with --cache-copy-layers)
            hits = {"cold": "0/3", "warm": "2/3" if builder == "kaniko" else "3/3", "change": "1/3"}[attempt]
            assert run.cache_hits == hits and run.cache_report["hits"] == hits, run.cache_report
        row["result"] = "PASS"
    finally:
        row.setdefault("result", "FAIL")
        row["cold"] = runs["cold"].seconds if "cold" in runs else None
        row["warm"] = runs["warm"].seconds if "warm" in runs else None
        record_row(row)
        shutil.rmtree(tmp_path / "claims", ignore_errors=True)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("builder", ["buildkit", "buildah"])
def test_two_platforms_make_one_index(
    builder: str, engine: str, mode: str, images: dict[str, Path], both_registries, tmp_path: Path
) -> None:
    registry = _registry(both_registries, mode)
    repository = f"e2e/{engine}-{builder}-{mode}-multi"
    source = tmp_path / "source"
    raw.write_context(source / "app", raw.base_image(registry, builder))
    spec = _spec(engine, builder, registry, repository, platforms=["linux/amd64", "linux/arm64"])
    run = tasks.run(engine, spec, builder, registry, tasks.node_for(registry, images, source, tmp_path), tmp_path / "run")
    _check_pushed(run, spec, registry)
    assert registry.platforms(repository, "1") == ["linux/amd64", "linux/arm64"]


def test_kaniko_warm_takes_the_base_image_the_build_args_name(images: dict[str, Path], both_registries, tmp_path: Path):
    """kaniko-warm without WARM_IMAGES reads the Dockerfile's FROM with the build args applied by cachebuild
    (kaniko's warmer would apply the ARG default over them and warm an image that is not even there)."""
    registry = _registry(both_registries, "http")
    base = raw.base_image(registry, "kaniko")
    source = tmp_path / "source"
    (source / "app").mkdir(parents=True)
    (source / "app" / "Dockerfile").write_text(f"ARG BASE={registry.address}/cachebuild/not-there:1\nFROM ${{BASE}}\n")
    spec = BuildSpec(
        f"{registry.address}/e2e/warm:1", context="app", workspace_pvc="source", build_args={"BASE": base},
        **tasks.registry_spec_fields(registry),
    )  # fmt: skip
    task_run = pipelines.task_run(spec, tekton_tasks.KANIKO_WARM, pipelines.TaskOrigin("name"))
    # the cache in the source claim, as the library binds it (Tekton refuses a TaskRun bound to two claims)
    cache_binding = {"name": "cache", "persistentVolumeClaim": {"claimName": "source"}, "subPath": pipelines.CACHE_SUBPATH}
    task_run["spec"]["workspaces"].append(cache_binding)
    node = tasks.node_for(registry, images, source, tmp_path / "pods")
    run = tasks.tekton_task_run(task_run, "kaniko", registry, node, tmp_path / "run")
    cache = source / pipelines.CACHE_SUBPATH
    index, _ = registry.manifest("cachebuild/busybox-docker", "1")
    (amd64,) = [m["digest"] for m in index["manifests"] if m["platform"]["architecture"] == "amd64"]
    assert sorted(p.name for p in cache.iterdir()) == [amd64, f"{amd64}.json"], run.log


@pytest.mark.parametrize("builder", ["buildkit", "buildah"])
def test_the_cache_off_needs_no_cache_repository(builder: str, images: dict[str, Path], both_registries, tmp_path: Path):
    """A Tekton user's own TaskRun: CACHE=false and no CACHE_REPO builds and pushes, and writes no cache."""
    registry = _registry(both_registries, "http")
    repository = f"e2e/{builder}-no-cache"
    source = tmp_path / "source"
    raw.write_context(source / "app", raw.base_image(registry, builder))
    image = f"{registry.address}/{repository}:1"
    params = {"IMAGE": image, "CONTEXT": "app", "CACHE": "false", "INSECURE_REGISTRIES": [registry.address]}
    task_run = {
        "apiVersion": "tekton.dev/v1",
        "kind": "TaskRun",
        "spec": {
            "taskRef": {"name": f"{builder}-build"},
            "params": [{"name": k, "value": v} for k, v in params.items()],
            "workspaces": [{"name": "source", "persistentVolumeClaim": {"claimName": "source"}}],
        },
    }
    run = tasks.tekton_task_run(task_run, builder, registry, tasks.node_for(registry, images, source, tmp_path), tmp_path / "run")
    assert run.digest == registry.manifest(repository, "1")[1]
    assert registry.tags(f"{repository}/cache") == []
