"""Every Task step, run under dash and busybox sh with Tekton's substitutions, runs exactly the argv
the builder functions give for the matching BuildSpec; hostile values stay one literal element."""

import json

import pytest

from cachebuild import BuildSpec
from cachebuild.builders import argv, evaluate
from cachebuild.tekton import pipelines, tasks
from support.launcher import SHELLS
from tekton_support import in_test_folder, run_step

IMG = "registry.example.com/team/app:1.0"
HOSTILE = [
    "$(touch PWNED)",
    "`touch PWNED`",
    "a; touch PWNED",
    "x y",
    "'q' \"dq\"",
    "-dash",
    "*",
    "$HOME",
    "a\\b",
    "#hash",
    "$(params.IMAGE)",
    "--cachebuild-arrayish",
]

SPECS = [
    BuildSpec(IMG, workspace_pvc="src"),
    BuildSpec(IMG, workspace_pvc="src", no_cache=True),
    BuildSpec(
        IMG,
        context="dir with spaces/app",
        dockerfile="d f/Dockerfile",
        cache=False,
        target="prod",
        labels={"k": "v"},
        workspace_pvc="src",
    ),
    BuildSpec(
        IMG,
        cache_ttl="24h",
        platforms=["linux/arm64"],
        build_args={f"V{i}": v for i, v in enumerate(HOSTILE)},
        extra_args=HOSTILE,
        labels={"hostile": HOSTILE[0]},
        workspace_pvc="src",
        cache_repo="registry.example.com/c",
    ),
    BuildSpec(IMG, context="https://github.com/org/repo.git#main:services/api", cache_repo="registry.example.com/c"),
    BuildSpec(IMG, context="https://github.com/org/repo.git#" + "f" * 40),
]


def _expected(task, spec, tmp, auth_file=""):
    layout = {k: in_test_folder(v, tmp) for k, v in task.layout.items()}
    layout |= {"workspace": str(tmp / "source")}
    if task.results:
        layout["digest_file"] = str(tmp / "results" / "IMAGE_DIGEST")
    if task.cache_workspace:
        layout["cache_dir"] = str(tmp / "cache")
    if task.auth_file_key:
        layout[task.auth_file_key] = auth_file
    return argv(task.program, spec, layout)


def _params(task, spec):
    return {p["name"]: p["value"] for p in pipelines.param_values(task, spec)}


CASES = [
    pytest.param(task, spec, id=f"{task.name}-spec{i}")
    for task in tasks.TASKS
    for i, spec in enumerate(SPECS)
    if not (task is tasks.KANIKO_WARM and spec.git is not None) and not (task.engine == "kaniko" and len(spec.platforms) > 1)
]


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize(("task", "spec"), CASES)
def test_step_runs_the_builder_argv_of_the_spec(tmp_path, shell, task, spec):
    if spec.git is None:
        dockerfile = tmp_path / "source" / spec.context / spec.dockerfile
        dockerfile.parent.mkdir(parents=True)
        dockerfile.write_text("ARG BASE=docker.io/library/busybox:1\nFROM ${BASE}\n")
    run = run_step(task.manifest(), _params(task, spec), tmp_path, shell)
    assert run.returncode == 0, run.stderr
    assert run.argvs == _expected(task, spec, tmp_path)
    assert not (tmp_path / "PWNED").exists()
    assert not (tmp_path / "source" / "PWNED").exists()
    if task.results:
        assert (tmp_path / "results" / "IMAGE_URL").read_text() == IMG


