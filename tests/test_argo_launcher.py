"""A template called for a spec runs exactly the builder's argv.

The Workflow comes from the real helper; the template's env is substituted with the task's
arguments (else the input defaults) as the Argo controller does; the launcher then runs under
dash and busybox sh with recording programs, and its argv must equal the builder functions'.
"""

import dataclasses

import pytest
from hera.workflows import DAG, Workflow

from cachebuild import BuildSpec, argo
from cachebuild.argo import templates
from cachebuild.builders import WORKSPACE, argv, buildah, buildkit, kaniko
from cachebuild.builders.kaniko import SCRATCH_DIR
from cachebuild.spec import ENGINE_ONLY
from support.argo import container_env, inputs, task_calls
from support.launcher import SHELLS, normalise, run_launcher

IMG = "registry.example.com/team/app:1.0"
HOSTILE = ["$(touch PWNED)", "`touch PWNED`", "a; touch PWNED", "x y", "'q' \"dq\"", "-dash", "*", "$HOME", "a\\b", "#hash"]
SPECS = [
    BuildSpec(IMG, workspace_pvc="src"),
    BuildSpec(IMG, workspace_pvc="src", no_cache=True),
    BuildSpec([IMG, "registry.example.com/team/app:latest"], context="dir with spaces/app", dockerfile="d f/Dockerfile",
              cache=False, target="prod", labels={"k": "v"}, builder_image="registry.example.com/mirror/builder:1",
              workspace_pvc="src"),
    BuildSpec(IMG, cache_ttl="24h", platforms=["linux/arm64"], build_args={f"V{i}": v for i, v in enumerate(HOSTILE)},
              extra_args=HOSTILE, labels={"hostile": HOSTILE[0]}, cache_repo="registry.example.com/c", cache_tag="t1",
              cache_mode="min", docker_config_secret="creds", workspace_pvc="src"),
    BuildSpec(IMG, context="https://github.com/org/repo.git#main:services/api"),
    BuildSpec(IMG, context="https://github.com/org/repo.git#" + "f" * 40),
]  # fmt: skip


def for_engine(spec, engine):
    """``spec`` without the fields ``engine`` does not read (it refuses them)."""
    unset = {f.name: f.default for f in dataclasses.fields(BuildSpec) if f.init}
    return dataclasses.replace(spec, **{name: unset[name] for name, engines in ENGINE_ONLY.items() if engine not in engines})


CASES = [
    ("buildkit", templates.BUILDKIT_BUILD, buildkit.build_argv),
    ("kaniko", templates.KANIKO_BUILD, kaniko.build_argv),
    ("buildah", templates.BUILDAH_BUILD, buildah.build_argv),
]
DOCKERFILE = "ARG BASE=docker.io/library/busybox:1\nFROM ${BASE}\n"


def _run(tmp_path, shell, template, call, workflow_name="wf-test"):
    values = inputs(template, call["arguments"]["parameters"], workflow_name)
    env = container_env(template, values)
    assert "{{" not in "".join(env.values())
    # outputs and the workspace are in the test's folder; recorded argv are mapped back to the pod's paths
    out, ws = str(tmp_path / "out"), str(tmp_path / "ws")
    (tmp_path / "ws" / "app").mkdir(parents=True)
    (tmp_path / "ws" / "app" / "Dockerfile").write_text(DOCKERFILE)
    scratch = str(tmp_path / "scratch")  # kaniko's own folder
    env = {k: v.replace(templates.OUTPUT_DIR, out).replace(SCRATCH_DIR, scratch).replace(WORKSPACE, ws) for k, v in env.items()}
    run = run_launcher(template_program(template), env, tmp_path, shell)
    assert run.returncode == 0, run.stderr
    back = {out: templates.OUTPUT_DIR, scratch: SCRATCH_DIR, ws: WORKSPACE}
    argvs = [[_replace(a, back) for a in x] for x in normalise(run.argvs, tmp_path)]
    assert not (tmp_path / "PWNED").exists()
    return values, argvs


