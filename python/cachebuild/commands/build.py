"""``cachebuild build``: build on this machine with buildah against a registry cache.

Prints each Dockerfile step with whether it came from the cache, the digest and a summary.
Exit codes: 0 built and pushed, 1 failed (registry access, build, push), 2 bad input, 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from types import FrameType

from cachebuild.commands.spec_args import FIELDS, add_spec_arguments, specs_from_args, translate
from cachebuild.commands.steps import StepDisplay
from cachebuild.errors import SpecError
from cachebuild.local.engine import CLUSTER_FIELDS
from cachebuild.spec import ENGINE_ONLY

EPILOG = """\
as docker and buildah users type it:
  cachebuild build [PATH] -t IMAGE [-f DOCKERFILE] [--build-arg K=V] [--target STAGE] [--platform OS/ARCH]
PATH is the context folder (default: --workspace, then --context inside it); -f is the Dockerfile, in the context.
Every -t image is pushed; the remote layer cache is --cache-repo (default IMAGE-REPOSITORY/cache)."""

# What to write instead of a cluster setting (the local engine has no use for them: CLUSTER_FIELDS).
_INSTEAD = {
    "workspace_pvc": "cachebuild build PATH, or --workspace DIR",
    "docker_config_secret": "--docker-config FILE",
}
NOT_BUILDAH = {name: engines for name, engines in ENGINE_ONLY.items() if "buildah" not in engines}

_OTHER_FLAGS = {
    "--engine": "the local engine always builds with buildah; --engine is for cachebuild workflow and submit",
    "--on": "for cachebuild workflow and submit",
    "--inline": "for cachebuild workflow and submit",
    "--namespace": "for cachebuild workflow and submit",
    "--push": "cachebuild build always pushes every -t/--image",
    "--load": "cachebuild build pushes to the registry; there is no local image store to load into",
    "--output": "cachebuild build pushes every -t/--image to its registry",
    "--progress": "-v shows buildah's full output",
    "--pull": "base images are pulled when missing from the layer store (--fresh: always)",
}


def unknown_flag_hint(flag: str) -> str | None:
    """Why ``flag`` is not a flag of ``cachebuild build``, and what to use."""
    for name, reason in CLUSTER_FIELDS.items():
        if flag == FIELDS[name][0]:
            instead = _INSTEAD.get(name)
            return reason + (f" ({instead})" if instead else "")
    for name, engines in NOT_BUILDAH.items():
        if flag == FIELDS[name][0]:
            return f"only the {' and '.join(engines)} engine reads it; the local engine builds with buildah"
    return _OTHER_FLAGS.get(flag)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "path",
        nargs="?",
        metavar="PATH",
        help="the context folder, as for docker build (or a git URL https://host/repo.git#ref:subdir)",
    )
    add_local_arguments(parser)
    parser.add_argument(
        "--start-registry",
        action="store_true",
        help="start the local registry first (on the 127.0.0.1 port the --image names) unless it runs",
    )
    parser.add_argument(
        "--cache-report",
        metavar="FILE",
        type=Path,
        help="write what the cache did per step there, as JSON (the templates' cache-report / CACHE_REPORT)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="show buildah's whole output (default: on a terminal, the running step's timer and last line)",
    )
    add_spec_arguments(parser, omit=[*CLUSTER_FIELDS, *NOT_BUILDAH])


def add_local_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the local engine."""
    parser.add_argument(
        "--docker-config",
        metavar="FILE",
        type=Path,
        help="registry credentials (default $REGISTRY_AUTH_FILE, $DOCKER_CONFIG/config.json, ~/.docker/config.json)",
    )
    parser.add_argument(
        "--fresh", action="store_true", help="start from an empty local layer store, as a new CI pod: only the remote cache"
    )
    parser.add_argument("--workspace", metavar="DIR", type=Path, help="the folder that holds the context (default .)")


def interrupt_on_sigterm() -> None:
    """SIGTERM behaves like Ctrl-C: buildah is stopped and nothing is reported as built."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def docker_paths(args: argparse.Namespace) -> None:
    """Read PATH, ``--context`` and ``-f`` as docker does, into ``--workspace``, ``--context``, ``--dockerfile``.

    PATH is the context folder (or a git URL); an absolute ``--context`` is a folder of its own; a
    ``-f`` path that names a file from here (not from the context) is made relative to the context.
    """
    if args.path is not None:
        for flag, value in (("--context", args.context), ("--workspace", args.workspace)):
            if value is not None:
                raise SpecError(flag, str(value), f"the context is given twice: PATH ({args.path}) and {flag}; give one")
        if "://" in args.path:
            args.context = args.path
        else:
            args.workspace, args.context = Path(args.path), "."
    if args.context is not None and "://" not in args.context and os.path.isabs(args.context):
        folder = Path(args.context)
        if args.workspace is None:
            args.workspace, args.context = folder, "."
        elif _inside(folder.resolve(), args.workspace.resolve()):
            args.context = str(folder.resolve().relative_to(args.workspace.resolve())) or "."
        else:
            raise SpecError(
                "--context",
                args.context,
                f"is outside the workspace {args.workspace}: give the folder as PATH (cachebuild build {args.context}) "
                "or as --workspace",
            )
    if args.workspace is None:
        args.workspace = Path(".")
    if args.dockerfile is not None and args.context is not None and "://" in args.context:
        return  # the Dockerfile is in the git repository
    if args.dockerfile is not None:
        context = (args.workspace / (args.context or ".")).resolve()
        given = Path(args.dockerfile)
        if given.is_absolute() or (not (context / given).is_file() and given.is_file()):
            here = given.resolve()
            if not _inside(here, context):
                raise SpecError("--dockerfile", args.dockerfile, f"is outside the context {context}: buildah reads it from there")
            args.dockerfile = str(here.relative_to(context))


def run(args: argparse.Namespace) -> int:
    from cachebuild.local import LocalError, engine, registry
    from cachebuild.local.distribution import default_docker_config, is_loopback

    if getattr(args, "specs", None) and args.path is not None:
        raise SpecError("--specs", args.specs, f"each item names its own context: give no PATH ({args.path})")
    docker_paths(args)
    specs = specs_from_args(args)  # SpecError → exit 2 before anything runs
    if not args.workspace.is_dir():
        raise SpecError("--workspace", str(args.workspace), "no such folder")
    for i, spec in enumerate(specs):
        try:
            engine.check_local(spec)
            engine.check_context(spec, args.workspace.resolve())
        except SpecError as err:
            raise translate(err, args, i if args.specs else None) from None
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
            print(f"build: {', '.join(spec.images)} (context {spec.context}, {spec.dockerfile})", flush=True)
            with StepDisplay(sys.stdout) as display:
                result = engine.build(
                    spec,
                    workspace=args.workspace,
                    docker_config=docker_config,
                    fresh=args.fresh,
                    progress=display.line,
                    verbose=args.verbose,
                    activity=display.activity,
                )
            for note in result.notes:
                print(f"note: {note}")
            print(f"image id: {result.image_id}")
            for image in result.images:
                print(f"pushed: {image}@{result.digest}")
            print(f"summary: {result.summary()}")
            if not result.skipped:
                print(f"cache hits: {result.cache_report().hits} (steps taken from a cache / steps)")
            if args.cache_report is not None:
                args.cache_report.write_text(result.cache_report().to_json() + "\n", encoding="utf-8")
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
