"""The rendered Argo templates: strict schemas, templateRef safety, the builder program inside, security."""

import re
from pathlib import Path

import pytest

from cachebuild.argo import catalog, templates
from cachebuild.argo.templates import TEMPLATES
from cachebuild.builders.program import Input, compile_sh, placeholder_env
from support.schemas import errors

ROOT = Path(__file__).resolve().parents[1]
MANIFESTS = catalog.manifests()
TEMPLATE_DICTS = [pytest.param(t, templates.template_dict(t), id=t.task) for t in TEMPLATES]


@pytest.mark.parametrize("path", sorted(MANIFESTS))
def test_every_rendered_manifest_validates_strictly(path):
    assert errors(MANIFESTS[path]) == []


def test_rendered_files_on_disk_match_the_python():
    files = catalog.files()
    assert sorted(files) == sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "workflows").rglob("*") if p.is_file())
    for path, text in files.items():
        assert (ROOT / path).read_text(encoding="utf-8") == text, f"{path} differs: run cachebuild render"


def test_kustomization_installs_every_template_both_scopes():
    import yaml

    kustomization = yaml.safe_load(catalog.files()["workflows/kustomization.yaml"])
    installed = [yaml.safe_load((ROOT / "workflows" / r).read_text()) for r in kustomization["resources"]]
    assert sorted((m["kind"], m["metadata"]["name"]) for m in installed) == sorted(
        (kind, f"{t.task}-v1") for t in TEMPLATES for kind in ("WorkflowTemplate", "ClusterWorkflowTemplate")
    )


@pytest.mark.parametrize(("t", "template"), TEMPLATE_DICTS)
def test_every_volume_mount_resolves_to_a_volume_the_template_declares(t, template):
    """templateRef safety: Argo never looks at the WorkflowTemplate's own spec.volumes."""
    declared = {v["name"] for v in template["volumes"]}
    mounts = template["container"]["volumeMounts"]
    assert mounts and {m["name"] for m in mounts} <= declared
    assert declared == {m["name"] for m in mounts}, "a declared volume nobody mounts"
    for path, manifest in MANIFESTS.items():
        if manifest["kind"] != "Workflow":
            assert "volumes" not in manifest["spec"] and "volumeClaimTemplates" not in manifest["spec"], path


@pytest.mark.parametrize(("t", "template"), TEMPLATE_DICTS)
def test_container_runs_the_builder_program_launcher_with_placeholder_env(t, template):
    c = template["container"]
    inputs = {p.key: Input(p.name) for p in t.spec_params() if p.key}
    assert c["command"] == [t.interpreter, "-c", compile_sh(t.program, inputs), "cachebuild"]
    assert "args" not in c
    env = {e["name"]: e["value"] for e in c["env"]}
    cb_env = {k: v for k, v in env.items() if k.startswith("CB_")}

    def expected(key):
        if key in t.layout:
            return t.layout[key]
        return "{{inputs.parameters." + templates.PARAM_BY_KEY[key].name + "}}"

    assert cb_env == placeholder_env(t.program, expected)
    # every value the program reads is set: nothing falls back to an empty default silently
    assert len(cb_env) == len(t.program.value_keys())
    declared = {p["name"] for p in template["inputs"]["parameters"]}
    used = {m for v in env.values() for m in re.findall(r"\{\{inputs\.parameters\.([a-z-]+)\}\}", v)}
    assert used and used <= declared


@pytest.mark.parametrize(("t", "template"), TEMPLATE_DICTS)
def test_no_parameter_is_ever_shell_code(t, template):
    script = template["container"]["command"][2]
    assert "{{" not in script and "$(params" not in script
    assert template["container"]["image"] == "{{inputs.parameters.builder-image}}"
    defaults = {p["name"]: p.get("default") for p in template["inputs"]["parameters"]}
    assert defaults["builder-image"] == t.image and "@sha256:" in t.image


def _walk(node):
    if isinstance(node, dict):
        for k, v in node.items():
            yield k, v
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


@pytest.mark.parametrize("path", sorted(MANIFESTS))
def test_nothing_is_privileged(path):
    assert ("privileged", True) not in [(k, v) for k, v in _walk(MANIFESTS[path]) if k == "privileged"]


@pytest.mark.parametrize(("t", "template"), TEMPLATE_DICTS)
def test_credentials_are_a_read_only_projection_of_either_secret_kind(t, template):
    (volume,) = [v for v in template["volumes"] if v["name"] == "cb-docker-config"]
    secret = "{{inputs.parameters.docker-config-secret}}"
    assert volume["projected"]["sources"] == [
        {"secret": {"name": secret, "optional": True, "items": [{"key": ".dockerconfigjson", "path": "config.json"}]}},
        {"secret": {"name": secret, "optional": True}},
    ]
    (mount,) = [m for m in template["container"]["volumeMounts"] if m["name"] == "cb-docker-config"]
    assert mount == {"name": "cb-docker-config", "mountPath": t.docker_config_dir, "readOnly": True}
    env = {e["name"]: e["value"] for e in template["container"]["env"]}
    if t.task == "buildah-build":
        assert env["CB_AUTH_FILE"] == t.docker_config_dir + "/config.json"
    else:
        assert env["DOCKER_CONFIG"] == t.docker_config_dir
    for name, value in env.items():
        assert "secret" not in value.lower() or name == "DOCKER_CONFIG", name