def _replace(text, mapping):
    for old, new in mapping.items():
        text = text.replace(old, new)
    return text


def template_program(template):
    (t,) = [t for t in templates.TEMPLATES if t.name == template["name"]]
    return t.program


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("spec", SPECS, ids=[f"spec{i}" for i in range(len(SPECS))])
@pytest.mark.parametrize(("engine", "t", "expected_argv"), CASES, ids=[c[0] for c in CASES])
def test_template_called_for_a_spec_runs_the_builders_argv(tmp_path, shell, spec, engine, t, expected_argv):
    spec = for_engine(spec, engine)
    workflow = argo.workflow(spec, engine, inline=True).to_dict()
    (template,) = [x for x in workflow["spec"]["templates"] if x["name"] == t.name]
    (call,) = task_calls(workflow)
    values, argvs = _run(tmp_path, shell, template, call)
    expected_argv(spec)  # the engine takes the spec
    assert argvs == argv(t.program, spec, t.layout)
    assert values["builder-image"] == (spec.builder_image or t.image)
    assert values["workspace-pvc"] == (spec.workspace_pvc or "wf-test-workspace")
    assert values["docker-config-secret"] == (spec.docker_config_secret or templates.DEFAULT_DOCKER_CONFIG_SECRET)


@pytest.mark.parametrize(
    "spec",
    [
        BuildSpec(IMG, warm_images=["docker.io/library/alpine:3.20", "docker.io/library/golang:1.23"], extra_args=["--x"],
                  workspace_pvc="src"),
        BuildSpec(IMG, context="app", build_args={"BASE": "alpine"}, cache_ttl="1h", warm_images=["docker.io/library/a:1"],
                  workspace_pvc="src"),
    ],
)  # fmt: skip
def test_kaniko_warm_task_runs_the_warmer_argv(tmp_path, spec):
    workflow = argo.workflow(spec, "kaniko", inline=True).to_dict()
    (template,) = [x for x in workflow["spec"]["templates"] if x["name"] == "kaniko-warm-v1"]
    warm, build = task_calls(workflow)
    assert (warm["name"], build["name"], build["depends"]) == ("warm", "build", "warm")
    _, argvs = _run(tmp_path, "busybox", template, warm)
    assert argvs == [kaniko.warm_argv(spec)]


def test_warm_without_images_reads_the_workspace_dockerfile(tmp_path):
    spec = BuildSpec(IMG, context="app", build_args={"BASE": "alpine"}, workspace_pvc="src")
    with Workflow(generate_name="w-", entrypoint="main") as w, DAG(name="main"):
        argo.kaniko_warm(spec, inline=True)
    workflow = w.to_dict()
    (template,) = [x for x in workflow["spec"]["templates"] if x["name"] == "kaniko-warm-v1"]
    _, argvs = _run(tmp_path, "dash", template, task_calls(workflow)[0])
    assert argvs == [["/kaniko/warmer", "--cache-dir=/cache", "--image=alpine"]]  # the build arg, not the default


def test_buildkit_results_are_written_where_the_outputs_read(tmp_path):
    spec = BuildSpec([IMG, "registry.example.com/team/app:2"], workspace_pvc="src")
    workflow = argo.workflow(spec, "buildkit", inline=True).to_dict()
    (template,) = [x for x in workflow["spec"]["templates"] if x["name"] == "buildkit-build-v1"]
    _run(tmp_path, "dash", template, task_calls(workflow)[0])
    outputs = {p["name"]: p["valueFrom"]["path"] for p in template["outputs"]["parameters"]}
    read = {name: (tmp_path / "out" / path.rsplit("/", 1)[1]).read_text() for name, path in outputs.items()}
    # the recording builder prints no steps: a report of none
    assert read == {
        "image-digest": "sha256:" + "ab" * 32,
        "image-url": IMG,
        "cache-hits": "0/0",
        "cache-report": '{"builder":"buildkit","hits":"0/0","steps":[]}',
    }
