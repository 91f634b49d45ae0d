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
