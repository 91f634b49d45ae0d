"""The launcher a template ships runs exactly the argv the builder functions give, under dash and busybox sh.

Values reach the script only through CB_* environment variables, as Argo and Tekton set them;
hostile values must arrive as one literal argv element each, and nothing else may run.
"""

import re
from pathlib import Path

import pytest

from cachebuild import BuildSpec, SpecError
from cachebuild.builders import buildah, buildkit, kaniko, spec_values
from cachebuild.builders.program import TRANSFORMS, evaluate, files, runs
from support.launcher import SHELLS, env_for, normalise, run_launcher

IMG = "registry.example.com/team/app:1.0"
HOSTILE = ["$(touch PWNED)", "`touch PWNED`", "a; touch PWNED", "x y", "'q' \"dq\"", "-dash", "*", "$HOME", "a\\b", "#hash"]

SPECS = [
    BuildSpec(IMG),
    BuildSpec(IMG, no_cache=True),
    BuildSpec(
        [IMG, "registry.example.com/team/app:latest"],
        context="dir with spaces/app",
        dockerfile="d f/Dockerfile",
        cache=False,
        target="prod",
        labels={"k": "v"},
    ),
    BuildSpec(
        IMG,
        cache_ttl="24h",
        platforms=["linux/arm64"],
        build_args={f"V{i}": v for i, v in enumerate(HOSTILE)},
        extra_args=HOSTILE,
        labels={"hostile": HOSTILE[0]},
    ),
    BuildSpec(IMG, context="https://github.com/org/repo.git#main:services/api", cache_repo="registry.example.com/c"),
    BuildSpec(IMG, context="https://github.com/org/repo.git#" + "f" * 40),
    BuildSpec(IMG, context="https://github.com/org/repo.git#refs/tags/v1"),
    BuildSpec(IMG, context="https://github.com/org/repo.git"),
    BuildSpec(IMG, cache_branch="feature/Login Page", cache_compression="zstd", cache_compression_level=12, cache_mode="min"),
    BuildSpec(IMG, cache_from=["registry.example.com/c/pr", "registry.example.com/c/main"], cache_to="registry.example.com/c/pr"),
    BuildSpec(IMG, cache_read_only=True, cache_oci_mediatypes=False, cache_image_manifest=False, cache_compression_level=3),
    BuildSpec(
        IMG,
        platforms=["linux/amd64", "linux/arm64"],
        insecure_registries=["registry.example.com", "10.0.0.1:5000", "[::1]:5000"],
        cache_repo="10.0.0.1:5000/c",
    ),
]

PROGRAMS = [
    ("buildkit", buildkit.PROGRAM, buildkit.LAYOUT),
    ("kaniko-build", kaniko.EXECUTOR_PROGRAM, kaniko.LAYOUT),
    ("kaniko-warm", kaniko.WARMER_PROGRAM, kaniko.LAYOUT),
    ("buildah", buildah.PROGRAM, buildah.LAYOUT),
]


DOCKERFILE = "ARG BASE=docker.io/library/busybox:1.36\nFROM ${BASE} AS base\nFROM base\nRUN true\n"


def _layout(layout, tmp, spec=None):
    """Output files in the test's folder instead of /tmp/cachebuild; a workspace holding ``spec``'s Dockerfile."""
    written = {"buildkitd_config", "registries_drop_in", "ca_bundle", "build_log"}  # files the launchers write
    out = {k: str(tmp / "out" / v.rsplit("/", 1)[-1]) if k.endswith("_file") or k in written else v for k, v in layout.items()}
    workspace = tmp / "ws"
    if spec is not None and spec.git is None:
        dockerfile = workspace / spec.context / spec.dockerfile
        dockerfile.parent.mkdir(parents=True, exist_ok=True)
        dockerfile.write_text(DOCKERFILE)
    return {**out, "workspace": str(workspace)}


