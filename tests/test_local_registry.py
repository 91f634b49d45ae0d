"""`cachebuild registry start|status|stop` (a REAL docker-registry), the demo, and the engine's pieces."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cachebuild import BuildSpec
from cachebuild.builders import buildah
from cachebuild.local import LocalError, engine, registry
from cachebuild.local.distribution import AccessDenied, DockerConfig, Registry
from support.requirements import require

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture
def needs_tools_installed():
    require("buildah", "docker-registry")


needs_tools = pytest.mark.usefixtures("needs_tools_installed")


@pytest.fixture
def xdg(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg"


def cachebuild(*args, timeout=240):
    print("$ cachebuild", *args, flush=True)
    done = subprocess.run([sys.executable, "-m", "cachebuild", *args], capture_output=True, text=True, timeout=timeout)
    print(done.stdout, done.stderr, flush=True)
    return done


@needs_tools
def test_registry_start_status_stop_from_separate_processes(xdg):
    port = registry.free_port()
    started = cachebuild("registry", "start", "--port", str(port))
    assert started.returncode == 0, started.stderr
    data = xdg / "cachebuild" / "registry" / "default" / "data"
    assert started.stdout.startswith(f"registry: running on 127.0.0.1:{port} (pid ")
    assert f"; data {data})" in started.stdout
    try:
        Registry(f"127.0.0.1:{port}").check_push("team/app")  # open registry: anyone may push
        status = cachebuild("registry", "status")
        assert status.returncode == 0 and status.stdout.startswith(f"registry: running on 127.0.0.1:{port} ")
        again = cachebuild("registry", "start")
        assert again.returncode == 1 and "registry 'default' already runs on 127.0.0.1:" in again.stderr
    finally:
        stopped = cachebuild("registry", "stop")
    assert stopped.stdout == f"registry: stopped (127.0.0.1:{port})\n"
    assert cachebuild("registry", "status").stdout == "registry: not running\n"
    assert cachebuild("registry", "stop").stdout == "registry: not running\n"
    assert data.is_dir()  # the data stays for the next start


@needs_tools
def test_registry_with_htpasswd_refuses_wrong_credentials(xdg):
    port = registry.free_port()
    started = cachebuild("registry", "start", "--port", str(port), "--htpasswd", "ci:pa55")
    assert started.returncode == 0, started.stderr
    assert ", htpasswd auth;" in started.stdout and "pa55" not in started.stdout
    try:
        host = f"127.0.0.1:{port}"
        Registry(host, ("ci", "pa55")).check_push("team/app")
        with pytest.raises(AccessDenied, match=rf"^no push access to {host}/team/app with the credentials given \(HTTP 401\)$"):
            Registry(host, ("ci", "nope")).check_push("team/app")
        with pytest.raises(AccessDenied, match=r"with no credentials \(HTTP 401\)$"):
            Registry(host).check_push("team/app")
    finally:
        registry.stop()


def test_registry_start_rejects_a_port_in_use(xdg):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(LocalError, match=f"^port {port} on 127.0.0.1 is in use$"):
            registry.start("busy", port=port)


def test_bad_htpasswd_value_is_a_field_named_error(xdg):
    done = cachebuild("registry", "start", "--htpasswd", "no-colon")
    assert done.returncode == 2
    assert done.stderr == "cachebuild: error: --htpasswd: must be USER:PASSWORD (got '<hidden>')\n"


def test_docker_config_credentials_forms(tmp_path):
    import base64
    import json

    path = tmp_path / "config.json"
    path.write_text(
        json.dumps(
            {
                "auths": {
                    "https://index.docker.io/v1/": {"auth": base64.b64encode(b"hub:pw:with:colons").decode()},
                    "http://127.0.0.1:5000": {"username": "u", "password": "p"},
                }
            }
        )
    )
    config = DockerConfig.load(path)
    assert config.credentials("docker.io") == ("hub", "pw:with:colons")
    assert config.credentials("127.0.0.1:5000") == ("u", "p")
    assert config.credentials("ghcr.io") is None
    path.write_text("{not json")
    with pytest.raises(LocalError, match="is not valid JSON"):
        DockerConfig.load(path)


def test_the_engine_argv_is_the_builder_program_with_a_storage_root_of_its_own():
    spec = BuildSpec("127.0.0.1:5000/app:1", cache_repo="127.0.0.1:5000/app/cache")
    build, push = buildah.build_argv(
        spec, workspace="/w", auth_file="", tls_verify="false", digest_file="/d", storage_root="/s/root", storage_runroot="/s/run"
    )
    assert build[:6] == ["buildah", "--storage-driver=vfs", "--root=/s/root", "--runroot=/s/run", "build", "--layers"]
    assert push[:5] == ["buildah", "--storage-driver=vfs", "--root=/s/root", "--runroot=/s/run", "push"]
    # without a storage root (the templates): buildah's default store, as before
    assert buildah.build_argv(spec)[0][:3] == ["buildah", "--storage-driver=vfs", "build"]


# buildah 1.28's output for a --fresh build from a remote cache (recorded), then a cold one.
FRESH_OUTPUT = """\
STEP 1/3: FROM 127.0.0.1:5111/base:1
Trying to pull 127.0.0.1:5111/base:1...
STEP 2/3: RUN make
--> Cache pulled from remote 127.0.0.1:5111/app/cache:44434959e270d218154c3be4b1a58eb72634b38e58f68507f5ee9e339e27e964
--> Using cache d7c320ad2e1490838d5b0b954077622738654406cdba5e4f7c679fd072bec288
--> d7c320ad2e1
STEP 3/3: COPY src/app.sh /app/app.sh
--> Using cache 480fd8ee54a140e3cf5d4e47be2d6260a94469fde0fa59b67e88640634b57834
--> Pushing cache 127.0.0.1:5111/app/cache:448bf28098f4763a2d03d9abebd070b12006e21cef235627819edddcba2fb0dd
COMMIT 127.0.0.1:5111/app:1
--> 480fd8ee54a
Successfully tagged 127.0.0.1:5111/app:1
480fd8ee54a140e3cf5d4e47be2d6260a94469fde0fa59b67e88640634b57834
"""


def test_step_parser_reads_buildah_cache_lines():
    shown = []
    parser = engine._StepParser(shown.append)
    for line in FRESH_OUTPUT.splitlines(keepends=True):
        parser.feed(line)
    parser.close()
    assert [(s.number, s.instruction, s.outcome, s.exported) for s in parser.steps] == [
        (1, "FROM 127.0.0.1:5111/base:1", "base image", False),
        (2, "RUN make", "cached (remote)", False),
        (3, "COPY src/app.sh /app/app.sh", "cached (local)", True),
    ]
    assert parser.image_id == "sha256:480fd8ee54a140e3cf5d4e47be2d6260a94469fde0fa59b67e88640634b57834"
    assert [re.sub(r"\s+[0-9.]+s$", "", line) for line in shown] == [
        "  [1/3] FROM 127.0.0.1:5111/base:1",
        "  [1/3] base image",
        "  [2/3] RUN make",
        "  [2/3] cached (remote)",
        "  [3/3] COPY src/app.sh /app/app.sh",
        "  [3/3] cached (local)",
    ]


@needs_tools
@pytest.mark.parametrize("keep", [False, True])
def test_demo_builds_cold_then_fresh_from_the_remote_cache(xdg, tmp_path, keep):
    example = tmp_path / "example"
    shutil.copytree(EXAMPLES, example)
    (example / "deps.txt").write_text("libdemo 20\n")  # the same Dockerfile, less work
    done = cachebuild("demo", "--example", str(example), *(["--keep-registry"] if keep else []))
    assert done.returncode == 0, done.stderr
    if keep:
        kept = registry.status("demo")
        assert kept is not None
        assert (
            f"demo: registry demo left running on {kept.address} ('cachebuild registry status' shows it, "
            "'cachebuild registry stop' stops it)"
        ) in done.stdout
        status = cachebuild("registry", "status")
        assert (status.returncode, status.stdout) == (0, f"registry demo: running on {kept.address} (pid {kept.pid}; "
                                                         f"data {kept.data_dir})\n")  # fmt: skip
        assert cachebuild("registry", "stop").stdout == f"registry demo: stopped ({kept.address})\n"
        assert cachebuild("registry", "status").returncode == 1
    table = done.stdout.split("\n\n")[-1]
    assert re.fullmatch(
        r"build +wall time +from cache +built\n"
        r"cold +[0-9.]+s +0/5 +5\n"
        r"--fresh +[0-9.]+s +5/5 +0\n"
        r"--fresh / cold wall time: [0-9.]+\n"
        r"same image \(image id and digest\): yes\n",
        table,
    ), table
    assert "demo: base image 127.0.0.1:" in done.stdout
    assert registry.status("demo") is None  # stopped afterwards (by the demo, or by 'registry stop')
    assert not list((xdg / "cachebuild").glob("fresh-*"))  # both layer stores removed


def test_docker_config_with_bare_username_and_password_is_rewritten_for_buildah(tmp_path):
    import json

    path = tmp_path / "config.json"
    path.write_text(json.dumps({"auths": {"127.0.0.1:5000": {"username": "u", "password": "p"}}, "credsStore": ""}))
    (tmp_path / "out").mkdir()
    copy = DockerConfig.load(path).for_buildah(tmp_path / "out")
    assert copy == tmp_path / "out" / "auth.json"
    assert json.loads(copy.read_text())["auths"] == {"127.0.0.1:5000": {"auth": "dTpw"}}
    assert copy.stat().st_mode & 0o777 == 0o600
    path.write_text(json.dumps({"auths": {"127.0.0.1:5000": {"auth": "dTpw"}}}))
    assert DockerConfig.load(path).for_buildah(tmp_path) == path  # buildah reads it as it is


def test_missing_workspace_is_a_field_named_error(tmp_path):
    done = cachebuild("build", "--workspace", str(tmp_path / "nope"), "--image", "127.0.0.1:5000/a:1")
    assert done.returncode == 2
    assert done.stderr == f"cachebuild: error: --workspace: no such folder (got '{tmp_path / 'nope'}')\n"


def _sockets_on(port: int) -> list[str]:
    """The TCP states of the sockets bound to 127.0.0.1:PORT (from /proc/net/tcp): 06 TIME-WAIT, 05 FIN-WAIT-2, ..."""
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return [line.split()[3] for line in lines if line.split()[1] == f"0100007F:{port:04X}"]


def _port_in_my_range() -> int:
    for port in range(47700, 47800):
        if registry.port_is_free(port) and not _sockets_on(port):
            return port
    raise AssertionError("no free port in 47700-47799")


@needs_tools
def test_a_stopped_registry_comes_back_on_its_port_at_once(xdg):
    import http.client

    port = _port_in_my_range()
    assert cachebuild("registry", "start", "--port", str(port)).returncode == 0
    keep_alive = http.client.HTTPConnection("127.0.0.1", port)
    keep_alive.request("GET", "/v2/")
    keep_alive.getresponse().read()  # the connection stays open: the registry closes it when it stops
    try:
        assert cachebuild("registry", "stop").returncode == 0
        closing = {"04", "05", "06", "0B"}  # FIN-WAIT-1, FIN-WAIT-2, TIME-WAIT, CLOSING
        assert set(_sockets_on(port)) & closing, "the stopped registry left no TIME-WAIT/FIN-WAIT socket"
        again = cachebuild("registry", "start")  # no --port: where it ran last
        assert again.returncode == 0, again.stderr
        assert again.stdout.startswith(f"registry: running on 127.0.0.1:{port} (pid ")
        assert "note:" not in again.stderr
        assert cachebuild("registry", "stop").returncode == 0
        explicit = cachebuild("registry", "start", "--port", str(port))  # nor does --port refuse it
        assert explicit.returncode == 0, explicit.stderr
    finally:
        keep_alive.close()
        registry.stop()


@needs_tools
def test_a_first_start_takes_the_default_port_a_later_one_says_when_it_moves(xdg, capsys, monkeypatch):
    import socket

    from cachebuild.cli import main

    port = _port_in_my_range()
    monkeypatch.setattr(registry, "DEFAULT_PORT", port)  # 5000 in real life: the same code path
    assert main(["registry", "start"]) == 0
    assert registry.status().port == port
    registry.stop()
    capsys.readouterr()
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past the stopped registry's TIME-WAIT
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        try:
            assert main(["registry", "start"]) == 0
        finally:
            moved = registry.status()
            registry.stop()
    assert moved.port != port and registry.last_port() == moved.port
    assert f"registry: note: port {port}, where it ran last, is in use: it runs on {moved.port} now\n" in capsys.readouterr().err


@needs_tools
def test_push_base_puts_the_same_bytes_into_any_registry(xdg, tmp_path):
    import base64
    import json

    assert cachebuild("registry", "push-base").stderr == (
        "cachebuild: error: no local registry runs: start one (cachebuild registry start), or name one: push-base HOST[:PORT]\n"
    )
    port, auth_port = _port_in_my_range(), None
    assert cachebuild("registry", "start", "--port", str(port)).returncode == 0
    try:
        auth = registry.start("auth", port=registry.free_port(), htpasswd=registry.htpasswd_line("ci", "pw"))
        auth_port = auth.port
        first = cachebuild("registry", "push-base")
        assert first.returncode == 0, first.stderr
        line = first.stdout.splitlines()[0]
        assert re.fullmatch(rf"pushed 127\.0\.0\.1:{port}/cachebuild/busybox:1@(sha256:[0-9a-f]{{64}}) \(Debian's static busybox "
                            r"on scratch, made here; the same bytes every time\)", line), line  # fmt: skip
        digest = line.split("@")[1].split()[0]
        assert Registry(f"127.0.0.1:{port}").manifest_digest("cachebuild/busybox", "1") == digest
        # another registry, with credentials, another name: the same digest
        denied = cachebuild("registry", "push-base", auth.address)
        assert denied.returncode == 1
        no_access = f"no push access to {auth.address}/cachebuild/busybox with no credentials (HTTP 401)"
        assert denied.stderr == f"cachebuild: error: {no_access}\n"
        config = tmp_path / "config.json"
        config.write_text(json.dumps({"auths": {auth.address: {"auth": base64.b64encode(b"ci:pw").decode()}}}))
        other = cachebuild("registry", "push-base", auth.address, "--docker-config", str(config), "--repository", "base/bb",
                           "--tag", "v1")  # fmt: skip
        assert other.returncode == 0, other.stderr
        assert other.stdout.startswith(f"pushed {auth.address}/base/bb:v1@{digest} ")
    finally:
        registry.stop()
        if auth_port is not None:
            registry.stop("auth")
