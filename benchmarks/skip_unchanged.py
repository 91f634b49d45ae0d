"""Benchmark: an unchanged rebuild with ``--skip-unchanged`` against a cold build of the same inputs.

Run from the repository root: ``python3 benchmarks/skip_unchanged.py [--runs 3] [--work-seconds 60]``.

The goal (issue 12): an unchanged rebuild costs at most 1% of a cold build's wall time.

The workload is held out: generated here, used by no test and by nothing the feature was tuned on.
It is a service as CI builds them: a dependency manifest copied first and "installed" by a slow
``RUN``, then the whole context copied and "compiled" by a second slow ``RUN``; the context holds
``--files`` source files in nested packages and a ``--blob-mb`` asset (the skip hashes every file the
Dockerfile can see), and a ``.dockerignore`` that leaves out logs and a build folder. The two RUN
steps are busybox shell loops, timed first on this machine with the base image's own busybox and
scaled so the two together take about ``--work-seconds`` cold.

Each run uses a new repository in a registry of its own (127.0.0.1, a free port). Measured, each the
wall time of ``cachebuild build --fresh --skip-unchanged`` in a new process, as CI runs it:

* cold      — empty local layer store, empty cache repository: buildah builds every step;
* unchanged — the same inputs again (a new pod would start here): nothing is built, the image of
  those inputs is published under the tag (the same digest);
* touched   — every file's mtime moved, the content the same: still unchanged (the digest is of
  content, not of timestamps).

Prints each build and then the medians, unchanged/cold and the goal's verdict.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))

from timed import cachebuild_build  # noqa: E402

from cachebuild.local import baseimage, cache_dir, registry  # noqa: E402
from cachebuild.local.distribution import Registry  # noqa: E402

KINDS = ("cold", "unchanged", "touched")
GOAL = 0.01
_LOOP = 'i=0; while [ "$i" -lt {rounds} ]; do i=$((i + 1)); done'
_CALIBRATION_ROUNDS = 200_000
_DIGEST = re.compile(r"^pushed: \S+@(sha256:[0-9a-f]{64})$", re.M)

DOCKERFILE = """\
ARG BASE
FROM ${{BASE}}
WORKDIR /srv
COPY deps.lock /srv/deps.lock
RUN {install} && wc -l < /srv/deps.lock > /srv/installed
COPY . /srv/app
RUN {compile} && find /srv/app -type f | wc -l > /srv/compiled
"""


def rounds_per_second() -> float:
    """Rounds of the loop this machine's busybox sh (the base image's) runs per second: the faster of two."""
    best = float("inf")
    for _ in range(2):
        started = time.monotonic()
        subprocess.run([str(baseimage.BUSYBOX), "sh", "-c", _LOOP.format(rounds=_CALIBRATION_ROUNDS)], check=True)
        best = min(best, time.monotonic() - started)
    return _CALIBRATION_ROUNDS / best


def workload(into: Path, work_seconds: float, files: int, blob_mb: int) -> Path:
    """The held-out service's context, its slow steps scaled to about ``work_seconds`` together."""
    rounds = round(work_seconds / 2 * rounds_per_second())
    context = into / "service"
    rng = random.Random(12)  # noqa: S311 -- test data, the same every run of the benchmark
    (context / "build").mkdir(parents=True)
    loop = _LOOP.format(rounds=rounds)
    (context / "Dockerfile").write_text(DOCKERFILE.format(install=loop, compile=loop))
    (context / ".dockerignore").write_text("*.log\nbuild/\n")
    (context / "deps.lock").write_text("".join(f"lib{n:03d}=={rng.randint(1, 9)}.{rng.randint(0, 20)}\n" for n in range(120)))
    for n in range(files):
        module = context / "src" / f"pkg{n % 12:02d}" / f"sub{n % 5}" / f"module_{n:04d}.py"
        module.parent.mkdir(parents=True, exist_ok=True)
        module.write_text("".join(f"def f{i}(x):\n    return x * {rng.randint(0, 10**9)}\n" for i in range(rng.randint(5, 60))))
    (context / "assets").mkdir()
    (context / "assets" / "model.bin").write_bytes(rng.randbytes(blob_mb * 1024 * 1024))
    (context / "server.log").write_text("ignored by .dockerignore\n")
    (context / "build" / "out.o").write_bytes(rng.randbytes(1024))
    return context


def build(context: Path, image: str, cache_repo: str, base: str) -> tuple[float, str, str]:
    """(wall seconds, pushed digest, summary line) of ``cachebuild build --fresh --skip-unchanged`` in a new process."""
    seconds, stdout = cachebuild_build(
        [str(context), "-t", image, "--cache-repo", cache_repo, "--build-arg", f"BASE={base}", "--fresh", "--skip-unchanged"]
    )
    digest = _DIGEST.search(stdout)
    summary = next((line for line in stdout.splitlines() if line.startswith("summary: ")), "")
    if digest is None:
        raise SystemExit(f"no 'pushed: …@sha256:…' line in:\n{stdout}")
    return seconds, digest[1], summary


def touch_everything(context: Path) -> None:
    later = time.time() + 3600
    for path in [context, *context.rglob("*")]:
        os.utime(path, (later, later))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--work-seconds", type=float, default=60.0, help="the two slow steps together, cold (default 60)")
    parser.add_argument("--files", type=int, default=2000, help="source files in the context (default 2000)")
    parser.add_argument("--blob-mb", type=int, default=64, help="size of the context's one large file (default 64)")
    args = parser.parse_args()
    cache_dir().mkdir(parents=True, exist_ok=True)
    state = registry.start("bench-skip", port=registry.free_port(), wipe=True)
    times: dict[str, list[float]] = {kind: [] for kind in KINDS}
    try:
        base = baseimage.push(Registry(state.address))
        with tempfile.TemporaryDirectory(prefix="cachebuild-bench-skip-") as tmp:
            context = workload(Path(tmp), args.work_seconds, args.files, args.blob_mb)
            size = sum(p.stat().st_size for p in context.rglob("*") if p.is_file()) / 1e6
            shape = f"{args.files} source files, {size:.0f} MB context, slow steps ~{args.work_seconds:.0f}s cold"
            print(f"workload: {shape}", flush=True)
            for run in range(1, args.runs + 1):
                repo = f"{state.address}/bench/skip/run{run}"
                digests = set()
                for kind in KINDS:
                    if kind == "touched":
                        touch_everything(context)
                    seconds, digest, summary = build(context, f"{repo}:{kind}", f"{repo}/cache", base)
                    digests.add(digest)
                    times[kind].append(seconds)
                    print(f"run {run}/{args.runs}  {kind:<9}  {seconds:7.2f}s  {digest[:19]}…  {summary}", flush=True)
                if len(digests) != 1:
                    raise SystemExit(f"run {run}: the unchanged builds published other digests than the cold one: {digests}")
    finally:
        registry.stop("bench-skip")
    med = {kind: statistics.median(times[kind]) for kind in KINDS}
    ratio = med["unchanged"] / med["cold"]
    print(f"\nmedian wall times over {args.runs} runs (each a new repository and empty local store; a new process each build)")
    print(f"cold {med['cold']:.2f}s   unchanged {med['unchanged']:.2f}s   touched {med['touched']:.2f}s")
    verdict = "met" if ratio <= GOAL else "NOT met"
    print(f"unchanged/cold {ratio:.2%} (goal at most {GOAL:.0%}: {verdict}); touched/cold {med['touched'] / med['cold']:.2%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
