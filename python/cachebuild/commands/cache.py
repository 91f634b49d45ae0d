"""``cachebuild cache ls|prune REPO``: what a cache repository holds, and pruning it (registry API).

``prune`` only says what it would delete unless ``--delete`` is given.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

DESCRIPTION = __doc__


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ls|prune")
    ls = sub.add_parser("ls", help="the cache repository's tags: size and age, newest first")
    prune = sub.add_parser("prune", help="delete old cache tags (a dry run unless --delete)")
    for p in (ls, prune):
        p.add_argument("repository", metavar="REPO", help="the cache repository, e.g. registry.example.com/team/app/cache")
        p.add_argument(
            "--docker-config",
            metavar="FILE",
            type=Path,
            help="registry credentials (default $REGISTRY_AUTH_FILE, $DOCKER_CONFIG/config.json, ~/.docker/config.json)",
        )
        p.add_argument("--plain-http", action="store_true", help="reach the registry over plain HTTP (loopback: always)")
    ls.add_argument("--output", choices=("text", "json"), default="text", help="text (default) or json")
    which = prune.add_mutually_exclusive_group(required=True)
    which.add_argument("--older-than", metavar="DURATION", help="delete tags older than this (7d, 12h, 1w2d)")
    which.add_argument("--keep", type=int, metavar="N", help="keep the N newest tags, delete the others")
    prune.add_argument("--delete", action="store_true", help="delete them (default: only say which it would delete)")


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return f"{n} B"


def _age(age: dt.timedelta | None) -> str:
    if age is None:
        return "unknown"
    seconds = int(age.total_seconds())
    for unit, length in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= length:
            return f"{seconds // length}{unit}"
    return f"{seconds}s"


def run(args: argparse.Namespace) -> int:
    from cachebuild.errors import SpecError
    from cachebuild.local import LocalError, upkeep
    from cachebuild.local.distribution import DockerConfig, Registry, default_docker_config
    from cachebuild.refs import parse_repository

    ref = parse_repository("REPO", args.repository)
    host = ref.domain or "docker.io"
    config = DockerConfig.load(args.docker_config or default_docker_config())
    client = Registry(host, config.credentials(host), scheme="http" if args.plain_http else None)
    now = dt.datetime.now(dt.timezone.utc)
    try:
        if args.action == "ls":
            tags = upkeep.list_cache(client, ref.path)
            if args.output == "json":
                rows = [
                    {"tag": t.tag, "digest": t.digest, "size": t.size, "created": t.created.isoformat() if t.created else None}
                    for t in tags
                ]
                json.dump(rows, sys.stdout, indent=2)
                print()
                return 0
            for t in tags:
                print(f"{t.tag:<72} {_size(t.size):>9} {_age(t.age(now)):>8}")
            print(f"{len(tags)} tag(s), {_size(sum(t.size for t in tags))} (blobs shared by tags counted for each)")
            return 0
        older = upkeep.parse_duration("--older-than", args.older_than) if args.older_than else None
        if args.keep is not None and args.keep < 0:
            raise SpecError("--keep", args.keep, "must be 0 or more")
        tags = upkeep.list_cache(client, ref.path)
        doomed = upkeep.to_prune(tags, older_than=older, keep=args.keep, now=now)
        verb = "deleting" if args.delete else "would delete"
        for t in doomed:
            print(f"{verb} {ref.repository}:{t.tag} ({_size(t.size)}, {_age(t.age(now))} old)")
            if args.delete:
                upkeep.delete(client, ref.path, t)
        done = "deleted" if args.delete else "would delete"
        print(f"{done} {len(doomed)} of {len(tags)} tag(s)" + ("" if args.delete else "; --delete to delete them"))
        return 0
    except LocalError as err:
        print(f"cachebuild: {err}", file=sys.stderr)
        return 1
