"""Unchanged builds skipped: a digest of everything a build reads, kept as a tag in the cache repository.

The inputs of a build: the context files the Dockerfile can see (``.dockerignore`` applied, the
rules of moby/patternmatcher: ``*``, ``?``, ``**``, ``[...]``, ``!`` exceptions, a pattern that
matches a folder leaves out what is in it), each file's path, content and executable bit; the
Dockerfile; build args, target, platforms and labels; the digest of every base image its ``FROM``
lines name (build args applied, :mod:`cachebuild.dockerfile`); the builder and its version. Their
sha256 names the tag ``inputs-<digest>`` in the cache repository, which holds the image the build
made (its manifest, its blobs mounted there). A build with the same inputs finds the tag and
publishes that manifest under the requested tags (blobs mounted, no upload, no builder started):
the same digest as the build gave.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cachebuild import __version__, dockerfile
from cachebuild.local import LocalError
from cachebuild.local.distribution import MANIFEST_TYPES, Registry
from cachebuild.refs import ImageRef, parse_image_ref
from cachebuild.spec import BuildSpec

TAG_PREFIX = "inputs-"
_INDEX_TYPES = ("application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json")


# -- .dockerignore ---------------------------------------------------------------------------------
def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
            if pattern.startswith("/", i):  # "**/" also matches no folder at all
                out = out[:-2] + "(?:.*/)?"
                i += 1
            continue
        if c == "*":
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out += re.escape(c)
            else:
                body = pattern[i + 1 : end]
                out += "[" + ("^" + body[1:] if body.startswith("!") else body).replace("\\", "\\\\") + "]"
                i = end
        else:
            out += re.escape(c)
        i += 1
    return re.compile(out)


def ignore_rules(text: str) -> list[tuple[bool, re.Pattern[str]]]:
    """``.dockerignore`` lines → (exception, pattern), in order (a later rule wins)."""
    rules = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        pattern = os.path.normpath(line[1:].strip() if exception else line).lstrip("/")
        if pattern in (".", ""):
            continue
        rules.append((exception, _pattern_regex(pattern)))
    return rules


def _ignored(path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for exception, regex in rules:
        if any(regex.fullmatch(p) for p in prefixes):
            ignored = not exception
    return ignored


def visible_files(context: Path) -> list[str]:
    """The context's files (and symlinks) a build can see, as sorted paths relative to it."""
    ignore = context / ".dockerignore"
    rules = ignore_rules(ignore.read_text(encoding="utf-8", errors="replace")) if ignore.is_file() else []
    found = []
    for folder, dirs, files in os.walk(context):
        dirs.sort()
        base = Path(folder).relative_to(context).as_posix()
        for name in [*files, *(d for d in dirs if (Path(folder) / d).is_symlink())]:
            rel = name if base == "." else f"{base}/{name}"
            if not _ignored(rel, rules):
                found.append(rel)
    return sorted(found)


def _file_entry(context: Path, rel: str) -> list[str]:
    path = context / rel
    if path.is_symlink():
        return [rel, "link", os.readlink(path)]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return [rel, "x" if os.access(path, os.X_OK) else "-", digest]


# -- the digest --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Inputs:
    digest: str
    """sha256 (hex) of the canonical JSON of everything below."""
    bases: dict[str, str]

    @property
    def tag(self) -> str:
        return TAG_PREFIX + self.digest


def base_digests(text: str, build_args: dict[str, str], resolve: Callable[[ImageRef], str]) -> dict[str, str]:
    """Each base image the Dockerfile names → its manifest digest (``resolve`` asks the registry)."""
    out = {}
    for image in dockerfile.base_images(text, build_args):
        ref = parse_image_ref("FROM", image)
        out[image] = ref.digest or resolve(ref)
    return out


def inputs(spec: BuildSpec, context: Path, builder: str, resolve: Callable[[ImageRef], str]) -> Inputs:
    """The inputs of building ``spec`` from ``context`` with ``builder`` (name and version)."""
    text = (context / spec.dockerfile).read_text(encoding="utf-8", errors="surrogateescape")
    bases = base_digests(text, dict(spec.build_args), resolve)
    payload: dict[str, Any] = {
        "cachebuild": __version__,
        "builder": builder,
        "dockerfile": [spec.dockerfile, hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()],
        "context": [_file_entry(context, rel) for rel in visible_files(context)],
        "build_args": [list(p) for p in spec.build_args],
        "target": spec.target,
        "platforms": list(spec.platforms),
        "labels": [list(p) for p in spec.labels],
        "bases": bases,
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return Inputs(hashlib.sha256(canonical.encode()).hexdigest(), bases)


# -- copying an image between repositories of one registry ------------------------------------------
def _blobs(manifest: dict[str, Any]) -> Iterable[str]:
    if manifest.get("config"):
        yield manifest["config"]["digest"]
    for layer in manifest.get("layers") or []:
        yield layer["digest"]


def copy(client: Registry, source: str, reference: str, target: str, tag: str, target_client: Registry | None = None) -> str:
    """Publish ``source:reference`` as ``target:tag``: the same manifest bytes (so the same digest),
    its blobs mounted from ``source`` (``target_client``: another registry: copied instead). The digest."""
    into = target_client or client
    reply = client.request("GET", source, f"manifests/{reference}", headers={"Accept": ", ".join(MANIFEST_TYPES)})
    if reply.status != 200:
        raise LocalError(f"{client.host}/{source}:{reference}: GET manifest answered HTTP {reply.status}")
    manifest = json.loads(reply.body)
    media_type = reply.headers.get("content-type", "").split(";")[0] or manifest.get("mediaType", "")
    if media_type in _INDEX_TYPES:
        for child in manifest.get("manifests") or []:
            copy(client, source, child["digest"], target, child["digest"], target_client)
    for digest in _blobs(manifest):
        if into.has_blob(target, digest):
            continue
        if target_client is None and client.mount_blob(target, digest, source):
            continue
        into.push_blob(target, client.blob(source, digest))
    return into.put_manifest(target, tag, reply.body, media_type)


def exists(client: Registry, repository: str, tag: str) -> bool:
    return client.request("HEAD", repository, f"manifests/{tag}", headers={"Accept": ", ".join(MANIFEST_TYPES)}).status == 200
