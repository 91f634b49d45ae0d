"""Tekton's and Argo's own code on what users get: tekton-check (admission webhooks, the PipelineRun
and TaskRun reconcilers, the pod builder) at the Tasks' minVersion and the newest Tekton, and
argo-check (argo lint --offline, the controller's template substitution). See tools/*/main.go."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hera.workflows import DAG, Steps, Workflow

from cachebuild import BuildSpec, argo
from support.gochecks import ARGO_VERSION, ROOT, TEKTON_VERSIONS, cachebuild_workflow, failures, run, write_yaml

TASK_FILES = sorted(p.relative_to(ROOT) for p in (ROOT / "tasks").rglob("*.yaml"))
RUN_FILES = [p for p in TASK_FILES if "samples" in p.parts or p.name == "run.yaml"]
IMG = "registry.example.com/team/app:1.0"
ENGINES = ["buildkit", "kaniko", "buildah"]
FEATURE_GATE = '"enable-api-fields" feature gate to be "alpha" or "beta" but it is "stable"'


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load((ROOT / path).read_text())


def uses_resolver(doc: Any) -> bool:
    if isinstance(doc, dict):
        return "resolver" in doc or any(uses_resolver(v) for v in doc.values())
    return isinstance(doc, list) and any(uses_resolver(v) for v in doc)


# --- Tekton admission ------------------------------------------------------------------------


@pytest.mark.parametrize("version", TEKTON_VERSIONS)
def test_every_file_under_tasks_is_admitted_under_the_beta_gate(version):
    results = run("tekton-check", version, "validate", "--json", *TASK_FILES).json()
    assert {r["file"] for r in results} == {str(p) for p in TASK_FILES}
    refused = [f"{r['file']} {r['kind']}/{r['name']}: {r['error']}" for r in results if r["gate"] == "beta" and not r["ok"]]
    assert refused == []


@pytest.mark.parametrize("version", TEKTON_VERSIONS)
def test_under_the_stable_gate_only_git_resolver_references_are_refused(version):
    results = run("tekton-check", version, "validate", "--json", *TASK_FILES).json()
    for r in results:
        if r["gate"] != "stable":
            continue
        if uses_resolver(load(Path(r["file"]))):
            assert not r["ok"] and all(FEATURE_GATE in line for line in r["error"].splitlines()), r
        else:
            assert r["ok"], r


# --- Tekton reconcilers ----------------------------------------------------------------------


@pytest.mark.parametrize("version", TEKTON_VERSIONS)
@pytest.mark.parametrize("path", RUN_FILES, ids=str)
def test_samples_and_tests_pass_the_reconcilers(version, path):
    reports = run("tekton-check", version, "run", "--json", "--repo", ROOT, path).json()
    assert reports, f"{path} holds no run"
    assert failures(reports) == []


def tekton_runs(tmp: Path) -> dict[str, Path]:
    """The CLI's PipelineRuns: every engine, --ref and --inline, with and without a Secret."""
    runs = {}
    for engine in ENGINES:
        for mode in ("--ref", "--inline"):
            for secret in ([], ["--docker-config-secret", "registry-credentials"]):
                name = f"{engine}{mode}{'-secret' if secret else ''}"
                runs[name] = cachebuild_workflow(
                    tmp,
                    "--on",
                    "tekton",
                    "--engine",
                    engine,
                    mode,
                    "--image",
                    IMG,
                    "--context",
                    "app",
                    "--workspace-pvc",
                    "app-source",
                    *secret,
                    name=f"{name}.yaml",
                )
    for mode in ("--ref", "--inline"):
        runs[f"kaniko{mode}-warm-image"] = cachebuild_workflow(
            tmp,
            "--on",
            "tekton",
            "--engine",
            "kaniko",
            mode,
            "--image",
            IMG,
            "--workspace-pvc",
            "app-source",
            "--warm-image",
            "docker.io/library/python:3.12-slim",
            name=f"kaniko{mode}-warm-image.yaml",
        )
    specs = write_yaml(
        tmp / "specs.yaml",
        [
            {"image": IMG, "context": "services/api", "build-args": {"GO_VERSION": "1.23"}},
            {"image": "registry.example.com/team/web:1.0", "context": "services/web", "dockerfile": "Dockerfile.prod"},
        ],
    )
    for engine in ENGINES:
        runs[f"{engine}-specs"] = cachebuild_workflow(
            tmp,
            "--on",
            "tekton",
            "--engine",
            engine,
            "--specs",
            str(specs),
            "--workspace-pvc",
            "app-source",
            "--docker-config-secret",
            "registry-credentials",
            name=f"{engine}-specs.yaml",
        )
    return runs