CASES = [
    pytest.param(program, layout, spec, id=f"{name}-spec{i}")
    for name, program, layout in PROGRAMS
    for i, spec in enumerate(SPECS)
    if not (name == "kaniko-warm" and spec.git is not None)  # the warmer reads a workspace Dockerfile
    and not (name == "kaniko-build" and len(spec.platforms) > 1)  # refused: see the test below
]


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize(("program", "layout", "spec"), CASES)
def test_launcher_runs_the_same_argv_as_python(tmp_path, shell, program, layout, spec):
    values = spec_values(spec, **_layout(layout, tmp_path, spec))
    run = run_launcher(program, env_for(values), tmp_path, shell)
    assert run.returncode == 0, run.stderr
    assert normalise(run.argvs, tmp_path) == evaluate(program, values)
    assert run.envs == [r.env for r in runs(program, values)]
    for path, content in files(program, values).items():
        assert Path(path).read_text() == content
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("exists", [True, False])
def test_buildah_launcher_passes_authfile_only_when_it_exists(tmp_path, exists):
    values = spec_values(BuildSpec(IMG), **_layout(buildah.LAYOUT, tmp_path))
    (tmp_path / "out").mkdir()
    if exists:
        (tmp_path / "out" / "config.json").write_text("{}")
    run = run_launcher(buildah.PROGRAM, env_for(values), tmp_path)
    assert run.returncode == 0, run.stderr
    assert normalise(run.argvs, tmp_path) == evaluate(buildah.PROGRAM, values)
    assert any(a.startswith("--authfile=") for a in run.argvs[0]) is exists


def test_buildkit_launcher_writes_digest_and_url_results(tmp_path):
    values = spec_values(BuildSpec([IMG, "registry.example.com/team/app:2"]), **_layout(buildkit.LAYOUT, tmp_path))
    env = env_for(values) | {"CB_URL_FILE": str(tmp_path / "url")}
    run = run_launcher(buildkit.PROGRAM, env, tmp_path)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "out" / "image-digest").read_text() == "sha256:" + "ab" * 32
    assert (tmp_path / "url").read_text() == IMG


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("CB_CONTEXT", "../etc", "must be a relative path without '..'"),
        ("CB_CONTEXT", "/etc", "must be a relative path without '..'"),
        ("CB_DOCKERFILE", "a/../../x", "must be a relative path without '..'"),
        ("CB_CONTEXT", "https://h/r.git#main:../x", "subdir: a relative path without '..'"),
    ],
)
def test_launcher_refuses_paths_leaving_the_workspace(tmp_path, key, value, reason):
    values = spec_values(BuildSpec(IMG), **_layout(kaniko.LAYOUT, tmp_path))
    run = run_launcher(kaniko.EXECUTOR_PROGRAM, env_for(values) | {key: value}, tmp_path)
    assert run.returncode == 2
    assert run.argvs == []
    assert reason in run.stderr and f"(got '{value}')" in run.stderr


def test_launcher_requires_an_image(tmp_path):
    values = spec_values(BuildSpec(IMG), **_layout(buildkit.LAYOUT, tmp_path))
    run = run_launcher(buildkit.PROGRAM, env_for(values) | {"CB_IMAGES": ""}, tmp_path)
    assert (run.returncode, run.argvs) == (2, [])
    assert run.stderr == "cachebuild: images: is required (got '')\n"


# Transforms of one text value; the others (files, the user id, lists) have tests of their own.
TEXT_TRANSFORMS = ["git_url", "git_ref", "context_path", "strip_scheme", "kaniko_git_ref", "negate", "nonempty", "dirname"]


def test_every_transform_is_tested():
    tested = {"default_cache_repo", "several", "current_uid", "ca_bundle", "branch_tag", "or_cache_repository", "cache_busters"}
    assert set(TRANSFORMS) == {*TEXT_TRANSFORMS, *tested}


@pytest.mark.parametrize(
    "branch", ["main", "feature/Login Page", "-x", ".hidden", "../..", "é-branch", "a" * 200, "v1.2_rc", "", "x;$(id)"]
)
def test_branch_tag_agrees_in_python_and_sh(branch):
    assert _sh_transform("branch_tag", branch) == TRANSFORMS["branch_tag"].python(branch, {})


@pytest.mark.parametrize("value", ["", "r.io/a", "r.io/a\nr.io/b"])
def test_or_cache_repository_agrees_in_python_and_sh(value):
    env = {"CB_CACHE_REPOSITORY": "r.io/default", "PATH": "/usr/bin:/bin"}
    assert _sh_transform("or_cache_repository", value, env) == TRANSFORMS["or_cache_repository"].python(
        value, {"cache_repository": "r.io/default"}
    )


def _sh_transform(name, source, env=None):
    import subprocess

    script = f'cb_nl=\'\n\'; cb_src="$1"; {TRANSFORMS[name].sh}; printf %s "$cb_v"'
    return subprocess.run(["dash", "-c", script, "x", source], capture_output=True, text=True, check=True, env=env).stdout


