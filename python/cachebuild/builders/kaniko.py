"""kaniko (osscontainertools fork): the executor with a registry cache, and the cache warmer.

Flags: osscontainertools/kaniko cmd/executor/cmd/root.go and cmd/warmer/cmd/root.go.
The ``-debug`` image is used for both: it holds ``/kaniko/executor``, ``/kaniko/warmer`` and
``/busybox/sh``, which runs the constant launcher (the plain images have no shell).
"""

from __future__ import annotations

from cachebuild.builders.program import Arg, Command, Derive, Each, Join, Lit, Program, When
from cachebuild.spec import BuildSpec

IMAGE = "ghcr.io/osscontainertools/kaniko:v1.28.5-debug@sha256:d6d74217dc077acfd3094992e917c357080a2d3fdd1042a49e34e29a7e57c572"
SHELL = "/busybox/sh"
EXECUTOR = "/kaniko/executor"
WARMER = "/kaniko/warmer"
DOCKER_CONFIG_DIR = "/kaniko/.docker"
"""kaniko reads ``/kaniko/.docker/config.json`` (``DOCKER_CONFIG`` in its image)."""
CACHE_DIR = "/cache"
INSECURE_PUSH_ARGS = ("--insecure",)
"""Executor arguments to push to a registry over plain HTTP (e.g. a test registry on localhost)."""

LAYOUT = {
    "cache_dir": CACHE_DIR,
    "digest_file": "/tmp/cachebuild/image-digest",
    "image_ref_file": "/tmp/cachebuild/image-ref",
}

_GIT = (
    Derive("git_url", "context", "git_url"),
    Derive("git_ref", "context", "git_ref"),
    Derive("context_path", "context", "context_path"),
    Derive("git_host_path", "git_url", "strip_scheme"),
    Derive("kaniko_git_ref", "git_ref", "kaniko_git_ref"),
)

EXECUTOR_PROGRAM = Program(
    name="kaniko-build",
    derive=_GIT,
    required=("images", "workspace", "digest_file"),
    paths=("context_path", "dockerfile"),
    outputs=("digest_file", "image_ref_file"),
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
                                Arg("--cache-repo={cache_repo}"),
                                Arg("--cache-dir={cache_dir}"),
                                Arg("--cache-ttl={cache_ttl}", optional=True),
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
                Each("extra_args", "{item}"),
            )
        ),
    ),
)

# The warmer takes none of the spec's extra_args: those are the executor's.
WARMER_PROGRAM = Program(
    name="kaniko-warm",
    derive=_GIT[:1] + _GIT[2:3],
    required=("cache_dir", "workspace"),
    paths=("context_path", "dockerfile"),
    url_result=False,
    commands=(
        Command(
            (
                Lit(WARMER),
                Arg("--cache-dir={cache_dir}"),
                # Named images, else the base images the (workspace) Dockerfile names.
                When(
                    "warm_images",
                    then=(Each("warm_images", "--image={item}"),),
                    otherwise=(Arg("--dockerfile={workspace}/{context}/{dockerfile}"), Each("build_args", "--build-arg={item}")),
                ),
                Arg("--cache-ttl={cache_ttl}", optional=True),
            )
        ),
    ),
)


def build_argv(spec: BuildSpec) -> list[str]:
    """The ``/kaniko/executor …`` argv for ``spec``."""
    from cachebuild.builders import argv

    spec.check_engine("kaniko")
    return argv(EXECUTOR_PROGRAM, spec, LAYOUT)[0]


def warm_argv(spec: BuildSpec) -> list[str]:
    """The ``/kaniko/warmer …`` argv that fills the cache volume for ``spec``."""
    from cachebuild.builders import argv
    from cachebuild.errors import SpecError

    spec.check_engine("kaniko")
    if not spec.warm_images and spec.git is not None:
        raise SpecError("warm_images", [], "a git context has no Dockerfile to read base images from: name them")
    return argv(WARMER_PROGRAM, spec, LAYOUT)[0]
