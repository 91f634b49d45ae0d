"""Packaging: what pyproject.toml declares must build with the oldest setuptools it admits."""

import re
import sys
import warnings
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_license_expression_has_the_setuptools_that_reads_it():
    """``license = "Apache-2.0"`` (a PEP 639 SPDX expression) is read by setuptools 77 and later; 65.5 refuses the
    project (``pip install --no-build-isolation -e .``). Checked by hand: 65.5.0 fails, 77.0.3 builds the wheel."""
    assert isinstance(PYPROJECT["project"]["license"], str)
    (requirement,) = [r for r in PYPROJECT["build-system"]["requires"] if r.startswith("setuptools")]
    minimum = re.fullmatch(r"setuptools>=([0-9.]+)", requirement)
    assert minimum, requirement
    assert tuple(int(p) for p in minimum[1].split(".")) >= (77, 0, 3)


def test_no_deprecated_pydantic_call_of_our_own(argo):
    """cachebuild's own code makes no pydantic-deprecated call (Hera's own ``.json()`` is Hera's)."""
    from pydantic.warnings import PydanticDeprecatedSince20

    from cachebuild import BuildSpec
    from cachebuild.submit import ArgoClient, submit_argo_workflow

    client = ArgoClient(argo.url, token=argo.token)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        submit_argo_workflow(client, BuildSpec("registry.example.com/a:1", workspace_pvc="src"), "buildkit").wait(
            10, poll_interval=0.01
        )
    ours = [w for w in seen if issubclass(w.category, PydanticDeprecatedSince20) and "/cachebuild/" in w.filename]
    assert ours == []
