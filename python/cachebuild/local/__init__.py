"""The local engine: build a :class:`~cachebuild.spec.BuildSpec` on this machine with buildah.

* :mod:`.registry` runs ``docker-registry`` on 127.0.0.1 (the embedded default registry);
* :mod:`.distribution` talks to a registry's v2 API (reachability, push-access checks, manifests);
* :mod:`.baseimage` makes a tiny base image (Debian's static busybox on ``scratch``) without internet;
* :mod:`.engine` runs the buildah argv of :func:`cachebuild.builders.buildah.build_argv` and reports,
  per Dockerfile step, whether it came from the cache;
* :mod:`.demo` is the README's main job: a cold build, then a ``--fresh`` one from the remote cache.
"""

from __future__ import annotations

import os
from pathlib import Path


class LocalError(Exception):
    """A local build or registry operation failed; the message says what to do about it."""


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/cachebuild``, or ``~/.cache/cachebuild``: registry data, layer stores, state."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cachebuild"
