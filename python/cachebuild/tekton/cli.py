"""``cachebuild workflow --on tekton``: the Tekton-only options and the printed PipelineRun."""

from __future__ import annotations

import argparse
from typing import Any

from cachebuild.errors import SpecError
from cachebuild.spec import BuildSpec


def add_arguments(group: argparse._ArgumentGroup) -> None:
    """Options only ``--on tekton`` reads."""
    from cachebuild.tekton.pipelines import DEFAULT_GIT_REVISION, DEFAULT_GIT_URL

    group.add_argument(
        "--tekton-git-url",
        default=DEFAULT_GIT_URL,
        metavar="URL",
        help=f"git resolver: your clone or fork of cachebuild, which holds tasks/ (default {DEFAULT_GIT_URL}, a placeholder)",
    )
    group.add_argument(
        "--tekton-git-revision",
        default=DEFAULT_GIT_REVISION,
        metavar="REV",
        help=f"git resolver: revision (default {DEFAULT_GIT_REVISION})",
    )
    group.add_argument("--tekton-service-account", metavar="NAME", help="ServiceAccount the TaskRuns run as")


def manifest(args: argparse.Namespace, specs: list[BuildSpec]) -> dict[str, Any]:
    """The PipelineRun for ``specs``: Tasks by the git resolver (``--ref``) or embedded (``--inline``)."""
    from cachebuild.commands.spec_args import translate
    from cachebuild.tekton.pipelines import TaskOrigin, pipeline_run

    origin = TaskOrigin("inline" if args.inline else "git", args.tekton_git_url, args.tekton_git_revision)
    try:
        return pipeline_run(specs, args.engine, origin, namespace=args.namespace, service_account=args.tekton_service_account)
    except SpecError as err:
        raise translate(err, args) from None
