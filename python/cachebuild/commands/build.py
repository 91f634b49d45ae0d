"""``cachebuild build``: build on this machine with buildah against a registry cache.

Prints each Dockerfile step with whether it came from the cache, the digest and a summary.
Exit codes: 0 built and pushed, 1 failed (registry access, build, push), 2 bad input, 130 interrupted.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from types import FrameType

from cachebuild.commands.spec_args import FIELDS, add_spec_arguments, specs_from_args
from cachebuild.errors import SpecError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_local_arguments(parser)
    parser.add_argument(
        "--start-registry",
        action="store_true",
        help="start the local registry first (on the 127.0.0.1 port the --image names) unless it runs",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="also show buildah's own output")
    add_spec_arguments(parser)


def add_local_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the local engine (shared with ``cachebuild demo``)."""
    parser.add_argument(
        "--docker-config",
        metavar="FILE",
        type=Path,
        help="registry credentials (default $REGISTRY_AUTH_FILE, $DOCKER_CONFIG/config.json, ~/.docker/config.json)",
    )
    parser.add_argument(
        "--fresh", action="store_true", help="start from an empty local layer store, as a new CI pod: only the remote cache"
    )
    parser.add_argument(
        "--workspace", metavar="DIR", type=Path, default=Path("."), help="the folder that holds the context (default .)"
    )


def interrupt_on_sigterm() -> None:
    """SIGTERM behaves like Ctrl-C: buildah is stopped and nothing is reported as built."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def _flag_error(err: SpecError) -> SpecError:
    head, sep, tail = err.field.partition("[")
    return err.renamed(FIELDS[head][0] + sep + tail) if head in FIELDS else err


def run(args: argparse.Namespace) -> int:
    from cachebuild.local import LocalError, engine, registry
    from cachebuild.local.distribution import default_docker_config, is_loopback

    specs = specs_from_args(args)  # SpecError → exit 2 before anything runs
    if not args.workspace.is_dir():
        raise SpecError("--workspace", str(args.workspace), "no such folder")
    for spec in specs:
        try:
            spec.check_engine("buildah")
            engine.check_context(spec, args.workspace.resolve())
        except SpecError as err:
            raise _flag_error(err) from None
    interrupt_on_sigterm()
    docker_config = args.docker_config or default_docker_config()
    started_here = None
    try:
        if args.start_registry:
            ref = specs[0].image_refs[0]
            if ref.domain is None or not is_loopback(ref.domain) or ":" not in ref.domain:
                raise SpecError("--image", ref.text, "with --start-registry the image must name 127.0.0.1:PORT/...")
            running = registry.status()
            if running is None:
                started_here = registry.start(port=int(ref.domain.rsplit(":", 1)[1]))
                print(f"registry: started on {started_here.address} (stop it with: cachebuild registry stop)")
            elif running.address != ref.domain.replace("localhost", "127.0.0.1"):
                print(f"registry: note: the running registry is on {running.address}, not {ref.domain}", file=sys.stderr)
        for spec in specs:
            print(f"build: {', '.join(spec.images)} (context {spec.context}, {spec.dockerfile})")
            result = engine.build(
                spec,
                workspace=args.workspace,
                docker_config=docker_config,
                fresh=args.fresh,
                progress=lambda text: print(text, flush=True),
                verbose=args.verbose,
            )
            for note in result.notes:
                print(f"note: {note}")
            print(f"image id: {result.image_id}")
            for image in result.images:
                print(f"pushed: {image}@{result.digest}")
            print(f"summary: {result.summary()}")
    except engine.BuildInterrupted as err:
        if started_here is not None:
            registry.stop()
        print(f"cachebuild: {err}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        if started_here is not None:
            registry.stop()
        print("cachebuild: interrupted", file=sys.stderr)
        return 130
    except LocalError as err:
        print(f"cachebuild: error: {err}", file=sys.stderr)
        return 1
    return 0
