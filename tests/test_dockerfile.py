"""The base images a Dockerfile names, with build args applied: Python and the launcher's awk agree.

kaniko-warm hands the warmer the images this finds (kaniko's warmer applies ARG defaults over the
build args it is given, so ``FROM ${BASE}`` would warm the wrong image). The awk runs under
busybox's awk (as in the kaniko debug image) and Debian's mawk.
"""

import subprocess

import pytest

from cachebuild.dockerfile import BASE_IMAGES_AWK, DockerfileError, base_images

AWKS = [["busybox", "awk"], ["mawk"]]

CASES = [
    # (Dockerfile, build args, images or the error)
    ("FROM alpine:3.20\n", {}, ["alpine:3.20"]),
    ("from Alpine\n", {}, ["Alpine"]),
    ("ARG BASE=debian:12\nFROM ${BASE}\n", {}, ["debian:12"]),
    ("ARG BASE=debian:12\nFROM ${BASE}\n", {"BASE": "registry.test/base:1"}, ["registry.test/base:1"]),
    ("ARG BASE=debian:12\nFROM $BASE AS build\nFROM build\nFROM scratch\n", {"BASE": "x:1"}, ["x:1"]),
    ("ARG A=a B=b\nFROM ${A}:${B}\n", {"B": "2"}, ["a:2"]),
    ('ARG BASE="quoted:1"\nFROM ${BASE}\n', {}, ["quoted:1"]),
    ("ARG BASE='single:1'\nFROM ${BASE}\n", {}, ["single:1"]),
    ("ARG V\nFROM alpine:${V:-3.20}\n", {}, ["alpine:3.20"]),
    ("ARG V\nFROM alpine:${V:-3.20}\n", {"V": "3.19"}, ["alpine:3.19"]),
    ("ARG V=1\nFROM img${V:+-v}\n", {}, ["img-v"]),
    ("ARG V\nFROM img${V:+-v}\n", {}, ["img"]),
    ("# comment\n  # indented comment\nFROM --platform=$BUILDPLATFORM golang:1.23 AS b\nFROM b\n", {}, ["golang:1.23"]),
    ("FROM a:1 AS One\nFROM one\nFROM ONE AS two\nFROM a:1\nFROM c:3\n", {}, ["a:1", "c:3"]),
    ("FROM \\\n  alpine:3 \\\n  AS base\nRUN echo \\\n  $X\nFROM base\n", {}, ["alpine:3"]),
    ("FROM alpine\r\nRUN true\r\n", {}, ["alpine"]),
    (
        "FROM alpine\nARG LATE=x\nFROM ${LATE}\n",
        {"LATE": "y"},
        "line 3: FROM uses $LATE, which no ARG before the first FROM declares",
    ),
    ("FROM ${NOPE}\n", {"NOPE": "x"}, "line 1: FROM uses $NOPE, which no ARG before the first FROM declares"),
    ("ARG BASE\nFROM ${BASE}\n", {}, "line 2: FROM ${BASE} is empty: give its ARG a value with a build arg"),
    ("ARG B=x\nFROM ${B:=y}\n", {}, "line 2: FROM ${B:=y}: cannot expand it (use $NAME, ${NAME} or ${NAME:-default})"),
    ("FROM $\n", {}, "line 1: FROM $: cannot expand it (use $NAME, ${NAME} or ${NAME:-default})"),
    ("FROM\n", {}, "line 1: FROM names no image"),
    ("FROM scratch\n", {}, []),
    ("", {}, []),
]


def _awk(awk, text, args, tmp_path):
    path = tmp_path / "Dockerfile"
    path.write_bytes(text.encode())
    env = {"CB_BUILD_ARGS": "\n".join(f"{k}={v}" for k, v in args.items()), "PATH": "/usr/bin:/bin"}
    return subprocess.run([*awk, "-v", "prefix=P: ", BASE_IMAGES_AWK, str(path)], capture_output=True, text=True, env=env)


@pytest.mark.parametrize("awk", AWKS, ids=lambda a: a[-1] if a[0] != "busybox" else "busybox")
@pytest.mark.parametrize(("text", "args", "expected"), CASES)
def test_python_and_awk_find_the_same_base_images(tmp_path, awk, text, args, expected):
    run = _awk(awk, text, args, tmp_path)
    if isinstance(expected, str):
        with pytest.raises(DockerfileError) as caught:
            base_images(text, args)
        assert str(caught.value) == expected
        assert (run.returncode, run.stdout, run.stderr) == (2, "", f"P: {expected}\n")
    else:
        assert base_images(text, args) == expected
        assert (run.returncode, run.stderr) == (0, "")
        assert run.stdout.splitlines() == expected


