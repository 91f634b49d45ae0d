"""The cache policy with the real builders, through their templates (tests/e2e/tasks.py): a branch's
first build takes main's cache, a read-only cache is never written, a cache that cannot be written
never fails the build."""

from __future__ import annotations

from pathlib import Path

import pytest

from cachebuild import BuildSpec
from e2e import raw, tasks
from e2e.registries import TestRegistry

UNREACHABLE = "127.0.0.1:1"  # nothing listens there: every push to it fails


def _setup(both_registries, builder: str, tmp_path: Path) -> tuple[TestRegistry, Path, Path]:
    registry = both_registries[0]  # plain HTTP by name
    repository = "cachebuild/busybox-docker" if builder == "kaniko" else "cachebuild/busybox"  # kaniko#2423
    source = tmp_path / "source"
    context = raw.write_context(source / "app", f"{registry.address}/{repository}:1")
    return registry, source, context


def _build(engine: str, builder: str, registry: TestRegistry, images, source: Path, work: Path, repository: str, **fields):
    spec = BuildSpec(
        f"{registry.address}/{repository}:1",
        context="app",
        workspace_pvc="source",
        insecure_registries=[registry.address, *fields.pop("insecure", [])],
        **fields,
    )
    return tasks.run(engine, spec, builder, registry, tasks.node_for(registry, images, source, work), work)


@pytest.mark.parametrize("engine", ["argo", "tekton"])
def test_buildkit_branch_cache_falls_back_to_main_and_never_overwrites_it(engine, images, both_registries, tmp_path):
    registry, source, _ = _setup(both_registries, "buildkit", tmp_path)
    repository = f"policy/{engine}-branch"
    _build(engine, "buildkit", registry, images, source, tmp_path / "main", repository)
    _, main_cache = registry.manifest(f"{repository}/cache", "buildcache")
    branch = _build(engine, "buildkit", registry, images, source, tmp_path / "branch", repository, cache_branch="feature/Login")
    assert raw.steps_run(branch.build.log) == set(), "the branch's first build takes every step from main's cache"
    assert registry.tags(f"{repository}/cache") == ["buildcache", "feature-Login"]
    assert registry.manifest(f"{repository}/cache", "buildcache")[1] == main_cache


@pytest.mark.parametrize("engine", ["argo", "tekton"])
def test_buildah_cache_from_chain_takes_the_second_when_the_first_is_empty(engine, images, both_registries, tmp_path):
    """A pull request's build: its own cache is empty, main's has every layer; it exports what it built.
    (buildah exports only the layers it built, not those it took from --cache-from.)"""
    registry, source, context = _setup(both_registries, "buildah", tmp_path)
    repository = f"policy/{engine}-chain"
    main = f"{registry.address}/{repository}/cache"
    _build(engine, "buildah", registry, images, source, tmp_path / "main", repository, cache_repo=main)
    main_tags = registry.tags(f"{repository}/cache")
    pr = f"{registry.address}/{repository}/pr-cache"
    (context / "file.txt").write_text("the pull request's change\n")
    run = _build(engine, "buildah", registry, images, source, tmp_path / "pr", repository, cache_from=[pr, main], cache_to=pr)
    assert raw.steps_run(run.build.log) == {"two"}, "the first RUN came from main's cache"
    assert registry.tags(f"{repository}/pr-cache"), "the layers it built went to cache_to"
    assert registry.tags(f"{repository}/cache") == main_tags, "main's cache is untouched"


@pytest.mark.parametrize("builder", ["buildkit", "kaniko", "buildah"])
def test_a_read_only_cache_is_read_and_never_written(builder, images, both_registries, tmp_path):
    registry, source, context = _setup(both_registries, builder, tmp_path)
    repository = f"policy/read-only-{builder}"
    _build("tekton", builder, registry, images, source, tmp_path / "cold", repository)
    tags = registry.tags(f"{repository}/cache")
    digests = {tag: registry.manifest(f"{repository}/cache", tag)[1] for tag in tags}
    (context / "file.txt").write_text("a change the cache never sees\n")
    run = _build("tekton", builder, registry, images, source, tmp_path / "read-only", repository, cache_read_only=True)
    assert raw.steps_run(run.build.log) == {"two"}, "the first RUN came from the cache"
    assert registry.tags(f"{repository}/cache") == tags
    assert {tag: registry.manifest(f"{repository}/cache", tag)[1] for tag in tags} == digests


@pytest.mark.parametrize("engine", ["argo", "tekton"])
@pytest.mark.parametrize("builder", ["buildkit", "kaniko", "buildah"])
def test_a_cache_that_cannot_be_written_does_not_fail_the_build(builder, engine, images, both_registries, tmp_path):
    registry, source, _ = _setup(both_registries, builder, tmp_path)
    repository = f"policy/{engine}-unwritable-{builder}"
    run = _build(
        engine, builder, registry, images, source, tmp_path / "run", repository,
        cache_repo=f"{UNREACHABLE}/cache", insecure=[UNREACHABLE],
    )  # fmt: skip
    assert run.digest == registry.manifest(repository, "1")[1], "the image is pushed"
    if builder == "buildah":
        assert f"cachebuild: warning: the cache was not written to {UNREACHABLE}/cache" in run.build.log


@pytest.mark.parametrize("builder", ["buildkit", "kaniko", "buildah"])
def test_the_launcher_in_the_builder_image_warns_of_cache_busters(builder, images, both_registries, tmp_path):
    """The warnings come from the awk of the real builder image (busybox's, Debian's), before the build."""
    from cachebuild.dockerfile import ADD_URL, COPY_BEFORE_INSTALL

    registry, source, context = _setup(both_registries, builder, tmp_path)
    base = (context / "Dockerfile").read_text().splitlines()[0]
    (context / "Dockerfile").write_text(
        f"{base}\nADD http://{registry.address}/v2/ /v2.json\nCOPY . /app\nRUN echo npm ci > /installed\n"
    )
    run = _build("tekton", builder, registry, images, source, tmp_path / "run", f"policy/busters-{builder}")
    assert run.digest == registry.manifest(f"policy/busters-{builder}", "1")[1], "a warning never stops the build"
    assert f"cachebuild: warning: Dockerfile line 2: ADD http://{registry.address}/v2/: {ADD_URL}\n" in run.build.log
    assert f"cachebuild: warning: Dockerfile line 3: COPY . before the dependency install on line 4: {COPY_BEFORE_INSTALL}\n" in (
        run.build.log
    )
