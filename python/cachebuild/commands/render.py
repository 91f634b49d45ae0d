"""``cachebuild render [--check]``: write (or check) tasks/, workflows/ and catalog.yaml."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 listing every file that differs")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the repository root (default: the current folder)")


def run(args: argparse.Namespace) -> int:
    from cachebuild import catalog

    started = time.monotonic()
    if args.check:
        drift = catalog.check(args.root)
        for item in drift:
            print(f"{item.problem}: {item.path}", file=sys.stderr)
        if drift:
            print(f"cachebuild render --check: {len(drift)} file(s) differ; run 'cachebuild render'", file=sys.stderr)
            return 1
        print(f"cachebuild render --check: up to date ({time.monotonic() - started:.2f}s)", file=sys.stderr)
        return 0
    changed = catalog.render(args.root)
    for path in changed:
        print(f"wrote {path}", file=sys.stderr)
    print(f"cachebuild render: {len(changed)} file(s) changed ({time.monotonic() - started:.2f}s)", file=sys.stderr)
    return 0