def test_the_awk_program_can_be_shipped_in_single_quotes():
    assert "'" not in BASE_IMAGES_AWK


def test_args_in_stages_names_each_arg_after_a_from_by_its_line():
    from cachebuild.dockerfile import args_in_stages

    text = (
        "# syntax=docker/dockerfile:1\n"
        "ARG BASE=alpine\n"
        "FROM ${BASE} AS build\n"
        "ARG GO_VERSION \\\n"
        "    CGO=0\n"
        "RUN make\n"
        "FROM scratch\n"
        "  arg TARGETARCH\n"
    )
    assert args_in_stages(text) == [(4, "ARG GO_VERSION      CGO=0"), (8, "arg TARGETARCH")]
    assert args_in_stages("ARG BASE\nFROM ${BASE}\nRUN true\n") == []


def _copy_first(copy, install):
    return f"line {copy}: COPY . before the dependency install on line {install}"


BUSTER_CASES = [
    # (Dockerfile, the messages' "line N: WHAT" heads, in order)
    ("FROM python:3.12\nCOPY . .\nRUN pip install -r requirements.txt\n", [_copy_first(2, 3)]),
    ("FROM python:3.12\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\nCOPY . .\n", []),
    ("FROM node:22\nWORKDIR /app\nADD ./ /app/\nRUN npm ci\n", ["line 3: ADD . before the dependency install on line 4"]),
    ("FROM node:22\nCOPY --chown=1000 . /app\nRUN cd /app && \\\n    npm install\n", [_copy_first(2, 3)]),
    ("FROM golang:1.23\nCOPY . .\nRUN go build ./...\n", []),  # no install step: nothing to reorder
    ("FROM golang:1.23\nCOPY . .\nFROM golang:1.23\nRUN go mod download\n", []),  # another stage
    ("FROM b AS build\nCOPY --from=build . .\nRUN npm ci\n", []),  # from a stage, not the context
    ("FROM alpine\nADD https://example.com/tool.tgz /opt/\n", ["line 2: ADD https://example.com/tool.tgz"]),
    ("FROM alpine\nADD --checksum=sha256:abc HTTPS://example.com/t /t\n", []),
    ("FROM alpine\nadd --chmod=755 http://x.test/a http://x.test/b /bin/\n", ["line 2: ADD http://x.test/a"]),
    ("FROM alpine\nCOPY https://example.com/t /t\n", []),  # COPY of a URL is refused by the builder itself
    (
        "# syntax=docker/dockerfile:1\nFROM python\r\nADD https://e.test/x /x\r\nCOPY . .\r\nRUN  poetry install\r\n",
        ["line 3: ADD https://e.test/x", _copy_first(4, 5)],
    ),
    ("FROM python\nCOPY . .\nRUN pip3 install .\nRUN pip install x\n", [_copy_first(2, 3)]),
    ("FROM python\nCOPY . .\nRUN mypip install x\n", []),  # not the word pip
    ("", []),
]


@pytest.mark.parametrize("awk", AWKS, ids=lambda a: a[-1] if a[0] != "busybox" else "busybox")
@pytest.mark.parametrize(("text", "heads"), BUSTER_CASES)
def test_python_and_awk_find_the_same_cache_busters(tmp_path, awk, text, heads):
    from cachebuild.dockerfile import ADD_URL, CACHE_BUSTERS_AWK, COPY_BEFORE_INSTALL, cache_busters, cache_busters_awk_args

    found = [message for _, message in cache_busters(text)]
    assert [m.split(": ", 2)[0] + ": " + m.split(": ", 2)[1] for m in found] == heads
    for message in found:
        assert message.endswith(ADD_URL if ": add http" in message.lower() else COPY_BEFORE_INSTALL)
    path = tmp_path / "Dockerfile"
    path.write_bytes(text.encode())
    run = subprocess.run(
        [*awk, "-v", "prefix=P: ", *cache_busters_awk_args(), CACHE_BUSTERS_AWK, str(path)], capture_output=True, text=True
    )
    assert (run.returncode, run.stderr) == (0, "")
    assert run.stdout.splitlines() == [f"P: {m}" for m in found]


def test_the_cache_buster_awk_and_its_messages_can_be_shipped_in_single_quotes():
    from cachebuild.dockerfile import CACHE_BUSTERS_AWK, cache_busters_awk_args

    assert "'" not in CACHE_BUSTERS_AWK + "".join(cache_busters_awk_args())
    assert "\\" not in "".join(cache_busters_awk_args())  # awk -v would read escapes in them