def test_buildkit_is_rootless_exactly_as_the_reference_says():
    template = templates.template_dict(templates.BUILDKIT_BUILD)
    assert template["container"]["securityContext"] == {
        "runAsUser": 1000,
        "runAsGroup": 1000,
        "runAsNonRoot": True,
        "seccompProfile": {"type": "Unconfined"},
        "appArmorProfile": {"type": "Unconfined"},
    }
    assert template["metadata"] == {"annotations": {"container.apparmor.security.beta.kubernetes.io/main": "unconfined"}}
    env = {e["name"]: e["value"] for e in template["container"]["env"]}
    assert "BUILDKITD_FLAGS" not in env  # the launcher sets it from the user it runs as
    mounts = {m["mountPath"]: m["name"] for m in template["container"]["volumeMounts"]}
    state = mounts["/home/user/.local/share/buildkit"]
    assert {"name": state, "emptyDir": {}} in template["volumes"]


@pytest.mark.parametrize(("t", "template"), TEMPLATE_DICTS)
def test_resources_are_set_and_overridable(t, template):
    """The patch is one Argo expression (tests/test_go_checks.py runs it through Argo's own code)."""
    patch = template["podSpecPatch"]
    assert patch.startswith("{{=sprig.toJson(") and patch.endswith(")}}") and "}}" not in patch[:-2]
    for name in ("cpu-request", "memory-request", "cpu-limit", "memory-limit"):
        assert f"inputs.parameters['{name}']" in patch
    assert ("cache-mounts-pvc" in patch) == (t.cache_mounts is not None)
    defaults = {p["name"]: p.get("default") for p in template["inputs"]["parameters"]}
    assert [defaults[n] for n in ("cpu-request", "memory-request", "cpu-limit", "memory-limit")] == ["500m", "1Gi", "2", "4Gi"]


@pytest.mark.parametrize(("t", "template"), TEMPLATE_DICTS)
def test_outputs_have_defaults_and_read_the_launcher_files(t, template):
    if t.task == "kaniko-warm":
        assert "outputs" not in template
        return
    assert template["outputs"]["parameters"] == [
        {"name": "image-digest", "description": "sha256 digest of the pushed image.",
         "valueFrom": {"path": "/tmp/cachebuild/image-digest", "default": ""}},
        {"name": "image-url", "description": "The first destination image reference.",
         "valueFrom": {"path": "/tmp/cachebuild/image-url", "default": ""}},
        {"name": "cache-hits", "description": "The build's steps taken from a cache over its steps (FROM left out), e.g. 5/6.",
         "valueFrom": {"path": "/tmp/cachebuild/cache-hits", "default": ""}},
        {"name": "cache-report",
         "description": 'What the cache did per step, as JSON: {"builder", "hits", "steps": [{"step", "instruction", '
                        '"outcome": cached, pulled, built or failed, "seconds"}]}.',
         "valueFrom": {"path": "/tmp/cachebuild/cache-report", "default": ""}},
    ]  # fmt: skip


def test_required_inputs_have_no_default_and_optional_ones_do():
    template = templates.template_dict(templates.KANIKO_BUILD)
    required = [p["name"] for p in template["inputs"]["parameters"] if "default" not in p]
    assert required == ["image", "workspace-pvc", "cache-pvc"]
    assert "null" not in [p.get("default") for p in template["inputs"]["parameters"]]


@pytest.mark.parametrize("t", TEMPLATES, ids=lambda t: t.task)
def test_catalog_annotations_and_versioned_names(t):
    manifest = MANIFESTS[catalog.template_path(t)]
    assert manifest["metadata"]["name"] == f"{t.task}-v1"
    assert manifest["spec"]["entrypoint"] == f"{t.task}-v1"
    annotations = manifest["metadata"]["annotations"]
    assert annotations["workflows.argoproj.io/description"].endswith(".")
    assert annotations["workflows.argoproj.io/maintainer"] == "@cachebuild"
    assert t.engine in annotations["workflows.argoproj.io/tags"].split(", ")
    assert annotations["workflows.argoproj.io/version"] == ">= 3.5.0"
    cluster = MANIFESTS[catalog.template_path(t, cluster_scope=True)]
    assert cluster["kind"] == "ClusterWorkflowTemplate" and cluster["spec"] == manifest["spec"]


def test_catalog_entries_point_at_rendered_files():
    files = catalog.files()
    entries = catalog.entries()
    assert len(entries) == 8
    for entry in entries:
        assert entry["path"] in files
        assert set(entry) == {"name", "version", "kind", "path", "description", "params", "results", "workspaces", "images"}
    buildkit = entries[0]
    assert buildkit["name"] == "buildkit-build-v1"
    assert buildkit["results"] == ["image-digest", "image-url", "cache-hits", "cache-report"]
    assert {"name": "cache-repo", "type": "string", "default": ""} in buildkit["params"]
