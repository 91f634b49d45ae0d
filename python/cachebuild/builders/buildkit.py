"""BuildKit: ``buildctl-daemonless.sh build`` in the rootless image, with a registry cache.

Flags: ``buildctl build`` (moby/buildkit cmd/buildctl/build.go); cache options
(``--export-cache type=registry,ref=…,mode=max,ignore-error=true``) from
https://github.com/moby/buildkit#registry-push-image-and-cache-separately .
"""

from __future__ import annotations

from cachebuild.builders.program import Arg, Command, Derive, Each, Join, Lit, Program, When
from cachebuild.spec import BuildSpec

IMAGE = "docker.io/moby/buildkit:v0.33.0-rootless@sha256:80b15f0735e87bab7bf59ec4d695dfb4a7cfb25521cf56dc75d6f256285b63ef"
"""Rootless BuildKit; runs as uid/gid 1000."""

ENTRYPOINT = "buildctl-daemonless.sh"
# Rootless BuildKit in an unprivileged pod cannot create its own process sandbox.
BUILDKITD_FLAGS = "--oci-worker-no-process-sandbox"
STATE_DIR = "/home/user/.local/share/buildkit"
DOCKER_CONFIG_DIR = "/home/user/.docker"
"""``buildctl`` reads ``$DOCKER_CONFIG/config.json``; credentials are mounted here."""
RUN_AS = 1000

LAYOUT = {
    "metadata_file": "/tmp/cachebuild/metadata.json",
    "digest_file": "/tmp/cachebuild/image-digest",
}

# buildctl writes the digest into its metadata JSON; the rootless image has no jq.
_FINISH = r"""
sed -n 's/.*"containerimage\.digest": *"\([^"]*\)".*/\1/p' "$CB_METADATA_FILE" | head -n 1 | tr -d '\n' > "$CB_DIGEST_FILE"
"""

PROGRAM = Program(
    name="buildkit",
    derive=(
        Derive("git_url", "context", "git_url"),
        Derive("context_path", "context", "context_path"),
    ),
    required=("images", "workspace", "digest_file", "metadata_file"),
    paths=("context_path", "dockerfile"),
    outputs=("metadata_file", "digest_file"),
    commands=(
        Command(
            (
                Lit(ENTRYPOINT, "build", "--frontend", "dockerfile.v0"),
                When(
                    "git_url",
                    then=(Arg("--opt", "context={context}"),),
                    otherwise=(
                        Arg("--local", "context={workspace}/{context}"),
                        Arg("--local", "dockerfile={workspace}/{context}"),
                    ),
                ),
                Arg("--opt", "filename={dockerfile}"),
                # Several names: the CSV field is quoted so its commas stay inside it.
                Join("images", "--output", 'type=image,"name={joined}",push=true'),
                When(
                    "cache",
                    is_true=True,
                    then=(
                        Arg("--export-cache", "type=registry,ref={cache_repo}:{cache_tag},mode={cache_mode},ignore-error=true"),
                        Arg("--import-cache", "type=registry,ref={cache_repo}:{cache_tag}"),
                    ),
                ),
                When("no_cache", is_true=True, then=(Lit("--no-cache"),)),
                Arg("--metadata-file", "{metadata_file}"),
                Each("build_args", "--opt", "build-arg:{item}"),
                Arg("--opt", "target={target}", optional=True),
                Join("platforms", "--opt", "platform={joined}"),
                Each("labels", "--opt", "label:{item}"),
                Each("extra_args", "{item}"),
            )
        ),
    ),
    finish=_FINISH,
)


def build_argv(spec: BuildSpec) -> list[str]:
    """The ``buildctl-daemonless.sh build …`` argv for ``spec`` (in the rootless image)."""
    from cachebuild.builders import argv

    spec.check_engine("buildkit")
    return argv(PROGRAM, spec, LAYOUT)[0]
