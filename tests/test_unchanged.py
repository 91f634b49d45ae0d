"""The inputs of a build (cachebuild.local.unchanged): what .dockerignore leaves out, and the digest."""

from __future__ import annotations

import pytest

from cachebuild import BuildSpec
from cachebuild.local import unchanged

FILES = ["Dockerfile", "a.tmp", "keep.tmp", "sub/a.tmp", "sub/b.txt", "build/x.o", "build/keep.o", "notes/n.md", "src/main.go"]


@pytest.mark.parametrize(
    ("ignore", "left_out"),
    [
        ("*.tmp\n", {"a.tmp", "keep.tmp"}),  # * does not cross a folder, as in Docker's patternmatcher
        ("**/*.tmp\n", {"a.tmp", "keep.tmp", "sub/a.tmp"}),
        ("*.tmp\n!keep.tmp\n", {"a.tmp"}),
        ("notes/\n", {"notes/n.md"}),  # a folder: everything in it
        ("/build\n!build/keep.o\n", {"build/x.o"}),
        ("# a comment\n\nsub/?.txt\n", {"sub/b.txt"}),
        ("src/[m]ain.go\n", {"src/main.go"}),
        ("**\n!Dockerfile\n!src/**\n", set(FILES) - {"Dockerfile", "src/main.go"}),
    ],
)
def test_dockerignore_rules(tmp_path, ignore, left_out):
    for rel in FILES:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(rel)
    (tmp_path / ".dockerignore").write_text(ignore)
    seen = set(unchanged.visible_files(tmp_path)) - {".dockerignore"}
    assert set(FILES) - seen == left_out


def test_the_digest_follows_what_the_build_reads(tmp_path):
    (tmp_path / "Dockerfile").write_text("ARG BASE=r.test/base:1\nFROM ${BASE}\nCOPY . /app\n")
    (tmp_path / "app.sh").write_text("echo hi\n")
    bases = {"r.test/base:1": "sha256:" + "1" * 64, "r.test/other:2": "sha256:" + "2" * 64}

    def digest(spec=None, builder="buildah 1.28", base_digests=bases):
        return unchanged.inputs(spec or BuildSpec("r.test/app:1"), tmp_path, builder, lambda ref: base_digests[str(ref)]).digest

    first = digest()
    assert digest() == first and len(first) == 64
    assert digest(BuildSpec("r.test/app:2")) == first  # the destination is not an input
    assert digest(BuildSpec("r.test/app:1", build_args={"BASE": "r.test/other:2"})) != first
    assert digest(builder="buildah 1.29") != first
    assert digest(base_digests={**bases, "r.test/base:1": "sha256:" + "3" * 64}) != first  # the base image moved
    (tmp_path / "app.sh").chmod(0o755)
    assert digest() != first  # the executable bit is part of a file
