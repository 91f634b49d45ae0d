"""``cachebuild workflow`` through the real command line, for both control planes."""

import subprocess
import sys

import pytest
import yaml

from support.schemas import validate


def workflow(*args):
    return subprocess.run([sys.executable, "-m", "cachebuild", "workflow", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("on", ["argo", "tekton"])
@pytest.mark.parametrize("engine", ["buildkit", "kaniko", "buildah"])
@pytest.mark.parametrize("mode", ["--ref", "--inline"])
def test_prints_a_valid_object_ready_for_create(on, engine, mode):
    proc = workflow("--on", on, "--engine", engine, mode, "--image", "registry.example.com/team/app:1",
                    "--workspace-pvc", "src", "--build-arg", "A=$(id) `id`; x")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    manifest = yaml.safe_load(proc.stdout)
    assert manifest["kind"] == ("Workflow" if on == "argo" else "PipelineRun")
    validate(manifest)
    # the hostile build arg arrives as one exact parameter value (Argo: a line of build-args; Tekton: an array item)
    assert "A=$(id) `id`; x" in set(strings(manifest))


def strings(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)
    elif isinstance(node, str):
        yield node


@pytest.mark.parametrize("on", ["argo", "tekton"])
def test_specs_file_item_errors_name_the_item_and_print_nothing(on, tmp_path):
    specs = tmp_path / "specs.yaml"
    specs.write_text("- image: registry.example.com/a:1\n- image: registry.example.com/B:1\n")
    proc = workflow("--on", on, "--specs", str(specs), "--workspace-pvc", "src")
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr.startswith("cachebuild: error: specs[1].image[0]: the repository path must be lower-case")


@pytest.mark.parametrize("on", ["argo", "tekton"])
def test_engine_specific_error_names_the_item(on, tmp_path):
    specs = tmp_path / "specs.yaml"
    specs.write_text(
        "- image: registry.example.com/a:1\n- image: registry.example.com/b:1\n  platforms: [linux/amd64, linux/arm64]\n"
    )
    proc = workflow("--on", on, "--engine", "kaniko", "--specs", str(specs), "--workspace-pvc", "src")
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr.startswith("cachebuild: error: specs[1].platforms: kaniko builds one platform per run")


@pytest.mark.parametrize("engine", ["buildkit", "kaniko", "buildah"])
def test_tekton_references_installed_tasks_by_name_by_default(engine):
    warm = ["--warm-image", "docker.io/library/alpine:3.20"] if engine == "kaniko" else []
    proc = workflow("--on", "tekton", "--engine", engine, "--image", "registry.example.com/team/app:1", "--workspace-pvc", "s",
                    *warm)  # fmt: skip
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    run = yaml.safe_load(proc.stdout)
    validate(run)
    refs = [t["taskRef"] for t in run["spec"]["pipelineSpec"]["tasks"]]
    expected = [{"name": "kaniko-warm"}, {"name": "kaniko-build"}] if engine == "kaniko" else [{"name": f"{engine}-build"}]
    assert refs == expected  # what `kubectl apply -f tasks/<name>/0.1/<name>.yaml` installs


def test_tekton_git_resolver_warns_about_the_placeholder_url():
    from cachebuild.tekton.pipelines import DEFAULT_GIT_URL

    proc = workflow("--on", "tekton", "--tekton-ref", "git", "--image", "registry.example.com/team/app:1", "--workspace-pvc", "s")
    assert proc.returncode == 0
    assert proc.stderr == (
        f"cachebuild: warning: the git resolver URL {DEFAULT_GIT_URL} is a placeholder, not a repository that holds the "
        "Tasks: give your clone or fork of cachebuild with --tekton-git-url URL (or reference installed Tasks: "
        "--tekton-ref installed)\n"
    )
    (task,) = yaml.safe_load(proc.stdout)["spec"]["pipelineSpec"]["tasks"]
    assert task["taskRef"]["resolver"] == "git"
    assert {"name": "url", "value": DEFAULT_GIT_URL} in task["taskRef"]["params"]


def test_a_git_url_means_the_git_resolver_and_no_warning():
    url = "https://git.example.com/me/cachebuild.git"
    proc = workflow("--on", "tekton", "--tekton-git-url", url, "--tekton-git-revision", "v0.1.0",
                    "--image", "registry.example.com/team/app:1", "--workspace-pvc", "s")  # fmt: skip
    assert proc.returncode == 0 and proc.stderr == ""
    (task,) = yaml.safe_load(proc.stdout)["spec"]["pipelineSpec"]["tasks"]
    params = {p["name"]: p["value"] for p in task["taskRef"]["params"]}
    assert params == {"url": url, "revision": "v0.1.0", "pathInRepo": "tasks/buildkit-build/0.1/buildkit-build.yaml"}
