"""Run a Tekton Task's step under a real sh the way Tekton would: substitute ``$(params.X)``,
``$(params.X[*])`` (array items become separate ``args`` elements), workspace and result paths,
then execute with recording programs in place of the builders (see support/launcher.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from support.launcher import normalise, run_script

_ARRAY = re.compile(r"\$\(params\.([A-Z_]+)\[\*\]\)")
_REF = re.compile(r"\$\((params\.[A-Z_]+|workspaces\.[a-z]+\.(?:path|bound)|results\.[A-Z_]+\.path)\)")


SCRATCH_DIRS = ("/tmp/cachebuild/", "/kaniko/cachebuild/", "/etc/containers/registries.conf.d/")
"""The launchers' own folders in a pod; a test maps them into its folder."""


def in_test_folder(value: str, tmp: Path) -> str:
    for folder in SCRATCH_DIRS:
        value = value.replace(folder, f"{tmp}/out/")
    return value


@dataclass
class StepRun:
    returncode: int
    argvs: list[list[str]]
    stderr: str
    tmp: Path


def substitutions(task: dict[str, Any], params: dict[str, Any], tmp: Path, dockerconfig: Path | None) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for p in task["spec"]["params"]:
        if p["name"] in params:
            values[p["name"]] = params[p["name"]]
        else:
            assert "default" in p, f"param {p['name']} is required"
            values[p["name"]] = p["default"]
    unknown = set(params) - set(values)
    assert not unknown, f"params the Task does not declare: {unknown}"
    subs: dict[str, Any] = {f"params.{k}": v for k, v in values.items()}
    for w in task["spec"]["workspaces"]:
        name = w["name"]
        if name == "dockerconfig":
            subs[f"workspaces.{name}.bound"] = "true" if dockerconfig else "false"
            subs[f"workspaces.{name}.path"] = str(dockerconfig) if dockerconfig else ""
        else:
            (tmp / name).mkdir(exist_ok=True)
            subs[f"workspaces.{name}.path"] = str(tmp / name)
            subs[f"workspaces.{name}.bound"] = "true"
    (tmp / "results").mkdir(exist_ok=True)
    for r in task["spec"].get("results", []):
        subs[f"results.{r['name']}.path"] = str(tmp / "results" / r["name"])
    return subs


def _sub(text: str, subs: dict[str, Any]) -> str:
    def one(m: re.Match[str]) -> str:
        value = subs[m[1]]
        assert isinstance(value, str), f"{m[1]} is an array, used in a string"
        return value

    return _REF.sub(one, text)


def run_step(task: dict[str, Any], params: dict[str, Any], tmp: Path, shell: str, dockerconfig: Path | None = None) -> StepRun:
    (step,) = task["spec"]["steps"]
    subs = substitutions(task, params, tmp, dockerconfig)
    args: list[str] = []
    for arg in step.get("args", []):
        m = _ARRAY.fullmatch(arg)
        if m:
            args.extend(subs[f"params.{m[1]}"])  # Tekton: one element per item
        else:
            args.append(_sub(arg, subs))
    env = {e["name"]: _sub(e["value"], subs) for e in step["env"]}
    # Constant paths outside the test folder go into it (output files, the credentials link).
    env = {k: in_test_folder(v, tmp) for k, v in env.items()}
    env["CB_CREDENTIALS_LINK"] = str(tmp / "link" / "config.json")
    command = step["command"]
    assert command[1:2] == ["-c"] and command[3:] == ["cachebuild"], command
    run = run_script(command[2], env, tmp, shell, args)
    return StepRun(run.returncode, normalise(run.argvs, tmp), run.stderr, tmp)
