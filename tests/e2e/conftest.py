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
ROWS: list[dict[str, object]] = []  # the task matrix (test_tasks.py): task, engine, mode, result, cold, warm


def record_time(what: str, seconds: float) -> None:
    TIMES.append((what, seconds))


def record_row(row: dict[str, object]) -> None:
    ROWS.append(row)


def _seconds(value: object) -> str:
    return f"{value:.1f}" if isinstance(value, float) else "-"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TIMES:
        terminalreporter.section("e2e times")
        for what, seconds in TIMES:
            terminalreporter.write_line(f"{what:<60} {seconds:7.1f}s")
    if ROWS:
        terminalreporter.section("task matrix (task x engine x registry)")
        lines = matrix_lines()
        for line in lines:
            terminalreporter.write_line(line)
        if os.environ.get("CACHEBUILD_E2E_MATRIX"):  # scripts/e2e.sh prints it last
            Path(os.environ["CACHEBUILD_E2E_MATRIX"]).write_text("\n".join(lines) + "\n")


def matrix_lines() -> list[str]:
    """The task matrix: one row per task x engine x registry mode, then ``N passed, M failed``."""
    lines = [f"{'task':<28} {'engine':<7} {'registry':<9} {'result':<6} {'cold s':>7} {'warm s':>7}"]
    for row in sorted(ROWS, key=lambda r: (str(r["task"]), str(r["engine"]), str(r["mode"]))):
        mode = "http" if row["mode"] == "http" else "tls+auth"
        lines.append(
            f"{row['task']!s:<28} {row['engine']!s:<7} {mode:<9} {row['result']!s:<6} "
            f"{_seconds(row['cold']):>7} {_seconds(row['warm']):>7}"
        )
    passed = sum(1 for r in ROWS if r["result"] == "PASS")
    lines.append(f"{passed} passed, {len(ROWS) - passed} failed")
    return lines


@pytest.fixture(scope="session", autouse=True)
def rendered_catalog_is_current() -> None:
    """The pods come from workflows/ and tasks/ on disk: they must be what the Python renders now."""
    from cachebuild.catalog import plan

    stale = [c.path for c in plan(Path(__file__).resolve().parents[2]) if c.action != "leave"]
    if stale:
        pytest.fail(f"tasks/ or workflows/ are not what the code renders ({', '.join(stale[:5])}): run `cachebuild render`")


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
            # kaniko's rows: upstream v1.24.0 cannot push on a warmed OCI base (kaniko#2423)
            registry.push_base_image("cachebuild/busybox-docker", media="docker")
        yield pair


@pytest.fixture
def make_node(images: dict[str, Path], tmp_path: Path) -> Callable[..., Node]:
    def make(**kwargs: object) -> Node:
        return Node(images, work_dir=tmp_path / "pods", **kwargs)  # type: ignore[arg-type]

    return make
