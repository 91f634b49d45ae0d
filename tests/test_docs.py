"""The user documentation: every example in it parses, validates strictly and does what it says."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from cachebuild.argo import catalog as argo_catalog
from cachebuild.argo.compose import workflow
from cachebuild.argo.readme import HERA_EXAMPLE
from cachebuild.argo.templates import TEMPLATES, template_dict
from cachebuild.commands.spec_args import spec_from_mapping
from cachebuild.tekton import catalog as tekton_catalog
from cachebuild.tekton.pipelines import DEFAULT_GIT_URL
from cachebuild.tekton.tasks import TASKS
from support.schemas import validate

ROOT = Path(__file__).resolve().parents[1]
ARGO_README = argo_catalog.files()["workflows/README.md"]
TEKTON_FILES = tekton_catalog.files()
TEKTON_READMES = {t.name: TEKTON_FILES[f"tasks/{t.name}/0.1/README.md"] for t in TASKS}
TOP_README = (ROOT / "README.md").read_text(encoding="utf-8")
FENCE = re.compile(r"^```(\w+)\n(.*?)^```$", re.S | re.M)
TEMPLATE_INPUTS = {t.name: template_dict(t)["inputs"]["parameters"] for t in TEMPLATES}


def blocks(text: str, language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(text) if lang == language]


def check_yaml_example(doc: Any) -> None:
    """A manifest validates strictly; a list is a ``--specs`` file whose specs make a valid Workflow."""
    if isinstance(doc, list):
        # the documented commands give the workspace with --workspace-pvc app-source
        specs = [spec_from_mapping(item, {"workspace_pvc": "app-source"}, f"specs[{i}]") for i, item in enumerate(doc)]
        validate(workflow(specs, "buildkit").to_dict())
        return
    validate(doc)


def check_template_refs(manifest: dict[str, Any]) -> int:
    """Every templateRef names an installed template, passes only its parameters and all required ones."""
    calls = 0
    for template in manifest["spec"]["templates"]:
        for task in template.get("dag", {}).get("tasks", []):
            ref = task.get("templateRef")
            if not ref:
                continue
            assert ref["name"] == ref["template"] and ref["name"] in TEMPLATE_INPUTS
            declared = {p["name"]: p for p in TEMPLATE_INPUTS[ref["name"]]}
            given = {p["name"] for p in task["arguments"]["parameters"]}
            assert given <= set(declared), given - set(declared)
            assert {n for n, p in declared.items() if "default" not in p} <= given
            calls += 1
    return calls


def test_workflows_readme_is_on_disk():
    assert (ROOT / "workflows/README.md").read_text(encoding="utf-8") == ARGO_README


def test_workflows_readme_yaml_examples_validate_and_call_real_templates():
    docs = [yaml.safe_load(b) for b in blocks(ARGO_README, "yaml")]
    manifests = [d for d in docs if isinstance(d, dict)]
    assert len(manifests) == 2 and any(isinstance(d, list) for d in docs)
    for doc in docs:
        check_yaml_example(doc)
    calls = [check_template_refs(m) for m in manifests]
    assert calls == [1, 2]
    cluster = [t["templateRef"] for t in manifests[1]["spec"]["templates"][0]["dag"]["tasks"]]
    assert all(ref.get("clusterScope") is True for ref in cluster)
    assert not any("clusterScope" in t.get("templateRef", {}) for t in manifests[0]["spec"]["templates"][0]["dag"]["tasks"])


def test_workflows_readme_hera_snippet_runs_and_makes_a_valid_workflow():
    (snippet,) = blocks(ARGO_README, "python")
    assert snippet == HERA_EXAMPLE
    namespace: dict[str, Any] = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(snippet, "workflows/README.md", "exec"), namespace)  # noqa: S102 (the documented example)
    manifest = namespace["w"].to_dict()
    validate(manifest)
    assert yaml.safe_load(out.getvalue()) == manifest
    (dag,) = manifest["spec"]["templates"]
    warm, build = dag["dag"]["tasks"]
    assert warm["templateRef"]["name"] == "kaniko-warm-v1" and build["templateRef"]["name"] == "kaniko-build-v1"
    assert build["depends"] == warm["name"]
    assert check_template_refs(manifest) == 2


@pytest.mark.parametrize("name", sorted(TEMPLATE_INPUTS))
def test_workflows_readme_documents_every_parameter_output_and_pod_security(name):
    section = ARGO_README.split(f"\n## {name}\n", 1)[1].split("\n## ", 1)[0]
    for param in TEMPLATE_INPUTS[name]:
        default = "(required)" if "default" not in param else (f"`{param['default']}`" if param["default"] else '`""`')
        assert f"| `{param['name']}` | {default} | {param['description']} |" in section
    t = next(t for t in TEMPLATES if t.name == name)
    assert ("| `image-digest` |" in section) == t.has_outputs and ("| `image-url` |" in section) == t.has_outputs
    assert f"**Pod Security: `{t.pod_security}`.**" in section
    assert ("`cache-pvc`" in section) == t.uses_cache_pvc


def test_workflows_readme_states_the_notes_users_need():
    for phrase in (
        "kubectl apply -k workflows/",
        "argo template create",
        "clusterScope: true",
        "| argo submit",
        "ReadWriteOnce",
        "ReadWriteMany",
        "podSpecPatch",
        "pushes anonymously",
        "container.apparmor.security.beta.kubernetes.io/main: unconfined",
    ):
        assert phrase in ARGO_README, phrase


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.name)
def test_tekton_readme_examples_validate_and_name_the_git_url_placeholder(task):
    text = TEKTON_READMES[task.name]
    docs = [yaml.safe_load(b) for b in blocks(text, "yaml")]
    assert [d["kind"] for d in docs] == ["TaskRun", "PipelineRun"]
    for doc in docs:
        validate(doc)
    assert DEFAULT_GIT_URL in text
    assert "replace it with the URL of your clone or fork of cachebuild" in text and "--tekton-git-url" in text
    arrays = ", ".join(f"`{name}`" for name, _ in task.arrays)
    assert f"Array params ({arrays}) reach the step" in text


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.name)
def test_tekton_readme_lists_the_tasks_real_interface(task):
    text = TEKTON_READMES[task.name]
    spec = task.manifest()["spec"]
    for p in spec["params"]:
        assert f"| `{p['name']}` | {p['type']} |" in text
    section = text.split("## Workspaces", 1)[1].split("## Results", 1)[0]
    assert re.findall(r"^- `([a-z-]+)`", section, re.M) == [w["name"] for w in spec["workspaces"]]
    results = text.split("## Results", 1)[1].split("## Pod Security", 1)[0]
    assert re.findall(r"^- `([A-Z_]+)`", results, re.M) == [r["name"] for r in spec.get("results", [])]


def test_top_readme_sections_and_examples():
    for heading in ("## Argo Workflows", "## Tekton", "## Printing a Workflow or PipelineRun"):
        assert f"\n{heading}\n" in TOP_README
    docs = [yaml.safe_load(b) for b in blocks(TOP_README, "yaml")]
    kinds = [d["kind"] if isinstance(d, dict) else "specs" for d in docs]
    assert kinds == ["Workflow", "TaskRun", "specs"]
    for doc in docs:
        check_yaml_example(doc)
    assert check_template_refs(docs[0]) == 1
    url = next(p for p in docs[1]["spec"]["taskRef"]["params"] if p["name"] == "url")
    assert url["value"] == DEFAULT_GIT_URL
    assert "--tekton-git-url" in TOP_README and "your clone or fork of cachebuild" in TOP_README
    for link in re.findall(r"\]\(((?:tasks|workflows)/[^)]+)\)", TOP_README):
        assert (ROOT / link).is_file(), link


def sh_commands(text: str, program: str) -> list[str]:
    """Each ``program …`` command of the ``sh`` blocks, continuation lines joined, without its pipe."""
    commands = []
    for block in blocks(text, "sh"):
        for command in block.replace("\\\n", " ").splitlines():
            command = command.split(" | ")[0].split("  #")[0].strip()
            if command.startswith(program + " "):
                commands.append(command)
    return commands


@pytest.mark.parametrize("where", ["README.md", "workflows/README.md"])
def test_documented_workflow_commands_print_valid_objects(where, tmp_path):
    import shlex
    import subprocess
    import sys

    text = TOP_README if where == "README.md" else ARGO_README
    (specs_file,) = [b for b in blocks(text, "yaml") if b.startswith("- image:")]
    (tmp_path / "builds.yaml").write_text(specs_file)
    commands = sh_commands(text, "cachebuild workflow")
    assert len(commands) >= 2
    for command in commands:
        argv = shlex.split(command)[1:]
        done = subprocess.run([sys.executable, "-m", "cachebuild", *argv], capture_output=True, text=True, cwd=tmp_path)
        assert done.returncode == 0, f"{command}\n{done.stderr}"
        validate(yaml.safe_load(done.stdout))
