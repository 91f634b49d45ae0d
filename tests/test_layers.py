"""The package's data flow runs one way (DESIGN.md): no module imports a layer above its own,
and the command line has one home, ``cachebuild.commands``.

Read from the source with ``ast``: every ``import`` and ``from … import`` anywhere in a module,
function-level imports included.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "python" / "cachebuild"

# Lower numbers are further down the data flow: user input → BuildSpec → builder argv →
# Argo/Tekton/local wrappers → catalog and submission → the command line.
LAYERS = {
    "cachebuild.errors": 0,
    "cachebuild.refs": 0,
    "cachebuild.markdown": 0,
    "cachebuild.yamltext": 0,
    "cachebuild.kinds": 0,
    "cachebuild.dockerfile": 0,
    "cachebuild": 1,  # the package itself: __version__, BuildSpec
    "cachebuild.spec": 1,
    "cachebuild.builders": 2,
    "cachebuild.argo": 3,
    "cachebuild.tekton": 3,
    "cachebuild.local": 3,
    "cachebuild.catalog": 4,
    "cachebuild.submit": 4,
    "cachebuild.commands": 5,
    "cachebuild.cli": 6,
    "cachebuild.__main__": 7,  # python -m cachebuild
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def unit(name: str) -> str:
    """The layer unit a module belongs to: ``cachebuild.argo.compose`` → ``cachebuild.argo``."""
    parts = name.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in LAYERS:
            return ".".join(parts[:n])
    raise AssertionError(f"{name} is in no layer: add it to LAYERS")


def imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "cachebuild":  # from cachebuild import argo → the subpackage
                for alias in node.names:
                    sub = f"cachebuild.{alias.name}"
                    found.append((node.lineno, sub if sub in LAYERS else "cachebuild"))
            else:
                found.append((node.lineno, node.module))
    return [(line, name) for line, name in found if name == "cachebuild" or name.startswith("cachebuild.")]


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_no_module_imports_a_layer_above_it_or_a_sibling(path):
    own = unit(module_name(path))
    wrong = []
    for line, name in imports(path):
        target = unit(name)
        if target == own:
            continue
        if LAYERS[target] > LAYERS[own] or (LAYERS[target] == LAYERS[own] and LAYERS[own] > 1):
            wrong.append(f"line {line}: {name} (layer {LAYERS[target]}) from {own} (layer {LAYERS[own]})")
    assert wrong == []


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_argparse_lives_in_the_command_line_only(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    uses_argparse = any(
        (isinstance(node, ast.Import) and any(a.name == "argparse" for a in node.names))
        or (isinstance(node, ast.ImportFrom) and node.module == "argparse")
        for node in ast.walk(tree)
    )
    assert not uses_argparse or unit(module_name(path)) in ("cachebuild.commands", "cachebuild.cli")


def test_the_backends_have_no_cli_modules():
    assert not (PACKAGE / "argo" / "cli.py").exists() and not (PACKAGE / "tekton" / "cli.py").exists()