@pytest.fixture(scope="module")
def cli_pipelineruns(tmp_path_factory):
    return tekton_runs(tmp_path_factory.mktemp("tekton-runs"))


CLI_RUNS = [f"{e}{m}{s}" for e in ENGINES for m in ("--ref", "--inline") for s in ("", "-secret")]
CLI_RUNS += ["kaniko--ref-warm-image", "kaniko--inline-warm-image", *(f"{e}-specs" for e in ENGINES)]


@pytest.mark.parametrize("version", TEKTON_VERSIONS)
@pytest.mark.parametrize("name", CLI_RUNS)
def test_cli_pipelineruns_pass_admission_and_the_reconcilers(version, name, cli_pipelineruns):
    path = cli_pipelineruns[name]
    admission = run("tekton-check", version, "validate", "--json", path).json()
    assert [r["error"] for r in admission if r["gate"] == "beta" and not r["ok"]] == []
    reports = run("tekton-check", version, "run", "--json", "--repo", ROOT, path).json()
    assert [r["kind"] for r in reports] == ["PipelineRun"]
    assert failures(reports) == []
    assert reports[0]["run"]["status"] == "True"


# --- Tekton: the checks bite -----------------------------------------------------------------


@pytest.mark.parametrize("version", TEKTON_VERSIONS)
def test_a_task_with_an_unknown_field_is_refused(version, tmp_path):
    task = load(Path("tasks/buildkit-build/0.1/buildkit-build.yaml"))
    task["spec"]["steps"][0]["bogusField"] = 1
    results = run("tekton-check", version, "validate", "--json", write_yaml(tmp_path / "task.yaml", task)).json()
    assert [r["error"] for r in results] == [
        'admission webhook "webhook.pipeline.tekton.dev" denied the request: mutation failed: '
        'cannot decode incoming new object: json: unknown field "bogusField"'
    ] * 2


@pytest.mark.parametrize("version", TEKTON_VERSIONS)
def test_a_task_referencing_an_undeclared_param_is_refused(version, tmp_path):
    task = load(Path("tasks/buildkit-build/0.1/buildkit-build.yaml"))
    task["spec"]["steps"][0]["env"].append({"name": "CB_NOPE", "value": "$(params.NOPE)"})
    results = run("tekton-check", version, "validate", "--json", write_yaml(tmp_path / "task.yaml", task)).json()
    assert [r["error"] for r in results] == [
        'admission webhook "validation.webhook.pipeline.tekton.dev" denied the request: validation failed: '
        'non-existent variable in "$(params.NOPE)": spec.steps[0].env[CB_NOPE]'
    ] * 2


@pytest.mark.parametrize("version", TEKTON_VERSIONS)
def test_a_taskrun_binding_two_claims_is_refused_by_the_reconciler(version, tmp_path):
    taskrun = {
        "apiVersion": "tekton.dev/v1",
        "kind": "TaskRun",
        "metadata": {"name": "two-claims"},
        "spec": {
            "taskRef": {"name": "kaniko-build"},
            "params": [{"name": "IMAGE", "value": IMG}, {"name": "CACHE_REPO", "value": "registry.example.com/team/app/cache"}],
            "workspaces": [
                {"name": "source", "persistentVolumeClaim": {"claimName": "app-source"}},
                {"name": "cache", "persistentVolumeClaim": {"claimName": "kaniko-cache"}},
            ],
        },
    }
    result = run("tekton-check", version, "run", "--json", "--repo", ROOT, write_yaml(tmp_path / "tr.yaml", taskrun))
    assert result.returncode == 1
    (report,) = result.json()
    assert (report["run"]["status"], report["run"]["reason"], report["run"]["message"]) == (
        "False",
        "TaskRunValidationFailed",
        "[User error] more than one PersistentVolumeClaim is bound",
    )


