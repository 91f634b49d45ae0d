"""Run the Go checks under tools/ (Tekton's and Argo's own code), built by scripts/go-tools.sh.

A missing binary fails the test with the setup step to run; it is never a skip."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def versions() -> dict[str, str]:
    pairs = (
        line.split("=", 1)
        for line in (ROOT / "tools" / "versions.env").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    return {k.strip(): v.strip() for k, v in pairs}


TEKTON_VERSIONS = [versions()["TEKTON_MIN_VERSION"], versions()["TEKTON_NEWEST_VERSION"]]
ARGO_VERSION = versions()["ARGO_VERSION"]


def tool(name: str, version: str) -> Path:
    root = Path(os.environ.get("CACHEBUILD_TOOLS") or Path.home() / ".cache" / "cachebuild" / "tools")
    path = root / "bin" / f"{name}-{version}"
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is missing: run scripts/setup.sh (or scripts/go-tools.sh) to build {name} {version}", pytrace=False)
    return path


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def run(name: str, version: str, *args: str | Path) -> Result:
    proc = subprocess.run([str(tool(name, version)), *map(str, args)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode in (0, 1), f"{name} {' '.join(map(str, args))} exited {proc.returncode}: {proc.stderr}"
    return Result(proc.returncode, proc.stdout, proc.stderr)


def cachebuild_workflow(tmp: Path, *args: str, name: str = "run.yaml") -> Path:
    """What a user gets from `cachebuild workflow ...`, written to a file."""
    proc = subprocess.run([sys.executable, "-m", "cachebuild", "workflow", *args], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    path = tmp / name
    path.write_text(proc.stdout)
    return path


def write_yaml(path: Path, *docs: Any) -> Path:
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return path


def failures(reports: list[dict[str, Any]]) -> list[str]:
    """One line per run that did not pass, with the messages the reconcilers put in its conditions."""
    lines = []
    for r in reports:
        if r["ok"]:
            continue
        messages = [r.get("admission", "")] + [
            f"{s['kind']}/{s['name']}: {s.get('reason')}: {s.get('message')}"
            for s in [r.get("run") or {}, *r.get("taskRuns", [])]
            if s and s.get("status") == "False"
        ]
        lines.append(f"{r['file']} {r['kind']}/{r['name']} [tekton {r['tekton']}]: " + " | ".join(m for m in messages if m))
    return lines
