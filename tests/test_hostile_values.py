"""Every param of every installed template, given hostile values, is taken literally or refused.

An installed WorkflowTemplate or Task is called with any string, unchecked by Python. Each case
runs the template's real launcher (the script it ships, with the controller's substitution of the
caller's value) under the shell of its builder image, with recording programs as the builders:

* **refused**: exit 2 before any builder starts, with ``cachebuild: PARAM: … (got '…')`` naming
  the param as the template calls it;
* **taken**: the builders receive exactly the argv Python gives for the BuildSpec of the same
  values: every value one literal element where the program puts it, no extra element, option,
  CSV key or list item, and nothing runs.

And the same value through :class:`~cachebuild.spec.BuildSpec` is accepted exactly when the
launcher takes it, so the Python rules and the launchers' cannot drift apart. EXTRA_ARGS is the
one param that may add flags (any text, one element an item).
"""

from __future__ import annotations

import concurrent.futures
import shutil
from pathlib import Path

import pytest

from cachebuild import BuildSpec, SpecError
from cachebuild.argo import templates
from cachebuild.builders import WORKSPACE, argv, kaniko
from cachebuild.builders.kaniko import SCRATCH_DIR
from cachebuild.kinds import ARRAY_MARKER, BOOLEAN, LIST_KEYS, OPTIONAL_KEYS, VALUE_KINDS
from cachebuild.tekton import tasks
from support.argo import container_env
from support.launcher import normalise, run_script
from tekton_support import in_test_folder, run_step

HOSTILE = [
    # options and flags
    "--insecure",
    "--tls-verify=false",
    "-x",
    "--upload-pack=touch PWNED",
    # line breaks: a second image, a second item
    "a\nb",
    "reg.example.com/a:1\r",
    "reg.example.com/a:1\r\nreg.example.com/b:1",
    "reg.example.com/a:1\nreg.example.com/b:2",
    # CSV keys for buildctl's --output / --export-cache / --import-cache
    "x,push=false",
    "x,type=local,dest=PWNED",
    "ref=x,mode=max,registry.insecure=true",
    '"registry.insecure=true"',
    'a"b',
    # shell
    "$(touch PWNED)",
    "`touch PWNED`",
    "a; touch PWNED",
    "a|touch PWNED",
    "$HOME",
    "${IFS}",
    "*",
    "[a]",
    # paths
    "../x",
    "/etc",
    "a/../../b",
    "a,b",
    # other
    "Reg.Example.com/Team/App:1",
    "a b",
    " a",
    "'",
    "",
    "a" * 300,
    "{{inputs.parameters.image}}",
    "$(params.IMAGE)",
    "--cachebuild-array=LABELS",
    "é",
    "linux/amd64,linux/arm64",
    # valid values of each kind (taken)
    "reg.example.com/team/app:1",
    "reg.example.com:5000",
    "linux/arm64",
    "K=V",
    "K=$(touch PWNED)",
    "min",
    "true",
    "1h",
    "stage",
    "app",
    "12",
    "gzip",
    "feature/Login Page",
]
# Shells of the builder images: busybox (kaniko debug, BuildKit's Alpine), bash (buildah's Fedora).
SHELL = {"buildkit": "busybox", "kaniko": "busybox", "buildah": "bash"}
BASE = "reg.example.com/team/app:1"
DOCKERFILE = "FROM reg.example.com/base:1\n"


def _spec_kwargs(key: str, items: list[str]) -> dict[str, object]:
    """The BuildSpec fields for program value ``key`` given as ``items`` (a single value: one item)."""
    field = {"images": "images"}.get(key, key)
    if key in LIST_KEYS:
        return {field: items}
    (value,) = items
    if VALUE_KINDS[key] is BOOLEAN:  # a bool in Python, true/false in a template
        return {field: {"true": True, "false": False}.get(value, value)}
    if key in OPTIONAL_KEYS and value == "":
        return {}
    if key == "cache_compression_level":  # an int in Python
        return {field: int(value) if value.isascii() and value.isdigit() else value}
    return {field: value}


def _python_spec(engine: str, key: str, items: list[str]) -> BuildSpec | None:
    kwargs: dict[str, object] = {"images": [BASE], "cache_repo": "reg.example.com/team/app/cache"}
    kwargs.update(_spec_kwargs(key, items))
    try:
        spec = BuildSpec(**kwargs)  # type: ignore[arg-type]
        spec.check_engine(engine)
        return spec
    except SpecError:
        return None


def _workspace(tmp: Path, spec: BuildSpec | None, key: str, items: list[str]) -> None:
    """The source workspace holds a Dockerfile where the context says (kaniko-warm reads it)."""
    context = items[0] if key == "context" and len(items) == 1 else "."
    dockerfile = items[0] if key == "dockerfile" and len(items) == 1 else "Dockerfile"
    try:
        path = (tmp / "ws" / context / dockerfile).resolve()
        if path.is_relative_to(tmp / "ws") and path != tmp / "ws" and "://" not in context:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.is_dir():
                path.write_text(DOCKERFILE)
    except OSError:
        pass


