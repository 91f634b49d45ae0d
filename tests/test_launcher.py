"""The launcher a template ships runs exactly the argv the builder functions give, under dash and busybox sh.

Values reach the script only through CB_* environment variables, as Argo and Tekton set them;
hostile values must arrive as one literal argv element each, and nothing else may run.
"""

import pytest

from cachebuild import BuildSpec
from cachebuild.builders import buildah, buildkit, kaniko, spec_values
from cachebuild.builders.program import TRANSFORMS, evaluate
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
]

PROGRAMS = [
    ("buildkit", buildkit.PROGRAM, buildkit.LAYOUT),
    ("kaniko-build", kaniko.EXECUTOR_PROGRAM, kaniko.LAYOUT),
    ("kaniko-warm", kaniko.WARMER_PROGRAM, kaniko.LAYOUT),
    ("buildah", buildah.PROGRAM, buildah.LAYOUT),
]


def _layout(layout, tmp):
    # Output files go to the test's folder instead of /tmp/cachebuild.
    return {k: str(tmp / "out" / v.rsplit("/", 1)[-1]) if k.endswith("_file") else v for k, v in layout.items()}


CASES = [
    pytest.param(program, layout, spec, id=f"{name}-spec{i}")
    for name, program, layout in PROGRAMS
    for i, spec in enumerate(SPECS)
    if not (name == "kaniko-warm" and spec.git is not None)  # the warmer reads a workspace Dockerfile
]


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize(("program", "layout", "spec"), CASES)
def test_launcher_runs_the_same_argv_as_python(tmp_path, shell, program, layout, spec):
    values = spec_values(spec, **_layout(layout, tmp_path))
    run = run_launcher(program, env_for(values), tmp_path, shell)
    assert run.returncode == 0, run.stderr
    assert normalise(run.argvs, tmp_path) == evaluate(program, values)
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
    ("key", "value"),
    [
        ("CB_CONTEXT", "../etc"),
        ("CB_CONTEXT", "/etc"),
        ("CB_DOCKERFILE", "a/../../x"),
        ("CB_CONTEXT", "https://h/r.git#main:../x"),
    ],
)
def test_launcher_refuses_paths_leaving_the_workspace(tmp_path, key, value):
    values = spec_values(BuildSpec(IMG), **_layout(kaniko.LAYOUT, tmp_path))
    run = run_launcher(kaniko.EXECUTOR_PROGRAM, env_for(values) | {key: value}, tmp_path)
    assert run.returncode == 2
    assert run.argvs == []
    assert "must be a relative path" in run.stderr


def test_launcher_requires_an_image(tmp_path):
    values = spec_values(BuildSpec(IMG), **_layout(buildkit.LAYOUT, tmp_path))
    run = run_launcher(buildkit.PROGRAM, env_for(values) | {"CB_IMAGES": ""}, tmp_path)
    assert (run.returncode, run.argvs) == (2, [])
    assert "images is required" in run.stderr


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
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
    ],
)
def test_transforms_agree_in_python_and_sh(tmp_path, name, source):
    import subprocess

    py, sh = TRANSFORMS[name]
    script = f'cb_src="$1"; {sh}; printf %s "$cb_v"'
    out = subprocess.run(["dash", "-c", script, "x", source], capture_output=True, text=True, check=True)
    assert out.stdout == py(source)
