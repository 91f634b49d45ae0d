"""Run a builder's launcher script under a real ``sh`` with recording programs in place of the builders.

The recorders append their argv as one JSON line to a log, so a test compares exactly what a
builder would have received. Programs named by an absolute path (``/kaniko/executor``) are
redirected into the recorder folder by rewriting that one literal prefix of the script.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cachebuild.builders.program import Program, Value, compile_sh, env_name

RECORDER = """#!{python}
import json, os, sys
with open(os.environ["CB_TEST_LOG"], "a") as log:
    log.write(json.dumps([os.path.basename(sys.argv[0])] + sys.argv[1:]) + "\\n")
# buildctl writes its metadata file; tests read the digest back from it
for i, arg in enumerate(sys.argv):
    if arg == "--metadata-file":
        with open(sys.argv[i + 1], "w") as fh:
            json.dump({{"containerimage.digest": "sha256:" + "ab" * 32, "image.name": "x"}}, fh, indent=2)
"""

PROGRAM_NAMES = ("buildctl-daemonless.sh", "buildah", "executor", "warmer")
SHELLS = ("dash", "busybox")


@dataclass
class Run:
    returncode: int
    argvs: list[list[str]]
    stderr: str


def env_for(values: Mapping[str, Value]) -> dict[str, str]:
    """The CB_* environment a template sets for these values (lists one item a line)."""
    return {env_name(k): "\n".join(v) if isinstance(v, tuple) else v for k, v in values.items()}


def run_script(script: str, env: Mapping[str, str], tmp: Path, shell: str = "dash", args: Sequence[str] = ()) -> Run:
    """Run ``sh -c script cachebuild ARGS…`` with the recorders first on PATH; returns the recorded argv."""
    bin_dir = tmp / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name in PROGRAM_NAMES:
        path = bin_dir / name
        path.write_text(RECORDER.format(python=sys.executable))
        path.chmod(0o755)
    log = tmp / "argv.log"
    log.write_text("")
    script = script.replace('"/kaniko/', f'"{bin_dir}/')
    sh = ["busybox", "sh"] if shell == "busybox" else [shell]
    proc = subprocess.run(
        [*sh, "-c", script, "cachebuild", *args],
        env={"PATH": f"{bin_dir}:{os.environ['PATH']}", "CB_TEST_LOG": str(log), **env},
        capture_output=True,
        text=True,
        cwd=tmp,
        timeout=60,
    )
    argvs = [json.loads(line) for line in log.read_text().splitlines()]
    return Run(proc.returncode, argvs, proc.stderr)


def run_launcher(program: Program, env: Mapping[str, str], tmp: Path, shell: str = "dash") -> Run:
    """Run ``program``'s launcher (what a template ships) with ``env``."""
    return run_script(compile_sh(program), env, tmp, shell)


def normalise(argvs: list[list[str]], tmp: Path) -> list[list[str]]:
    """Recorded argv with the recorder folder mapped back to the real program paths."""
    out = []
    for argv in argvs:
        name = argv[0]
        head = f"/kaniko/{name}" if name in ("executor", "warmer") else name
        out.append([head, *argv[1:]])
    return out
