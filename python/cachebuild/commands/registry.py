"""``cachebuild registry start|stop|status|push-base``: local registries (docker-registry on 127.0.0.1),
and the reproducible busybox base image pushed into any registry (no internet needed).

Instances have names: ``default`` (what ``start`` starts) and ``demo`` (``cachebuild demo
--keep-registry``); ``status`` shows and ``stop`` stops every running one unless ``--name`` picks one.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="start|stop|status|push-base")
    start = sub.add_parser("start", help="start docker-registry on 127.0.0.1 (data kept under the cache dir)")
    start.add_argument("--port", type=int, help="the port (default: the one it last ran on, else 5000, else a free one)")
    auth = start.add_mutually_exclusive_group()
    auth.add_argument("--htpasswd", metavar="USER:PASS", help="require this user (basic auth, bcrypt htpasswd)")
    auth.add_argument("--auth-file", metavar="FILE", type=Path, help="require the users of this htpasswd file")
    start.add_argument("--wipe", action="store_true", help="start with an empty data directory")
    start.add_argument("--name", default="default", help="the instance (default: default)")
    stop = sub.add_parser("stop", help="stop the running registries (their data stays)")
    stop.add_argument("--name", help="only this instance (default: every running one: default, demo, ...)")
    status = sub.add_parser("status", help="say which registries run, and where (exit 1: none)")
    status.add_argument("--name", help="only this instance")
    push = sub.add_parser(
        "push-base",
        help="push the busybox base image made here (Debian's static busybox on scratch, reproducible) to a registry",
    )
    push.add_argument("registry", nargs="?", metavar="HOST[:PORT]", help="the registry (default: the running local one)")
    push.add_argument("--repository", default=None, metavar="PATH", help="the repository (default cachebuild/busybox)")
    push.add_argument("--tag", default=None, help="the tag (default 1)")
    push.add_argument(
        "--docker-config",
        metavar="FILE",
        type=Path,
        help="registry credentials (default $REGISTRY_AUTH_FILE, $DOCKER_CONFIG/config.json, ~/.docker/config.json)",
    )


def _describe(state: object) -> str:
    from cachebuild.local.registry import DEFAULT_NAME, RegistryState

    assert isinstance(state, RegistryState)
    who = "registry" if state.name == DEFAULT_NAME else f"registry {state.name}"
    auth = ", htpasswd auth" if state.auth else ""
    return f"{who}: running on {state.address} (pid {state.pid}{auth}; data {state.data_dir})"


def _start(args: argparse.Namespace) -> int:
    from cachebuild.errors import SpecError
    from cachebuild.local import registry

    htpasswd = None
    if args.htpasswd is not None:
        user, sep, password = args.htpasswd.partition(":")
        if not sep or not user:
            raise SpecError("--htpasswd", "<hidden>", "must be USER:PASSWORD")
        htpasswd = registry.htpasswd_line(user, password)
    elif args.auth_file is not None:
        try:
            htpasswd = args.auth_file.read_text()
        except OSError as err:
            raise SpecError("--auth-file", str(args.auth_file), f"cannot read it: {err.strerror}") from None
    if args.port is not None and not 0 < args.port < 65536:
        raise SpecError("--port", args.port, "must be between 1 and 65535")
    before = registry.last_port(args.name)
    state = registry.start(args.name, port=args.port, htpasswd=htpasswd, wipe=args.wipe)
    print(_describe(state))
    if args.port is None and before is not None and before != state.port:
        print(f"registry: note: port {before}, where it ran last, is in use: it runs on {state.port} now", file=sys.stderr)
    print(f"registry: e.g. --image {state.address}/team/app:1 --cache-repo {state.address}/team/app/cache")
    return 0


def _push_base(args: argparse.Namespace) -> int:
    from cachebuild.errors import SpecError
    from cachebuild.local import LocalError, baseimage, registry
    from cachebuild.local.distribution import DockerConfig, Registry, default_docker_config
    from cachebuild.refs import parse_repository

    host = args.registry
    if host is None:
        local = registry.status()
        if local is None:
            raise LocalError("no local registry runs: start one (cachebuild registry start), or name one: push-base HOST[:PORT]")
        host = local.address
    repository = args.repository or baseimage.REPOSITORY
    tag = args.tag or baseimage.TAG
    ref = parse_repository("registry", f"{host}/{repository}")
    if ref.domain is None:
        raise SpecError("registry", host, "must be a registry host, such as 127.0.0.1:5000 or registry.example.com")
    config = DockerConfig.load(args.docker_config or default_docker_config())
    client = Registry(host, config.credentials(host))
    client.check_push(repository)
    pushed = baseimage.push(client, repository, tag)
    digest = client.manifest_digest(repository, tag)
    print(f"pushed {pushed}@{digest} (Debian's static busybox on scratch, made here; the same bytes every time)")
    print(f"e.g. cachebuild build --build-arg BASE={pushed} ... (a Dockerfile with ARG BASE and FROM ${{BASE}})")
    return 0


def run(args: argparse.Namespace) -> int:
    from cachebuild.local import LocalError, registry

    try:
        if args.action == "start":
            return _start(args)
        if args.action == "push-base":
            return _push_base(args)
        names = [args.name] if args.name else registry.instances()
        if args.action == "stop":
            stopped = [state for name in names if (state := registry.stop(name)) is not None]
            for state in stopped:
                who = "registry" if state.name == registry.DEFAULT_NAME else f"registry {state.name}"
                print(f"{who}: stopped ({state.address})")
            if not stopped:
                print("registry: not running")
            return 0
        states = [state for name in names if (state := registry.status(name)) is not None]
        for state in states:
            print(_describe(state))
        if not states:
            print("registry: not running")
            return 1
    except LocalError as err:
        print(f"cachebuild: error: {err}", file=sys.stderr)
        return 1
    return 0
