"""Every flag a builder program can emit exists in that builder (../shared/reference/flags, from its source).

buildah push flags are not in the reference; they are checked against the buildah installed here.
"""

import re
import subprocess

import pytest

from cachebuild.builders import buildah, buildkit, kaniko
from cachebuild.builders.program import Arg, Each, Join, Lit, Program, When
from support.schemas import ROOT

FLAGS = ROOT.parent / "shared" / "reference" / "flags"


def reference(name: str) -> dict[str, str]:
    """flag or option key → type, from one reference file."""
    out = {}
    for line in (FLAGS / name).read_text().splitlines():
        if line and not line.startswith("#"):
            key, type_, *_ = line.split("\t")
            out[key] = type_
    return out


def forms(items) -> list[tuple[str, ...]]:
    """Every tuple of argv forms the items can produce."""
    found = []
    for item in items:
        if isinstance(item, Lit):
            found.append(item.elements)
        elif isinstance(item, (Arg, Each, Join)):
            found.append(item.forms)
        elif isinstance(item, When):
            found += forms(item.then) + forms(item.otherwise)
    return found


def emitted_flags(program: Program, command: int = 0) -> set[str]:
    flags = set()
    for group in forms(program.commands[command].items):
        for element in group:
            if element.startswith("--"):
                flags.add(element.split("=", 1)[0])
    return flags


def test_kaniko_executor_flags_exist():
    known = reference("kaniko-executor.osscontainertools.txt")
    flags = emitted_flags(kaniko.EXECUTOR_PROGRAM)
    assert {"--context", "--destination", "--cache", "--cache-repo", "--cache-dir", "--digest-file"} <= flags
    assert flags - known.keys() == set()


def test_kaniko_warmer_flags_exist():
    known = reference("kaniko-warmer.txt")
    flags = emitted_flags(kaniko.WARMER_PROGRAM)
    assert {"--cache-dir", "--image", "--insecure-registry"} <= flags
    assert flags - known.keys() == set()


def test_buildah_build_flags_exist():
    known = reference("buildah-build.txt")
    flags = emitted_flags(buildah.PROGRAM, 0)
    assert {"--layers", "--cache-from", "--cache-to", "--storage-driver", "--isolation"} <= flags
    assert flags - known.keys() == set()


@pytest.mark.parametrize(
    ("command", "subcommand", "expected"),
    [(1, ["push"], {"--digestfile", "--retry"}), (2, ["manifest", "push"], {"--all", "--digestfile"})],
)
def test_buildah_push_flags_exist_in_the_installed_buildah(command, subcommand, expected):
    help_text = subprocess.run(["buildah", *subcommand, "--help"], capture_output=True, text=True, check=True).stdout
    known = set(re.findall(r"(--[a-z][a-z-]+)", help_text)) | {"--storage-driver", "--root", "--runroot"}  # global flags
    flags = emitted_flags(buildah.PROGRAM, command)
    assert expected <= flags
    assert flags - known == set()


def test_buildctl_flags_and_option_keys_exist():
    known = reference("buildctl-build.txt")
    groups = forms(buildkit.PROGRAM.commands[0].items)
    flags = {e for g in groups for e in g if e.startswith("--")}
    assert {"--frontend", "--local", "--opt", "--output", "--export-cache", "--import-cache", "--metadata-file"} <= flags
    assert flags - known.keys() == set()
    # option keys inside --output / --export-cache / --import-cache values
    for group in groups:
        if len(group) == 2 and group[0] in ("--output", "--export-cache", "--import-cache"):
            flag = group[0].lstrip("-")
            pairs = dict(p.strip('"').split("=", 1) for p in re.split(r',(?=(?:[^"]*"[^"]*")*[^"]*$)', group[1]))
            kind = pairs.pop("type")
            assert f"{flag}:*:type" in known
            for key in pairs:
                assert f"{flag}:{kind}:{key}" in known or f"{flag}:*:{key}" in known, (flag, kind, key)


@pytest.mark.parametrize("path", sorted(p.name for p in FLAGS.glob("*.txt")))
def test_reference_files_are_present(path):
    assert reference(path)
