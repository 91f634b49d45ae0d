"""Run a builder's launcher script under a real ``sh`` with recording programs in place of the builders.

The recorders append their argv (and the RECORDED_ENV variables) to a log, so a test compares
exactly what a builder would have received. Programs named by an absolute path (``/kaniko/executor``) are
redirected into the recorder folder by rewriting that one literal prefix of the script.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cachebuild.builders.program import Program, Value, compile_sh, env_name

RECORDED_ENV = ("BUILDKITD_FLAGS", "SSL_CERT_FILE")
"""Environment variables a builder's launcher may set for it; the recorders log them too."""

# A POSIX sh recorder (fast: the hostile-value tests run thousands of launchers): each argv and
# the RECORDED_ENV values as NUL-separated fields, one record a line.
RECORDER = r"""#!/bin/sh
{{ printf '%s\0' "${{0##*/}}" "$@"; printf '\n'; }} >> "$CB_TEST_LOG"
{{ {env} printf '\n'; }} >> "$CB_TEST_LOG.env"
# A test may make one run fail as a builder would: CB_TEST_FAIL_ARG (an argument prefix) and
# CB_TEST_FAIL_OUTPUT (what it prints); the status is 125.
if [ -n "${{CB_TEST_FAIL_ARG:-}}" ]; then
  for cb_a in "$@"; do
    case "$cb_a" in "$CB_TEST_FAIL_ARG"*) printf '%s\n' "$CB_TEST_FAIL_OUTPUT"; exit 125 ;; esac
  done
fi
# buildctl writes its metadata file; tests read the digest back from it
cb_prev=""
for cb_a in "$@"; do
  if [ "$cb_prev" = --metadata-file ]; then
    printf '{{\n  "containerimage.digest": "sha256:{digest}",\n  "image.name": "x"\n}}\n' > "$cb_a"
  fi
  cb_prev=$cb_a
done
""".format(
    env=" ".join(f'printf "%s\\0" "${{{name}-<unset>}}";' for name in RECORDED_ENV),
    digest="ab" * 32,
)

PROGRAM_NAMES = ("buildctl-daemonless.sh", "buildah", "executor", "warmer")
SHELLS = ("dash", "busybox")


@dataclass
class Run:
    returncode: int
    argvs: list[list[str]]
    stderr: str
    envs: list[dict[str, str]] = field(default_factory=list)
    """Per process, the RECORDED_ENV variables it ran with (unset ones left out)."""


def _records(path: Path) -> list[list[str]]:
    data = path.read_bytes().decode() if path.exists() else ""
    return [line.split("\0") for line in data.split("\0\n")[:-1]] if data else []


def env_for(values: Mapping[str, Value]) -> dict[str, str]:
    """The CB_* environment a template sets for these values (lists one item a line)."""
    return {env_name(k): "\n".join(v) if isinstance(v, tuple) else v for k, v in values.items()}


def run_script(script: str, env: Mapping[str, str], tmp: Path, shell: str = "dash", args: Sequence[str] = ()) -> Run:
    """Run ``sh -c script cachebuild ARGS…`` with the recorders first on PATH; returns the recorded argv."""
    bin_dir = tmp / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name in PROGRAM_NAMES:
        path = bin_dir / name
        path.write_text(RECORDER)
        path.chmod(0o755)
    log = tmp / "argv.log"
    log.write_text("")
    Path(f"{log}.env").write_text("")
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
    envs = [{k: v for k, v in zip(RECORDED_ENV, rec, strict=True) if v != "<unset>"} for rec in _records(Path(f"{log}.env"))]
    return Run(proc.returncode, _records(log), proc.stderr, envs)


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