# --- Tekton: the Pod the TaskRun reconciler creates ------------------------------------------


@pytest.mark.parametrize("version", TEKTON_VERSIONS)
def test_the_pod_of_a_taskrun_has_the_substituted_step(version, tmp_path):
    taskrun = {
        "apiVersion": "tekton.dev/v1",
        "kind": "TaskRun",
        "metadata": {"name": "pod-check"},
        "spec": {
            "taskRef": {"name": "buildkit-build"},
            "params": [
                {"name": "IMAGE", "value": IMG},
                {"name": "CONTEXT", "value": "services/api"},
                {"name": "CACHE_REPO", "value": "registry.example.com/team/app/cache"},
                {"name": "BUILD_ARGS", "value": ["A=1", "B=$(echo no)"]},
            ],
            "workspaces": [{"name": "source", "emptyDir": {}}],
        },
    }
    task = ROOT / "tasks/buildkit-build/0.1/buildkit-build.yaml"
    result = run("tekton-check", version, "pod", "--taskrun", write_yaml(tmp_path / "tr.yaml", taskrun), "--task", task)
    assert result.returncode == 0, result.stderr
    pod = result.json()
    (step,) = pod["spec"]["containers"]
    assert step["name"] == "step-build"
    env = {e["name"]: e.get("value", "") for e in step["env"]}
    assert env["CB_IMAGES"] == IMG and env["CB_CONTEXT"] == "services/api"
    assert env["CB_DIGEST_FILE"] == "/tekton/results/IMAGE_DIGEST"
    assert env["CB_WORKSPACE"] == "/workspace/source"
    args = step["args"]
    assert args[args.index("--cachebuild-array=BUILD_ARGS") + 1 : args.index("--cachebuild-array=BUILD_ARGS") + 3] == [
        "A=1",
        "B=$(echo no)",
    ]
    assert step["command"] == ["/tekton/bin/entrypoint"]
    assert pod["spec"]["initContainers"][0]["image"] == "cachebuild.test/tekton/entrypoint"
    assert {"name": "tekton-internal-results", "mountPath": "/tekton/results"} in step["volumeMounts"]


