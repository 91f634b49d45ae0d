"""The README's main job: build ``examples/`` cold, then ``--fresh`` from the remote cache only.

1. start a registry of its own on a free 127.0.0.1 port (instance ``demo``, empty data directory);
2. push a base image made on this machine (static busybox on ``scratch``; no internet needed);
3. build the example with an empty local layer store and an empty cache repository (a first CI run);
4. build it again with a new empty local layer store (a new CI pod): every step must come from
   the remote cache, and the image must be the same;
5. print both times, the cache hits, and stop the registry (unless asked to keep it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cachebuild.local import LocalError, baseimage, engine, registry
from cachebuild.local.distribution import Registry
from cachebuild.spec import BuildSpec

REGISTRY_NAME = "demo"


def default_example() -> Path:
    """``./examples``, else the ``examples/`` folder of the checkout this package runs from."""
    for candidate in (Path.cwd() / "examples", Path(__file__).resolve().parents[3] / "examples"):
        if (candidate / "Dockerfile").is_file():
            return candidate
    raise LocalError("no examples/ folder with a Dockerfile here: run from a clone of the repository, or pass --example DIR")


@dataclass
class DemoResult:
    cold: engine.BuildResult
    fresh: engine.BuildResult
    registry: str

    @property
    def ratio(self) -> float:
        return self.fresh.seconds / self.cold.seconds

    @property
    def same_image(self) -> bool:
        return self.cold.image_id == self.fresh.image_id and self.cold.digest == self.fresh.digest


def run(
    example: Path,
    *,
    keep_registry: bool = False,
    progress: engine.Progress = print,
    verbose: bool = False,
    activity: engine.Activity | None = None,
) -> DemoResult:
    registry.stop(REGISTRY_NAME)  # a demo interrupted earlier
    state = registry.start(REGISTRY_NAME, port=registry.free_port(), wipe=True)
    progress(f"demo: registry on {state.address} (data {state.data_dir})")
    try:
        base = baseimage.push(Registry(state.address))
        progress(f"demo: base image {base} (Debian's static busybox on scratch, made here)")
        repo = f"{state.address}/cachebuild/demo/app"

        def build(tag: str, title: str) -> engine.BuildResult:
            progress(f"\ndemo: {title}")
            spec = BuildSpec(images=[f"{repo}:{tag}"], cache_repo=f"{repo}/cache", build_args={"BASE": base})
            result = engine.build(spec, workspace=example, fresh=True, progress=progress, verbose=verbose, activity=activity)
            progress(f"demo: {result.images[0]}@{result.digest}")
            progress(f"demo: {result.summary()}")
            return result

        cold = build("cold", "1) cold build: empty local layer store, empty remote cache (a first CI run)")
        fresh = build("fresh", "2) --fresh build: a new empty local layer store, the remote cache only (a new CI pod)")
    finally:
        if not keep_registry:
            registry.stop(REGISTRY_NAME)
            progress(f"demo: registry on {state.address} stopped")
        else:
            progress(
                f"demo: registry {REGISTRY_NAME} left running on {state.address} "
                "('cachebuild registry status' shows it, 'cachebuild registry stop' stops it)"
            )
    return DemoResult(cold=cold, fresh=fresh, registry=state.address)


def report(result: DemoResult) -> str:
    """The closing table: times, cache hits, same image."""
    rows = [("build", "wall time", "from cache", "built")]
    for name, build in (("cold", result.cold), ("--fresh", result.fresh)):
        steps = build.layer_steps
        cached = sum(s.cached for s in steps)
        rows.append((name, f"{build.seconds:.1f}s", f"{cached}/{len(steps)}", str(len(steps) - cached)))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.append(f"--fresh / cold wall time: {result.ratio:.2f}")
    lines.append(
        "same image (image id and digest): "
        + ("yes" if result.same_image else f"NO ({result.cold.image_id} vs {result.fresh.image_id})")
    )
    return "\n".join(lines)
