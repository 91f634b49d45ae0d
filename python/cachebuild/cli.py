"""The ``cachebuild`` command.

Each subcommand lives in :mod:`cachebuild.commands` as a module with ``add_arguments(parser)``
and ``run(args) -> int``, imported only when that subcommand runs, so ``cachebuild --help``
answers without importing hera or kubernetes.

Exit codes: 0 success, 1 failure (a failed build, a drift found, a control plane that refused or cannot
be reached), 2 bad input (a bad value, a flag the command or engine does not take), 3 timeout.
Command-line errors are one line naming the flag, never a usage dump (``--help`` shows the flags).
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import json
import sys
from collections.abc import Sequence
from typing import NoReturn

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
    "cache": ("cachebuild.commands.cache", "list a cache repository's tags (size, age) or prune old ones"),
}


class UsageError(Exception):
    """A command line argparse refuses, or a flag the command does not take; the message says which."""

    def __init__(self, command: str, message: str) -> None:
        super().__init__(message)
        self.command = command


class CommandParser(argparse.ArgumentParser):
    """One line naming the problem instead of argparse's usage dump (``--help`` still shows it all)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(self.prog, message)


def _unknown(parser: argparse.ArgumentParser, module: object, extras: list[str]) -> str:
    """What is wrong with the first argument the command does not take, and what to write instead."""
    first = extras[0]
    if not first.startswith("-"):
        return f"unexpected argument {first!r}"
    flag = first.split("=", 1)[0]
    hint_for = getattr(module, "unknown_flag_hint", None)
    hint = hint_for(flag) if hint_for is not None else None
    if hint is None:
        known = [o for action in parser._actions for o in action.option_strings if action.help != argparse.SUPPRESS]
        close = difflib.get_close_matches(flag, known, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}?" if close else None
    return f"{flag} is not a flag of {parser.prog}" + (f": {hint}" if hint else "")


class _LazySubcommand(argparse.Action):
    """Imports the chosen subcommand's module and lets it add its arguments, then parses the rest."""

    def __call__(self, parser, namespace, values, option_string=None):  # type: ignore[no-untyped-def]
        name, *rest = values
        module_name, help_text = COMMANDS[name]
        module = importlib.import_module(module_name)
        sub = CommandParser(
            prog=f"{parser.prog} {name}",
            description=getattr(module, "DESCRIPTION", help_text),
            epilog=getattr(module, "EPILOG", None),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(sub)
        sub_args, extras = sub.parse_known_args(rest)
        if extras:
            raise UsageError(sub.prog, _unknown(sub, module, extras))
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


def _wants_json(argv: list[str]) -> bool:
    """``--output json`` on a command line that did not parse (``cachebuild submit`` then still answers in JSON)."""
    return "--output=json" in argv or any(a == "--output" and b == "json" for a, b in zip(argv, argv[1:], strict=False))


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
    except UsageError as err:
        print(f"cachebuild: error: {err} ('{err.command} --help' lists its flags)", file=sys.stderr)
        if _wants_json(args_list):
            print(json.dumps({"error": {"message": str(err), "exitCode": EXIT_USAGE}, "submitted": []}))
        return EXIT_USAGE
    except SpecError as err:
        print(f"cachebuild: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("cachebuild: interrupted", file=sys.stderr)
        return 130
