"""The spec flags shared by ``workflow``, ``build`` and ``submit``, and ``--specs FILE``.

On the command line and in a ``--specs`` YAML file the fields are spelled the same way
(``cache-repo``, ``build-args``); :class:`~cachebuild.errors.SpecError` fields are translated
to that spelling, so the user reads the name they wrote.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable, Mapping
from typing import Any

from cachebuild.errors import SpecError
from cachebuild.spec import ENGINE_ONLY, BuildSpec, engine_only_reason

# Python field → (flag, YAML key). The YAML key also takes the flag's singular form.
FIELDS: dict[str, tuple[str, str]] = {
    "images": ("--image", "image"),
    "context": ("--context", "context"),
    "dockerfile": ("--dockerfile", "dockerfile"),
    "cache": ("--no-remote-cache", "cache"),
    "no_cache": ("--no-cache", "no-cache"),
    "cache_repo": ("--cache-repo", "cache-repo"),
    "cache_tag": ("--cache-tag", "cache-tag"),
    "cache_mode": ("--cache-mode", "cache-mode"),
    "cache_ttl": ("--cache-ttl", "cache-ttl"),
    "cache_from": ("--cache-from", "cache-from"),
    "cache_to": ("--cache-to", "cache-to"),
    "cache_read_only": ("--cache-read-only", "cache-read-only"),
    "cache_branch": ("--cache-branch", "cache-branch"),
    "cache_compression": ("--cache-compression", "cache-compression"),
    "cache_compression_level": ("--cache-compression-level", "cache-compression-level"),
    "cache_oci_mediatypes": ("--no-cache-oci-mediatypes", "cache-oci-mediatypes"),
    "cache_image_manifest": ("--no-cache-image-manifest", "cache-image-manifest"),
    "skip_unchanged": ("--skip-unchanged", "skip-unchanged"),
    "build_args": ("--build-arg", "build-args"),
    "target": ("--target", "target"),
    "platforms": ("--platform", "platforms"),
    "labels": ("--label", "labels"),
    "docker_config_secret": ("--docker-config-secret", "docker-config-secret"),
    "insecure_registries": ("--insecure-registry", "insecure-registries"),
    "registry_ca": ("--registry-ca", "registry-ca"),
    "workspace_pvc": ("--workspace-pvc", "workspace-pvc"),
    "kaniko_cache_pvc": ("--kaniko-cache-pvc", "kaniko-cache-pvc"),
    "cache_mounts_pvc": ("--cache-mounts-pvc", "cache-mounts-pvc"),
    "warm_images": ("--warm-image", "warm-images"),
    "builder_image": ("--builder-image", "builder-image"),
    "extra_args": ("--extra-arg", "extra-args"),
}
_YAML_ALIASES = {
    "images": "images",
    "build-arg": "build-args",
    "platform": "platforms",
    "label": "labels",
    "warm-image": "warm-images",
    "extra-arg": "extra-args",
    "insecure-registry": "insecure-registries",
}
_YAML_TO_FIELD = {yaml_key: name for name, (_, yaml_key) in FIELDS.items()}
_OFF_SWITCHES = frozenset({"cache", "cache_oci_mediatypes", "cache_image_manifest"})
"""Fields on by default whose flag (``--no-…``) turns them off."""


def add_spec_arguments(parser: argparse.ArgumentParser, *, omit: Iterable[str] = ()) -> None:
    """Add the spec flags, but those of the fields in ``omit`` (a command that cannot use them takes none).

    With ``--specs FILE`` they are defaults for every item. ``-t``/``--tag`` and ``-f``/``--file`` are the
    docker and buildah spellings of ``--image`` and ``--dockerfile``.
    """
    skip = set(omit)
    g = parser.add_argument_group("build spec")

    def add(field: str, *names: str, **kwargs: Any) -> None:
        if field not in skip:
            g.add_argument(*names, dest=FIELDS[field][0].lstrip("-").replace("-", "_"), **kwargs)

    add("images", "--image", "-t", "--tag", action="append", default=[], metavar="REF", help="destination image (repeatable)")
    add("context", "--context", metavar="CTX", help="path in the workspace (default .), or https://host/repo.git#ref:subdir")
    add(
        "dockerfile",
        "--dockerfile",
        "-f",
        "--file",
        metavar="PATH",
        help="the Dockerfile, relative to the context (default Dockerfile)",
    )
    add("cache_repo", "--cache-repo", metavar="REPO", help="remote cache repository, no tag (default <image repository>/cache)")
    add(
        "no_cache",
        "--no-cache",
        action="store_true",
        default=None,
        help="use no layer cache, local or remote: build every step (as docker build --no-cache)",
    )
    add(
        "cache",
        "--no-remote-cache",
        action="store_true",
        default=None,
        help="neither import from nor export to the remote cache (--cache-repo)",
    )
    add("cache_tag", "--cache-tag", metavar="TAG", help="BuildKit: the tag of the cache in --cache-repo (default buildcache)")
    add("cache_mode", "--cache-mode", choices=("min", "max"), help="BuildKit: min caches the last stage only (default max)")
    add("cache_ttl", "--cache-ttl", metavar="DURATION", help="kaniko, buildah: ignore cached layers older than this (168h)")
    add("cache_from", "--cache-from", action="append", default=[], metavar="REF",
        help="BuildKit, buildah: a cache to import from, in order (repeatable; default where the cache goes)")  # fmt: skip
    add("cache_to", "--cache-to", metavar="REF", help="BuildKit, buildah: where the cache is exported to (default --cache-repo)")
    add("cache_read_only", "--cache-read-only", action="store_true", default=None,
        help="import the remote cache, never export to it (builds of untrusted changes)")  # fmt: skip
    add("cache_branch", "--cache-branch", metavar="NAME",
        help="BuildKit: import REPO:<branch> then the default tag, export to the branch's tag")  # fmt: skip
    add("cache_compression", "--cache-compression", choices=("gzip", "zstd"), help="BuildKit: the cache layers' compression")
    add("cache_compression_level", "--cache-compression-level", type=int, metavar="N",
        help="BuildKit: the compression level (gzip 0-9, zstd 0-22)")  # fmt: skip
    add("skip_unchanged", "--skip-unchanged", action="store_true", default=None,
        help="build nothing when a build with the same inputs was made before: publish its image (local engine)")  # fmt: skip
    add("cache_oci_mediatypes", "--no-cache-oci-mediatypes", action="store_true", default=None,
        help="BuildKit: export the cache in Docker media types (implies --no-cache-image-manifest)")  # fmt: skip
    add("cache_image_manifest", "--no-cache-image-manifest", action="store_true", default=None,
        help="BuildKit: export the cache as an index, not an image manifest (registries without OCI artifacts)")  # fmt: skip
    add(
        "build_args",
        "--build-arg",
        action="append",
        default=[],
        metavar="K=V",
        help="build argument (repeatable; a bare K takes its value from the environment, as docker does)",
    )
    add("target", "--target", metavar="STAGE", help="the Dockerfile stage to build")
    add(
        "platforms",
        "--platform",
        action="append",
        default=[],
        metavar="OS/ARCH",
        help="target platform (repeatable, or comma-separated)",
    )
    add("labels", "--label", action="append", default=[], metavar="K=V", help="image label (repeatable)")
    add("docker_config_secret", "--docker-config-secret", metavar="NAME", help="Secret with registry credentials")
    add(
        "insecure_registries",
        "--insecure-registry",
        action="append",
        default=[],
        metavar="HOST[:PORT]",
        help="registry reached over plain HTTP: pulls, pushes, the cache (repeatable; others keep TLS)",
    )
    add("registry_ca", "--registry-ca", metavar="NAME", help="ConfigMap or Secret with CA certificates (*.crt) to trust")
    add("workspace_pvc", "--workspace-pvc", metavar="NAME", help="PersistentVolumeClaim holding the build context")
    add("kaniko_cache_pvc", "--kaniko-cache-pvc", metavar="NAME", help="kaniko: the PVC the warmer fills with base images")
    add(
        "cache_mounts_pvc",
        "--cache-mounts-pvc",
        metavar="NAME",
        help="BuildKit, buildah: a PVC keeping RUN --mount=type=cache directories between builds",
    )
    add("warm_images", "--warm-image", action="append", default=[], metavar="REF", help="kaniko: a base image to warm")
    add("builder_image", "--builder-image", metavar="REF", help="replace the builder's pinned image")
    add("extra_args", "--extra-arg", action="append", default=[], metavar="ARG",
        help="extra builder argument, one argv element (repeatable; write --extra-arg=--flag=value)")  # fmt: skip
    g.add_argument("--specs", metavar="FILE", help="YAML list of build specs; the flags above are their defaults")


def _build_arg(entry: str) -> str:
    """``K=V`` as given; a bare ``K`` takes ``$K`` (docker's rule), which must then be set."""
    if "=" in entry or not entry:
        return entry
    if entry not in os.environ:
        raise SpecError("--build-arg", entry, "has no value and is not set in the environment: write KEY=VALUE")
    return f"{entry}={os.environ[entry]}"


def given_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The spec fields given on the command line, as ``BuildSpec`` keyword arguments."""
    out: dict[str, Any] = {}
    for name, (flag, _) in FIELDS.items():
        dest = flag.lstrip("-").replace("-", "_")
        value = getattr(args, dest, None)
        if name in _OFF_SWITCHES:
            if value:
                out[name] = False
        elif name == "platforms":
            if value:
                out[name] = [p for item in value for p in item.split(",") if p]
        elif name == "build_args":
            if value:
                out[name] = [_build_arg(item) for item in value]
        elif isinstance(value, list):
            if value:
                out[name] = value
        elif value is not None:
            out[name] = value
    return out


def check_engine_flags(args: argparse.Namespace, engine: str) -> None:
    """A spec flag the engine does not read is an error, even with its default value (``--cache-mode max``)."""
    for name, value in given_flags(args).items():
        if name in ENGINE_ONLY and engine not in ENGINE_ONLY[name]:
            raise SpecError(FIELDS[name][0], value, engine_only_reason(name, engine))


def translate(
    err: SpecError, args: argparse.Namespace, index: int | None = None, *, extra: Mapping[str, str] | None = None
) -> SpecError:
    """A spec's error under the name the user wrote it by: ``specs[i].key`` with ``--specs``, else the flag.

    ``err.field`` may carry its own ``specs[i].`` prefix (errors about one of several specs);
    ``index`` gives it otherwise. ``extra`` maps fields that are not spec fields to their flags.
    """
    from_file = bool(getattr(args, "specs", None))
    field = err.field
    prefix = f"specs[{index}]." if index is not None else ""
    if field.startswith("specs[") and "]." in field:
        head, _, field = field.partition("].")
        prefix = head + "]."
    head, sep, tail = field.partition("[")
    if extra and head in extra:
        return err.renamed(extra[head] + sep + tail)
    if head not in FIELDS:
        return err
    return _translate(err.renamed(field), prefix if from_file else "", yaml=from_file)


def _translate(err: SpecError, prefix: str, yaml: bool) -> SpecError:
    head, sep, tail = err.field.partition("[")
    flag, yaml_key = FIELDS.get(head, (f"--{head.replace('_', '-')}", head.replace("_", "-")))
    return err.renamed(f"{prefix}{yaml_key if yaml else flag}{sep}{tail}")


def spec_from_mapping(item: Mapping[str, Any], defaults: Mapping[str, Any], where: str) -> BuildSpec:
    """One ``--specs`` item (YAML keys) over ``defaults`` (``BuildSpec`` keyword arguments)."""
    if not isinstance(item, Mapping):
        raise SpecError(where, item, "each item must be a mapping of spec fields")
    kwargs = dict(defaults)
    for key, value in item.items():
        key = _YAML_ALIASES.get(key, key)
        if key == "images":
            key = "image"
        if key not in _YAML_TO_FIELD:
            raise SpecError(f"{where}.{key}", value, f"unknown field; known: {', '.join(sorted(_YAML_TO_FIELD))}")
        kwargs[_YAML_TO_FIELD[key]] = value
    if "images" not in kwargs:
        raise SpecError(f"{where}.image", None, "at least one destination image is required")
    try:
        return BuildSpec(**kwargs)
    except SpecError as err:
        raise _translate(err, f"{where}.", yaml=True) from None


def specs_from_args(args: argparse.Namespace) -> list[BuildSpec]:
    """The build specs the command line asks for: ``--specs`` items, or the flags alone."""
    defaults = given_flags(args)
    specs_file = getattr(args, "specs", None)
    if specs_file:
        import yaml

        try:
            with open(specs_file, encoding="utf-8") as fh:
                items = yaml.safe_load(fh)
        except OSError as err:
            raise SpecError("--specs", specs_file, f"cannot read the file: {err.strerror}") from None
        except yaml.YAMLError as err:
            raise SpecError("--specs", specs_file, f"not valid YAML: {err}") from None
        if not isinstance(items, list) or not items:
            raise SpecError("--specs", specs_file, "must hold a non-empty YAML list of build specs")
        return [spec_from_mapping(item, defaults, f"specs[{i}]") for i, item in enumerate(items)]
    if "images" not in defaults:
        raise SpecError("--image", None, "at least one destination is required: --image REF (or -t REF), or --specs FILE")
    try:
        return [BuildSpec(**defaults)]
    except SpecError as err:
        raise _translate(err, "", yaml=False) from None
