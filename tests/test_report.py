"""The cache report from each builder's log: Python and the launchers' awk give the same report.

The logs under tests/data/cache-logs are the stamped build logs of real builds (BuildKit v0.33.0,
kaniko v1.24.0, buildah 1.28 in the e2e tier's pods): the context of tests/e2e/raw.py built cold,
again in a new pod from the remote cache, and after a one-file change. The awk runs under busybox's
awk (the kaniko and BuildKit images) and Debian's mawk.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from cachebuild import report

LOGS = Path(__file__).parent / "data" / "cache-logs"
AWKS = [["busybox", "awk"], ["mawk"]]
RUN_ONE, COPY, RUN_TWO = "RUN printf", "COPY file.txt /file.txt", "RUN printf"

# What happened in each build: the outcome of RUN one, COPY, RUN two.
EXPECTED = {
    ("buildkit", "cold"): ["built", "built", "built"],
    ("buildkit", "warm"): ["cached", "cached", "cached"],
    ("buildkit", "change"): ["pulled", "built", "built"],
    # kaniko takes COPY from its cache only with --cache-copy-layers: it copies again
    ("kaniko", "cold"): ["built", "built", "built"],
    ("kaniko", "warm"): ["pulled", "built", "pulled"],
    ("kaniko", "change"): ["pulled", "built", "built"],
    ("buildah", "cold"): ["built", "built", "built"],
    ("buildah", "warm"): ["pulled", "pulled", "pulled"],
    ("buildah", "change"): ["pulled", "built", "built"],
}


def _awk(awk: list[str], builder: str, log: str, tmp_path: Path) -> tuple[str, str]:
    path = tmp_path / "build.log"
    path.write_bytes(log.encode())
    env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}
    rows = subprocess.run([*awk, report.AWK_PARSERS[builder], str(path)], capture_output=True, check=True, env=env).stdout
    hits, out = tmp_path / "hits", tmp_path / "report.json"
    args = ["-v", f"builder={builder}", "-v", f"hits={hits}", "-v", f"json={out}", report.RENDER_AWK]
    subprocess.run([*awk, *args], input=rows, capture_output=True, check=True, env=env)
    return hits.read_text(), out.read_text()


@pytest.mark.parametrize(("builder", "build"), sorted(EXPECTED))
def test_each_builders_real_log_gives_what_happened(builder, build):
    parsed = report.PARSERS[builder]((LOGS / f"{builder}-{build}.log").read_text())
    assert [s.outcome for s in parsed.steps] == EXPECTED[builder, build]
    assert [s.instruction.split(" ")[0] for s in parsed.steps] == ["RUN", "COPY", "RUN"]
    assert parsed.hits == f"{sum(o != 'built' for o in EXPECTED[builder, build])}/3"
    if build == "cold":  # the slow RUNs sleep 2 s each
        runs = [s.seconds for s in parsed.steps if s.instruction.startswith("RUN")]
        assert all(1.5 <= s <= 3.5 for s in runs), runs


@pytest.mark.parametrize("awk", AWKS, ids=["busybox", "mawk"])
@pytest.mark.parametrize(("builder", "build"), sorted(EXPECTED))
def test_the_launchers_awk_gives_the_same_report(tmp_path, awk, builder, build):
    log = (LOGS / f"{builder}-{build}.log").read_text()
    parsed = report.PARSERS[builder](log)
    hits, out = _awk(awk, builder, log, tmp_path)
    assert (hits, out) == (parsed.hits, parsed.to_json())
    assert json.loads(out)["steps"][0]["instruction"].startswith("RUN printf 'step %s ran\\n' one")


def _stamp(lines: list[str], start: int = 1_800_000_000, every: int = 1) -> str:
    return "".join(f"{start + i * every} {line}\n" for i, line in enumerate(lines))


SYNTHETIC = {
    "buildkit": [
        "#1 [internal] load build definition from Dockerfile",
        "#2 [auth] sharing credentials for registry-tls.cachebuild.test:47001",
        "#5 [linux/arm64 1/3] FROM reg.test/base:1",
        '#6 [linux/amd64 2/3] RUN make \\"quoted\\" and a \\\\ backslash\tand a tab',
        "#7 [linux/arm64 2/3] RUN make",
        "#6 CACHED",
        "#7 0.512 compiling",
        "#7 DONE 3.4s",
        "#8 [linux/amd64 3/3] RUN false",
        "#8 ERROR: process did not complete successfully: exit code: 1",
    ],
    "kaniko": [
        "\x1b[36mINFO\x1b[0m[0000] Using caching version of cmd: RUN apk add curl",
        "\x1b[36mINFO\x1b[0m[0000] RUN apk add curl",
        "\x1b[36mINFO\x1b[0m[0001] ADD https://example.com/x /x",
        "\x1b[36mINFO\x1b[0m[0002] RUN " + "x" * 200,
        "error building image: error building stage: failed to execute command",
    ],
    "buildah": [
        "[1/2] STEP 1/2: FROM reg.test/go:1 AS build",
        "[1/2] STEP 2/2: RUN go build",
        "--> Using cache 97c20453f33705e89042e9fe3d977733e599282fed37b2c07919be396e36cee1",
        "[2/2] STEP 1/2: FROM reg.test/base:1",
        "[2/2] STEP 2/2: COPY --from=build /app /app",
        "COMMIT reg.test/app:1",
    ],
}


@pytest.mark.parametrize("awk", AWKS, ids=["busybox", "mawk"])
@pytest.mark.parametrize("builder", sorted(SYNTHETIC))
def test_platforms_stages_failures_and_odd_text_agree(tmp_path, awk, builder):
    log = _stamp(SYNTHETIC[builder])
    parsed = report.PARSERS[builder](log)
    assert _awk(awk, builder, log, tmp_path) == (parsed.hits, parsed.to_json())
    json.loads(parsed.to_json())
    outcomes = [(s.step, s.outcome) for s in parsed.steps]
    assert (
        outcomes
        == {
            "buildkit": [("linux/amd64 2/3", "cached"), ("linux/amd64 3/3", "failed"), ("linux/arm64 2/3", "built")],
            "kaniko": [("1", "pulled"), ("2", "built"), ("3", "failed")],
            "buildah": [("[1/2] 2/2", "cached"), ("[2/2] 2/2", "built")],
        }[builder]
    )


@pytest.mark.parametrize("awk", AWKS, ids=["busybox", "mawk"])
def test_a_long_report_keeps_within_tektons_result_size(tmp_path, awk):
    lines = [f"STEP {i}/60: RUN step number {i} " + "y" * 70 for i in range(1, 61)]
    log = _stamp(lines)
    parsed = report.parse_buildah(log)
    text = parsed.to_json()
    assert _awk(awk, "buildah", log, tmp_path) == (parsed.hits, text)
    data = json.loads(text)
    assert len(text.encode()) < 3000 and data["hits"] == "0/60" and len(data["steps"]) + data["more"] == 60


def test_the_awk_programs_can_be_shipped_in_single_quotes():
    for program in (report.STAMP_AWK, report.RENDER_AWK, *report.AWK_PARSERS.values()):
        assert "'" not in program
