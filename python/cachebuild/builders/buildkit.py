"""BuildKit: ``buildctl-daemonless.sh build`` in the rootless image, with a registry cache.

Flags: ``buildctl build`` (moby/buildkit cmd/buildctl/build.go); cache options
(``--export-cache type=registry,ref=…,mode=max,ignore-error=true``) from
https://github.com/moby/buildkit#registry-push-image-and-cache-separately .
"""

from __future__ import annotations

from cachebuild.builders.program import TRANSFORMS, Arg, Command, Derive, Each, EnvSet, File, Join, Lit, Program, When
from cachebuild.spec import BuildSpec

IMAGE = "docker.io/moby/buildkit:v0.33.0-rootless@sha256:80b15f0735e87bab7bf59ec4d695dfb4a7cfb25521cf56dc75d6f256285b63ef"
"""Rootless BuildKit; runs as uid/gid 1000."""

ENTRYPOINT = "buildctl-daemonless.sh"
ROOTLESS_FLAG = "--oci-worker-no-process-sandbox"
"""buildkitd's flag for running without its own process sandbox: rootless only (as root buildkitd
refuses it: ``can't enable NoProcessSandbox without Rootless``), so it follows the user the image
runs as."""
STATE_DIR = "/home/user/.local/share/buildkit"
DOCKER_CONFIG_DIR = "/home/user/.docker"
"""``buildctl`` reads ``$DOCKER_CONFIG/config.json``; credentials are mounted here."""
RUN_AS = 1000

LAYOUT = {
    "metadata_file": "/tmp/cachebuild/metadata.json",
    "digest_file": "/tmp/cachebuild/image-digest",
    "buildkitd_config": "/tmp/cachebuild/buildkitd.toml",
    "ca_bundle": "/tmp/cachebuild/registry-ca/ca.crt",
    "registry_ca_dir": "",
}

# buildctl writes the digest into its metadata JSON; the rootless image has no jq.
_FINISH = r"""
sed -n 's/.*"containerimage\.digest": *"\([^"]*\)".*/\1/p' "$CB_METADATA_FILE" | head -n 1 | tr -d '\n' > "$CB_DIGEST_FILE"
"""

PROGRAM = Program(
    name="buildkit",
    derive=(
        Derive("git_url", "context", TRANSFORMS["git_url"]),
        Derive("context_path", "context", TRANSFORMS["context_path"]),
        Derive("cache_repository", "cache_repo", TRANSFORMS["default_cache_repo"]),
        Derive("uid", "", TRANSFORMS["current_uid"]),
        Derive("ca_file", "registry_ca_dir", TRANSFORMS["ca_bundle"]),
    ),
    # buildkitd reads plain-HTTP registries from its config file (rootless: --config, else ~/.config/buildkit).
    files=(File("buildkitd_config", (Each("insecure_registries", '[registry."{item}"]', "  http = true"),)),),
    required=("images", "workspace", "digest_file", "metadata_file"),
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
                        Arg(
                            "--export-cache",
                            "type=registry,ref={cache_repository}:{cache_tag},mode={cache_mode},ignore-error=true",
                        ),
                        Arg("--import-cache", "type=registry,ref={cache_repository}:{cache_tag}"),
                    ),
                ),
                When("no_cache", is_true=True, then=(Lit("--no-cache"),)),
                Arg("--metadata-file", "{metadata_file}"),
                Each("build_args", "--opt", "build-arg:{item}"),
                Arg("--opt", "target={target}", optional=True),
                Join("platforms", "--opt", "platform={joined}"),
                Each("labels", "--opt", "label:{item}"),
                Each("extra_args", "{item}"),
            ),
            env=(
                # buildctl-daemonless.sh passes BUILDKITD_FLAGS to buildkitd, split on spaces.
                EnvSet(
                    "BUILDKITD_FLAGS",
                    (
                        When("uid", equals="0", then=(), otherwise=(Lit(ROOTLESS_FLAG),)),
                        When("insecure_registries", then=(Arg("--config={buildkitd_config}"),)),
                    ),
                ),
                # A private CA: buildkitd (Go) trusts the bundle the launcher made (the system's and it).
                EnvSet("SSL_CERT_FILE", (Arg("{ca_file}", optional=True),)),
            ),
        ),
    ),
    finish=_FINISH,
)


def build_argv(spec: BuildSpec) -> list[str]:
    """The ``buildctl-daemonless.sh build …`` argv for ``spec`` (in the rootless image)."""
    from cachebuild.builders import argv

    spec.check_engine("buildkit")
    return argv(PROGRAM, spec, LAYOUT)[0]