@pytest.mark.parametrize("name", TEXT_TRANSFORMS)
@pytest.mark.parametrize(
    "source",
    [
        "",
        ".",
        "app",
        "https://h.example/r.git",
        "https://h.example/r.git#main",
        "https://h.example/r.git#main:sub/dir",
        "https://h.example/r.git#:sub",
        "http://h.example:8080/r.git#refs/tags/v1",
        "main",
        "refs/heads/x",
        "f" * 40,
        "true",
        "false",
        "/a/b/c.crt",
    ],
)
def test_transforms_agree_in_python_and_sh(name, source):
    assert _sh_transform(name, source) == TRANSFORMS[name].python(source, {})


@pytest.mark.parametrize("images", [IMG, f"{IMG}\nr.io/x:2", "localhost:5000/a/b", "r.io:5000/a@sha256:" + "a" * 64, "app"])
@pytest.mark.parametrize("cache_repo", ["", "r.io/given"])
def test_default_cache_repo_agrees_in_python_and_sh(images, cache_repo):
    env = {"CB_IMAGES": images, "PATH": "/usr/bin:/bin"}
    assert _sh_transform("default_cache_repo", cache_repo, env) == TRANSFORMS["default_cache_repo"].python(
        cache_repo, {"images": images}
    )


@pytest.mark.parametrize("platforms", ["", "linux/amd64", "linux/amd64\nlinux/arm64", "\nlinux/arm64\n"])
def test_several_agrees_in_python_and_sh(platforms):
    assert _sh_transform("several", platforms) == TRANSFORMS["several"].python(platforms, {})


def test_kaniko_launcher_refuses_several_platforms_as_buildspec_does(tmp_path):
    values = spec_values(BuildSpec(IMG), **_layout(kaniko.LAYOUT, tmp_path))
    run = run_launcher(kaniko.EXECUTOR_PROGRAM, env_for(values) | {"CB_PLATFORMS": "linux/amd64\nlinux/arm64"}, tmp_path)
    assert (run.returncode, run.argvs) == (2, [])
    assert run.stderr == "cachebuild: platforms: kaniko builds one platform per run (got 'linux/amd64\nlinux/arm64')\n"
    with pytest.raises(SpecError) as caught:
        BuildSpec(IMG, platforms=["linux/amd64", "linux/arm64"]).check_engine("kaniko")
    assert caught.value.reason == "kaniko builds one platform per run"


