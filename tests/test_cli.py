"""The cachebuild command: fast help, version, and spec flags with field-named errors."""

import argparse
import subprocess
import sys
import textwrap

import pytest

from cachebuild import BuildSpec, SpecError, __version__
from cachebuild.cli import COMMANDS, main
from cachebuild.commands.spec_args import add_spec_arguments, specs_from_args


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "cachebuild", *args], capture_output=True, text=True, timeout=60)


def test_help_lists_commands_and_imports_neither_hera_nor_kubernetes():
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "cachebuild", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0
    for name in COMMANDS:
        assert name in proc.stdout
    imported = {line.split("|")[-1].strip().split(".")[0] for line in proc.stderr.splitlines() if "|" in line}
    assert "hera" not in imported and "kubernetes" not in imported


def test_version():
    proc = run_cli("--version")
    assert (proc.returncode, proc.stdout.strip()) == (0, f"cachebuild {__version__}")


def test_unknown_command_exits_2():
    proc = run_cli("frobnicate")
    assert proc.returncode == 2 and "unknown command 'frobnicate'" in proc.stderr


def test_no_arguments_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "usage: cachebuild" in capsys.readouterr().err


def parse(*argv):
    parser = argparse.ArgumentParser()
    add_spec_arguments(parser)
    return specs_from_args(parser.parse_args(list(argv)))


def test_spec_flags_make_one_spec():
    (spec,) = parse(
        "--image",
        "r.example.com/a:1",
        "--image",
        "r.example.com/a:2",
        "--context",
        "app",
        "--build-arg",
        "A=x y",
        "--platform",
        "linux/amd64",
        "--no-cache",
        "--extra-arg=--jobs=2",
        "--cache-mode",
        "min",
    )
    assert spec == BuildSpec(
        ["r.example.com/a:1", "r.example.com/a:2"],
        context="app",
        build_args={"A": "x y"},
        platforms=["linux/amd64"],
        no_cache=True,
        extra_args=["--jobs=2"],
        cache_mode="min",
    )


def test_no_remote_cache_turns_the_remote_cache_off():
    (spec,) = parse("--image", "r.example.com/a:1", "--no-remote-cache")
    assert (spec.cache, spec.no_cache) == (False, False)
    with pytest.raises(SpecError, match=r"^--cache-repo: is for the remote cache, which is off"):
        parse("--image", "r.example.com/a:1", "--no-remote-cache", "--cache-repo", "r.example.com/c")


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["--image", "R.example.com/A"], "--image[0]"),
        (["--image", "r.example.com/a", "--cache-repo", "r.example.com/c:tag"], "--cache-repo"),
        (["--image", "r.example.com/a", "--build-arg", "1=x"], "--build-arg['1']"),
        (["--image", "r.example.com/a", "--build-arg", "NOT_IN_THE_ENVIRONMENT"], "--build-arg"),
        (["--image", "r.example.com/a", "--build-arg", "=x"], "--build-arg['']"),
        (["--image", "r.example.com/a", "--context", "../x"], "--context"),
        ([], "--image"),
    ],
)
def test_spec_flag_errors_name_the_flag(argv, field):
    with pytest.raises(SpecError) as caught:
        parse(*argv)
    assert caught.value.field == field


def test_specs_file_items_take_flag_defaults(tmp_path):
    specs = tmp_path / "specs.yaml"
    specs.write_text(
        textwrap.dedent("""\
        - image: r.example.com/a:1
          build-args: {A: "1"}
        - image: [r.example.com/b:1, r.example.com/b:2]
          context: services/b
          cache-repo: r.example.com/cache/b
    """)
    )
    a, b = parse("--specs", str(specs), "--workspace-pvc", "ws", "--build-arg", "A=0", "--platform", "linux/arm64")
    assert a == BuildSpec("r.example.com/a:1", build_args={"A": "1"}, workspace_pvc="ws", platforms=["linux/arm64"])
    assert b.images == ("r.example.com/b:1", "r.example.com/b:2") and b.context == "services/b" and b.workspace_pvc == "ws"
    assert b.build_args == (("A", "0"),)


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ("- image: r.example.com/a\n- image: r.example.com/B\n", "specs[1].image[0]"),
        ("- image: r.example.com/a\n  cache-repo: r.example.com/c:1\n", "specs[0].cache-repo"),
        ("- image: r.example.com/a\n  cache_repoo: x\n", "specs[0].cache_repoo"),
        ("- context: app\n", "specs[0].image"),
        ("- just a string\n", "specs[0]"),
        ("image: r.example.com/a\n", "--specs"),
        ("- image: [unclosed\n", "--specs"),
    ],
)
def test_specs_file_errors_name_the_item_and_field(tmp_path, content, field):
    specs = tmp_path / "specs.yaml"
    specs.write_text(content)
    with pytest.raises(SpecError) as caught:
        parse("--specs", str(specs))
    assert caught.value.field == field


def test_missing_specs_file_names_the_flag():
    with pytest.raises(SpecError) as caught:
        parse("--specs", "/nonexistent/specs.yaml")
    assert caught.value.field == "--specs"
