"""The ``cachebuild`` command.

Each subcommand lives in :mod:`cachebuild.commands` as a module with ``add_arguments(parser)``
and ``run(args) -> int``, imported only when that subcommand runs, so ``cachebuild --help``
answers without importing hera or kubernetes.

Exit codes: 0 success, 1 failure (a failed build, a drift found), 2 bad input, 3 timeout.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from cachebuild import __version__
from cachebuild.commands import EXIT_USAGE
from cachebuild.errors import SpecError

# name → (module, one-line help). The module is imported only to run or describe that command.
COMMANDS: dict[str, tuple[str, str]] = {
    "render": ("cachebuild.commands.render", "write tasks/, workflows/, catalog.yaml (--check: what would change)"),
    "workflow": ("cachebuild.commands.workflow", "print an Argo Workflow or Tekton PipelineRun for builds"),
    "build": ("cachebuild.commands.build", "build on this machine with buildah against a registry cache"),
    "registry": ("cachebuild.commands.registry", "start or stop the local docker-registry"),
    "demo": ("cachebuild.commands.demo", "the main job: build examples/ cold, then --fresh from the remote cache"),
    "submit": ("cachebuild.commands.submit", "submit builds to Argo or Tekton, optionally wait for them"),
}


class _LazySubcommand(argparse.Action):
    """Imports the chosen subcommand's module and lets it add its arguments, then parses the rest."""

    def __call__(self, parser, namespace, values, option_string=None):  # type: ignore[no-untyped-def]
        name, *rest = values
        module_name, help_text = COMMANDS[name]
        module = importlib.import_module(module_name)
        sub = argparse.ArgumentParser(prog=f"{parser.prog} {name}", description=help_text)
        module.add_arguments(sub)
        sub_args = sub.parse_args(rest)
        for key, value in vars(sub_args).items():
            setattr(namespace, key, value)
        namespace.command = name
        namespace.command_module = module


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cachebuild",
        description="Container-image build tasks for Argo Workflows and Tekton, with remote layer caching.",
        epilog="commands:\n"
        + "\n".join(f"  {name:<10} {help_text}" for name, (_, help_text) in COMMANDS.items())
        + "\n\n'cachebuild COMMAND --help' describes a command.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"cachebuild {__version__}")
    parser.add_argument(
        "command",
        nargs=argparse.REMAINDER,
        action=_LazySubcommand,
        metavar="COMMAND ...",
        help=f"one of: {', '.join(COMMANDS)}",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    if args_list[0] not in COMMANDS and not args_list[0].startswith("-"):
        parser.print_usage(sys.stderr)
        print(f"cachebuild: error: unknown command {args_list[0]!r} (choose from {', '.join(COMMANDS)})", file=sys.stderr)
        return EXIT_USAGE
    try:
        args = parser.parse_args(args_list)
        if not hasattr(args, "command_module"):
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        return int(args.command_module.run(args))
    except SpecError as err:
        print(f"cachebuild: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("cachebuild: interrupted", file=sys.stderr)
        return 130
