"""``cachebuild workflow``: print an Argo Workflow (``--on argo``) or a Tekton PipelineRun (``--on tekton``).

The output goes to stdout as YAML, ready for ``argo submit -`` or ``kubectl create -f -``.
Invalid input prints the field-named error, exits 2 and prints nothing to stdout.

The options only one control plane reads live here too (``cachebuild submit`` shares them):
:mod:`cachebuild.argo` and :mod:`cachebuild.tekton` are libraries and hold no argparse code.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from cachebuild.commands.spec_args import add_spec_arguments, specs_from_args, translate
from cachebuild.errors import SpecError
from cachebuild.spec import BuildSpec

# cachebuild.argo imports hera; these defaults are repeated here so `--help` stays fast (a test checks they agree).
DEFAULT_WORKSPACE_SIZE = "1Gi"
DEFAULT_KANIKO_CACHE_SIZE = "5Gi"
DEFAULT_GENERATE_NAME = "cachebuild-"

# argo.workflow() keyword → the flag that sets it, for field-named errors.
_ARGO_FLAGS = {"workspace_size": "--workspace-size", "kaniko_cache_size": "--kaniko-cache-size"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--on", choices=("argo", "tekton"), default="argo", help="the control plane (default argo)")
    parser.add_argument("--engine", choices=("buildkit", "kaniko", "buildah"), default="buildkit", help="the builder")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--ref", dest="inline", action="store_false", help="reference the installed templates/tasks (default)")
    mode.add_argument("--inline", dest="inline", action="store_true", help="embed the template/task definitions")
    parser.set_defaults(inline=False)
    parser.add_argument("--namespace", help="metadata.namespace of the printed object")
    add_argo_arguments(parser.add_argument_group("argo"))
    add_tekton_arguments(parser.add_argument_group("tekton"))
    add_spec_arguments(parser)


def add_argo_arguments(group: argparse._ArgumentGroup) -> None:
    """Options only the Argo Workflow reads."""
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


def add_tekton_arguments(group: argparse._ArgumentGroup) -> None:
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


def argo_manifest(args: argparse.Namespace, specs: list[BuildSpec]) -> dict[str, Any]:
    """The Workflow as a mapping; invalid input raises :class:`~cachebuild.errors.SpecError` naming the flag."""
    from cachebuild.argo import workflow

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
        raise translate(err, args, extra=_ARGO_FLAGS) from None
    return w.to_dict()  # type: ignore[no-any-return]


def tekton_manifest(args: argparse.Namespace, specs: list[BuildSpec]) -> dict[str, Any]:
    """The PipelineRun for ``specs``: Tasks by the git resolver (``--ref``) or embedded (``--inline``)."""
    from cachebuild.tekton import TaskOrigin, pipeline_run

    origin = TaskOrigin("inline" if args.inline else "git", args.tekton_git_url, args.tekton_git_revision)
    try:
        return pipeline_run(specs, args.engine, origin, namespace=args.namespace, service_account=args.tekton_service_account)
    except SpecError as err:
        raise translate(err, args) from None


def manifest(args: argparse.Namespace) -> dict[str, object]:
    """The Workflow or PipelineRun the arguments ask for (validated input only)."""
    specs = specs_from_args(args)
    return argo_manifest(args, specs) if args.on == "argo" else tekton_manifest(args, specs)


def run(args: argparse.Namespace) -> int:
    from cachebuild.yamltext import dump_yaml

    text = dump_yaml(manifest(args), header=False)  # raises SpecError before anything is printed
    sys.stdout.write(text)
    return 0
