"""BuildKit: ``buildctl-daemonless.sh build`` in the rootless image, with a registry cache.

Flags: ``buildctl build`` (moby/buildkit cmd/buildctl/build.go); cache options
(``--export-cache type=registry,ref=…,mode=max,ignore-error=true``) from
https://github.com/moby/buildkit#registry-push-image-and-cache-separately .
"""

from __future__ import annotations

from cachebuild.builders.program import (
    TRANSFORMS,
    Arg,
    CacheReport,
    Command,
    Derive,
    Each,
    EnvSet,
    File,
    Join,
    Lit,
    Program,
    Transform,
    Values,
    When,
)
from cachebuild.errors import SpecError
from cachebuild.spec import GZIP_MAX_LEVEL, BuildSpec

IMAGE = "docker.io/moby/buildkit:v0.33.0-rootless@sha256:80b15f0735e87bab7bf59ec4d695dfb4a7cfb25521cf56dc75d6f256285b63ef"
"""Rootless BuildKit; runs as uid/gid 1000."""

ENTRYPOINT = "buildctl-daemonless.sh"
ROOTLESS_FLAG = "--oci-worker-no-process-sandbox"
"""buildkitd's flag for running without its own process sandbox: rootless only (as root buildkitd
refuses it: ``can't enable NoProcessSandbox without Rootless``), so it follows the user the image
runs as."""
STATE_DIR = "/home/user/.local/share/buildkit"
CACHE_MOUNTS_SUBPATH = ".cachebuild/buildkit"
"""Where a cache-mounts claim keeps buildkitd's state (its root: RUN --mount=type=cache directories, layers)."""
DOCKER_CONFIG_DIR = "/home/user/.docker"
"""``buildctl`` reads ``$DOCKER_CONFIG/config.json``; credentials are mounted here."""
RUN_AS = 1000

LAYOUT = {
    "metadata_file": "/tmp/cachebuild/metadata.json",
    "digest_file": "/tmp/cachebuild/image-digest",
    "build_log": "/tmp/cachebuild/build.log",
    "cache_hits_file": "/tmp/cachebuild/cache-hits",
    "cache_report_file": "/tmp/cachebuild/cache-report",
    "buildkitd_config": "/tmp/cachebuild/buildkitd.toml",
    "ca_bundle": "/tmp/cachebuild/registry-ca/ca.crt",
    "registry_ca_dir": "",
    "cache_mounts_dir": "",
}

# buildctl writes the digest into its metadata JSON; the rootless image has no jq.
_FINISH = r"""
sed -n 's/.*"containerimage\.digest": *"\([^"]*\)".*/\1/p' "$CB_METADATA_FILE" | head -n 1 | tr -d '\n' > "$CB_DIGEST_FILE"
"""


# Where the cache comes from and goes to (cache_from / cache_to / cache_branch, see BuildSpec).
def _imports(cache_from: str, values: Values) -> str:
    if cache_from:
        return cache_from
    default = f"{values['cache_repository']}:{values['cache_tag']}"
    branch = values.get("cache_branch_tag")
    return f"{values['cache_repository']}:{branch}\n{default}" if branch else default


def _export(cache_to: str, values: Values) -> str:
    return cache_to or f"{values['cache_repository']}:{values.get('cache_branch_tag') or values['cache_tag']}"


def _export_options(compression: str, values: Values) -> str:
    level = values.get("cache_compression_level", "")
    if level and compression != "zstd" and int(str(level)) > GZIP_MAX_LEVEL:
        raise SpecError("cache_compression_level", level, _GZIP_LEVEL)
    return (f",compression={compression}" if compression else "") + (f",compression-level={level}" if level else "")


_GZIP_LEVEL = f"gzip (the default compression) goes up to {GZIP_MAX_LEVEL}"
CACHE_IMPORTS = Transform(
    _imports,
    'cb_v="$cb_src"; if [ -z "$cb_v" ]; then cb_v="$CB_CACHE_REPOSITORY:$CB_CACHE_TAG"; '
    'if [ -n "$CB_CACHE_BRANCH_TAG" ]; then cb_v="$CB_CACHE_REPOSITORY:$CB_CACHE_BRANCH_TAG$cb_nl$cb_v"; fi; fi',
    uses=("cache_tag",),
)
CACHE_EXPORT = Transform(
    _export,
    'cb_v="${cb_src:-$CB_CACHE_REPOSITORY:${CB_CACHE_BRANCH_TAG:-$CB_CACHE_TAG}}"',
    uses=("cache_tag",),
)
CACHE_EXPORT_OPTIONS = Transform(
    _export_options,
    'cb_v=""; [ -z "$cb_src" ] || cb_v=",compression=$cb_src"\n'
    'if [ -n "$CB_CACHE_COMPRESSION_LEVEL" ]; then\n'
    f'  if [ "$cb_src" != zstd ] && [ "$CB_CACHE_COMPRESSION_LEVEL" -gt {GZIP_MAX_LEVEL} ]; then '
    f"cb_fail '@name:cache_compression_level@' '{_GZIP_LEVEL}' \"$CB_CACHE_COMPRESSION_LEVEL\"; fi\n"
    '  cb_v="$cb_v,compression-level=$CB_CACHE_COMPRESSION_LEVEL"\n'
    "fi",
    uses=("cache_compression_level",),
)

