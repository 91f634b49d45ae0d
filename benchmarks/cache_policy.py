"""Benchmark: what the cache policy costs and saves, per builder: cold, warm, fallback, skip.

Run as root from the repository root, after ``bash scripts/setup.sh``:
``python3 benchmarks/cache_policy.py [--runs 3] [--seconds 10] [--builder buildkit ...]``.

The workload is ``tests/e2e/raw.py``'s: a slow RUN (``--seconds``), a COPY, a slow RUN. Each builder
runs through its Argo WorkflowTemplate, turned into Pods by Argo's own code (``argo-check pod``) and
run by the e2e pod runner against a real registry (plain HTTP by name); ``local`` is ``cachebuild
build`` (buildah on this machine) in a new process against a registry on 127.0.0.1. Each run uses a
new repository, so the cold build is cold. Scenarios, each a new pod (or ``--fresh``) with empty
builder state:

* cold     — an empty cache;
* warm     — the same inputs, the cache the cold build exported;
* fallback — a branch's first build: its own cache is empty and main's (the cold build's) is next in
  line (BuildKit: ``cache_branch``; buildah and local: ``cache_from=[pr, main]``, ``cache_to=pr``);
  kaniko takes one cache repository, so it has none;
* skip     — ``skip_unchanged`` on unchanged inputs: only the local engine can (the builder images have
  no registry client to publish a manifest under another tag; the templates refuse it).

Printed: each build with its cache hits, then the median seconds per builder and scenario, and each
scenario over cold.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "python"), str(ROOT / "tests")]

from timed import cachebuild_build  # noqa: E402

from cachebuild import BuildSpec  # noqa: E402
from cachebuild.local import baseimage, cache_dir, registry  # noqa: E402
from cachebuild.local.distribution import Registry  # noqa: E402
from e2e import raw, tasks  # noqa: E402
from e2e.images import ensure_images  # noqa: E402
from e2e.registries import TestRegistry, registries  # noqa: E402

BUILDERS = ("buildkit", "kaniko", "buildah", "local")
SCENARIOS = ("cold", "warm", "fallback", "skip")
NOT_OFFERED = {
    ("kaniko", "fallback"): "one cache repository",
    ("buildkit", "skip"): "refused",
    ("kaniko", "skip"): "refused",
    ("buildah", "skip"): "refused",
}
_HITS = re.compile(r"^cache hits: (\d+/\d+)", re.M)


def _template_build(
    builder: str, scenario: str, http: TestRegistry, repository: str, images: dict[str, Path], source: Path, work: Path
) -> tuple[float, str]:
    main_cache = f"{http.address}/{repository}/cache"
    fields: dict[str, object] = {"cache_repo": main_cache}
    if scenario == "fallback" and builder == "buildkit":
        fields["cache_branch"] = "feature/bench"
    elif scenario == "fallback" and builder == "buildah":
        pr_cache = f"{http.address}/{repository}/pr-cache"
        fields |= {"cache_from": [pr_cache, main_cache], "cache_to": pr_cache}
    spec = BuildSpec(
        f"{http.address}/{repository}:{scenario}",
        context="app",
        workspace_pvc="source",
        insecure_registries=[http.address],
        **fields,  # type: ignore[arg-type]
    )
    run = tasks.argo_run(spec, builder, http, tasks.node_for(http, images, source, work), work)
    return run.seconds, run.cache_hits


def _local_build(scenario: str, address: str, repository: str, base: str, context: Path) -> tuple[float, str]:
    image = f"{address}/{repository}:{'cold' if scenario == 'skip' else scenario}"  # skip: the cold build's inputs again
    argv = [str(context), "-t", image, "--build-arg", f"BASE={base}", "--fresh"]
    main_cache = f"{address}/{repository}/cache"
    argv += ["--cache-repo", main_cache]
    if scenario == "fallback":  # buildah's: a chain of cache repositories (cache_branch is BuildKit's)
        pr_cache = f"{address}/{repository}/pr-cache"
        argv += ["--cache-from", pr_cache, "--cache-from", main_cache, "--cache-to", pr_cache]
    if scenario in ("cold", "skip"):
        argv.append("--skip-unchanged")  # the cold build records its inputs; skip finds them
    seconds, stdout = cachebuild_build(argv)
    hits = _HITS.search(stdout)
    return seconds, hits[1] if hits else ("unchanged" if "unchanged:" in stdout else "?")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per builder (default 3)")
    parser.add_argument("--seconds", type=int, default=10, help="how long each slow RUN sleeps (default 10)")
    parser.add_argument("--builder", action="append", choices=BUILDERS, help="only these builders (repeatable)")
    args = parser.parse_args()
    builders = args.builder or list(BUILDERS)
    images = ensure_images() if set(builders) - {"local"} else {}
    times: dict[tuple[str, str], list[float]] = {}
    cache_dir().mkdir(parents=True, exist_ok=True)
    local = registry.start("bench-policy", port=registry.free_port(), wipe=True)
    try:
        local_base = baseimage.push(Registry(local.address))
        with tempfile.TemporaryDirectory(prefix="cachebuild-bench-") as tmp, registries(Path(tmp) / "registries") as (http, _):
            base = http.push_base_image()
            docker_base = http.push_base_image("cachebuild/busybox-docker", media="docker")  # kaniko v1.24.0 (kaniko#2423)
            for run in range(args.runs):
                for builder in builders:
                    folder = Path(tmp) / f"{run}-{builder}"
                    source = folder / "source"
                    if builder == "local":
                        context = raw.write_context(source / "app", "${BASE}", seconds=args.seconds)
                        dockerfile = context / "Dockerfile"
                        dockerfile.write_text("ARG BASE\n" + dockerfile.read_text())
                    else:
                        raw.write_context(source / "app", docker_base if builder == "kaniko" else base, seconds=args.seconds)
                    repository = f"bench/{run}/{builder}"
                    for scenario in SCENARIOS:
                        if (builder, scenario) in NOT_OFFERED:
                            continue
                        if builder == "local":
                            seconds, hits = _local_build(scenario, local.address, repository, local_base, source / "app")
                        else:
                            work = folder / scenario
                            seconds, hits = _template_build(builder, scenario, http, repository, images, source, work)
                        times.setdefault((builder, scenario), []).append(seconds)
                        print(f"run {run + 1}/{args.runs} {builder:<8} {scenario:<8} {seconds:6.1f}s  cache hits {hits}",
                              file=sys.stderr, flush=True)  # fmt: skip
    finally:
        registry.stop("bench-policy")
    print(f"\nmedian of {args.runs} runs, seconds (templates: the Argo pods' run time; local: cachebuild build's wall time)")
    print(f"{'builder':<9}" + "".join(f"{s:>24}" for s in SCENARIOS))
    for builder in builders:
        cold = statistics.median(times[(builder, "cold")])
        cells = []
        for scenario in SCENARIOS:
            if (builder, scenario) in NOT_OFFERED:
                cells.append(f"{'(' + NOT_OFFERED[(builder, scenario)] + ')':>24}")
                continue
            median = statistics.median(times[(builder, scenario)])
            cells.append(f"{median:>15.1f} ({median / cold:>5.1%})" if scenario != "cold" else f"{median:>24.1f}")
        print(f"{builder:<9}" + "".join(cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
