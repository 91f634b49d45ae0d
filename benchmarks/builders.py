"""Benchmark: each builder through cachebuild's real template pod vs the raw tool with its plain recipe.

Run as root from the repository root, after ``bash scripts/setup.sh``:
``python3 benchmarks/builders.py [--runs 3] [--seconds 5] [--builder buildkit ...]``.

Two workloads, each in a build context of its own:

* ``steps`` — a slow RUN, a COPY, a slow RUN (``tests/e2e/raw.py``'s Dockerfile; ``--seconds`` is
  how long each RUN sleeps); the change edits the copied file, so only the last RUN runs again;
* ``examples`` — this repository's ``examples/`` (its FROM pointed at the test registry's base
  image); the change edits ``src/main.sh``, so the steps from ``COPY src/`` run again.

For each builder, workload and run (a new repository each run, so the cold build is cold):
``cold`` (empty cache), ``warm`` (a new pod with empty builder state, the remote cache filled),
``change`` (a new pod, a one-file change). cachebuild is the builder's Argo WorkflowTemplate turned
into its Pod by Argo's own code (``argo-check pod``, kaniko-build without a warm step); raw is the
plain recipe (``tests/e2e/raw.py``): buildctl ``--export-cache type=registry,ref=R/cache:buildcache,mode=max
--import-cache type=registry,ref=R/cache:buildcache``, kaniko ``--cache=true --cache-repo=R --cache-dir=/cache``,
buildah ``--layers --cache-from R --cache-to R``. Both run in the same pod runner against the same
registry (plain HTTP by name) and take turns build by build. Printed: the median wall time of each
pod run, and cachebuild/raw.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "python"), str(ROOT / "tests")]

from cachebuild import BuildSpec  # noqa: E402
from e2e import raw, tasks  # noqa: E402
from e2e.images import ensure_images  # noqa: E402
from e2e.pods import Node, run_pod  # noqa: E402
from e2e.registries import TestRegistry, registries  # noqa: E402

BUILDERS = ("buildkit", "kaniko", "buildah")
WORKLOADS = ("steps", "examples")
SCENARIOS = ("cold", "warm", "change")


def _context(workload: str, folder: Path, base: str, seconds: int) -> Path:
    if workload == "steps":
        return raw.write_context(folder, base, seconds=seconds)
    shutil.copytree(ROOT / "examples", folder)
    dockerfile = folder / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("ARG BASE=docker.io/library/busybox:1.36", f"ARG BASE={base}"))
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)  # readable by BuildKit's uid 1000
    return folder


def _change(workload: str, context: Path) -> None:
    if workload == "steps":
        (context / "file.txt").write_text("v2\n")
    else:
        main = context / "src" / "main.sh"
        main.write_text(main.read_text() + "# a one-line change\n")


def _cachebuild(
    builder: str, registry: TestRegistry, repository: str, images: dict[str, Path], source: Path, work: Path
) -> float:
    spec = BuildSpec(
        f"{registry.address}/{repository}:1",
        context="app",
        workspace_pvc="source",
        cache_repo=f"{registry.address}/{repository}/cache",
        insecure_registries=[registry.address],
    )
    run = tasks.argo_run(spec, builder, registry, tasks.node_for(registry, images, source, work), work)
    return run.seconds


def _raw(builder: str, registry: TestRegistry, repository: str, images: dict[str, Path], context: Path, work: Path) -> float:
    image = f"{registry.address}/{repository}:1"
    name = f"raw-{builder}"
    if builder == "buildkit":
        build = raw.buildkit_build(name, registry, image, raw.buildkit_cache_ref(registry, repository))
    elif builder == "kaniko":
        build = raw.kaniko_build(name, registry, image, f"{registry.address}/{repository}/cache")
    else:
        build = raw.buildah_build(name, registry, image, f"{registry.address}/{repository}/cache")
    node = Node(images, claims={raw.SOURCE_CLAIM: context}, secrets=build.secrets, config_maps=build.config_maps, work_dir=work)
    start = time.monotonic()
    result = run_pod(build.pod, node, timeout=tasks.POD_TIMEOUT)
    seconds = time.monotonic() - start
    if result.phase != "Succeeded":
        log = "".join(c.log for c in result.containers.values())
        raise SystemExit(f"raw {builder} failed: {result.message}\n{log[-3000:]}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per builder and workload (default 3)")
    parser.add_argument("--seconds", type=int, default=5, help="how long each slow RUN of the steps workload sleeps")
    parser.add_argument("--builder", action="append", choices=BUILDERS, help="only these builders (repeatable)")
    parser.add_argument("--workload", action="append", choices=WORKLOADS, help="only these workloads (repeatable)")
    args = parser.parse_args()
    builders = args.builder or list(BUILDERS)
    workloads = args.workload or list(WORKLOADS)
    images = ensure_images()
    times: dict[tuple[str, str, str, str], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="cachebuild-bench-") as tmp, registries(Path(tmp) / "registries") as (http, _):
        base = http.push_base_image()
        docker_base = http.push_base_image("cachebuild/busybox-docker", media="docker")  # kaniko v1.24.0 (kaniko#2423)
        for run in range(args.runs):
            for builder in builders:
                for workload in workloads:
                    for who in ("cachebuild", "raw") if run % 2 == 0 else ("raw", "cachebuild"):
                        folder = Path(tmp) / f"{run}-{builder}-{workload}-{who}"
                        source = folder / "source"
                        context = _context(workload, source / "app", docker_base if builder == "kaniko" else base, args.seconds)
                        repository = f"bench/{run}/{builder}/{workload}/{who}"
                        for scenario in SCENARIOS:
                            if scenario == "change":
                                _change(workload, context)
                            work = folder / scenario
                            if who == "cachebuild":
                                seconds = _cachebuild(builder, http, repository, images, source, work)
                            else:
                                seconds = _raw(builder, http, repository, images, context, work)
                            times.setdefault((builder, workload, scenario, who), []).append(seconds)
                            print(f"run {run + 1}/{args.runs} {builder:<8} {workload:<8} {scenario:<6} {who:<10} {seconds:6.1f}s",
                                  file=sys.stderr, flush=True)  # fmt: skip
                        shutil.rmtree(folder, ignore_errors=True)
    print(f"\nmedian of {args.runs} runs, seconds (each a pod run: a new pod, empty builder state)")
    print(f"{'builder':<9} {'workload':<9} {'scenario':<7} {'cachebuild':>10} {'raw':>7} {'ratio':>6}")
    for builder in builders:
        for workload in workloads:
            for scenario in SCENARIOS:
                ours = statistics.median(times[(builder, workload, scenario, "cachebuild")])
                theirs = statistics.median(times[(builder, workload, scenario, "raw")])
                print(f"{builder:<9} {workload:<9} {scenario:<7} {ours:>10.1f} {theirs:>7.1f} {ours / theirs:>6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
