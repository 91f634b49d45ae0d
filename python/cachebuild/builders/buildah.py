"""buildah: ``buildah build --layers --cache-from/--cache-to``, then ``buildah push`` per image.

Flags: containers/buildah pkg/cli/common.go (build) and docs/buildah-push.1.md (push).
``--cache-from``/``--cache-to`` take a repository without a tag and only work with ``--layers``.
"""

from __future__ import annotations

from cachebuild import kinds
from cachebuild.builders.program import (
    TRANSFORMS,
    Arg,
    CacheReport,
    Command,
    Derive,
    Each,
    Fallback,
    File,
    Join,
    Lit,
    Program,
    When,
)
from cachebuild.kinds import Kind
from cachebuild.spec import BUILDAH_CACHE_REF, BuildSpec

IMAGE = "quay.io/buildah/stable:v1.43.2@sha256:836f1db7d8a21dc26d63f6c4ef930cde3f2a69f3e9f4cae9cc6751ec7b7a40dc"
AUTH_FILE = "/cachebuild/docker/config.json"
REGISTRIES_DROP_IN = "/etc/containers/registries.conf.d/50-cachebuild-insecure.conf"
"""buildah has no per-registry plain-HTTP flag (``--tls-verify=false`` would drop TLS for every
registry); containers/image reads drop-ins beside registries.conf, so the launcher marks only the
named registries ``insecure`` there (in the container's own filesystem)."""

CACHE_MOUNTS_DIR = "/var/tmp"
"""buildah keeps ``RUN --mount=type=cache`` directories under its temporary folder: ``/var/tmp/buildah-cache``
as root in 1.28, ``/var/tmp/buildah-cache-<uid>`` from 1.30 (internal/volumes.CacheParent); a cache-mounts
claim is mounted there."""
CACHE_MOUNTS_SUBPATH = ".cachebuild/buildah"

LAYOUT = {
    "storage_driver": "vfs",
    "storage_root": "",  # buildah's own default storage; the local engine's --fresh gives an empty one
    "storage_runroot": "",
    "isolation": "chroot",
    "retries": "3",
    "digest_file": "/tmp/cachebuild/image-digest",
    "build_log": "/tmp/cachebuild/build.log",
    "cache_hits_file": "/tmp/cachebuild/cache-hits",
    "cache_report_file": "/tmp/cachebuild/cache-report",
    "auth_file": AUTH_FILE,
    "tls_verify": "true",
    "manifest_name": "cachebuild-manifest",
    "registries_drop_in": REGISTRIES_DROP_IN,
    "ca_bundle": "/tmp/cachebuild/registry-ca/ca.crt",
    "registry_ca_dir": "",
}


VERSION_ARGS = ("--version",)
"""What prints buildah's version (``buildah version 1.28.2 (image-spec …)``), one of the inputs of a build."""


# Global flags, before the subcommand: the storage driver, and optionally a storage root of its own
# (the local engine's ``--fresh`` builds start from an empty one, as a new CI pod would).
def _global(*subcommand: str) -> tuple[Arg | Lit, ...]:
    return (
        Lit("buildah"),
        Arg("--storage-driver={storage_driver}"),
        Arg("--root={storage_root}", optional=True),
        Arg("--runroot={storage_runroot}", optional=True),
        Lit(*subcommand),
    )


_COMMON = (
    # Only a credentials file that is there: buildah refuses a missing --authfile, and a template's
    # credentials Secret is optional (anonymous pushes to an open registry).
    When("auth_file", is_file=True, then=(Arg("--authfile={auth_file}"),)),
    When("tls_verify", is_true=True, then=(), otherwise=(Lit("--tls-verify=false"),)),
    # A private CA: containers/image adds the *.crt of --cert-dir to the system's.
    When("ca_file", then=(Arg("--cert-dir={ca_dir}"),)),
)

# buildah fails the whole build when it cannot push a layer to --cache-to ("Error: failed pushing
# cache to ..."); the build runs again from the layers it has, without --cache-to, and pushes.
CACHE_EXPORT_FAILED = Fallback(
    pattern="failed pushing cache to",
    key="cache_export",
    value="false",
    warning="cachebuild: warning: the cache was not written to {cache_export_repo} (see above); building again "
    "from the local layers without exporting the cache",
)
CACHE_REF = Kind("repository", BUILDAH_CACHE_REF, kinds.REPOSITORY.pattern, name_max=True)
"""buildah's cache refs: repositories (it tags each layer by its content)."""

