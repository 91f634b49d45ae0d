"""What a test needs installed: missing, the test fails and names the setup step (it is never skipped)."""

from __future__ import annotations

import shutil

import pytest


def require(*programs: str) -> None:
    missing = [p for p in programs if shutil.which(p) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not installed: run `bash scripts/setup.sh`", pytrace=False)
