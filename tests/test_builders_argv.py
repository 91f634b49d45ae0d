"""Each builder's exact argv for a table of specs."""

import pytest

from cachebuild import BuildSpec, SpecError
from cachebuild.builders import buildah, buildkit, kaniko

IMG = "registry.example.com/team/app:1.0"
IMG2 = "registry.example.com/team/app:latest"
CACHE = "registry.example.com/team/cache"
WS = "/workspace/source"

BUILDKIT_HEAD = ["buildctl-daemonless.sh", "build", "--frontend", "dockerfile.v0"]
OCI = "oci-mediatypes=true,image-manifest=true"
BUILDKIT_CASES = {
    "defaults": (
        BuildSpec(IMG),
        [
            *BUILDKIT_HEAD,
            "--local",
            f"context={WS}/.",
            "--local",
            f"dockerfile={WS}/.",
            "--opt",
            "filename=Dockerfile",
            "--output",
            f'type=image,"name={IMG}",push=true',
            "--export-cache",
            "type=registry,ref=registry.example.com/team/app/cache:buildcache,mode=max,ignore-error=true," + OCI,
            "--import-cache",
            "type=registry,ref=registry.example.com/team/app/cache:buildcache",
            "--metadata-file",
            "/tmp/cachebuild/metadata.json",
        ],
    ),
    "no cache, two destinations, sub-directory": (
        BuildSpec([IMG, IMG2], context="services/api", dockerfile="build/Dockerfile", cache=False),
        [
            *BUILDKIT_HEAD,
            "--local",
            f"context={WS}/services/api",
            "--local",
            f"dockerfile={WS}/services/api",
            "--opt",
            "filename=build/Dockerfile",
            "--output",
            f'type=image,"name={IMG},{IMG2}",push=true',
            "--metadata-file",
            "/tmp/cachebuild/metadata.json",
        ],
    ),
    "cache options, args, target, platforms, labels, extra": (
        BuildSpec(
            IMG,
            cache_repo=CACHE,
            cache_tag="main",
            cache_mode="min",
            build_args={"A": "1", "B": "x y"},
            target="prod",
            platforms=["linux/amd64", "linux/arm64"],
            labels={"org.opencontainers.image.source": "s"},
            extra_args=["--progress=plain"],
        ),
        [
            *BUILDKIT_HEAD,
            "--local",
            f"context={WS}/.",
            "--local",
            f"dockerfile={WS}/.",
            "--opt",
            "filename=Dockerfile",
            "--output",
            f'type=image,"name={IMG}",push=true',
            "--export-cache",
            f"type=registry,ref={CACHE}:main,mode=min,ignore-error=true," + OCI,
            "--import-cache",
            f"type=registry,ref={CACHE}:main",
            "--metadata-file",
            "/tmp/cachebuild/metadata.json",
            "--opt",
            "build-arg:A=1",
            "--opt",
            "build-arg:B=x y",
            "--opt",
            "target=prod",
            "--opt",
            "platform=linux/amd64,linux/arm64",
            "--opt",
            "label:org.opencontainers.image.source=s",
            "--progress=plain",
        ],
    ),
    "git context": (
        BuildSpec(IMG, context="https://github.com/org/repo.git#main:services/api", cache=False),
        [
            *BUILDKIT_HEAD,
            "--opt",
            "context=https://github.com/org/repo.git#main:services/api",
            "--opt",
            "filename=Dockerfile",
            "--output",
            f'type=image,"name={IMG}",push=true',
            "--metadata-file",
            "/tmp/cachebuild/metadata.json",
        ],
    ),
}


