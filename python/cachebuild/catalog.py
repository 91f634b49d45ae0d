"""``tasks/``, ``workflows/`` and ``catalog.yaml``: rendered from Python, never edited by hand.

Each backend module in :data:`BACKENDS` provides

* ``files() -> dict[str, str]``: repository-relative path → exact file content, and
* ``entries() -> list[dict]``: one catalog entry per task or template (``name``, ``version``,
  ``kind``, ``path``, ``description``, ``params``, ``results``, ``workspaces``, ``images``);
  ``sha256`` of the file at ``path`` is added here.

:func:`render` writes them; :func:`check` lists every file that differs, is missing, or is a
stale leftover under a rendered folder.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cachebuild.yamltext import dump_yaml

BACKENDS: tuple[str, ...] = ("cachebuild.argo.catalog", "cachebuild.tekton.catalog")
RENDERED_DIRS = ("tasks", "workflows")
CATALOG = "catalog.yaml"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _backends() -> list[Any]:
    return [importlib.import_module(name) for name in BACKENDS]


def rendered_files() -> dict[str, str]:
    """Every rendered file, ``catalog.yaml`` included."""
    files: dict[str, str] = {}
    entries: list[dict[str, Any]] = []
    for backend in _backends():
        for path, text in backend.files().items():
            if path in files:
                raise ValueError(f"two backends render {path}")
            files[path] = text
        entries.extend(backend.entries())
    for entry in entries:
        entry["sha256"] = sha256(files[entry["path"]])
    catalog = {"apiVersion": "cachebuild.dev/v1", "kind": "Catalog", "entries": entries}
    files[CATALOG] = dump_yaml(catalog)
    return dict(sorted(files.items()))


@dataclass(frozen=True)
class Drift:
    path: str
    problem: str  # "differs", "missing" or "stale"


def _on_disk(root: Path) -> Iterable[str]:
    for folder in RENDERED_DIRS:
        for path in sorted((root / folder).rglob("*")):
            if path.is_file():
                yield path.relative_to(root).as_posix()


def check(root: Path, files: dict[str, str] | None = None) -> list[Drift]:
    """What differs between ``root`` and what the Python renders (``files``, rendered if not given)."""
    files = rendered_files() if files is None else files
    drift = []
    for path, text in files.items():
        target = root / path
        if not target.exists():
            drift.append(Drift(path, "missing"))
        elif target.read_text(encoding="utf-8") != text:
            drift.append(Drift(path, "differs"))
    drift += [Drift(path, "stale") for path in _on_disk(root) if path not in files]
    return drift


def render(root: Path) -> list[str]:
    """Write every rendered file under ``root``, remove stale ones; returns the paths changed."""
    files = rendered_files()
    changed = []
    for item in check(root, files):
        target = root / item.path
        if item.problem == "stale":
            target.unlink()
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(files[item.path], encoding="utf-8")
        changed.append(item.path)
    return changed
