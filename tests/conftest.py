"""Tests import the package from this checkout's python/ folder, and so do the processes they start."""

import os
from pathlib import Path

import pytest

from support.fake_servers import FakeArgoServer, FakeKubeServer

PYTHON_DIR = str(Path(__file__).resolve().parents[1] / "python")
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (PYTHON_DIR, os.environ.get("PYTHONPATH")) if p)


_HOST_PATHS = ("/kaniko", "/tmp/cachebuild", "/etc/containers/registries.conf.d/50-cachebuild-insecure.conf")
"""Folders the builders use inside their containers; a test must never make them on this machine."""
_EXISTING = {p for p in _HOST_PATHS if Path(p).exists()}


def pytest_sessionfinish(session, exitstatus):
    made = [p for p in _HOST_PATHS if Path(p).exists() and p not in _EXISTING]
    if made:
        session.exitstatus = 1
        print(f"\nFAILED: the tests created {', '.join(made)} on this machine (a launcher path not mapped into a test folder)")


@pytest.fixture
def argo():
    """A strict fake Argo Server on 127.0.0.1 (namespace ``argo``)."""
    server = FakeArgoServer().start()
    yield server
    server.stop()


@pytest.fixture
def kube():
    """A strict fake Kubernetes API on 127.0.0.1 serving tekton.dev/v1 (namespaces ``default``, ``ci``)."""
    server = FakeKubeServer().start()
    yield server
    server.stop()