@pytest.mark.parametrize("shell", SHELLS)
def test_hostile_string_params_are_one_literal_element(tmp_path, shell):
    """Params Tekton users pass unvalidated (no BuildSpec) that their rules allow: each reaches buildah as one value."""
    params = {
        "IMAGE": "reg/x:1",
        "CONTEXT": "a b/$(touch PWNED)",
        "DOCKERFILE": "`touch PWNED`;x",
        "CACHE_REPO": "reg/c",
        "CACHE_TTL": "1h",
        "TARGET": "t",
        "BUILD_ARGS": [f"V{i}={v}" for i, v in enumerate(HOSTILE)],
        "EXTRA_ARGS": ["--privileged", *HOSTILE],
        "LABELS": ["a=$(id)"],
        "PLATFORMS": ["linux/amd64", "linux/arm64"],
    }
    run = run_step(tasks.BUILDAH.manifest(), params, tmp_path, shell)
    assert run.returncode == 0, run.stderr
    values = {
        "images": ("reg/x:1",),
        "context": params["CONTEXT"],
        "dockerfile": params["DOCKERFILE"],
        "cache": "true",
        "cache_repo": params["CACHE_REPO"],
        "cache_ttl": "1h",
        "target": params["TARGET"],
        "build_args": tuple(params["BUILD_ARGS"]),
        "extra_args": tuple(params["EXTRA_ARGS"]),
        "labels": ("a=$(id)",),
        "platforms": ("linux/amd64", "linux/arm64"),
        "workspace": str(tmp_path / "source"),
        "digest_file": str(tmp_path / "results" / "IMAGE_DIGEST"),
        **{k: in_test_folder(v, tmp_path) for k, v in tasks.BUILDAH.layout.items()},
        "auth_file": "",
    }
    assert run.argvs == evaluate(tasks.BUILDAH.program, values)
    assert run.argvs[0][-2:] == ["--cachebuild-arrayish", f"{tmp_path}/source/a b/$(touch PWNED)"]
    assert not list(tmp_path.rglob("PWNED"))


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"BUILD_ARGS": ["A=1", "B=2\nC=3"]}, "cachebuild: BUILD_ARGS: an item must not contain a newline"),
        ({"EXTRA_ARGS": ["--cachebuild-array=LABELS"]}, "must not start with --cachebuild-array="),
        ({"BUILD_ARGS": ["--cachebuild-array=PLATFORMS", "x"]}, "must not start with --cachebuild-array="),
        ({"IMAGE": "reg/x:1\nreg/y:1"}, "cachebuild: IMAGE: must be one value, without a newline (got 'reg/x:1\nreg/y:1')"),
        ({"CACHE": "yes"}, "cachebuild: CACHE: must be true or false (got 'yes')"),
        ({"CACHE_REPO": "x,push=false"}, "cachebuild: CACHE_REPO: must be a repository without a tag"),
        ({"IMAGE": "--tls-verify=false"}, "cachebuild: IMAGE: must be an image reference"),
    ],
)
def test_bad_params_stop_the_step_before_any_builder_runs(tmp_path, shell, params, message):
    run = run_step(tasks.BUILDAH.manifest(), {"IMAGE": "reg/x:1", "CACHE_REPO": "reg/c", **params}, tmp_path, shell)
    assert run.returncode == 2
    assert message in run.stderr
    assert run.argvs == []


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("key", ["config.json", ".dockerconfigjson"])
@pytest.mark.parametrize("task", tasks.TASKS, ids=lambda t: t.name)
def test_both_secret_kinds_are_linked_where_the_builder_reads_them(tmp_path, shell, key, task):
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / key).write_text(json.dumps({"auths": {"reg": {"auth": "c2VjcmV0OnNlY3JldA=="}}}))
    spec = BuildSpec(IMG, workspace_pvc="src", warm_images=["docker.io/library/alpine:3"] if task is tasks.KANIKO_WARM else ())
    run = run_step(task.manifest(), _params(task, spec), tmp_path, shell, dockerconfig=secret)
    assert run.returncode == 0, run.stderr
    link = tmp_path / "link" / "config.json"
    assert link.resolve() == (secret / key).resolve()
    assert run.argvs == _expected(task, spec, tmp_path, auth_file=str(link))
    assert "c2VjcmV0" not in run.stderr


@pytest.mark.parametrize("shell", SHELLS)
def test_a_dockerconfig_without_either_key_is_a_clear_error(tmp_path, shell):
    (tmp_path / "secret").mkdir()
    run = run_step(
        tasks.BUILDKIT.manifest(), {"IMAGE": IMG, "CACHE_REPO": "reg/c"}, tmp_path, shell, dockerconfig=tmp_path / "secret"
    )
    assert run.returncode == 2
    assert "cachebuild: the dockerconfig workspace holds neither config.json nor .dockerconfigjson" in run.stderr
    assert run.argvs == []


@pytest.mark.parametrize("shell", SHELLS)
def test_kaniko_warm_applies_the_build_args_array_to_the_dockerfile(tmp_path, shell):
    """BUILD_ARGS reach the step as args (an array param), not env: the Dockerfile's FROM still gets them."""
    (tmp_path / "source").mkdir()
    (tmp_path / "source" / "Dockerfile").write_text("ARG BASE=reg.example.com/default:1\nFROM ${BASE}\n")
    params = {"BUILD_ARGS": ["BASE=reg.example.com/given:2"]}
    run = run_step(tasks.KANIKO_WARM.manifest(), params, tmp_path, shell)
    assert run.returncode == 0, run.stderr
    assert run.argvs == [["/kaniko/warmer", f"--cache-dir={tmp_path}/cache", "--image=reg.example.com/given:2"]]
