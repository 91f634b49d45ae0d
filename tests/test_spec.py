"""BuildSpec validation: every bad input names its field; hostile-but-valid input comes through as written."""

import pytest

from cachebuild import BuildSpec, SpecError
from cachebuild.refs import parse_image_ref
from cachebuild.spec import ENGINE_ONLY

GOOD = "registry.example.com/team/app:1.0"

# (keyword arguments, the field the error must name)
INVALID = [
    ({"images": []}, "images"),
    ({"images": [""]}, "images[0]"),
    ({"images": ["Registry.example.com/Team/App:1"]}, "images[0]"),
    ({"images": ["registry.example.com/Team/app:1"]}, "images[0]"),
    ({"images": [GOOD, "registry.example.com/app:" + "t" * 129]}, "images[1]"),
    ({"images": ["registry.example.com/app:-bad"]}, "images[0]"),
    ({"images": ["registry.example.com/app:.bad"]}, "images[0]"),
    ({"images": ["registry.example.com/app;rm -rf /"]}, "images[0]"),
    ({"images": ["registry.example.com/app:1\nx"]}, "images[0]"),
    ({"images": ["registry.example.com/app:$(id)"]}, "images[0]"),
    ({"images": ["registry.example.com/app`id`"]}, "images[0]"),
    ({"images": ["registry.example.com//app"]}, "images[0]"),
    ({"images": ["registry.example.com/app/"]}, "images[0]"),
    ({"images": ["registry.example.com/-app"]}, "images[0]"),
    ({"images": ["registry.example.com/app@sha256:abc"]}, "images[0]"),
    ({"images": ["registry.example.com/app@sha256:" + "a" * 64]}, "images[0]"),
    ({"images": ["bad_host:5000/app:1"]}, "images[0]"),
    ({"images": ["registry.example.com:port/app"]}, "images[0]"),
    ({"images": [" " + GOOD]}, "images[0]"),
    ({"images": ["a" * 256]}, "images[0]"),
    ({"context": "../outside"}, "context"),
    ({"context": "app/../../outside"}, "context"),
    ({"context": "/etc"}, "context"),
    ({"context": ""}, "context"),
    ({"context": "app\n"}, "context"),
    ({"context": "ftp://example.com/repo.git"}, "context"),
    ({"context": "https://example.com/repo.git#main:../x"}, "context"),
    ({"context": "https://example.com/repo.git#ma..in"}, "context"),
    ({"context": "https://exa mple.com/repo.git"}, "context"),
    ({"context": "https://example.com/repo.git#-bad"}, "context"),
    ({"dockerfile": "../Dockerfile"}, "dockerfile"),
    ({"dockerfile": "/Dockerfile"}, "dockerfile"),
    ({"dockerfile": ""}, "dockerfile"),
    ({"dockerfile": "Dockerfile\0"}, "dockerfile"),
    ({"cache_repo": "registry.example.com/app/cache:v1"}, "cache_repo"),
    ({"cache_repo": "registry.example.com/app/cache@sha256:" + "b" * 64}, "cache_repo"),
    ({"cache_repo": "Registry.example.com/App/cache"}, "cache_repo"),
    ({"cache_repo": ""}, "cache_repo"),
    ({"cache_tag": "-x"}, "cache_tag"),
    ({"cache_mode": "all"}, "cache_mode"),
    ({"cache_ttl": "7d"}, "cache_ttl"),
    ({"cache_ttl": "1h; reboot"}, "cache_ttl"),
    ({"cache": "yes"}, "cache"),
    ({"build_args": {"1BAD": "x"}}, "build_args['1BAD']"),
    ({"build_args": {"BAD-NAME": "x"}}, "build_args['BAD-NAME']"),
    ({"build_args": {"A B": "x"}}, "build_args['A B']"),
    ({"build_args": {"": "x"}}, "build_args['']"),
    ({"build_args": {"OK": "line1\nline2"}}, "build_args['OK']"),
    ({"build_args": ["NOEQUALS"]}, "build_args[0]"),
    ({"build_args": ["A=1", "A=2"]}, "build_args['A']"),
    ({"labels": {"bad key": "x"}}, "labels['bad key']"),
    ({"labels": {"k": "v\r"}}, "labels['k']"),
    ({"target": "1stage"}, "target"),
    ({"target": "stage;id"}, "target"),
    ({"target": ""}, "target"),
    ({"platforms": ["linux"]}, "platforms[0]"),
    ({"platforms": ["linux/amd64", "Linux/ARM64"]}, "platforms[1]"),
    ({"docker_config_secret": "My_Secret"}, "docker_config_secret"),
    ({"docker_config_secret": "secret;id"}, "docker_config_secret"),
    ({"workspace_pvc": "-pvc"}, "workspace_pvc"),
    ({"workspace_pvc": ""}, "workspace_pvc"),
    ({"kaniko_cache_pvc": "a" * 254}, "kaniko_cache_pvc"),
    ({"cache_mounts_pvc": "Mounts"}, "cache_mounts_pvc"),
    ({"warm_images": ["Debian:12"]}, "warm_images[0]"),
    ({"builder_image": "moby/buildkit:rootless"}, "builder_image"),
    ({"builder_image": "docker.io/moby/buildkit:$(id)"}, "builder_image"),
    ({"extra_args": ["--x\n--y"]}, "extra_args[0]"),
    ({"extra_args": ["--ok", ""]}, "extra_args[1]"),
    ({"extra_args": "--not-a-list"}, "extra_args"),
]


