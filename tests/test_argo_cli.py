"""``cachebuild workflow --on argo``: the Argo options and manifest, driven through the command's real parser."""

import argparse
import textwrap

import pytest

from cachebuild import SpecError
from cachebuild.argo import compose
from cachebuild.commands import workflow as workflow_command
from cachebuild.commands.spec_args import specs_from_args
from support.argo import task_calls
from support.schemas import validate

IMG = "registry.example.com/team/app:1.0"


def manifest(*argv):
    parser = argparse.ArgumentParser()
    workflow_command.add_arguments(parser)
    args = parser.parse_args(list(argv))
    return workflow_command.argo_manifest(args, specs_from_args(args))


def params(call):
    return {p["name"]: p["value"] for p in call["arguments"]["parameters"]}


@pytest.mark.parametrize("engine", ["buildkit", "kaniko", "buildah"])
@pytest.mark.parametrize("mode", ["--ref", "--inline"])
def test_flags_print_a_valid_workflow(engine, mode):
    argv = ["--engine", engine, mode, "--image", IMG, "--image", "registry.example.com/team/app:latest", "--context", "app",
            "--dockerfile", "build/Dockerfile", "--cache-repo", "registry.example.com/cache/app", "--build-arg", "A=x y",
            "--target", "prod", "--docker-config-secret", "creds", "--workspace-pvc", "src", "--namespace", "ci"]  # fmt: skip
    if engine != "kaniko":
        argv += ["--platform", "linux/amd64", "--platform", "linux/arm64"]
    else:
        argv += ["--warm-image", "docker.io/library/alpine:3.20"]
    m = manifest(*argv)
    validate(m)
    build = [c for c in task_calls(m) if c["name"] == "build"][0]
    assert params(build) | {"workspace-pvc": "src"} == {
        "image": f"{IMG}\nregistry.example.com/team/app:latest",
        "context": "app",
        "dockerfile": "build/Dockerfile",
        "cache-repo": "registry.example.com/cache/app",
        "build-args": "A=x y",
        "target": "prod",
        **({"platforms": "linux/amd64\nlinux/arm64"} if engine != "kaniko" else {"cache-pvc": "{{workflow.name}}-kaniko-cache"}),
        "workspace-pvc": "src",
        "docker-config-secret": "creds",
    }
    assert ("templateRef" in build) == (mode == "--ref")
    assert m["metadata"] == {
        "generateName": "cachebuild-",
        "namespace": "ci",
        "labels": {"app.kubernetes.io/managed-by": "cachebuild"},
    }


def test_buildkit_images_sharing_one_cache_ref_are_refused(tmp_path):
    specs = tmp_path / "specs.yaml"
    specs.write_text("- image: registry.example.com/team/api:1\n- image: registry.example.com/team/web:1\n")
    with pytest.raises(SpecError) as caught:
        manifest("--specs", str(specs), "--cache-repo", "registry.example.com/cache/all", "--workspace-pvc", "src")
    assert caught.value.field == "specs[1].cache-tag"
    assert "specs[0] builds another image into the same BuildKit cache registry.example.com/cache/all:buildcache" in str(
        caught.value
    )
    # kaniko and buildah key cached layers by content: one shared cache repository is fine there
    manifest("--specs", str(specs), "--cache-repo", "registry.example.com/cache/all", "--workspace-pvc", "src",
             "--engine", "buildah")  # fmt: skip


def test_specs_file_builds_many_images_in_one_workflow_with_flag_defaults(tmp_path):
    specs = tmp_path / "specs.yaml"
    specs.write_text(
        textwrap.dedent("""\
        - image: registry.example.com/team/api:1.0
          context: api
          cache-tag: api
          build-args: {GO_VERSION: "1.23"}
        - image: [registry.example.com/team/web:1.0, registry.example.com/team/web:latest]
          context: web
          cache-tag: web
          platforms: [linux/arm64]
        """)
    )
    m = manifest(
        "--specs", str(specs), "--cache-repo", "registry.example.com/cache/all", "--cluster-scope", "--workspace-pvc", "src"
    )
    validate(m)
    calls = task_calls(m)
    assert [c["name"] for c in calls] == ["build-0", "build-1"]
    assert params(calls[0]) == {"image": "registry.example.com/team/api:1.0", "context": "api",
                                "cache-repo": "registry.example.com/cache/all", "cache-tag": "api",
                                "build-args": "GO_VERSION=1.23", "workspace-pvc": "src"}  # fmt: skip
    assert params(calls[1])["platforms"] == "linux/arm64"
    assert all(c["templateRef"]["clusterScope"] is True for c in calls)
    assert "volumeClaimTemplates" not in m["spec"]


def test_many_images_cost_only_their_arguments(tmp_path):
    from cachebuild.yamltext import dump_yaml

    def size(n):
        specs = tmp_path / f"{n}.yaml"
        specs.write_text("".join(f"- image: registry.example.com/team/app{i}:1.0\n" for i in range(n)))
        return len(dump_yaml(manifest("--specs", str(specs), "--inline", "--workspace-pvc", "src"), header=False))

    one, hundred = size(1), size(100)
    per_image = (hundred - one) / 99
    assert per_image < 400  # the arguments only: the ~10 kB template is there once
    assert one > 10_000


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--engine", "kaniko", "--image", IMG, "--platform", "linux/amd64", "--platform", "linux/arm64", "--workspace-pvc", "s"],
         "--platform: kaniko builds one platform per run"),
        (["--engine", "buildah", "--image", IMG, "--warm-image", "docker.io/library/a:1", "--workspace-pvc", "s"],
         "--warm-image: only the kaniko engine has a warmer"),
        (["--engine", "kaniko", "--image", IMG, "--context", "https://github.com/o/r.git#main", "--warm-image", "x y"],
         "--warm-image[0]:"),
        (["--image", IMG, "--workspace-size", "big", "--context", "https://github.com/o/r.git#main"],
         "--workspace-size: must be a Kubernetes quantity such as 1Gi or 500Mi (got 'big')"),
        (["--engine", "kaniko", "--image", IMG, "--kaniko-cache-size", "5 GB", "--workspace-pvc", "s"],
         "--kaniko-cache-size: must be a Kubernetes quantity"),
        (["--image", IMG, "--context", "app"],
         "--workspace-pvc: the context 'app' is a path in the workspace: name the PersistentVolumeClaim that holds it"),
    ],
)  # fmt: skip
def test_invalid_flags_name_the_flag(argv, message):
    with pytest.raises(SpecError) as err:
        manifest(*argv)
    assert str(err.value).startswith(message)


def test_invalid_specs_item_names_the_item_and_key(tmp_path):
    specs = tmp_path / "specs.yaml"
    specs.write_text(
        "- image: registry.example.com/a:1\n- image: registry.example.com/b:1\n  platforms: [linux/amd64, linux/arm64]\n"
    )
    with pytest.raises(SpecError) as err:
        manifest("--engine", "kaniko", "--specs", str(specs), "--workspace-pvc", "src")
    assert str(err.value) == "specs[1].platforms: kaniko builds one platform per run (got ['linux/amd64', 'linux/arm64'])"


def test_cli_defaults_agree_with_the_library():
    assert workflow_command.DEFAULT_WORKSPACE_SIZE == compose.DEFAULT_WORKSPACE_SIZE
    assert workflow_command.DEFAULT_KANIKO_CACHE_SIZE == compose.DEFAULT_KANIKO_CACHE_SIZE
