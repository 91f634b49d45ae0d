"""Every Tekton manifest cachebuild renders, samples or prints passes strict CRD validation; the Tasks
meet the catalog's metadata rules; no script holds a substitution; tekton-lint finds nothing."""

import argparse
import dataclasses
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from cachebuild import BuildSpec, SpecError
from cachebuild.commands import workflow as workflow_command
from cachebuild.commands.spec_args import specs_from_args
from cachebuild.tekton import catalog, pipelines, tasks
from support.requirements import require
from support.schemas import validate

ROOT = Path(__file__).resolve().parents[1]
FILES = catalog.files()
YAML_FILES = {path: yaml.safe_load(text) for path, text in FILES.items() if path.endswith(".yaml")}
SUBSTITUTION = re.compile(r"\$\((params|workspaces|results|context|tasks|steps)\.")


def _all_tasks_specs(doc):
    """Every Task spec in a manifest: the Task itself, embedded taskSpecs of Pipelines and runs."""
    if doc["kind"] == "Task":
        yield doc["spec"]
    spec = doc["spec"].get("pipelineSpec", doc["spec"])
    if "taskSpec" in spec:
        yield spec["taskSpec"]
    for t in spec.get("tasks", []):
        if "taskSpec" in t:
            yield t["taskSpec"]


SPECS = [
    BuildSpec("registry.example.com/a:1", workspace_pvc="src", docker_config_secret="creds", build_args={"A": "$(params.X)"}),
    BuildSpec("registry.example.com/b:1", context="https://github.com/o/r.git#main:x", platforms=["linux/arm64"]),
    BuildSpec(
        "registry.example.com/c:1", workspace_pvc="src", kaniko_cache_pvc="kc", builder_image="ghcr.io/me/b:1@sha256:" + "a" * 64
    ),
]


def specs_for(engine):
    """SPECS as ``engine`` takes them (a kaniko cache PVC only for kaniko)."""
    return [s if engine == "kaniko" else dataclasses.replace(s, kaniko_cache_pvc=None) for s in SPECS]


PRINTED = (
    [
        pipelines.pipeline_run(specs_for(engine)[:n], engine, pipelines.TaskOrigin(source))
        for n in (1, 3)
        for engine in ("buildkit", "kaniko", "buildah")
        for source in ("git", "inline", "name")
    ]
    + [pipelines.pipeline(specs_for(e), e, "p") for e in ("buildkit", "kaniko", "buildah")]
    + [
        pipelines.task_run(SPECS[0], task, pipelines.TaskOrigin(source), namespace="ci", service_account="builder")
        for task in tasks.TASKS
        for source in ("git", "inline", "name")
    ]
)


@pytest.mark.parametrize("path", sorted(YAML_FILES))
def test_every_rendered_file_passes_strict_validation(path):
    validate(YAML_FILES[path])


@pytest.mark.parametrize("manifest", PRINTED, ids=lambda m: f"{m['kind']}")
def test_every_built_manifest_passes_strict_validation(manifest):
    validate(manifest)
    for task_spec in _all_tasks_specs(manifest):  # an embedded Task is exactly one of the catalog's
        assert [t.name for t in tasks.TASKS if t.manifest()["spec"] == task_spec] != []


def test_the_catalog_layout_holds_every_file_the_issue_asks_for():
    for task in tasks.TASKS:
        folder = f"tasks/{task.name}/0.1"
        assert {f"{folder}/{task.name}.yaml", f"{folder}/README.md", f"{folder}/tests/run.yaml"} <= set(FILES)
        assert any(p.startswith(f"{folder}/samples/") for p in FILES)
    warm_build = YAML_FILES["tasks/kaniko-build/0.1/samples/warm-then-build.yaml"]["spec"]
    names = [t["name"] for t in warm_build["pipelineSpec"]["tasks"]]
    assert names == ["warm", "build"]
    # one claim for the whole chain: the cache is a folder of the source PVC (Tekton's one-PVC rule)
    assert warm_build["workspaces"][0] == {"name": "source", "persistentVolumeClaim": {"claimName": "app-source"}}
    for task in warm_build["pipelineSpec"]["tasks"]:
        assert {"name": "cache", "workspace": "source", "subPath": ".cachebuild/kaniko-cache"} in task["workspaces"]
    buildkit = YAML_FILES["tasks/buildkit-build/0.1/samples/registry-cache.yaml"]["spec"]["pipelineSpec"]["tasks"][0]
    assert {"name": "CACHE_REPO", "value": "registry.example.com/team/app/cache"} in buildkit["params"]


