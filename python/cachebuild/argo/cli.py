"""``cachebuild workflow --on argo``: the Argo-only options and the Workflow they print."""

from __future__ import annotations

import argparse
from typing import Any

from cachebuild.errors import SpecError
from cachebuild.spec import BuildSpec

# compose.py imports hera; these defaults are repeated here so `--help` stays fast (a test checks they agree).
DEFAULT_WORKSPACE_SIZE = "1Gi"
DEFAULT_KANIKO_CACHE_SIZE = "5Gi"
DEFAULT_GENERATE_NAME = "cachebuild-"

# Workflow() keyword → the flag that sets it, for field-named errors.
_FLAGS = {"workspace_size": "--workspace-size", "kaniko_cache_size": "--kaniko-cache-size"}


def add_arguments(group: argparse._ArgumentGroup) -> None:
    """Options only the Argo Workflow reads (``group`` is the parser's "argo" group)."""
    group.add_argument(
        "--cluster-scope", action="store_true", help="reference the ClusterWorkflowTemplates instead of the namespaced ones"
    )
    group.add_argument("--generate-name", default=DEFAULT_GENERATE_NAME, metavar="PREFIX", help="metadata.generateName")
    group.add_argument("--service-account", metavar="NAME", help="spec.serviceAccountName of the Workflow")
    group.add_argument(
        "--workspace-size",
        default=DEFAULT_WORKSPACE_SIZE,
        metavar="QTY",
        help="size of the workspace volume claim (no --workspace-pvc)",
    )
    group.add_argument(
        "--kaniko-cache-size",
        default=DEFAULT_KANIKO_CACHE_SIZE,
        metavar="QTY",
        help="size of the kaniko cache claim (no --kaniko-cache-pvc)",
    )


def manifest(args: argparse.Namespace, specs: list[BuildSpec]) -> dict[str, Any]:
    """The Workflow as a mapping; invalid input raises :class:`~cachebuild.errors.SpecError` naming the flag."""
    from cachebuild.argo.compose import workflow

    try:
        w = workflow(
            specs,
            args.engine,
            inline=args.inline,
            cluster_scope=args.cluster_scope,
            generate_name=args.generate_name,
            namespace=getattr(args, "namespace", None),
            service_account=args.service_account,
            workspace_size=args.workspace_size,
            kaniko_cache_size=args.kaniko_cache_size,
        )
    except SpecError as err:
        from cachebuild.commands.spec_args import translate

        raise translate(err, args, extra=_FLAGS) from None
    return w.to_dict()  # type: ignore[no-any-return]
