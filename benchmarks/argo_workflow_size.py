"""Size of the Argo Workflow YAML for 1, 100 and 1000 images from ``--specs``, and the time of ``cachebuild render``.

Run from the repository root: ``PYTHONPATH=python python benchmarks/argo_workflow_size.py``.
Everything goes through the real command line, as a user runs it. Kubernetes refuses objects
above ~1.5 MiB (etcd); the Workflow must stay well under 1 MiB at 1000 images.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COUNTS = (1, 100, 1000)
ENGINES = ("buildkit", "kaniko", "buildah")
MIB = 1024 * 1024


def cachebuild(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "python")}
    return subprocess.run(
        [sys.executable, "-m", "cachebuild", *args], capture_output=True, text=True, env=env, cwd=cwd, check=True
    )


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{'engine':<9} {'mode':<7} " + " ".join(f"{n:>7} img" for n in COUNTS) + "   per image")
        for engine in ENGINES:
            for mode in ("--ref", "--inline"):
                sizes = []
                for n in COUNTS:
                    specs = Path(tmp) / f"specs-{n}.yaml"
                    specs.write_text(
                        "".join(f"- image: registry.example.com/team/app-{i}:1.0\n  context: app-{i}\n" for i in range(n))
                    )
                    print(f"  {engine} {mode} {n} images…", end="\r", file=sys.stderr, flush=True)
                    out = cachebuild(
                        "workflow", "--on", "argo", "--engine", engine, mode, "--specs", str(specs), "--workspace-pvc", "source"
                    ).stdout
                    sizes.append(len(out.encode()))
                per_image = (sizes[-1] - sizes[0]) / (COUNTS[-1] - COUNTS[0])
                print(f"{engine:<9} {mode[2:]:<7} " + " ".join(f"{s:>11,}" for s in sizes) + f"   {per_image:,.0f} B")
                if sizes[-1] >= MIB:
                    print(f"FAIL: {sizes[-1]} bytes at {COUNTS[-1]} images is not under 1 MiB", file=sys.stderr)
                    return 1

        copy = Path(tmp) / "repo"
        for folder in ("tasks", "workflows"):
            if (ROOT / folder).exists():
                shutil.copytree(ROOT / folder, copy / folder)
        copy.mkdir(exist_ok=True)
        for name in ("catalog.yaml",):
            if (ROOT / name).exists():
                shutil.copy(ROOT / name, copy / name)
        timings = []
        for _ in range(3):
            shutil.rmtree(copy / "workflows", ignore_errors=True)
            started = time.monotonic()
            cachebuild("render", "--output", str(copy))
            timings.append(time.monotonic() - started)
        print(f"cachebuild render (whole catalog, fresh process): best {min(timings):.2f}s of {len(timings)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
