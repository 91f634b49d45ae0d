"""Tests import the package from this checkout's python/ folder, and so do the processes they start."""

import os
from pathlib import Path

PYTHON_DIR = str(Path(__file__).resolve().parents[1] / "python")
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (PYTHON_DIR, os.environ.get("PYTHONPATH")) if p)
