"""kaniko (osscontainertools fork): the executor with a registry cache, and the cache warmer.

Flags: osscontainertools/kaniko cmd/executor/cmd/root.go and cmd/warmer/cmd/root.go.
The ``-debug`` image is used for both: it holds ``/kaniko/executor``, ``/kaniko/warmer`` and
``/busybox/sh``, which runs the constant launcher (the plain images have no shell).
"""

from __future__ import annotations

import os

from cachebuild import dockerfile, kinds
from cachebuild.builders.program import (
    TRANSFORMS,
    Arg,
    CacheReport,
    Command,
    Derive,
    Each,
    EnvSet,
    Join,
    Lit,
    Program,
    Transform,
    Values,
    When,
)
from cachebuild.errors import SpecError
from cachebuild.spec import KANIKO_ONE_PLATFORM, BuildSpec

IMAGE = "ghcr.io/osscontainertools/kaniko:v1.28.5-debug@sha256:d6d74217dc077acfd3094992e917c357080a2d3fdd1042a49e34e29a7e57c572"
SHELL = "/busybox/sh"
EXECUTOR = "/kaniko/executor"
WARMER = "/kaniko/warmer"
DOCKER_CONFIG_DIR = "/kaniko/.docker"
"""kaniko reads ``/kaniko/.docker/config.json`` (``DOCKER_CONFIG`` in its image)."""
CACHE_DIR = "/cache"
SCRATCH_DIR = "/kaniko/cachebuild"
"""The launcher's own files: kaniko never deletes ``/kaniko`` when it replaces the filesystem
between stages, as it may other folders (``/tmp``) that are not volumes."""

LAYOUT = {
    "cache_dir": CACHE_DIR,
    "digest_file": f"{SCRATCH_DIR}/image-digest",
    "image_ref_file": f"{SCRATCH_DIR}/image-ref",
    "warm_list_file": f"{SCRATCH_DIR}/warm-images",
    "build_log": f"{SCRATCH_DIR}/build.log",
    "cache_hits_file": f"{SCRATCH_DIR}/cache-hits",
    "cache_report_file": f"{SCRATCH_DIR}/cache-report",
    "ca_bundle": f"{SCRATCH_DIR}/registry-ca/ca.crt",
    "registry_ca_dir": "",
}

_GIT = (
    Derive("git_url", "context", TRANSFORMS["git_url"]),
    Derive("git_ref", "context", TRANSFORMS["git_ref"]),
    Derive("context_path", "context", TRANSFORMS["context_path"]),
    Derive("git_host_path", "git_url", TRANSFORMS["strip_scheme"]),
    Derive("kaniko_git_ref", "git_ref", TRANSFORMS["kaniko_git_ref"]),
)
_CA = Derive("ca_file", "registry_ca_dir", TRANSFORMS["ca_bundle"])
# kaniko (Go) trusts the bundle the launcher made: the image's own CAs and the private one.
_CA_ENV = EnvSet("SSL_CERT_FILE", (Arg("{ca_file}", optional=True),))

CACHE_NOTES = (
    "kaniko takes one cache repository, `cache-repo`, which it reads and writes: it stores each layer as "
    "`cache-repo:<cache key>`, so every branch shares it safely and `cache-from`, `cache-to` and `cache-branch` "
    "are refused. `cache-read-only` reads it and never pushes to it (`--no-push-cache`). A layer kaniko cannot push "
    "to the cache is a warning in its log (`Error uploading layer to cache`); the image is pushed anyway. `COPY` "
    "steps are taken from the cache only with `--cache-copy-layers` (an extra arg). The cache grows with every "
    "build that misses: prune it with `cachebuild cache prune`."
)
"""What the remote cache does with this builder (the task READMEs show it)."""
CACHE_MOUNT_NOTES = (
    "Not offered: kaniko keeps `RUN --mount=type=cache` directories in `/kaniko/caches` and moves them into "
    "place with rename(2), which cannot cross onto a mounted volume, so they last one build (`cache_mounts_pvc` "
    "is refused with that reason). Cache what a step downloads in an image layer instead."
)
"""What a cache-mounts claim holds for this builder and the caveats (the task READMEs show it)."""