CACHE_NOTES = (
    "Imports every ref of `cache-from` in order (default: the export ref), exports to `cache-to` (default "
    "`cache-repo:cache-tag`), `mode` min or max. `cache-branch NAME` imports `cache-repo:<branch tag>` then "
    "`cache-repo:cache-tag` and exports to the branch tag (NAME with what a tag cannot hold turned to `-`), so a "
    "branch's first build takes the main cache and never overwrites it. `cache-read-only` imports and never exports "
    "(builds of untrusted changes). The export has `ignore-error=true`: a cache that cannot be written never fails "
    "the build; a cache reference that can never work (an upper-case name) is refused before it starts. The cache is "
    "exported in OCI media types as an image manifest (`oci-mediatypes`, `image-manifest`: what ECR and Harbor need; "
    "turn both off for a registry without OCI artifacts), compressed with `cache-compression` gzip or zstd at "
    "`cache-compression-level`. One cache tag holds the last build's cache only: give each image or branch its own."
)
"""What the remote cache does with this builder (the task READMEs show it)."""
CACHE_MOUNT_NOTES = (
    f"The claim holds buildkitd's whole state (its `--root`, in `{CACHE_MOUNTS_SUBPATH}` of the claim): the "
    "`RUN --mount=type=cache` directories and the layers of earlier builds, so a warm claim also spares the "
    "remote cache's downloads; buildkitd's garbage collection keeps it within its default limits. buildkitd locks "
    "its state: **one build at a time per claim** (a second buildkitd on it stops at once, `could not lock`); "
    f"give concurrent pipelines a claim each. The claim must be writable by uid {RUN_AS}."
)
"""What a cache-mounts claim holds for this builder and the caveats (the task READMEs show it)."""

PROGRAM = Program(
    name="buildkit",
    derive=(
        Derive("git_url", "context", TRANSFORMS["git_url"]),
        Derive("context_path", "context", TRANSFORMS["context_path"]),
        Derive("cache_busters", "dockerfile", TRANSFORMS["cache_busters"]),
        Derive("cache_repository", "cache_repo", TRANSFORMS["default_cache_repo"]),
        Derive("cache_branch_tag", "cache_branch", TRANSFORMS["branch_tag"]),
        Derive("cache_imports", "cache_from", CACHE_IMPORTS),
        Derive("cache_export_ref", "cache_to", CACHE_EXPORT),
        Derive("cache_export", "cache_read_only", TRANSFORMS["negate"]),
        Derive("cache_export_options", "cache_compression", CACHE_EXPORT_OPTIONS),
        Derive("uid", "", TRANSFORMS["current_uid"]),
        Derive("ca_file", "registry_ca_dir", TRANSFORMS["ca_bundle"]),
    ),
    # buildkitd reads plain-HTTP registries from its config file (rootless: --config, else ~/.config/buildkit).
    files=(File("buildkitd_config", (Each("insecure_registries", '[registry."{item}"]', "  http = true"),)),),
    required=("images", "workspace", "digest_file", "metadata_file"),
    outputs=("metadata_file", "digest_file", "build_log", "cache_hits_file", "cache_report_file"),
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
                        When(
                            "cache_export",
                            is_true=True,
                            then=(
                                # ignore-error: a cache that cannot be written never fails the build
                                Arg(
                                    "--export-cache",
                                    "type=registry,ref={cache_export_ref},mode={cache_mode},ignore-error=true,"
                                    "oci-mediatypes={cache_oci_mediatypes},image-manifest={cache_image_manifest}"
                                    "{cache_export_options}",
                                ),
                            ),
                        ),
                        Each("cache_imports", "--import-cache", "type=registry,ref={item}"),
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
                        # A volume that outlives the pod (Tekton's cache-mounts workspace): buildkitd's
                        # state there keeps RUN --mount=type=cache directories (and its layers) between builds.
                        When("cache_mounts_dir", then=(Arg("--root={cache_mounts_dir}"),)),
                    ),
                ),
                # A private CA: buildkitd (Go) trusts the bundle the launcher made (the system's and it).
                EnvSet("SSL_CERT_FILE", (Arg("{ca_file}", optional=True),)),
            ),
            log="build_log",
        ),
    ),
    report=CacheReport("buildkit"),
    finish=_FINISH,
)


def build_argv(spec: BuildSpec) -> list[str]:
    """The ``buildctl-daemonless.sh build …`` argv for ``spec`` (in the rootless image)."""
    from cachebuild.builders import argv

    spec.check_engine("buildkit")
    return argv(PROGRAM, spec, LAYOUT)[0]
