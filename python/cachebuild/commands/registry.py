"""``cachebuild registry start|stop|status``: the embedded default registry (docker-registry on 127.0.0.1)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="start|stop|status")
    start = sub.add_parser("start", help="start docker-registry on 127.0.0.1 (data kept under the cache dir)")
    start.add_argument("--port", type=int, help="the port (default 5000 if free, else a free one)")
    auth = start.add_mutually_exclusive_group()
    auth.add_argument("--htpasswd", metavar="USER:PASS", help="require this user (basic auth, bcrypt htpasswd)")
    auth.add_argument("--auth-file", metavar="FILE", type=Path, help="require the users of this htpasswd file")
    start.add_argument("--wipe", action="store_true", help="start with an empty data directory")
    sub.add_parser("stop", help="stop it (its data stays)")
    sub.add_parser("status", help="say whether it runs, and where")
    for name in ("start", "stop", "status"):
        sub.choices[name].add_argument("--name", default="default", help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    from cachebuild.errors import SpecError
    from cachebuild.local import LocalError, registry

    try:
        if args.action == "start":
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
            state = registry.start(args.name, port=args.port, htpasswd=htpasswd, wipe=args.wipe)
            auth = ", htpasswd auth" if state.auth else ""
            print(f"registry: running on {state.address} (pid {state.pid}{auth}; data {state.data_dir})")
            print(f"registry: e.g. --image {state.address}/team/app:1 --cache-repo {state.address}/team/app/cache")
        elif args.action == "stop":
            stopped = registry.stop(args.name)
            print(f"registry: stopped ({stopped.address})" if stopped else "registry: not running")
        else:
            running = registry.status(args.name)
            if running is None:
                print("registry: not running")
                return 1
            print(f"registry: running on {running.address} (pid {running.pid}; data {running.data_dir})")
    except LocalError as err:
        print(f"cachebuild: error: {err}", file=sys.stderr)
        return 1
    return 0
