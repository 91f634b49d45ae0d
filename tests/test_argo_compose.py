"""argo.buildkit_build & co. inside Hera DAG and Steps contexts, and argo.workflow for one or many specs."""

import pytest
from hera.workflows import DAG, Steps, Task, Workflow
from hera.workflows import Step as HeraStep

from cachebuild import BuildSpec, SpecError, argo
from cachebuild.argo.templates import TEMPLATES
from support.argo import task_calls
from support.schemas import validate

IMG = "registry.example.com/team/app:1.0"
FUNCS = {"buildkit": argo.buildkit_build, "kaniko": argo.kaniko_build, "buildah": argo.buildah_build}


@pytest.mark.parametrize("engine", FUNCS)
@pytest.mark.parametrize("inline", [False, True])
def test_dag_with_warm_then_build_by_ref_and_inline(engine, inline):
    spec = BuildSpec(IMG, workspace_pvc="src", kaniko_cache_pvc="cache" if engine == "kaniko" else None)
    with Workflow(generate_name="mine-", entrypoint="main") as w, DAG(name="main"):
        build = FUNCS[engine](spec, inline=inline)
        if engine == "kaniko":
            warm = argo.kaniko_warm(BuildSpec(IMG, warm_images=["docker.io/library/alpine:3.20"], workspace_pvc="src",
                                              kaniko_cache_pvc="cache"), inline=inline)  # fmt: skip
            warm >> build
    assert isinstance(build, Task)
    manifest = w.to_dict()
    validate(manifest)
    calls = task_calls(manifest)
    assert calls[0]["name"] == f"{engine}-build"
    if engine == "kaniko":
        assert calls[0]["depends"] == "kaniko-warm" and calls[1]["name"] == "kaniko-warm"
    names = sorted(t["name"] for t in manifest["spec"]["templates"])
    if inline:
        assert all("templateRef" not in c for c in calls)
        assert names == sorted(["main", *{c["template"] for c in calls}])
    else:
        assert names == ["main"]
        assert calls[0]["templateRef"] == {"name": f"{engine}-build-v1", "template": f"{engine}-build-v1"}


def test_steps_context_gives_steps_and_cluster_scope_refs():
    with Workflow(generate_name="mine-", entrypoint="main") as w, Steps(name="main"):
        first = argo.buildah_build(images=[IMG], context="a", workspace_pvc="src", name="a", cluster_scope=True)
        second = argo.buildkit_build(images=[IMG], context="b", workspace_pvc="src", name="b", cluster_scope=True)
    assert isinstance(first, HeraStep) and isinstance(second, HeraStep)
    manifest = w.to_dict()
    validate(manifest)
    steps = manifest["spec"]["templates"][0]["steps"]
    assert [[s["name"] for s in group] for group in steps] == [["a"], ["b"]]
    assert steps[0][0]["templateRef"] == {"name": "buildah-build-v1", "template": "buildah-build-v1", "clusterScope": True}
    assert {"name": "context", "value": "b"} in steps[1][0]["arguments"]["parameters"]


def test_keyword_fields_and_spec_are_exclusive_and_validated():
    with pytest.raises(TypeError, match="not both"):
        argo.buildkit_build(BuildSpec(IMG), images=[IMG])
    with pytest.raises(SpecError, match=r"^platforms: kaniko builds one platform per run"):
        argo.kaniko_build(images=[IMG], platforms=["linux/amd64", "linux/arm64"], workspace_pvc="src")
    with pytest.raises(SpecError, match=r"^warm_images: only the kaniko engine has a warmer"):
        argo.buildah_build(images=[IMG], warm_images=["docker.io/library/a:1"], workspace_pvc="src")
    with pytest.raises(SpecError, match=r"^warm_images: a git context has no Dockerfile"):
        argo.kaniko_warm(images=[IMG], context="https://github.com/o/r.git#main")


def test_arguments_are_only_what_differs_from_the_template_defaults():
    task = argo.buildkit_build(
        images=[IMG, "registry.example.com/team/app:latest"], build_args={"A": "1", "B": "x y"}, workspace_pvc="src"
    )
    assert task.arguments == {
        "image": f"{IMG}\nregistry.example.com/team/app:latest",
        "cache-repo": "registry.example.com/team/app/cache",
        "build-args": "A=1\nB=x y",
        "workspace-pvc": "src",
    }


WORKSPACE_PATH_ERROR = (
    r"^workspace_pvc: the context 'app' is a path in the workspace: name the PersistentVolumeClaim that holds it "
    r"\(or build from a git context, https://host/repo.git#ref:subdir\)$"
)


def test_a_workspace_path_without_a_pvc_is_refused_everywhere():
    with pytest.raises(SpecError, match=WORKSPACE_PATH_ERROR):
        argo.workflow(BuildSpec(IMG, context="app"), "buildkit")
    with pytest.raises(SpecError, match=r"^specs\[1\]\.workspace_pvc: the context 'app' is a path in the workspace"):
        argo.workflow([BuildSpec(IMG, context="a", workspace_pvc="src"), BuildSpec(IMG, context="app")], "buildah")
    with Workflow(generate_name="mine-", entrypoint="main"), DAG(name="main"):
        with pytest.raises(SpecError, match=WORKSPACE_PATH_ERROR):
            argo.buildkit_build(images=[IMG], context="app")
        argo.buildkit_build(images=[IMG], context="app", workspace_pvc="src")  # a PVC: fine


