"""Benchmark: a cold build vs a ``--fresh`` build from the remote cache, cachebuild's and raw buildah's.

Run from the repository root: ``python benchmarks/local_cache.py [--runs 3] [--work-seconds 50]``.

The workload is the example app (``examples/``) with a heavier ``deps.txt`` written into a temporary
copy, so that its slow step (the ``RUN`` that reads ``/opt/deps.txt``) takes about ``--work-seconds``
when built cold: the step's shell loop is first timed on this machine with the same static busybox
the base image holds, and the rounds are scaled to the target. (The example as shipped keeps a
small ``deps.txt``, so the demo and the tests stay quick.) The report prints the slow step's real
cold time next to the target.

Each run uses a new cache repository in a registry of its own (127.0.0.1, free port) and measures
the wall time of:

* cold   — empty local layer store, empty cache repository (a first CI run);
* fresh  — a new empty local layer store, the remote cache filled by the cold build (a new CI pod);
* change — like fresh, with a one-line change in ``src/`` (the steps from ``COPY src/`` on rebuild);

once as a user runs it — the ``cachebuild build --fresh`` command line in a new process (Python
start, registry checks, output parsing included) — and once as raw buildah running the same argv
(``builders.buildah.build_argv``: the same build and push, the same kind of new empty store, removed
afterwards as ours is) with nothing around it. The two take turns build by build (cold, cold, fresh,
fresh, ...; which goes first alternates between runs), so both see the same machine load.
Prints medians and the fresh/cold and change/cold ratios, and the remote cache hits of each build
so that both sides are seen doing the same buildah work.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))

from timed import cachebuild_build  # noqa: E402

from cachebuild.builders import buildah  # noqa: E402
from cachebuild.local import baseimage, cache_dir, registry  # noqa: E402
from cachebuild.local.distribution import Registry  # noqa: E402
from cachebuild.spec import BuildSpec  # noqa: E402

KINDS = ("cold", "fresh", "change")
WHO = ("cachebuild", "raw buildah")
DEPS = ("libalpha", "libbeta", "libgamma")
_SLOW_STEP = re.compile(r"^RUN (mkdir -p /opt/table .*< /opt/deps\.txt)$", re.M)
_STEP_OUTCOME = re.compile(r"^  \[(\d+)/\d+\] (built|cached \(remote\)|cached \(local\)|base image)\s+([0-9.]+)s$", re.M)
_CALIBRATION_ROUNDS = 1000


def slow_step_script(example: Path) -> str:
    """The shell of the Dockerfile's slow step (the ``RUN`` that reads ``/opt/deps.txt``)."""
    found = _SLOW_STEP.search((example / "Dockerfile").read_text())
    if found is None:
        raise SystemExit(f"{example}/Dockerfile has no 'RUN mkdir -p /opt/table ... < /opt/deps.txt' step to scale")
    return found[1]


def rounds_per_second(example: Path) -> float:
    """How many rounds of the slow step's loop this machine runs per second (busybox sh, as in the image)."""
    with tempfile.TemporaryDirectory() as tmp:
        script = slow_step_script(example).replace("/opt/", f"{tmp}/")
        Path(tmp, "deps.txt").write_text(f"calibrate {_CALIBRATION_ROUNDS}\n")
        applets = Path(tmp, "bin")  # every command is busybox's, as in the image (not this machine's coreutils)
        applets.mkdir()
        listed = subprocess.run([str(baseimage.BUSYBOX), "--list"], capture_output=True, text=True, check=True)
        for applet in listed.stdout.split():
            (applets / applet).symlink_to(baseimage.BUSYBOX)
        best = float("inf")
        for _ in range(2):  # the faster of two: the one least disturbed by other work on the machine
            started = time.monotonic()
            subprocess.run(["sh", "-c", script], check=True, env={"PATH": str(applets)})
            best = min(best, time.monotonic() - started)
        return _CALIBRATION_ROUNDS / best


def workload(example: Path, into: Path, work_seconds: float) -> tuple[Path, Path, int]:
    """A copy of ``example`` whose slow step takes about ``work_seconds``, the same with a one-line
    change in ``src/``, and the total rounds."""
    total = max(len(DEPS), round(work_seconds * rounds_per_second(example)))
    unchanged = into / "app"
    shutil.copytree(example, unchanged)
    (unchanged / "deps.txt").write_text("".join(f"{name} {total // len(DEPS)}\n" for name in DEPS))
    changed = into / "changed"
    shutil.copytree(unchanged, changed)
    with open(changed / "src" / "main.sh", "a") as fh:
        fh.write("# a one-line change\n")
    return unchanged, changed, total // len(DEPS) * len(DEPS)