@pytest.mark.parametrize("version", TEKTON_VERSIONS)
def test_results_are_read_from_the_termination_message_by_tektons_code(version, tmp_path):
    message = tmp_path / "termination"
    message.write_text(
        '[{"key":"IMAGE_DIGEST","value":"sha256:' + "a" * 64 + '","type":1},{"key":"IMAGE_URL","value":"' + IMG + '","type":1}]'
    )
    result = run(
        "tekton-check",
        version,
        "results",
        "--taskrun",
        ROOT / "tasks/buildkit-build/0.1/tests/run.yaml",
        "--repo",
        ROOT,
        "--termination",
        f"step-build={message}",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.json()
    assert {r["name"]: r["value"] for r in out["results"]} == {"IMAGE_DIGEST": "sha256:" + "a" * 64, "IMAGE_URL": IMG}


# --- Argo ------------------------------------------------------------------------------------


def argo_lint(*args: str | Path) -> list[str]:
    result = run("argo-check", ARGO_VERSION, "lint", *args)
    lines = result.stdout.splitlines()
    assert (result.returncode == 0) == (lines == ["no linting errors found!"]), result.stdout
    return [line for line in lines if line != "no linting errors found!"]


def test_workflows_dir_passes_argo_lint():
    assert argo_lint(ROOT / "workflows") == []


def argo_workflows(tmp: Path) -> dict[str, Path]:
    out = {}
    for engine in ENGINES:
        for mode in ("--ref", "--inline"):
            for scope in ([], ["--cluster-scope"]) if mode == "--ref" else ([],):  # --inline references no template
                name = f"{engine}{mode}{'-cluster' if scope else ''}"
                out[name] = cachebuild_workflow(
                    tmp,
                    "--on",
                    "argo",
                    "--engine",
                    engine,
                    mode,
                    *scope,
                    "--image",
                    IMG,
                    "--context",
                    "app",
                    "--workspace-pvc",
                    "app-source",
                    "--docker-config-secret",
                    "registry-credentials",
                    name=f"{name}.yaml",
                )
    specs = write_yaml(
        tmp / "specs.yaml",
        [{"image": IMG, "context": "services/api"}, {"image": "registry.example.com/team/web:1.0", "context": "web"}],
    )
    for engine in ENGINES:
        out[f"{engine}-specs"] = cachebuild_workflow(
            tmp,
            "--on",
            "argo",
            "--engine",
            engine,
            "--specs",
            str(specs),
            "--workspace-pvc",
            "app-source",
            name=f"{engine}-specs.yaml",
        )
    out["kaniko-warm-image"] = cachebuild_workflow(
        tmp,
        "--on",
        "argo",
        "--engine",
        "kaniko",
        "--image",
        IMG,
        "--warm-image",
        "docker.io/library/python:3.12-slim",
        "--workspace-pvc",
        "app-source",
        name="kaniko-warm.yaml",
    )
    return out


@pytest.fixture(scope="module")
def cli_workflows(tmp_path_factory):
    return argo_workflows(tmp_path_factory.mktemp("argo-workflows"))


ARGO_RUNS = [f"{e}{m}" for e in ENGINES for m in ("--ref", "--ref-cluster", "--inline")]
ARGO_RUNS += [*(f"{e}-specs" for e in ENGINES), "kaniko-warm-image"]


@pytest.mark.parametrize("name", ARGO_RUNS)
def test_cli_workflows_pass_argo_lint(name, cli_workflows):
    assert argo_lint("--templates", ROOT / "workflows", cli_workflows[name]) == []


@pytest.mark.parametrize("context", ["dag", "steps"])
@pytest.mark.parametrize("inline", [False, True])
def test_hera_kaniko_warm_then_build_passes_argo_lint(context, inline, tmp_path):
    spec = BuildSpec(IMG, workspace_pvc="src", kaniko_cache_pvc="cache", warm_images=["docker.io/library/python:3.12-slim"])
    with Workflow(generate_name="mine-", entrypoint="main") as w, (DAG if context == "dag" else Steps)(name="main"):
        warm = argo.kaniko_warm(spec, inline=inline)
        build = argo.kaniko_build(BuildSpec(IMG, workspace_pvc="src", kaniko_cache_pvc="cache"), inline=inline)
        if context == "dag":
            warm >> build
    path = write_yaml(tmp_path / "wf.yaml", w.to_dict())
    assert argo_lint("--templates", ROOT / "workflows", path) == []


def test_argo_lint_refuses_an_undefined_template_ref_and_parameter(tmp_path):
    example = load(Path("workflows/examples/buildkit-build.yaml"))
    missing_ref = copy.deepcopy(example)
    missing_ref["spec"]["templates"][0]["dag"]["tasks"][0]["templateRef"]["name"] = "nope-v1"
    missing_param = copy.deepcopy(example)
    missing_param["spec"]["templates"][0]["dag"]["tasks"][0]["arguments"]["parameters"][0]["value"] = (
        "{{workflow.parameters.nope}}"
    )
    a = write_yaml(tmp_path / "ref.yaml", missing_ref)
    b = write_yaml(tmp_path / "param.yaml", missing_param)
    assert argo_lint("--templates", ROOT / "workflows", a) == [
        f'{a}: in "cachebuild-" (Workflow): templates.build-images.tasks.build '
        'couldn\'t find workflow template "nope-v1" in namespace ""'
    ]
    assert argo_lint("--templates", ROOT / "workflows", b) == [
        f'{b}: in "cachebuild-" (Workflow): templates.build-images.tasks.build failed to resolve {{{{workflow.parameters.nope}}}}'
    ]


def test_argo_pod_has_the_substituted_main_container():
    result = run(
        "argo-check",
        ARGO_VERSION,
        "pod",
        "--workflow",
        ROOT / "workflows/examples/buildkit-build.yaml",
        "--templates",
        ROOT / "workflows",
        "--task",
        "build",
    )
    assert result.returncode == 0, result.stderr
    pod = result.json()
    (main,) = pod["spec"]["containers"]
    assert main["name"] == "main"
    env = {e["name"]: e.get("value", "") for e in main["env"]}
    assert (
        env["CB_IMAGES"] == IMG and env["CB_CONTEXT"] == "app" and env["CB_CACHE_REPO"] == "registry.example.com/team/app/cache"
    )
    assert not any("{{" in str(v) for v in env.values())
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["cb-workspace"]["persistentVolumeClaim"] == {"claimName": "source"}
    assert pod["metadata"]["annotations"]["workflows.argoproj.io/node-name"] == "cachebuild-cbchk.build"


def _argo_pod(tmp_path, template: str, parameters: dict[str, str]):
    workflow = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "patch"},
        "spec": {
            "entrypoint": "main",
            "templates": [
                {
                    "name": "main",
                    "dag": {
                        "tasks": [
                            {
                                "name": "build",
                                "templateRef": {"name": template, "template": template},
                                "arguments": {"parameters": [{"name": k, "value": v} for k, v in parameters.items()]},
                            }
                        ]
                    },
                }
            ],
        },
    }
    path = write_yaml(tmp_path / "workflow.yaml", workflow)
    return run("argo-check", ARGO_VERSION, "pod", "--workflow", path, "--templates", ROOT / "workflows", "--task", "build")