def test_a_git_context_without_a_pvc_gets_a_claim_for_the_mount_in_hera_too():
    git = "https://github.com/example/app.git#main:app"
    with Workflow(generate_name="mine-", entrypoint="main") as w, DAG(name="main"):
        argo.kaniko_warm(images=[IMG], context=git, warm_images=["docker.io/library/alpine:3.20"])
        argo.kaniko_build(images=[IMG], context=git)
    manifest = w.to_dict()
    validate(manifest)
    claims = {
        c["metadata"]["name"]: c["spec"]["resources"]["requests"]["storage"] for c in manifest["spec"]["volumeClaimTemplates"]
    }
    assert claims == {"workspace": "1Gi", "kaniko-cache": "5Gi"}  # once each, however many tasks use them
    for call in task_calls(manifest):
        params = {p["name"]: p["value"] for p in call["arguments"]["parameters"]}
        assert params["workspace-pvc"] == "{{workflow.name}}-workspace"
        assert params["cache-pvc"] == "{{workflow.name}}-kaniko-cache"


@pytest.mark.parametrize("engine", FUNCS)
@pytest.mark.parametrize("inline", [False, True])
@pytest.mark.parametrize("count", [1, 3])
def test_workflow_helper_validates_and_shares_one_template(engine, inline, count):
    warm = ["docker.io/library/alpine:3.20"] if engine == "kaniko" else ()
    specs = [BuildSpec(f"registry.example.com/team/app{i}:1.0", context=f"https://github.com/example/app{i}.git#main",
                       warm_images=warm) for i in range(count)]  # fmt: skip
    manifest = argo.workflow(specs, engine, inline=inline, namespace="ci", service_account="builder").to_dict()
    validate(manifest)
    assert manifest["metadata"]["namespace"] == "ci" and manifest["spec"]["serviceAccountName"] == "builder"
    calls = task_calls(manifest)
    per_spec = 2 if engine == "kaniko" else 1
    assert len(calls) == per_spec * count
    templates = manifest["spec"]["templates"]
    assert len(templates) == 1 + (per_spec if inline else 0)
    claims = [c["metadata"]["name"] for c in manifest["spec"]["volumeClaimTemplates"]]
    assert claims == (["workspace", "kaniko-cache"] if engine == "kaniko" else ["workspace"])


def test_existing_pvcs_mean_no_claim_templates():
    manifest = argo.workflow(BuildSpec(IMG, workspace_pvc="src", kaniko_cache_pvc="kc"), "kaniko").to_dict()
    assert "volumeClaimTemplates" not in manifest["spec"]
    (call,) = task_calls(manifest)
    params = {p["name"]: p["value"] for p in call["arguments"]["parameters"]}
    assert (params["workspace-pvc"], params["cache-pvc"]) == ("src", "kc")


def test_workflow_errors_name_the_spec_and_field():
    specs = [BuildSpec(IMG, workspace_pvc="src"), BuildSpec(IMG, platforms=["linux/amd64", "linux/arm64"], workspace_pvc="src")]
    with pytest.raises(SpecError, match=r"^specs\[1\]\.platforms: kaniko builds one platform per run"):
        argo.workflow(specs, "kaniko")
    with pytest.raises(SpecError, match=r"^workspace_size: must be a Kubernetes quantity"):
        argo.workflow(BuildSpec(IMG, context="https://github.com/example/app.git"), "buildkit", workspace_size="lots")
    with pytest.raises(SpecError, match=r"^engine: must be one of"):
        argo.workflow(BuildSpec(IMG, workspace_pvc="src"), "docker")  # type: ignore[arg-type]


def test_every_template_is_exported_and_named_by_major_version():
    assert [t.name for t in TEMPLATES] == ["buildkit-build-v1", "kaniko-warm-v1", "kaniko-build-v1", "buildah-build-v1"]


def test_several_builds_in_one_dag_get_names_of_their_own():
    a = BuildSpec("registry.example.com/team/a:1", context="a", workspace_pvc="src")
    b = BuildSpec("registry.example.com/team/b:1", context="b", workspace_pvc="src")
    with Workflow(generate_name="mine-", entrypoint="main") as w, DAG(name="main"):
        argo.buildkit_build(a)
        argo.buildkit_build(b)
        argo.buildkit_build(b, name="mine")
        argo.buildkit_build(a)
        warm_a = argo.kaniko_warm(BuildSpec(a.image, workspace_pvc="src", warm_images=["docker.io/library/alpine:3.20"]))
        warm_b = argo.kaniko_warm(BuildSpec(b.image, workspace_pvc="src", warm_images=["docker.io/library/alpine:3.20"]))
        warm_a >> argo.kaniko_build(a)
        warm_b >> argo.kaniko_build(b)
    manifest = w.to_dict()
    validate(manifest)
    names = [t["name"] for t in manifest["spec"]["templates"][0]["dag"]["tasks"]]
    assert names == ["buildkit-build", "buildkit-build-2", "mine", "buildkit-build-3", "kaniko-warm", "kaniko-warm-2",
                     "kaniko-build", "kaniko-build-2"]  # fmt: skip
    with Workflow(generate_name="mine-", entrypoint="main") as w, Steps(name="main"):
        argo.buildah_build(a)
        argo.buildah_build(b)
    assert [s[0]["name"] for s in w.to_dict()["spec"]["templates"][0]["steps"]] == ["buildah-build", "buildah-build-2"]


@pytest.mark.parametrize("helper", ["buildkit_build", "kaniko_warm", "kaniko_build", "buildah_build"])
def test_a_reference_instead_of_a_spec_is_a_clear_type_error(helper):
    with pytest.raises(TypeError) as caught:
        getattr(argo, helper)("r.io/a:1")
    assert str(caught.value) == (
        f"argo.{helper}() takes a BuildSpec, or its fields as keywords (images=[...], context=...); got str 'r.io/a:1': "
        f"write argo.{helper}(BuildSpec('r.io/a:1', ...)) or argo.{helper}(images=['r.io/a:1'], ...)"
    )