@dataclass
class Measured:
    """One build: wall seconds, steps pulled from the remote cache, the slow step's seconds (ours)."""

    seconds: float
    remote_hits: int
    slow_step: float | None = None


def ours(spec: BuildSpec, workspace: Path) -> Measured:
    """``cachebuild build --fresh`` in a new process, as a user runs it."""
    args = ["--fresh", "--workspace", str(workspace)]
    args += [f"--image={image}" for image in spec.images] + [f"--cache-repo={spec.effective_cache_repo}"]
    args += [f"--build-arg={key}={value}" for key, value in spec.build_args]
    seconds, stdout = cachebuild_build(args)
    outcomes = _STEP_OUTCOME.findall(stdout)
    slow = next((float(s) for n, outcome, s in outcomes if n == "3" and outcome == "built"), None)
    return Measured(seconds, sum(outcome == "cached (remote)" for _, outcome, _ in outcomes), slow)


def raw(spec: BuildSpec, workspace: Path) -> Measured:
    """The same build and push argv, run directly, with a new empty store (removed, as ours is)."""
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="bench-raw-", dir=cache_dir()))
    hits = 0
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
            done = subprocess.run(argv, check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            hits += len(re.findall(r"^--> Cache pulled from remote ", done.stdout, re.M))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return Measured(time.monotonic() - started, hits)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--example", type=Path, default=ROOT / "examples")
    parser.add_argument("--work-seconds", type=float, default=50.0, help="how long the slow step should take cold (default 50)")
    args = parser.parse_args()
    cache_dir().mkdir(parents=True, exist_ok=True)
    state = registry.start("bench", port=registry.free_port(), wipe=True)
    runs: dict[tuple[str, str], list[Measured]] = {(who, kind): [] for who in WHO for kind in KINDS}
    builders: dict[str, Callable[[BuildSpec, Path], Measured]] = {"cachebuild": ours, "raw buildah": raw}
    try:
        base = baseimage.push(Registry(state.address))
        with tempfile.TemporaryDirectory() as tmp:
            unchanged, changed, rounds = workload(args.example, Path(tmp), args.work_seconds)
            print(f"workload: {args.example} with {rounds} rounds in deps.txt (slow step ~{args.work_seconds:.0f}s cold)")
            for run in range(1, args.runs + 1):
                for kind, workspace in (("cold", unchanged), ("fresh", unchanged), ("change", changed)):
                    for who in WHO if run % 2 else WHO[::-1]:
                        repo = f"{state.address}/bench/{who.replace(' ', '-')}/run{run}"
                        spec = BuildSpec(images=[f"{repo}:{kind}"], cache_repo=f"{repo}/cache", build_args={"BASE": base})
                        measured = builders[who](spec, workspace)
                        runs[(who, kind)].append(measured)
                        slow = f"  (slow step {measured.slow_step:.1f}s)" if measured.slow_step is not None else ""
                        print(
                            f"run {run}/{args.runs}  {who:<11}  {kind:<6}  {measured.seconds:6.1f}s  "
                            f"{measured.remote_hits} steps from the remote cache{slow}",
                            flush=True,
                        )
    finally:
        registry.stop("bench")
    slow_steps = [m.slow_step for m in runs[("cachebuild", "cold")] if m.slow_step is not None]
    print(
        f"\nmedian wall times over {args.runs} runs (each: a new cache repository, new empty local stores); "
        f"slow step cold: median {statistics.median(slow_steps):.1f}s (target {args.work_seconds:.0f}s)"
    )
    print(f"{'':<12} {'cold':>7} {'fresh':>7} {'change':>7} {'fresh/cold':>11} {'change/cold':>12}")
    for who in WHO:
        med = {kind: statistics.median(m.seconds for m in runs[(who, kind)]) for kind in KINDS}
        print(
            f"{who:<12} {med['cold']:6.1f}s {med['fresh']:6.1f}s {med['change']:6.1f}s "
            f"{med['fresh'] / med['cold']:11.3f} {med['change'] / med['cold']:12.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
