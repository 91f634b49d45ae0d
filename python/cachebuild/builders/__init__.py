"""The builders' command lines: the only place that knows a builder's flags.

Each module (:mod:`.buildkit`, :mod:`.kaniko`, :mod:`.buildah`) defines its command line once as
a :class:`~cachebuild.builders.program.Program`, its pinned image and where it keeps its files.
:func:`argv` evaluates a program for a :class:`~cachebuild.spec.BuildSpec`; the Argo and Tekton
wrappers ship :func:`~cachebuild.builders.program.compile_sh` of the same program.
"""

from __future__ import annotations

from collections.abc import Mapping

from cachebuild.builders.program import Program, Value, evaluate
from cachebuild.spec import BuildSpec

# Where a template's build context volume is mounted (the Tekton convention, used everywhere).
WORKSPACE = "/workspace/source"


def spec_values(spec: BuildSpec, **layout: Value) -> dict[str, Value]:
    """The program values of ``spec``; ``layout`` adds where the builder's files are."""
    values: dict[str, Value] = {
        "images": spec.images,
        "context": spec.context,
        "dockerfile": spec.dockerfile,
        "cache": "true" if spec.cache else "false",
        "no_cache": "true" if spec.no_cache else "false",
        "cache_repo": spec.effective_cache_repo,
        "cache_tag": spec.cache_tag,
        "cache_mode": spec.cache_mode,
        "cache_ttl": spec.cache_ttl or "",
        "cache_from": spec.cache_from,
        "cache_to": spec.cache_to or "",
        "cache_read_only": "true" if spec.cache_read_only else "false",
        "cache_branch": spec.cache_branch or "",
        "cache_compression": spec.cache_compression or "",
        "cache_compression_level": "" if spec.cache_compression_level is None else str(spec.cache_compression_level),
        "cache_oci_mediatypes": "true" if spec.cache_oci_mediatypes else "false",
        "cache_image_manifest": "true" if spec.cache_image_manifest else "false",
        "build_args": tuple(f"{k}={v}" for k, v in spec.build_args),
        "target": spec.target or "",
        "platforms": spec.platforms,
        "labels": tuple(f"{k}={v}" for k, v in spec.labels),
        "extra_args": spec.extra_args,
        "warm_images": spec.warm_images,
        "insecure_registries": spec.insecure_registries,
        "workspace": WORKSPACE,
    }
    values.update(layout)
    return values


def argv(program: Program, spec: BuildSpec, layout: Mapping[str, Value]) -> list[list[str]]:
    """The exact argv of each process ``program`` runs to build ``spec``."""
    return evaluate(program, spec_values(spec, **layout))