def _buildkit_cache(spec):
    """The argv between --output and --metadata-file: the cache flags."""
    argv = buildkit.build_argv(spec)
    return argv[argv.index("--output") + 2 : argv.index("--metadata-file")]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"cache_branch": "feature/Login Page"},
            [
                "--export-cache",
                f"type=registry,ref={CACHE}:feature-Login-Page,mode=max,ignore-error=true,{OCI}",
                "--import-cache",
                f"type=registry,ref={CACHE}:feature-Login-Page",
                "--import-cache",
                f"type=registry,ref={CACHE}:buildcache",
            ],
        ),
        (
            {"cache_from": [f"{CACHE}:pr-7", f"{CACHE}:main"], "cache_to": f"{CACHE}:pr-7"},
            [
                "--export-cache",
                f"type=registry,ref={CACHE}:pr-7,mode=max,ignore-error=true,{OCI}",
                "--import-cache",
                f"type=registry,ref={CACHE}:pr-7",
                "--import-cache",
                f"type=registry,ref={CACHE}:main",
            ],
        ),
        ({"cache_read_only": True}, ["--import-cache", f"type=registry,ref={CACHE}:buildcache"]),
        (
            {"cache_compression": "zstd", "cache_compression_level": 19, "cache_mode": "min"},
            [
                "--export-cache",
                f"type=registry,ref={CACHE}:buildcache,mode=min,ignore-error=true,{OCI},compression=zstd,compression-level=19",
                "--import-cache",
                f"type=registry,ref={CACHE}:buildcache",
            ],
        ),
        (
            {"cache_oci_mediatypes": False, "cache_image_manifest": False},
            [
                "--export-cache",
                f"type=registry,ref={CACHE}:buildcache,mode=max,ignore-error=true,oci-mediatypes=false,image-manifest=false",
                "--import-cache",
                f"type=registry,ref={CACHE}:buildcache",
            ],
        ),
    ],
)
def test_buildkit_cache_policy(fields, expected):
    assert _buildkit_cache(BuildSpec(IMG, cache_repo=CACHE, **fields)) == expected


def test_buildah_cache_policy():
    chain = BuildSpec(IMG, cache_from=[f"{CACHE}-pr", CACHE], cache_to=f"{CACHE}-pr")
    build = buildah.build_argv(chain)[0]
    expected = [f"--cache-from={CACHE}-pr", f"--cache-from={CACHE}", f"--cache-to={CACHE}-pr"]
    assert [a for a in build if a.startswith("--cache")] == expected
    read_only = buildah.build_argv(BuildSpec(IMG, cache_repo=CACHE, cache_read_only=True))[0]
    assert [a for a in read_only if a.startswith("--cache")] == [f"--cache-from={CACHE}"]


def test_kaniko_read_only_cache_is_never_pushed():
    argv = kaniko.build_argv(BuildSpec(IMG, cache_repo=CACHE, cache_read_only=True))
    assert argv[4:9] == ["--cache=true", f"--cache-repo={CACHE}", "--cache-dir=/cache", "--no-push-cache", KANIKO_OUT[0]]