EXECUTOR_PROGRAM = Program(
    name="kaniko-build",
    derive=(
        *_GIT,
        Derive("cache_busters", "dockerfile", TRANSFORMS["cache_busters"]),
        Derive("cache_repository", "cache_repo", TRANSFORMS["default_cache_repo"]),
        _CA,
    ),
    required=("images", "workspace", "digest_file"),
    one_item={"platforms": KANIKO_ONE_PLATFORM},
    outputs=("digest_file", "image_ref_file", "build_log", "cache_hits_file", "cache_report_file"),
    commands=(
        Command(
            (
                Lit(EXECUTOR),
                When(
                    "git_url",
                    then=(
                        # kaniko clones git://HOST/PATH over https
                        Arg("--context=git://{git_host_path}{kaniko_git_ref}"),
                        Arg("--context-sub-path={context_path}", optional=True),
                        Arg("--dockerfile={dockerfile}"),
                    ),
                    otherwise=(
                        Arg("--context=dir://{workspace}/{context}"),
                        Arg("--dockerfile={workspace}/{context}/{dockerfile}"),
                    ),
                ),
                Each("images", "--destination={item}"),
                # --no-cache: kaniko's one switch, --cache=false, also stops the remote cache's export.
                When(
                    "no_cache",
                    is_true=True,
                    then=(Lit("--cache=false"),),
                    otherwise=(
                        When(
                            "cache",
                            is_true=True,
                            then=(
                                Lit("--cache=true"),
                                Arg("--cache-repo={cache_repository}"),
                                # An unbound (optional) cache workspace: kaniko's default /cache, inside the container.
                                Arg("--cache-dir={cache_dir}", optional=True),
                                Arg("--cache-ttl={cache_ttl}", optional=True),
                                When("cache_read_only", is_true=True, then=(Lit("--no-push-cache"),)),
                            ),
                            otherwise=(Lit("--cache=false"),),
                        ),
                    ),
                ),
                Arg("--digest-file={digest_file}"),
                Arg("--image-name-with-digest-file={image_ref_file}"),
                Each("build_args", "--build-arg={item}"),
                Arg("--target={target}", optional=True),
                Join("platforms", "--custom-platform={joined}"),
                Each("labels", "--label={item}"),
                Each("insecure_registries", "--insecure-registry={item}"),
                Each("extra_args", "{item}"),
            ),
            env=(_CA_ENV,),
            log="build_log",
        ),
    ),
    report=CacheReport("kaniko"),
)


def _warm_list(warm_images: str, values: Values) -> str:
    """The images to warm: those named, else the base images of the workspace Dockerfile, build args applied."""
    if warm_images:
        return warm_images
    if values.get("git_url"):
        raise SpecError("warm_images", [], _GIT_NEEDS_IMAGES)
    path = "{}/{}/{}".format(values.get("workspace", ""), values.get("context_path", ""), values.get("dockerfile", ""))
    if not os.path.isfile(path):
        raise SpecError("dockerfile", path, "no such file in the workspace")
    with open(path, encoding="utf-8", errors="surrogateescape") as fh:
        text = fh.read()
    items = values.get("build_args", ())
    args = dict(item.split("=", 1) for item in (items.split("\n") if isinstance(items, str) else items) if "=" in item)
    try:
        images = dockerfile.base_images(text, args)
    except dockerfile.DockerfileError as err:
        raise SpecError("dockerfile", path, str(err)) from None
    for image in images:
        if not kinds.IMAGE.matches(image):
            raise SpecError("dockerfile", path, f"FROM names {image!r}, which is not an image reference")
    return "\n".join(images)