@pytest.mark.parametrize(("kwargs", "field"), INVALID, ids=[f"{f}-{i}" for i, (_, f) in enumerate(INVALID)])
def test_invalid_input_names_the_field(kwargs, field):
    kwargs = {"images": [GOOD], **kwargs}
    with pytest.raises(SpecError) as caught:
        BuildSpec(**kwargs)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")
    assert repr(caught.value.value) in str(caught.value)


def test_there_are_at_least_thirty_invalid_cases():
    assert len(INVALID) >= 30


@pytest.mark.parametrize(
    "ref",
    [
        "alpine",
        "library/alpine:3.20",
        "localhost/app",
        "localhost:5000/app:1",
        "127.0.0.1:5000/team/app:v1.2.3",
        "[::1]:5000/app:1",
        "registry.example.com/a/b/c__d.e-f:T_a.g-1",
        "registry.example.com/app:1@sha256:" + "0" * 64,
        "ghcr.io/osscontainertools/kaniko:v1.28.5-debug",
    ],
)
def test_valid_references_parse(ref):
    parsed = parse_image_ref("images[0]", ref)
    assert str(parsed) == ref


def test_reference_parts():
    ref = parse_image_ref("x", "localhost:5000/team/app:v1@sha256:" + "a" * 64)
    assert (ref.domain, ref.path, ref.tag, ref.repository) == ("localhost:5000", "team/app", "v1", "localhost:5000/team/app")
    ref = parse_image_ref("x", "team/app")
    assert (ref.domain, ref.path, ref.tag) == (None, "team/app", None)


