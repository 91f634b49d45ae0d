"""The spec flags shared by ``workflow``, ``build`` and ``submit``, and ``--specs FILE``.

On the command line and in a ``--specs`` YAML file the fields are spelled the same way
(``cache-repo``, ``build-args``); :class:`~cachebuild.errors.SpecError` fields are translated
to that spelling, so the user reads the name they wrote.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from cachebuild.errors import SpecError
from cachebuild.spec import BuildSpec

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
    "build_args": ("--build-arg", "build-args"),
    "target": ("--target", "target"),
    "platforms": ("--platform", "platforms"),
    "labels": ("--label", "labels"),
    "docker_config_secret": ("--docker-config-secret", "docker-config-secret"),
    "workspace_pvc": ("--workspace-pvc", "workspace-pvc"),
    "kaniko_cache_pvc": ("--kaniko-cache-pvc", "kaniko-cache-pvc"),
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
}
_YAML_TO_FIELD = {yaml_key: name for name, (_, yaml_key) in FIELDS.items()}


def add_spec_arguments(parser: argparse.ArgumentParser, *, images_required: bool = True) -> None:
    """Add the spec flags. With ``--specs FILE`` they are defaults for every item."""
    g = parser.add_argument_group("build spec")
    g.add_argument("--image", action="append", default=[], metavar="REF", help="destination image (repeatable)")
    g.add_argument("--context", metavar="CTX", help="workspace path (default .) or https://host/repo.git#ref:subdir")
    g.add_argument("--dockerfile", metavar="PATH", help="Dockerfile, relative to the context (default Dockerfile)")
    g.add_argument("--cache-repo", metavar="REPO", help="cache repository, no tag (default <image repository>/cache)")
    g.add_argument(
        "--no-cache",
        action="store_true",
        default=None,
        help="use no layer cache, local or remote: build every step (as docker build --no-cache)",
    )
    g.add_argument(
        "--no-remote-cache",
        action="store_true",
        default=None,
        help="neither import from nor export to the remote cache (--cache-repo)",
    )
    g.add_argument("--cache-tag", metavar="TAG", help="BuildKit: tag of the cache in --cache-repo (default buildcache)")
    g.add_argument("--cache-mode", choices=("min", "max"), help="BuildKit cache mode (default max)")
    g.add_argument("--cache-ttl", metavar="DURATION", help="kaniko/buildah: ignore cached layers older than this")
    g.add_argument("--build-arg", action="append", default=[], metavar="K=V", help="build argument (repeatable)")
    g.add_argument("--target", metavar="STAGE", help="Dockerfile stage to build")
    g.add_argument("--platform", action="append", default=[], metavar="OS/ARCH", help="target platform (repeatable)")
    g.add_argument("--label", action="append", default=[], metavar="K=V", help="image label (repeatable)")
    g.add_argument("--docker-config-secret", metavar="NAME", help="Secret with registry credentials")
    g.add_argument("--workspace-pvc", metavar="NAME", help="PersistentVolumeClaim holding the build context")
    g.add_argument("--kaniko-cache-pvc", metavar="NAME", help="kaniko: PVC the warmer fills with base images")
    g.add_argument("--warm-image", action="append", default=[], metavar="REF", help="kaniko: base image to warm")
    g.add_argument("--builder-image", metavar="REF", help="replace the builder's pinned image")
    g.add_argument(
        "--extra-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra builder argument, one argv element (repeatable; write --extra-arg=--flag=value)",
    )
    g.add_argument("--specs", metavar="FILE", help="YAML list of build specs; the flags above are their defaults")
    parser.set_defaults(_images_required=images_required)


def _flag_defaults(args: argparse.Namespace) -> dict[str, Any]:
    """The spec fields given on the command line, as ``BuildSpec`` keyword arguments."""
    out: dict[str, Any] = {}
    for name, (flag, _) in FIELDS.items():
        dest = flag.lstrip("-").replace("-", "_")
        value = getattr(args, dest, None)
        if name == "cache":
            if value:
                out["cache"] = False
        elif isinstance(value, list):
            if value:
                out[name] = value
        elif value is not None:
            out[name] = value
    return out


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
    defaults = _flag_defaults(args)
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
        raise SpecError("--image", None, "at least one --image is required (or --specs FILE)")
    try:
        return [BuildSpec(**defaults)]
    except SpecError as err:
        raise _translate(err, "", yaml=False) from None