_GIT_NEEDS_IMAGES = "a git context has no Dockerfile in the workspace to read base images from: name the images"
_WARM_LIST_SH = f"""cb_v="$cb_src"
if [ -z "$cb_v" ]; then
  if [ -n "$CB_GIT_URL" ]; then cb_fail '@name:warm_images@' '{_GIT_NEEDS_IMAGES}' "$CB_CONTEXT"; fi
  cb_df="$CB_WORKSPACE/$CB_CONTEXT_PATH/$CB_DOCKERFILE"
  [ -f "$cb_df" ] || cb_fail '@name:dockerfile@' 'no such file in the workspace' "$cb_df"
  # (Tekton's array params are shell variables here, not exported: hand them to awk's environment.)
  CB_BUILD_ARGS="$CB_BUILD_ARGS" awk -v prefix='cachebuild: @name:dockerfile@: ' '{dockerfile.BASE_IMAGES_AWK}' "$cb_df" \
    > "$CB_WARM_LIST_FILE"
  while IFS= read -r cb_i; do cb_v="$cb_v$cb_i$cb_nl"; done < "$CB_WARM_LIST_FILE"
  set -f; IFS=$cb_nl
  for cb_i in $cb_v; do
    cb_match "$cb_i" '{kinds.IMAGE.pattern}' ||
      cb_fail '@name:dockerfile@' 'FROM names an image that is not an image reference' "$cb_i"
  done
  unset IFS; set +f
  [ -n "$cb_v" ] || echo "cachebuild: the Dockerfile names no base image to warm (only scratch or earlier stages)" >&2
fi"""
WARM_LIST = Transform(_warm_list, _WARM_LIST_SH, uses=("workspace", "dockerfile", "context", "build_args", "warm_list_file"))

# The warmer takes none of the spec's extra_args (those are the executor's) and no build args:
# they are applied to the Dockerfile's FROM lines by the launcher (see cachebuild.dockerfile).
WARMER_PROGRAM = Program(
    name="kaniko-warm",
    derive=(
        _GIT[0],
        _GIT[2],
        Derive("warm_list", "warm_images", WARM_LIST),
        Derive("warming", "warm_list", TRANSFORMS["nonempty"]),
        _CA,
    ),
    required=("cache_dir", "workspace"),
    outputs=("warm_list_file",),
    url_result=False,
    commands=(
        Command(
            (
                Lit(WARMER),
                Arg("--cache-dir={cache_dir}"),
                Each("warm_list", "--image={item}"),
                Arg("--cache-ttl={cache_ttl}", optional=True),
                Each("insecure_registries", "--insecure-registry={item}"),
            ),
            when="warming",
            env=(_CA_ENV,),
        ),
    ),
)


def build_argv(spec: BuildSpec) -> list[str]:
    """The ``/kaniko/executor …`` argv for ``spec``."""
    from cachebuild.builders import argv

    spec.check_engine("kaniko")
    return argv(EXECUTOR_PROGRAM, spec, LAYOUT)[0]


def check_warm(spec: BuildSpec) -> None:
    """The warmer's input rule that needs no workspace: a git context must name its images."""
    spec.check_engine("kaniko")
    if not spec.warm_images and spec.git is not None:
        raise SpecError("warm_images", [], _GIT_NEEDS_IMAGES)


def warm_argv(spec: BuildSpec, workspace: str | None = None) -> list[str]:
    """The ``/kaniko/warmer …`` argv that fills the cache volume for ``spec``.

    Without ``warm_images`` the base images come from the Dockerfile in ``workspace`` (a folder on
    this machine; default: where the templates mount it), with the spec's build args applied.
    """
    from cachebuild.builders import WORKSPACE, argv

    check_warm(spec)
    return argv(WARMER_PROGRAM, spec, {**LAYOUT, "workspace": workspace or WORKSPACE})[0]
