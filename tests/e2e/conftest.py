"""Fixtures of the end-to-end tests: the builder images made here, the two real registries, a node.

These tests need root, runc and the tools of ``scripts/tools.sh`` (``scripts/setup.sh`` installs all);
a missing piece fails the test with the setup step to run, it is never skipped.
They are not collected by a plain ``pytest`` (pyproject's ``norecursedirs``); run them with
``python3 -m pytest tests/e2e``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from e2e.images import ImageError, ensure_images
from e2e.pods import Node
from e2e.registries import TestRegistry, registries

TIMES: list[tuple[str, float]] = []  # (what, seconds): printed at the end of the run


def record_time(what: str, seconds: float) -> None:
    TIMES.append((what, seconds))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TIMES:
        terminalreporter.section("e2e times")
        for what, seconds in TIMES:
            terminalreporter.write_line(f"{what:<60} {seconds:7.1f}s")


@pytest.fixture(scope="session")
def images() -> dict[str, Path]:
    if os.geteuid() != 0:
        pytest.fail("the e2e tests run containers with runc and mount overlays: run them as root")
    if shutil.which("runc") is None:
        pytest.fail("runc is not installed: run `bash scripts/setup.sh` (apt-get install runc)")
    try:
        return ensure_images()
    except ImageError as err:
        pytest.fail(str(err))


@pytest.fixture(scope="session")
def both_registries(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestRegistry, TestRegistry]]:
    with registries(tmp_path_factory.mktemp("registries")) as pair:
        for registry in pair:
            registry.push_base_image()
        yield pair


@pytest.fixture
def make_node(images: dict[str, Path], tmp_path: Path) -> Callable[..., Node]:
    def make(**kwargs: object) -> Node:
        return Node(images, work_dir=tmp_path / "pods", **kwargs)  # type: ignore[arg-type]

    return make