KANIKO_CACHE = ["--cache=true", "--cache-repo=registry.example.com/team/app/cache", "--cache-dir=/cache"]
KANIKO_OUT = ["--digest-file=/kaniko/cachebuild/image-digest", "--image-name-with-digest-file=/kaniko/cachebuild/image-ref"]
KANIKO_CASES = {
    "defaults": (
        BuildSpec(IMG),
        [
            "/kaniko/executor",
            f"--context=dir://{WS}/.",
            f"--dockerfile={WS}/./Dockerfile",
            f"--destination={IMG}",
            *KANIKO_CACHE,
            *KANIKO_OUT,
        ],
    ),
    "no cache, two destinations, sub-directory": (
        BuildSpec([IMG, IMG2], context="services/api", dockerfile="Dockerfile.prod", cache=False),
        [
            "/kaniko/executor",
            f"--context=dir://{WS}/services/api",
            f"--dockerfile={WS}/services/api/Dockerfile.prod",
            f"--destination={IMG}",
            f"--destination={IMG2}",
            "--cache=false",
            *KANIKO_OUT,
        ],
    ),
    "cache options, args, target, platform, labels, extra": (
        BuildSpec(
            IMG,
            cache_repo=CACHE,
            cache_ttl="168h",
            build_args={"A": "1", "B": "x y"},
            target="prod",
            platforms=["linux/arm64"],
            labels={"k": "v"},
            extra_args=["--snapshot-mode=redo"],
        ),
        [
            "/kaniko/executor",
            f"--context=dir://{WS}/.",
            f"--dockerfile={WS}/./Dockerfile",
            f"--destination={IMG}",
            "--cache=true",
            f"--cache-repo={CACHE}",
            "--cache-dir=/cache",
            "--cache-ttl=168h",
            *KANIKO_OUT,
            "--build-arg=A=1",
            "--build-arg=B=x y",
            "--target=prod",
            "--custom-platform=linux/arm64",
            "--label=k=v",
            "--snapshot-mode=redo",
        ],
    ),
    "git context, branch and sub-directory": (
        BuildSpec(IMG, context="https://github.com/org/repo.git#main:services/api"),
        [
            "/kaniko/executor",
            "--context=git://github.com/org/repo.git#refs/heads/main",
            "--context-sub-path=services/api",
            "--dockerfile=Dockerfile",
            f"--destination={IMG}",
            *KANIKO_CACHE,
            *KANIKO_OUT,
        ],
    ),
    "git context, tag ref": (
        BuildSpec(IMG, context="https://github.com/org/repo.git#refs/tags/v1"),
        [
            "/kaniko/executor",
            "--context=git://github.com/org/repo.git#refs/tags/v1",
            "--dockerfile=Dockerfile",
            f"--destination={IMG}",
            *KANIKO_CACHE,
            *KANIKO_OUT,
        ],
    ),
    "git context, commit": (
        BuildSpec(IMG, context="https://github.com/org/repo.git#" + "a1" * 20),
        [
            "/kaniko/executor",
            "--context=git://github.com/org/repo.git##" + "a1" * 20,
            "--dockerfile=Dockerfile",
            f"--destination={IMG}",
            *KANIKO_CACHE,
            *KANIKO_OUT,
        ],
    ),
    "git context, default branch": (
        BuildSpec(IMG, context="https://github.com/org/repo.git", cache=False),
        [
            "/kaniko/executor",
            "--context=git://github.com/org/repo.git",
            "--dockerfile=Dockerfile",
            f"--destination={IMG}",
            "--cache=false",
            *KANIKO_OUT,
        ],
    ),
}

BUILDAH_BUILD = ["buildah", "--storage-driver=vfs", "build", "--layers", "--isolation=chroot"]
BUILDAH_AUTH = ["--retry=3"]  # no --authfile: no credentials file at /cachebuild/docker/config.json here


def push(image):
    return [
        "buildah",
        "--storage-driver=vfs",
        "push",
        "--digestfile=/tmp/cachebuild/image-digest",
        *BUILDAH_AUTH,
        image,
        f"docker://{image}",
    ]


def manifest_push(image):
    return [
        "buildah",
        "--storage-driver=vfs",
        "manifest",
        "push",
        "--all",
        "--digestfile=/tmp/cachebuild/image-digest",
        "cachebuild-manifest",
        f"docker://{image}",
    ]


