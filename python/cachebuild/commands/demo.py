"""``cachebuild demo``: the main job — build ``examples/`` cold, then ``--fresh`` from the remote cache.

Starts its own registry on a free 127.0.0.1 port, pushes a locally made busybox base image, builds
twice and prints both times and the cache hits. Exit 1 when the second build was not all cache hits
or not the same image.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--example", metavar="DIR", type=Path, help="the folder to build (default ./examples)")
    parser.add_argument("--keep-registry", action="store_true", help="leave the demo registry running afterwards")
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="show buildah's whole output (default: on a terminal, the running step's timer and last line)",
    )


def run(args: argparse.Namespace) -> int:
    from cachebuild.commands.build import interrupt_on_sigterm
    from cachebuild.commands.steps import StepDisplay
    from cachebuild.local import LocalError, demo, engine

    interrupt_on_sigterm()
    try:
        example = args.example or demo.default_example()
        with StepDisplay(sys.stdout) as display:
            result = demo.run(
                example,
                keep_registry=args.keep_registry,
                progress=display.line,
                verbose=args.verbose,
                activity=display.activity,
            )
    except (engine.BuildInterrupted, KeyboardInterrupt):
        kept = "; the demo registry runs on ('cachebuild registry stop' stops it)" if args.keep_registry else ""
        stopped = "buildah was stopped" if args.keep_registry else "buildah and the demo registry were stopped"
        print(f"cachebuild: demo interrupted; {stopped}{kept}", file=sys.stderr)
        return 130
    except LocalError as err:
        print(f"cachebuild: error: {err}", file=sys.stderr)
        return 1
    print("\n" + demo.report(result))
    all_cached = all(s.cached for s in result.fresh.layer_steps)
    if not (all_cached and result.same_image):
        print("cachebuild: the --fresh build did not come entirely from the remote cache", file=sys.stderr)
        return 1
    return 0