def test_tasks_on_disk_are_the_rendered_ones():
    for path, text in FILES.items():
        assert (ROOT / path).read_text(encoding="utf-8") == text, f"{path} is stale: render tasks/"


@pytest.mark.parametrize("task", tasks.TASKS, ids=lambda t: t.name)
def test_catalog_metadata_rules(task):
    """catlin's rules (tektoncd/plumbing catlin validate) and the catalog recommendations."""
    doc = YAML_FILES[tasks.task_path(task)]
    assert doc["apiVersion"] == "tekton.dev/v1"
    meta = doc["metadata"]
    assert meta["name"] == task.name
    assert meta["labels"]["app.kubernetes.io/version"] == "0.1"
    annotations = meta["annotations"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", annotations["tekton.dev/pipelines.minVersion"])
    assert annotations["tekton.dev/categories"] == "Image Build"
    assert annotations["tekton.dev/tags"] and annotations["tekton.dev/displayName"]
    assert all(re.fullmatch(r"[a-z0-9]+/[a-z0-9]+", p) for p in annotations["tekton.dev/platforms"].split(","))
    assert doc["spec"]["description"].endswith(".")
    (builder,) = [p for p in doc["spec"]["params"] if p["name"] == "BUILDER_IMAGE"]
    assert re.fullmatch(r"[a-z0-9.-]+\.[a-z]+/[a-z0-9/._-]+:[\w.-]+@sha256:[0-9a-f]{64}", builder["default"])
    assert ":latest" not in builder["default"]
    for step in doc["spec"]["steps"]:
        assert step["image"] == "$(params.BUILDER_IMAGE)"
        assert step["name"]
        assert "privileged" not in step.get("securityContext", {})
    names = [p["name"] for p in doc["spec"]["params"]]
    assert all(re.fullmatch(r"[A-Z][A-Z_]*", n) for n in names)
    ws = {w["name"]: w for w in doc["spec"]["workspaces"]}
    assert ws["dockerconfig"]["optional"] is True and ws["dockerconfig"]["readOnly"] is True
    if task.results:
        assert [r["name"] for r in doc["spec"]["results"]] == ["IMAGE_DIGEST", "IMAGE_URL", "CACHE_HITS", "CACHE_REPORT"]
    assert ("cache" in ws) == (task.engine == "kaniko")


def test_buildkit_runs_rootless_and_unconfined_without_privileged():
    (step,) = YAML_FILES["tasks/buildkit-build/0.1/buildkit-build.yaml"]["spec"]["steps"]
    assert step["securityContext"] == {
        "runAsUser": 1000,
        "runAsGroup": 1000,
        "seccompProfile": {"type": "Unconfined"},
        "appArmorProfile": {"type": "Unconfined"},
    }
    assert "BUILDKITD_FLAGS" not in {e["name"] for e in step["env"]}  # the launcher sets it from the user it runs as
    assert step["volumeMounts"] == [{"name": "buildkit-state", "mountPath": "/home/user/.local/share/buildkit"}]


@pytest.mark.parametrize("path", sorted(YAML_FILES))
def test_no_script_holds_a_substitution(path):
    for task_spec in _all_tasks_specs(YAML_FILES[path]):
        for step in task_spec["steps"]:
            assert "script" not in step
            shell, flag, script, name = step["command"]
            assert (flag, name) == ("-c", "cachebuild")
            assert not SUBSTITUTION.search(script), path
            assert "$(" not in script  # nothing Tekton could ever substitute
            for value in [shell, *(e["value"] for e in step["env"])]:
                assert value == value.strip()
            for arg in step.get("args", []):
                assert re.fullmatch(r"--cachebuild-array=[A-Z_]+|\$\(params\.[A-Z_]+\[\*\]\)", arg)


@pytest.mark.parametrize("task", tasks.TASKS, ids=lambda t: t.name)
def test_readme_states_pod_security_and_examples(task):
    text = FILES[f"tasks/{task.name}/0.1/README.md"]
    assert "## Pod Security" in text and task.pod_security in text
    assert "kind: TaskRun" in text and "resolver: git" in text and "pathInRepo" in text
    for p in task.params:
        assert f"| `{p.name}` |" in text


def test_catalog_entries_describe_each_task():
    entries = {e["name"]: e for e in catalog.entries()}
    assert list(entries) == ["buildkit-build", "kaniko-warm", "kaniko-build", "buildah-build"]
    kb = entries["kaniko-build"]
    assert kb["path"] == "tasks/kaniko-build/0.1/kaniko-build.yaml" and kb["kind"] == "Task" and kb["version"] == "0.1"
    assert {"name": "BUILD_ARGS", "type": "array", "default": []} in kb["params"]
    assert {"name": "CACHE_REPO", "type": "string", "default": ""} in kb["params"]
    assert kb["results"] == ["IMAGE_DIGEST", "IMAGE_URL", "CACHE_HITS", "CACHE_REPORT"]
    assert kb["workspaces"] == ["source", "dockerconfig", "registry-ca", "cache"]
    assert kb["images"] == [tasks.KANIKO_BUILD.image]
    assert entries["kaniko-warm"]["results"] == []


def _parser():
    parser = argparse.ArgumentParser()
    workflow_command.add_arguments(parser)
    parser.set_defaults(on="tekton")
    return parser


def test_cli_prints_a_valid_pipeline_run():
    args = _parser().parse_args(
        [
            "--engine",
            "kaniko",
            "--image",
            "reg.example.com/a:1",
            "--workspace-pvc",
            "src",
            "--tekton-git-revision",
            "abc123",
            "--namespace",
            "ci",
            "--build-arg",
            "A=1",
            "--warm-image",
            "docker.io/library/debian:12",
        ]
    )
    run = workflow_command.tekton_manifest(args, specs_from_args(args))
    validate(run)
    assert run["metadata"] == {"generateName": "cachebuild-", "namespace": "ci"}
    warm, build = run["spec"]["pipelineSpec"]["tasks"]
    assert {"name": "revision", "value": "abc123"} in build["taskRef"]["params"]
    assert build["params"] == [
        {"name": "IMAGE", "value": "reg.example.com/a:1"},
        {"name": "CACHE_REPO", "value": "reg.example.com/a/cache"},
        {"name": "BUILD_ARGS", "value": ["A=1"]},
    ]
    inline = _parser().parse_args(["--inline", "--image", "reg.example.com/a:1", "--workspace-pvc", "src"])
    (task,) = workflow_command.tekton_manifest(inline, specs_from_args(inline))["spec"]["pipelineSpec"]["tasks"]
    assert task["taskSpec"] == tasks.BUILDKIT.manifest()["spec"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--image", "reg.example.com/a:1"], "--workspace-pvc: the context '.' is a workspace path: name the PVC that holds it"),
        (
            ["--image", "reg.example.com/a:1", "--image", "reg.example.com/a:2", "--workspace-pvc", "s"],
            "--image: a Tekton build pushes one image",
        ),
    ],
)
def test_cli_errors_name_the_flag(argv, message):
    args = _parser().parse_args(argv)
    with pytest.raises(SpecError) as err:
        workflow_command.tekton_manifest(args, specs_from_args(args))
    assert str(err.value).startswith(message)