HOSTILE = [
    "two words",
    'double "quoted"',
    "single 'quoted'",
    "$(id)",
    "`id`",
    "a; rm -rf /",
    "a && b || c",
    "$HOME ${PATH}",
    "-starts-with-dash",
    "* ? [glob]",
    "back\\slash",
    "tab\there",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_but_valid_values_are_kept_exactly(value):
    spec = BuildSpec(
        images=[GOOD],
        context="dir with spaces/app",
        dockerfile="docker files/Dockerfile.prod",
        build_args={"VALUE": value},
        labels={"org.example/label": value},
        extra_args=[f"--label=extra={value}"],
    )
    assert spec.build_args == (("VALUE", value),)
    assert spec.labels == (("org.example/label", value),)
    assert spec.extra_args == (f"--label=extra={value}",)


def test_defaults_and_derived_values():
    spec = BuildSpec(GOOD)
    assert spec.images == (GOOD,)
    assert spec.context == "." and spec.dockerfile == "Dockerfile" and spec.cache
    assert spec.effective_cache_repo == "registry.example.com/team/app/cache"
    assert spec.cache_mode == "max" and spec.cache_tag == "buildcache"
    git = BuildSpec(GOOD, context="https://github.com/org/repo.git#v1.2:services/api")
    assert git.git is not None and (git.git.url, git.git.ref, git.git.subdir) == (
        "https://github.com/org/repo.git",
        "v1.2",
        "services/api",
    )
    assert git.context_path == "services/api"


def test_engine_specific_checks():
    with pytest.raises(SpecError) as caught:
        BuildSpec(GOOD, platforms=["linux/amd64", "linux/arm64"]).check_engine("kaniko")
    assert caught.value.field == "platforms"
    with pytest.raises(SpecError) as caught:
        BuildSpec(GOOD, warm_images=["debian:12"]).check_engine("buildkit")
    assert caught.value.field == "warm_images"
    with pytest.raises(SpecError) as caught:
        BuildSpec(GOOD).check_engine("docker")
    assert caught.value.field == "engine"


@pytest.mark.parametrize(
    ("kwargs", "engine", "message"),
    [
        ({"cache_mode": "min"}, "kaniko", "cache_mode: only the buildkit engine reads it, not kaniko (got 'min')"),
        ({"cache_tag": "main"}, "buildah", "cache_tag: only the buildkit engine reads it, not buildah (got 'main')"),
        ({"cache_ttl": "1h"}, "buildkit", "cache_ttl: only the kaniko and buildah engines read it, not buildkit (got '1h')"),
        ({"kaniko_cache_pvc": "kc"}, "buildah", "kaniko_cache_pvc: only the kaniko engine reads it, not buildah (got 'kc')"),
        ({"warm_images": ["a:1"]}, "buildah", "warm_images: only the kaniko engine has a warmer, not buildah (got ['a:1'])"),
        (
            {"cache_mounts_pvc": "mounts"},
            "kaniko",
            "cache_mounts_pvc: kaniko keeps RUN --mount=type=cache directories in /kaniko/caches and moves them into "
            "place with rename(2), which cannot cross onto a mounted volume, so they cannot outlive the pod (got 'mounts')",
        ),
    ],
)
def test_a_field_the_engine_would_ignore_is_refused(kwargs, engine, message):
    with pytest.raises(SpecError) as caught:
        BuildSpec(GOOD, **kwargs).check_engine(engine)
    assert str(caught.value) == message
    others = [e for e in ("buildkit", "kaniko", "buildah") if e != engine and e in ENGINE_ONLY[next(iter(kwargs))]]
    for other in others:
        BuildSpec(GOOD, **kwargs).check_engine(other)  # the engine that reads it takes it


@pytest.mark.parametrize("field", ["cache_repo", "cache_tag", "cache_mode"])
def test_remote_cache_settings_with_the_remote_cache_off_are_refused(field):
    value = {"cache_repo": "registry.example.com/c", "cache_tag": "main", "cache_mode": "min"}[field]
    with pytest.raises(SpecError, match=rf"^{field}: is for the remote cache, which is off \(cache false\)"):
        BuildSpec(GOOD, cache=False, **{field: value})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"context": "/abs/app"}, "context: must be a path relative to the workspace (the folder or volume that holds the "
         "build context), not an absolute path (got '/abs/app')"),
        ({"dockerfile": "/abs/Dockerfile"}, "dockerfile: must be a path relative to the context, not an absolute path"),
        ({"dockerfile": "../Dockerfile"}, "dockerfile: must not contain '..': it would leave the context (got '../Dockerfile')"),
        ({"context": "https://example.com/r.git#main:../x"}, "context: must not contain '..': it would leave the git repository"),
    ],
)  # fmt: skip
def test_path_errors_say_what_the_path_is_relative_to(kwargs, message):
    with pytest.raises(SpecError) as caught:
        BuildSpec(GOOD, **kwargs)
    assert str(caught.value).startswith(message)


def test_an_error_about_a_missing_value_quotes_nothing():
    assert str(SpecError("--image", None, "at least one --image is required")) == "--image: at least one --image is required"
    assert str(SpecError("target", "", "must not be empty")) == "target: must not be empty (got '')"
