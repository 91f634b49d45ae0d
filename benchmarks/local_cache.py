"""Benchmark: a cold build vs a ``--fresh`` build from the remote cache, ours and raw buildah's.

Each run uses a new cache repository in a registry of its own (127.0.0.1, free port) and a base
image made here, and measures wall time of:

* cold      — empty local layer store, empty cache repository (a first CI run);
* fresh     — a new empty local layer store, the remote cache filled by the cold build (a new CI pod);
* change    — like fresh, with a one-line change in src/ (only the steps from ``COPY src/`` on rebuild);

once through ``cachebuild``'s engine (registry checks, output parsing) and once as raw buildah
running the same argv (``builders.buildah.build_argv``) with nothing around it. Reports medians and
the fresh/cold and change/cold ratios.

    python benchmarks/local_cache.py [--runs 3] [--example examples]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

from cachebuild.builders import buildah  # noqa: E402
from cachebuild.local import baseimage, cache_dir, engine, registry  # noqa: E402
from cachebuild.local.distribution import Registry  # noqa: E402
from cachebuild.spec import BuildSpec  # noqa: E402

KINDS = ("cold", "fresh", "change")


def changed_copy(example: Path, into: Path) -> Path:
    """``example`` with one line added to the app's source (the last layers change)."""
    target = into / "changed"
    shutil.copytree(example, target)
    with open(target / "src" / "main.sh", "a") as fh:
        fh.write("# a one-line change\n")
    return target


def ours(spec: BuildSpec, workspace: Path) -> float:
    started = time.monotonic()
    engine.build(spec, workspace=workspace, fresh=True, progress=lambda _: None)
    return time.monotonic() - started


def raw(spec: BuildSpec, workspace: Path) -> float:
    """The same build and push argv, run directly, with a new empty store (removed, as ours is)."""
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="bench-raw-", dir=cache_dir()))
    try:
        argvs = buildah.build_argv(
            spec,
            workspace=str(workspace),
            auth_file="",
            tls_verify="false",
            digest_file=str(root / "digest"),
            storage_root=str(root / "root"),
            storage_runroot=str(root / "runroot"),
        )
        for argv in argvs:
            subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--example", type=Path, default=Path(__file__).resolve().parents[1] / "examples")
    args = parser.parse_args()
    state = registry.start("bench", port=registry.free_port(), wipe=True)
    times: dict[tuple[str, str], list[float]] = {(who, kind): [] for who in ("cachebuild", "raw buildah") for kind in KINDS}
    try:
        base = baseimage.push(Registry(state.address))
        with tempfile.TemporaryDirectory() as tmp:
            changed = changed_copy(args.example, Path(tmp))
            for run in range(1, args.runs + 1):
                for who, build in (("cachebuild", ours), ("raw buildah", raw)):
                    repo = f"{state.address}/bench/{who.replace(' ', '-')}/run{run}"
                    for kind, workspace in (("cold", args.example), ("fresh", args.example), ("change", changed)):
                        spec = BuildSpec(images=[f"{repo}:{kind}"], cache_repo=f"{repo}/cache", build_args={"BASE": base})
                        seconds = build(spec, workspace)
                        times[(who, kind)].append(seconds)
                        print(f"run {run}/{args.runs}  {who:<11}  {kind:<6}  {seconds:6.1f}s", flush=True)
    finally:
        registry.stop("bench")
    print(f"\nmedian wall times over {args.runs} runs (each: a new cache repository, new empty local stores)")
    print(f"{'':<12} {'cold':>7} {'fresh':>7} {'change':>7} {'fresh/cold':>11} {'change/cold':>12}")
    for who in ("cachebuild", "raw buildah"):
        med = {kind: statistics.median(times[(who, kind)]) for kind in KINDS}
        print(
            f"{who:<12} {med['cold']:6.1f}s {med['fresh']:6.1f}s {med['change']:6.1f}s "
            f"{med['fresh'] / med['cold']:11.2f} {med['change'] / med['cold']:12.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
