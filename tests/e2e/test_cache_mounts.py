"""``RUN --mount=type=cache`` directories that outlive the pod (``cache_mounts_pvc``), with the real
BuildKit and buildah through their templates: a second build in a new pod finds what the first left in
the cache mount, and without the claim it finds nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from cachebuild import BuildSpec
from e2e import tasks

# The first build's BUILD stays in the cache mount; every build copies what it finds into /seen.
DOCKERFILE = """\
FROM {base}
ARG BUILD
RUN --mount=type=cache,target=/var/cache/app sh -c \\
    '[ -f /var/cache/app/first ] || echo "$BUILD" > /var/cache/app/first; cp /var/cache/app/first /seen'
"""


def _build(engine, builder, registry, images, source: Path, work: Path, repository: str, build: str, **fields):
    spec = BuildSpec(
        f"{registry.address}/{repository}:{build}",
        context="app",
        workspace_pvc="source",
        insecure_registries=[registry.address],
        build_args={"BUILD": build},
        **fields,
    )
    node = tasks.node_for(registry, images, source, work)
    return tasks.run(engine, spec, builder, registry, node, work)


@pytest.mark.parametrize("engine", ["argo", "tekton"])
@pytest.mark.parametrize("builder", ["buildkit", "buildah"])
def test_cache_mounts_outlive_the_pod_on_the_claim(builder, engine, images, both_registries, tmp_path):
    registry = both_registries[0]
    source = tmp_path / "source"
    (source / "app").mkdir(parents=True)
    (source / "app" / "Dockerfile").write_text(DOCKERFILE.format(base=f"{registry.address}/cachebuild/busybox:1"))
    source.chmod(0o777)  # a claim BuildKit's uid 1000 can write to (its state goes in .cachebuild/buildkit)
    (source / "app").chmod(0o755)
    repository = f"mounts/{engine}-{builder}"

    # The source claim keeps them (Tekton: one PVC per TaskRun, so the workspace's own claim).
    kept = {"cache_mounts_pvc": "source"}
    _build(engine, builder, registry, images, source, tmp_path / "first", repository, "first", **kept)
    _build(engine, builder, registry, images, source, tmp_path / "second", repository, "second", **kept)
    assert registry.image_file(repository, "second", "/seen") == b"first\n", "the second pod found the first's cache mount"
    state = source / (".cachebuild/buildkit" if builder == "buildkit" else ".cachebuild/buildah")
    assert state.is_dir() and any(state.iterdir()), f"the cache mounts live in {state.relative_to(source)} of the claim"

    # Without the claim each pod starts with empty cache mounts.
    _build(engine, builder, registry, images, source, tmp_path / "third", repository, "third")
    assert registry.image_file(repository, "third", "/seen") == b"third\n"
