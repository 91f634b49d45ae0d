"""``cachebuild build`` in a new process, as a user runs it, timed: what the local benchmarks measure."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cachebuild_build(args: list[str]) -> tuple[float, str]:
    """(wall seconds, stdout) of ``python -m cachebuild build ARGS`` from this checkout; a failure ends the benchmark."""
    argv = [sys.executable, "-m", "cachebuild", "build", *args]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "python")}
    started = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"cachebuild build failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return seconds, done.stdout
