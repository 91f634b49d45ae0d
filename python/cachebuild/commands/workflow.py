"""``cachebuild workflow``: print an Argo Workflow (``--on argo``) or a Tekton PipelineRun (``--on tekton``).

The output goes to stdout as YAML, ready for ``argo submit -`` or ``kubectl create -f -``.
Invalid input prints the field-named error, exits 2 and prints nothing to stdout.
"""

from __future__ import annotations

import argparse
import sys

from cachebuild.commands.spec_args import add_spec_arguments, specs_from_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--on", choices=("argo", "tekton"), default="argo", help="the control plane (default argo)")
    parser.add_argument("--engine", choices=("buildkit", "kaniko", "buildah"), default="buildkit", help="the builder")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--ref", dest="inline", action="store_false", help="reference the installed templates/tasks (default)")
    mode.add_argument("--inline", dest="inline", action="store_true", help="embed the template/task definitions")
    parser.set_defaults(inline=False)
    parser.add_argument("--namespace", help="metadata.namespace of the printed object")
    add_backend_arguments(parser)
    add_spec_arguments(parser)


def add_backend_arguments(parser: argparse.ArgumentParser) -> None:
    """Options only one control plane reads (each backend's cli module defines them)."""
    from cachebuild.argo import cli as argo_cli
    from cachebuild.tekton import cli as tekton_cli

    argo_cli.add_arguments(parser.add_argument_group("argo"))
    tekton_cli.add_arguments(parser.add_argument_group("tekton"))


def manifest(args: argparse.Namespace) -> dict[str, object]:
    """The Workflow or PipelineRun the arguments ask for (validated input only)."""
    specs = specs_from_args(args)
    if args.on == "argo":
        from cachebuild.argo import cli as argo_cli

        return argo_cli.manifest(args, specs)
    from cachebuild.tekton import cli as tekton_cli

    return tekton_cli.manifest(args, specs)


def run(args: argparse.Namespace) -> int:
    from cachebuild.catalog import dump_yaml

    text = dump_yaml(manifest(args), header=False)  # raises SpecError before anything is printed
    sys.stdout.write(text)
    return 0