BUILDAH_CASES = {
    "defaults": (
        BuildSpec(IMG),
        [
            [
                *BUILDAH_BUILD,
                "--cache-from=registry.example.com/team/app/cache",
                "--cache-to=registry.example.com/team/app/cache",
                f"--file={WS}/./Dockerfile",
                f"--tag={IMG}",
                *BUILDAH_AUTH,
                f"{WS}/.",
            ],
            push(IMG),
        ],
    ),
    "no cache, two destinations, sub-directory": (
        BuildSpec([IMG, IMG2], context="services/api", cache=False),
        [
            [
                *BUILDAH_BUILD,
                f"--file={WS}/services/api/Dockerfile",
                f"--tag={IMG}",
                f"--tag={IMG2}",
                *BUILDAH_AUTH,
                f"{WS}/services/api",
            ],
            push(IMG),
            push(IMG2),
        ],
    ),
    "cache options, args, target, platforms, labels, extra": (
        BuildSpec(
            IMG,
            cache_repo=CACHE,
            cache_ttl="24h",
            build_args={"A": "1"},
            target="prod",
            platforms=["linux/amd64", "linux/arm64"],
            labels={"k": "v"},
            extra_args=["--jobs=2"],
        ),
        [
            [
                *BUILDAH_BUILD,
                f"--cache-from={CACHE}",
                f"--cache-to={CACHE}",
                "--cache-ttl=24h",
                f"--file={WS}/./Dockerfile",
                "--manifest=cachebuild-manifest",
                "--build-arg=A=1",
                "--target=prod",
                "--platform=linux/amd64,linux/arm64",
                "--label=k=v",
                *BUILDAH_AUTH,
                "--jobs=2",
                f"{WS}/.",
            ],
            manifest_push(IMG),
        ],
    ),
    "one other platform, plain-HTTP registry": (
        BuildSpec(IMG, cache=False, platforms=["linux/arm64"], insecure_registries=["registry.example.com"]),
        [
            [*BUILDAH_BUILD, f"--file={WS}/./Dockerfile", f"--tag={IMG}", "--platform=linux/arm64", *BUILDAH_AUTH, f"{WS}/."],
            push(IMG),
        ],
    ),
    "git context": (
        BuildSpec(IMG, context="https://github.com/org/repo.git#main:api", cache=False),
        [
            [*BUILDAH_BUILD, "--file=Dockerfile", f"--tag={IMG}", *BUILDAH_AUTH, "https://github.com/org/repo.git#main:api"],
            push(IMG),
        ],
    ),
}


# --no-cache: no layer cache is used; BuildKit and buildah still export new layers to the remote cache, kaniko cannot.
BUILDKIT_CASES["--no-cache: nothing from a cache, the remote cache still written"] = (
    BuildSpec(IMG, no_cache=True),
    [
        *BUILDKIT_HEAD,
        "--local",
        f"context={WS}/.",
        "--local",
        f"dockerfile={WS}/.",
        "--opt",
        "filename=Dockerfile",
        "--output",
        f'type=image,"name={IMG}",push=true',
        "--export-cache",
        "type=registry,ref=registry.example.com/team/app/cache:buildcache,mode=max,ignore-error=true," + OCI,
        "--import-cache",
        "type=registry,ref=registry.example.com/team/app/cache:buildcache",
        "--no-cache",
        "--metadata-file",
        "/tmp/cachebuild/metadata.json",
    ],
)
KANIKO_CASES["--no-cache: no cache at all"] = (
    BuildSpec(IMG, no_cache=True, cache_repo=CACHE),
    ["/kaniko/executor", f"--context=dir://{WS}/.", f"--dockerfile={WS}/./Dockerfile", f"--destination={IMG}", "--cache=false",
     *KANIKO_OUT],
)  # fmt: skip
BUILDAH_CASES["--no-cache: nothing from a cache, the remote cache still written"] = (
    BuildSpec(IMG, no_cache=True, cache=True),
    [
        [*BUILDAH_BUILD[:4], "--no-cache", *BUILDAH_BUILD[4:], "--cache-from=registry.example.com/team/app/cache",
         "--cache-to=registry.example.com/team/app/cache", f"--file={WS}/./Dockerfile", f"--tag={IMG}", *BUILDAH_AUTH, f"{WS}/."],
        push(IMG),
    ],
)  # fmt: skip


@pytest.mark.parametrize(("spec", "expected"), BUILDKIT_CASES.values(), ids=BUILDKIT_CASES.keys())
def test_buildkit_argv(spec, expected):
    assert buildkit.build_argv(spec) == expected