def test_tekton_lint_finds_nothing_in_tasks():
    require("npx")
    proc = subprocess.run(
        ["npx", "--no-install", "tekton-lint", "--max-warnings", "0", "--format", "json", "tasks/**/*.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == "[]"


@pytest.mark.parametrize(("engine", "sub_path"), [("buildkit", ".cachebuild/buildkit"), ("buildah", ".cachebuild/buildah")])
def test_cache_mounts_are_a_subpath_of_the_one_claim_tekton_binds(engine, sub_path):
    from cachebuild import BuildSpec
    from cachebuild.errors import SpecError
    from cachebuild.tekton import pipelines

    def bindings(spec):
        run = pipelines.pipeline_run([spec], engine, pipelines.TaskOrigin("name"))
        (task,) = run["spec"]["pipelineSpec"]["tasks"]
        return run["spec"]["workspaces"], {w["name"]: w for w in task["workspaces"]}

    claims, task = bindings(BuildSpec("r.example/a:1", workspace_pvc="src", cache_mounts_pvc="src"))
    assert claims == [{"name": "source", "persistentVolumeClaim": {"claimName": "src"}}]
    assert task["cache-mounts"] == {"name": "cache-mounts", "workspace": "source", "subPath": sub_path}

    claims, task = bindings(BuildSpec("r.example/a:1", context="https://g.example/r.git#main", cache_mounts_pvc="m"))
    assert {"name": "cache-mounts", "persistentVolumeClaim": {"claimName": "m"}} in claims
    assert task["cache-mounts"]["subPath"] == sub_path

    with pytest.raises(SpecError) as caught:
        bindings(BuildSpec("r.example/a:1", workspace_pvc="src", cache_mounts_pvc="m"))
    assert caught.value.field == "cache_mounts_pvc"
    assert "more than one PersistentVolumeClaim is bound" in str(caught.value)