def _check(name: str, param: str, key: str, value: str, items: list[str], run, expected) -> list[str]:
    """The findings of one case (empty: literal or refused, and the same verdict as BuildSpec)."""
    findings = []
    taken = run.returncode == 0
    if taken and expected is None:
        findings.append(f"{name} {param}={value!r}: the launcher took it, BuildSpec refuses it")
    if not taken and expected is not None:
        findings.append(f"{name} {param}={value!r}: the launcher refused it ({run.stderr.strip()}), BuildSpec takes it")
    if taken and expected is not None and run.argvs != expected:
        findings.append(f"{name} {param}={value!r}: argv differs from Python's: {run.argvs} != {expected}")
    if not taken:
        if run.argvs:
            findings.append(f"{name} {param}={value!r}: refused after a builder ran: {run.argvs}")
        dockerfile = {"context": "dockerfile", "CONTEXT": "DOCKERFILE"}.get(param)
        named = (
            run.stderr.startswith(f"cachebuild: {param}: ")
            or (
                # kaniko-warm: no Dockerfile at that context
                run.stderr.startswith(f"cachebuild: {dockerfile}: no such file in the workspace")
            )
            or (
                # a Tekton array item equal to the next array's marker: the args cannot tell whose item it was
                value.startswith(ARRAY_MARKER) and f" or {param}: " in run.stderr or f": {param} or " in run.stderr
            )
        )
        if run.returncode != 2 or not named or "(got '" not in run.stderr:
            findings.append(f"{name} {param}={value!r}: exit {run.returncode}, message {run.stderr!r}")
    return findings


def _argo_case(t: templates.BuildTemplate, param: templates.Param, value: str, tmp: Path) -> list[str]:
    assert param.key is not None
    template = templates.template_dict(t)
    values = {p["name"]: p.get("default", "") for p in template["inputs"]["parameters"]}
    values |= {"image": BASE, "cache-repo": "reg.example.com/team/app/cache", "workspace-pvc": "src", "cache-pvc": "c"}
    values[param.name] = value
    items = [line for line in value.split("\n") if line] if param.key in LIST_KEYS else [value]
    spec = _python_spec(t.engine, param.key, items)
    _workspace(tmp, spec, param.key, items)
    env = container_env(template, values)
    out, scratch, ws = str(tmp / "out"), str(tmp / "scratch"), str(tmp / "ws")
    mapping = {templates.OUTPUT_DIR: out, SCRATCH_DIR: scratch, WORKSPACE: ws, "/etc/containers": str(tmp / "etc")}
    for old, new in mapping.items():
        env = {k: v.replace(old, new) for k, v in env.items()}
    run = run_script(template["container"]["command"][2], env, tmp, SHELL[t.engine])
    run.argvs = [[_back(a, mapping) for a in x] for x in normalise(run.argvs, tmp)]
    expected = None
    if spec is not None:
        layout = {**t.layout, "workspace": ws}  # the warmer reads the Dockerfile in Python too
        expected = _python_argv(t.program, spec, layout)
        expected = expected and [[_back(a, {WORKSPACE: ws}) for a in x] for x in expected]
    return _check(t.name, param.name, param.key, value, items, run, expected)


def _python_argv(program, spec: BuildSpec, layout: dict[str, str]) -> list[list[str]] | None:
    """Python's argv, or None where Python refuses the build (kaniko-warm: no Dockerfile at the context)."""
    try:
        return argv(program, spec, layout)
    except SpecError:
        return None


def _back(text: str, mapping: dict[str, str]) -> str:
    for old, new in mapping.items():
        text = text.replace(new, old)
    return text


def _tekton_case(task: tasks.TaskDef, key: str, param: tasks.Param, value: str, tmp: Path) -> list[str]:
    items = [value] if param.type == "array" or key not in LIST_KEYS else [value]
    spec = _python_spec(task.engine, key, items)
    (tmp / "source").mkdir(exist_ok=True)
    _workspace(tmp, spec, key, items)
    if (tmp / "ws").exists():
        shutil.copytree(tmp / "ws", tmp / "source", dirs_exist_ok=True)
    declared = {p.name for p in task.params}
    params: dict[str, object] = {"IMAGE": BASE, "CACHE_REPO": "reg.example.com/team/app/cache"}
    params = {k: v for k, v in params.items() if k in declared}
    params[param.name] = [value] if param.type == "array" else value
    run = run_step(task.manifest(), params, tmp, SHELL[task.engine])
    expected = None
    if spec is not None:
        layout = {k: in_test_folder(v, tmp) for k, v in task.layout.items()} | {"workspace": str(tmp / "source")}
        if task.results:
            layout["digest_file"] = str(tmp / "results" / "IMAGE_DIGEST")
        if task.cache_workspace:
            layout["cache_dir"] = str(tmp / "cache")
        if task.auth_file_key:
            layout[task.auth_file_key] = ""
        layout["registry_ca_dir"] = str(tmp / "registry-ca")
        expected = _python_argv(task.program, spec, layout)
    return _check(task.name, param.name, key, value, items, run, expected)


def _run_all(cases, tmp_path: Path) -> list[str]:
    def one(i_case):
        i, (fn, *args) = i_case
        folder = tmp_path / f"c{i}"
        folder.mkdir()
        return fn(*args, folder)

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        return [f for result in pool.map(one, enumerate(cases)) for f in result]


@pytest.mark.parametrize("t", templates.TEMPLATES, ids=lambda t: t.name)
def test_every_argo_param_takes_hostile_values_literally_or_refuses_them(tmp_path, t):
    cases = [(_argo_case, t, p, v) for p in t.spec_params() for v in HOSTILE]
    findings = _run_all(cases, tmp_path)
    assert findings == []
    assert not list(tmp_path.rglob("PWNED"))


@pytest.mark.parametrize("task", tasks.TASKS, ids=lambda t: t.name)
def test_every_tekton_param_takes_hostile_values_literally_or_refuses_them(tmp_path, task):
    params = [(k, p) for k, p in tasks.PARAMS.items() if p in task.params]
    cases = [(_tekton_case, task, k, p, v) for k, p in params for v in HOSTILE]
    findings = _run_all(cases, tmp_path)
    assert findings == []
    assert not list(tmp_path.rglob("PWNED"))


def test_the_warmer_takes_no_extra_args():
    assert "extra_args" not in kaniko.WARMER_PROGRAM.value_keys()