@pytest.mark.parametrize(
    ("template", "volume"), [("buildkit-build-v1", "cb-buildkit-state"), ("buildah-build-v1", "cb-buildah-tmp")]
)
def test_argo_pod_spec_patch_sets_resources_and_swaps_in_the_cache_mounts_claim(template, volume, tmp_path):
    base = {"image": IMG, "workspace-pvc": "source"}
    pod = _argo_pod(tmp_path, template, {**base, "cpu-request": "1", "cache-mounts-pvc": "mounts"}).json()
    (main,) = pod["spec"]["containers"]
    assert main["resources"] == {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}}
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes[volume] == {"name": volume, "persistentVolumeClaim": {"claimName": "mounts"}}
    (mount,) = [m for m in main["volumeMounts"] if m["name"] == volume]
    assert mount["subPath"].startswith(".cachebuild/")

    pod = _argo_pod(tmp_path, template, base).json()
    assert {v["name"]: v for v in pod["spec"]["volumes"]}[volume] == {"name": volume, "emptyDir": {}}


def test_argo_pod_spec_patch_keeps_a_quoted_parameter_a_value(tmp_path):
    """A plain {{inputs.parameters.cpu-request}} in the patch's JSON would let a value add fields to the pod."""
    hostile = '1"},"volumes":[{"name":"x","hostPath":{"path":"/"}}],"z":{"a":"'
    result = _argo_pod(tmp_path, "buildkit-build-v1", {"image": IMG, "workspace-pvc": "source", "cpu-request": hostile})
    assert result.returncode != 0
    assert "quantities must match the regular expression" in result.stderr
    quoted = result.stderr.split("invalid podSpecPatch ", 1)[1].rsplit(": quantities", 1)[0]
    patch = json.loads(json.loads(quoted))  # Go's %q of the patch Argo made
    assert patch["containers"][0]["resources"]["requests"]["cpu"] == hostile, "the value stayed one string"
    assert patch["volumes"] == []