@pytest.mark.parametrize(("spec", "expected"), KANIKO_CASES.values(), ids=KANIKO_CASES.keys())
def test_kaniko_argv(spec, expected):
    assert kaniko.build_argv(spec) == expected


@pytest.mark.parametrize(("spec", "expected"), BUILDAH_CASES.values(), ids=BUILDAH_CASES.keys())
def test_buildah_argv(spec, expected):
    assert buildah.build_argv(spec) == expected


def test_buildah_local_layout():
    spec = BuildSpec("127.0.0.1:5000/app:1", cache_repo="127.0.0.1:5000/app/cache")
    build, push_ = buildah.build_argv(spec, workspace="/src", auth_file="", tls_verify="false", digest_file="/tmp/d")
    assert build[-1] == "/src/." and "--tls-verify=false" in build and not any(a.startswith("--authfile") for a in build)
    assert push_ == [
        "buildah",
        "--storage-driver=vfs",
        "push",
        "--digestfile=/tmp/d",
        "--retry=3",
        "--tls-verify=false",
        "127.0.0.1:5000/app:1",
        "docker://127.0.0.1:5000/app:1",
    ]


def test_buildah_authfile_only_when_the_credentials_file_exists(tmp_path):
    config = tmp_path / "config.json"
    spec = BuildSpec(IMG, cache=False)
    build, push_ = buildah.build_argv(spec, auth_file=str(config))
    assert not any(a.startswith("--authfile") for a in build + push_)
    config.write_text('{"auths": {}}')
    build, push_ = buildah.build_argv(spec, auth_file=str(config))
    assert f"--authfile={config}" in build and f"--authfile={config}" in push_


def test_kaniko_warmer_argv(tmp_path):
    spec = BuildSpec(IMG, warm_images=["docker.io/library/debian:12", "docker.io/library/golang:1.23"], cache_ttl="48h")
    assert kaniko.warm_argv(spec) == [
        "/kaniko/warmer",
        "--cache-dir=/cache",
        "--image=docker.io/library/debian:12",
        "--image=docker.io/library/golang:1.23",
        "--cache-ttl=48h",
    ]
    # Without warm_images: the Dockerfile's base images, with the build args applied by cachebuild.
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "Dockerfile").write_text("ARG BASE=alpine:3\nFROM ${BASE} AS build\nFROM build\nFROM scratch\n")
    from_dockerfile = BuildSpec(IMG, context="app", build_args={"BASE": "debian:12"}, insecure_registries=["r.test:5000"])
    assert kaniko.warm_argv(from_dockerfile, workspace=str(tmp_path)) == [
        "/kaniko/warmer",
        "--cache-dir=/cache",
        "--image=debian:12",
        "--insecure-registry=r.test:5000",
    ]
    with pytest.raises(SpecError) as caught:
        kaniko.warm_argv(BuildSpec(IMG, context="https://github.com/org/repo.git"))
    assert caught.value.field == "warm_images"
    with pytest.raises(SpecError) as caught:
        kaniko.warm_argv(BuildSpec(IMG, context="nope"), workspace=str(tmp_path))
    assert (caught.value.field, caught.value.reason) == ("dockerfile", "no such file in the workspace")


@pytest.mark.parametrize("value", ["$(id)", "`id`", "a; b", "x y", "'q'", '"dq"', "-dash", "*"])
def test_hostile_values_are_one_argv_element(value):
    spec = BuildSpec(IMG, build_args={"V": value}, labels={"l": value}, extra_args=[value])
    for argv in (buildkit.build_argv(spec), kaniko.build_argv(spec), buildah.build_argv(spec)[0]):
        assert sum(value in a for a in argv) == 3
        assert value in argv  # the extra arg, alone
        assert any(a.endswith(f"V={value}") for a in argv)