@pytest.mark.parametrize("layout", ["none", "empty", "projected", "files"])
def test_ca_bundle_agrees_in_python_and_sh(tmp_path, layout):
    """The registry CA folder as Kubernetes mounts a ConfigMap (``ca.crt -> ..data/ca.crt``) or plain files."""
    import subprocess

    folder = tmp_path / "ca"
    if layout != "none":
        folder.mkdir()
    if layout == "projected":
        (folder / "..2026_12_01").mkdir()
        (folder / "..2026_12_01" / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\nPRIVATE\n-----END CERTIFICATE-----\n")
        (folder / "..data").symlink_to("..2026_12_01")
        (folder / "ca.crt").symlink_to("..data/ca.crt")
    elif layout == "files":
        (folder / "b.pem").write_text("B")
        (folder / "a.crt").write_text("A\n\n")
        (folder / ".hidden.crt").write_text("HIDDEN")
        (folder / "notes.txt").write_text("NOTES")
    results = []
    for name in ("py", "sh"):
        target = tmp_path / name / "ca.crt"
        if name == "py":
            path = TRANSFORMS["ca_bundle"].python(str(folder), {"ca_bundle": str(target)})
        else:
            script = f'cb_src="$1"; {TRANSFORMS["ca_bundle"].sh}; printf %s "$cb_v"'
            env = {"CB_CA_BUNDLE": str(target), "PATH": "/usr/bin:/bin"}
            path = subprocess.run(["dash", "-c", script, "x", str(folder)], capture_output=True, text=True, env=env).stdout
        results.append((path.replace(f"/{name}/", "/X/"), target.read_text() if path else None))
    assert results[0] == results[1]
    if layout in ("none", "empty"):
        assert results[0] == ("", None)
    else:
        system = Path("/etc/ssl/certs/ca-certificates.crt").read_text()
        assert results[0][1].startswith(system)
        assert results[0][1].endswith("PRIVATE\n-----END CERTIFICATE-----\n\n" if layout == "projected" else "A\n\n\nB\n")
        assert "HIDDEN" not in results[0][1] and "NOTES" not in results[0][1]


@pytest.mark.parametrize("shell", SHELLS)
def test_buildah_builds_again_without_the_cache_when_the_cache_export_fails(tmp_path, shell):
    """buildah fails a build whose layer cannot go to --cache-to; the launcher warns and builds again
    from the local layers without it, then pushes: a cache export never fails a build."""
    values = spec_values(BuildSpec(IMG, cache_repo="registry.example.com/c"), **_layout(buildah.LAYOUT, tmp_path, BuildSpec(IMG)))
    failing = 'Error: failed pushing cache to {{{"registry.example.com" "c"} "a38c"}}: connection refused'
    env = env_for(values) | {"CB_TEST_FAIL_ARG": "--cache-to=", "CB_TEST_FAIL_OUTPUT": failing}
    run = run_launcher(buildah.PROGRAM, env, tmp_path, shell)
    assert run.returncode == 0, run.stderr
    first, second, push = normalise(run.argvs, tmp_path)
    assert "--cache-to=registry.example.com/c" in first and "--cache-from=registry.example.com/c" in first
    assert second == [a for a in first if not a.startswith("--cache-to=")]
    assert push[2] == "push"
    assert (
        "cachebuild: warning: the cache was not written to registry.example.com/c (see above); building again from the "
        "local layers without exporting the cache"
    ) in run.stderr
    log = Path(values["build_log"]).read_text()  # the build that counts: the second, stamped line by line
    assert failing not in log and re.fullmatch(r"(\d+ .*\n)+", log)


@pytest.mark.parametrize("shell", SHELLS)
def test_a_failed_buildah_build_still_fails(tmp_path, shell):
    values = spec_values(BuildSpec(IMG), **_layout(buildah.LAYOUT, tmp_path, BuildSpec(IMG)))
    env = env_for(values) | {"CB_TEST_FAIL_ARG": "--layers", "CB_TEST_FAIL_OUTPUT": 'Error: building at STEP "RUN false"'}
    run = run_launcher(buildah.PROGRAM, env, tmp_path, shell)
    assert run.returncode == 125
    assert len(run.argvs) == 1 and "warning" not in run.stderr


BUSTING = "FROM python:3.12\nADD https://example.com/get.sh /get.sh\nCOPY . .\nRUN pip install -r requirements.txt\n"


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize(("name", "program", "layout"), [p for p in PROGRAMS if p[0] != "kaniko-warm"])
def test_launchers_warn_of_the_dockerfiles_cache_busters_and_build_the_same(tmp_path, shell, name, program, layout):
    """The warnings the local engine prints (the same rules, cachebuild.dockerfile), on stderr before the build."""
    from cachebuild.dockerfile import cache_busters

    spec = BuildSpec(IMG, context="app", dockerfile="docker/Dockerfile")
    values = spec_values(spec, **_layout(layout, tmp_path, spec))
    (tmp_path / "ws" / "app" / "docker" / "Dockerfile").write_text(BUSTING)
    run = run_launcher(program, env_for(values), tmp_path, shell)
    assert run.returncode == 0, run.stderr
    assert normalise(run.argvs, tmp_path) == evaluate(program, values)
    warnings = [line for line in run.stderr.splitlines() if line.startswith("cachebuild: warning: ")]
    assert warnings == [f"cachebuild: warning: Dockerfile {m}" for _, m in cache_busters(BUSTING)]
    assert [w.split(": ")[2] for w in warnings] == ["Dockerfile line 2", "Dockerfile line 3"]


@pytest.mark.parametrize(("name", "program", "layout"), [p for p in PROGRAMS if p[0] != "kaniko-warm"])
def test_launchers_warn_of_nothing_for_a_git_context_or_a_missing_dockerfile(tmp_path, name, program, layout):
    for spec in (BuildSpec(IMG, context="https://h.example/r.git#main"), BuildSpec(IMG, dockerfile="nowhere/Dockerfile")):
        values = spec_values(spec, **_layout(layout, tmp_path))
        (tmp_path / "ws").mkdir(exist_ok=True)
        (tmp_path / "ws" / "Dockerfile").write_text(BUSTING)  # the workspace's, not the build's Dockerfile
        run = run_launcher(program, env_for(values), tmp_path)
        assert run.returncode == 0, run.stderr
        assert "warning" not in run.stderr
