"""Cache upkeep through the registry API: what a cache repository holds, and pruning it.

A cache grows with every build that misses: BuildKit rewrites one manifest per cache tag, but
kaniko and buildah push an image per layer, tagged by its cache key, and never delete one
(GoogleContainerTools/kaniko#998; registries such as ECR cap a repository's tags). ``ls`` lists the
tags with their size and age; ``prune`` deletes those older than a duration, or all but the newest
N, by manifest digest (``DELETE /v2/<name>/manifests/<digest>``, distribution spec "Deleting
Manifests"; the registry must allow deletes). A digest another kept tag points at is never deleted.

The age of a tag: its image config's ``created`` (kaniko and buildah cache images), else the newest
``buildkit/createdat`` annotation of its layers (a BuildKit cache manifest); unknown when neither.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

from cachebuild.errors import SpecError
from cachebuild.local import LocalError
from cachebuild.local.distribution import Registry

_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)(s|m|h|d|w)")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass(frozen=True)
class CacheTag:
    tag: str
    digest: str
    size: int
    """Bytes of the config and layers the manifest names (blobs other tags share counted again)."""
    created: dt.datetime | None

    def age(self, now: dt.datetime) -> dt.timedelta | None:
        return None if self.created is None else now - self.created


def parse_duration(field: str, text: str) -> dt.timedelta:
    """``30d``, ``12h``, ``1w2d``: a duration (s, m, h, d, w)."""
    parts = _DURATION.findall(text)
    if not text or "".join(n + u for n, u in parts) != text:
        raise SpecError(field, text, "must be a duration such as 7d, 12h or 1w2d (units s, m, h, d, w)")
    return dt.timedelta(seconds=sum(float(n) * _UNIT_SECONDS[u] for n, u in parts))


def _timestamp(text: object) -> dt.datetime | None:
    if not isinstance(text, str) or not text or text.startswith("0001-"):
        return None
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)", text)
    if not match:
        return None
    fraction = (match[2] or "")[:7]  # Python takes microseconds; Go writes nanoseconds
    zone = "+00:00" if match[3] == "Z" else match[3]
    return dt.datetime.fromisoformat(match[1] + fraction + zone)


def describe(registry: Registry, repository: str, tag: str) -> CacheTag:
    reply = registry.manifest_response(repository, tag)
    digest = reply.headers.get("docker-content-digest", "")
    manifest: dict[str, Any] = json.loads(reply.body)
    entries = [manifest.get("config") or {}, *(manifest.get("layers") or []), *(manifest.get("manifests") or [])]
    size = sum(int(e.get("size", 0)) for e in entries)
    created = None
    config = manifest.get("config") or {}
    if config.get("mediaType", "").endswith(("image.config.v1+json", "container.image.v1+json")):
        blob = registry.request("GET", repository, f"blobs/{config['digest']}")
        if blob.status == 200:
            created = _timestamp(json.loads(blob.body).get("created"))
    if created is None:
        layers = manifest.get("layers") or []
        stamps = [_timestamp((layer.get("annotations") or {}).get("buildkit/createdat")) for layer in layers]
        known = [s for s in stamps if s is not None]
        created = max(known) if known else None
    return CacheTag(tag, digest, size, created)


def list_cache(registry: Registry, repository: str) -> list[CacheTag]:
    """Every tag of ``repository``, newest first (unknown ages last)."""
    tags = [describe(registry, repository, tag) for tag in registry.tags(repository)]
    epoch = dt.datetime.min.replace(tzinfo=dt.timezone.utc)
    return sorted(tags, key=lambda t: (t.created or epoch, t.tag), reverse=True)


def to_prune(
    tags: list[CacheTag], *, older_than: dt.timedelta | None = None, keep: int | None = None, now: dt.datetime
) -> list[CacheTag]:
    """The tags ``prune`` deletes: older than ``older_than`` (an unknown age is never old), or all but
    the ``keep`` newest (unknown ages count as oldest). A digest a kept tag also has is kept."""
    if (older_than is None) == (keep is None):
        raise ValueError("give older_than or keep")
    ordered = sorted(tags, key=lambda t: (t.created or dt.datetime.min.replace(tzinfo=dt.timezone.utc), t.tag), reverse=True)
    if keep is not None:
        chosen = ordered[keep:]
    else:
        assert older_than is not None
        chosen = [t for t in ordered if (age := t.age(now)) is not None and age > older_than]
    kept_digests = {t.digest for t in ordered if t not in chosen}
    return [t for t in chosen if t.digest not in kept_digests]


def delete(registry: Registry, repository: str, tag: CacheTag) -> None:
    reply = registry.request("DELETE", repository, f"manifests/{tag.digest}")
    if reply.status == 405:
        raise LocalError(
            f"{registry.host} does not allow deleting manifests (HTTP 405): enable deletes in the registry "
            "(docker-registry: storage.delete.enabled: true); nothing more was deleted"
        )
    if reply.status not in (200, 202, 404):
        raise LocalError(f"{registry.host}/{repository}: deleting {tag.tag} ({tag.digest}) answered HTTP {reply.status}")
