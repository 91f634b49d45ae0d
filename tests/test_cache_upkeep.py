"""``cachebuild cache ls|prune`` on a cache the local engine filled (real buildah, real docker-registry)."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cachebuild.errors import SpecError
from cachebuild.local import baseimage, registry, upkeep
from cachebuild.local.distribution import Registry
from support.requirements import require

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    """A registry whose cache repository holds two builds' layers (a deps.txt change in between)."""
    require("buildah", "docker-registry")
    xdg = tmp_path_factory.mktemp("xdg")
    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(xdg)
    state = registry.start("upkeep", port=registry.free_port(), wipe=True)
    try:
        base = baseimage.push(Registry(state.address))
        ws = tmp_path_factory.mktemp("ws") / "app"
        shutil.copytree(EXAMPLES, ws)
        for deps in ("liba 3\n", "liba 4\n"):
            (ws / "deps.txt").write_text(deps)
            image = f"{state.address}/t/app:1"
            done = cachebuild("build", "--workspace", str(ws), "--image", image, "--build-arg", f"BASE={base}")
            assert done.returncode == 0, done.stderr
        yield state, f"{state.address}/t/app/cache"
    finally:
        registry.stop("upkeep")
        if old is None:
            del os.environ["XDG_CACHE_HOME"]
        else:
            os.environ["XDG_CACHE_HOME"] = old


def cachebuild(*args):
    return subprocess.run([sys.executable, "-m", "cachebuild", *args], capture_output=True, text=True, timeout=300)


def test_ls_lists_every_cache_tag_with_size_and_age(filled):
    state, repo = filled
    tags = Registry(state.address).tags("t/app/cache")
    assert len(tags) >= 6  # buildah: an image per step and content
    done = cachebuild("cache", "ls", repo)
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if re.match(r"^[0-9a-f]{64} ", line)]
    assert sorted(r.split()[0] for r in rows) == sorted(tags)
    assert all(re.search(r" [0-9.]+ (B|kB|MB) +\d+[smhd]$", r) for r in rows), rows  # every age known: buildah's created
    assert done.stdout.splitlines()[-1].startswith(f"{len(tags)} tag(s), ")
    listed = json.loads(cachebuild("cache", "ls", repo, "--output", "json").stdout)
    assert {t["tag"] for t in listed} == set(tags) and all(t["created"] and t["size"] > 0 for t in listed)
    created = [t["created"] for t in listed]
    assert created == sorted(created, reverse=True)  # newest first


def test_prune_is_a_dry_run_unless_delete_then_keeps_the_newest(filled):
    state, repo = filled
    client = Registry(state.address)
    before = client.tags("t/app/cache")
    listed = upkeep.list_cache(client, "t/app/cache")
    dry = cachebuild("cache", "prune", repo, "--keep", "2")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines()[-1] == f"would delete {len(before) - 2} of {len(before)} tag(s); --delete to delete them"
    assert client.tags("t/app/cache") == before
    nothing = cachebuild("cache", "prune", repo, "--older-than", "1h", "--delete")
    assert nothing.stdout.splitlines()[-1] == f"deleted 0 of {len(before)} tag(s)"
    done = cachebuild("cache", "prune", repo, "--keep", "2", "--delete")
    assert done.returncode == 0, done.stderr
    assert sorted(client.tags("t/app/cache")) == sorted(t.tag for t in listed[:2])


def test_prune_flags_are_checked():
    done = cachebuild("cache", "prune", "127.0.0.1:1/x/cache", "--older-than", "a week")
    assert (done.returncode, done.stderr.strip()) == (
        2,
        "cachebuild: error: --older-than: must be a duration such as 7d, 12h or 1w2d (units s, m, h, d, w) (got 'a week')",
    )
    done = cachebuild("cache", "ls", "Registry.example.com/Team/Cache")
    assert done.returncode == 2 and "REPO:" in done.stderr


def test_what_prune_picks():
    now = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)
    day = dt.timedelta(days=1)
    tags = [
        upkeep.CacheTag("new", "sha256:1", 1, now - day),
        upkeep.CacheTag("old", "sha256:2", 1, now - 10 * day),
        upkeep.CacheTag("old-twin", "sha256:1", 1, now - 10 * day),  # the same manifest as a kept tag
        upkeep.CacheTag("undated", "sha256:3", 1, None),
    ]
    assert [t.tag for t in upkeep.to_prune(tags, older_than=5 * day, now=now)] == ["old"]
    assert [t.tag for t in upkeep.to_prune(tags, keep=1, now=now)] == ["old", "undated"]
    assert upkeep.parse_duration("d", "1w2d") == 9 * day
    with pytest.raises(SpecError):
        upkeep.parse_duration("d", "7 days")