CACHE_NOTES = (
    "buildah imports from each repository of `cache-from` in order (default: `cache-repo`) and exports the layers "
    "it builds to `cache-to` (default `cache-repo`); it tags each layer by its content, so branches share one "
    "repository safely and `cache-branch` is refused. Layers taken from `cache-from` are not exported again. "
    "`cache-read-only` imports and never exports. buildah fails a build whose layer it cannot push to `cache-to` "
    "(`failed pushing cache to`): the launcher then warns and builds again from the local layers without "
    "exporting, and pushes the image. An `ARG` after `FROM` gives its step a new cache key on every build with "
    "buildah 1.28 (every later step of the stage misses): declare it before the first `FROM`. The cache grows with "
    "every build that misses: prune it with `cachebuild cache prune`."
)
"""What the remote cache does with this builder (the task READMEs show it)."""
CACHE_MOUNT_NOTES = (
    f"The claim's `{CACHE_MOUNTS_SUBPATH}` is mounted at `{CACHE_MOUNTS_DIR}`, where buildah keeps the "
    "`RUN --mount=type=cache` directories (`buildah-cache*`) and its temporary files. Builds sharing a claim "
    "share its cache directories (`sharing=locked` takes a lock file kept on the claim): **one build at a time "
    "per claim** is the safe rule. Prune it by deleting the folder."
)
"""What a cache-mounts claim holds for this builder and the caveats (the task READMEs show it)."""

PROGRAM = Program(
    name="buildah-build",
    kinds={"cache_from": CACHE_REF, "cache_to": CACHE_REF},
    derive=(
        Derive("git_url", "context", TRANSFORMS["git_url"]),
        Derive("context_path", "context", TRANSFORMS["context_path"]),
        Derive("cache_busters", "dockerfile", TRANSFORMS["cache_busters"]),
        Derive("cache_repository", "cache_repo", TRANSFORMS["default_cache_repo"]),
        Derive("cache_imports", "cache_from", TRANSFORMS["or_cache_repository"]),
        Derive("cache_export_repo", "cache_to", TRANSFORMS["or_cache_repository"]),
        Derive("cache_export", "cache_read_only", TRANSFORMS["negate"]),
        # Several platforms are one image each, gathered in a manifest list pushed with --all.
        Derive("multi_platform", "platforms", TRANSFORMS["several"]),
        Derive("single_platform", "multi_platform", TRANSFORMS["negate"]),
        Derive("ca_file", "registry_ca_dir", TRANSFORMS["ca_bundle"]),
        Derive("ca_dir", "ca_file", TRANSFORMS["dirname"]),
    ),
    files=(
        File(
            "registries_drop_in",
            (Each("insecure_registries", "[[registry]]", 'location = "{item}"', "insecure = true"),),
        ),
    ),
    required=("images", "workspace", "digest_file", "storage_driver", "isolation", "retries"),
    outputs=("digest_file", "build_log", "cache_hits_file", "cache_report_file"),
    commands=(
        Command(
            (
                *_global("build"),
                Lit("--layers"),
                When("no_cache", is_true=True, then=(Lit("--no-cache"),)),
                Arg("--isolation={isolation}"),
                When(
                    "cache",
                    is_true=True,
                    then=(
                        Each("cache_imports", "--cache-from={item}"),
                        When("cache_export", is_true=True, then=(Arg("--cache-to={cache_export_repo}"),)),
                        Arg("--cache-ttl={cache_ttl}", optional=True),
                    ),
                ),
                When(
                    "git_url",
                    then=(Arg("--file={dockerfile}"),),
                    otherwise=(Arg("--file={workspace}/{context}/{dockerfile}"),),
                ),
                When(
                    "multi_platform",
                    is_true=True,
                    then=(Arg("--manifest={manifest_name}"),),
                    otherwise=(Each("images", "--tag={item}"),),
                ),
                Each("build_args", "--build-arg={item}"),
                Arg("--target={target}", optional=True),
                Join("platforms", "--platform={joined}"),
                Each("labels", "--label={item}"),
                Arg("--retry={retries}"),
                *_COMMON,
                Each("extra_args", "{item}"),
                # buildah stops reading flags at the context: it comes last.
                When("git_url", then=(Arg("{context}"),), otherwise=(Arg("{workspace}/{context}"),)),
            ),
            log="build_log",
            fallback=CACHE_EXPORT_FAILED,
        ),
        Command(
            (
                *_global("push"),
                Arg("--digestfile={digest_file}"),
                Arg("--retry={retries}"),
                *_COMMON,
                Arg("{images}", "docker://{images}"),
            ),
            repeat="images",
            when="single_platform",
        ),
        # buildah 1.28's manifest push has no --retry.
        Command(
            (
                *_global("manifest", "push"),
                Lit("--all"),
                Arg("--digestfile={digest_file}"),
                *_COMMON,
                Arg("{manifest_name}", "docker://{images}"),
            ),
            repeat="images",
            when="multi_platform",
        ),
    ),
    report=CacheReport("buildah"),
)


def build_argv(spec: BuildSpec, **layout: str) -> list[list[str]]:
    """``[build argv, push argv per image]`` for ``spec``; ``layout`` overrides :data:`LAYOUT`."""
    from cachebuild.builders import argv

    spec.check_engine("buildah")
    return argv(PROGRAM, spec, {**LAYOUT, **layout})
