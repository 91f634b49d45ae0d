"""The local engine with REAL buildah and a REAL docker-registry on 127.0.0.1 (started here).

What a user sees: `cachebuild build` output per Dockerfile step, exit codes, error text; and what
the registry holds (manifests read through the registry API).
"""

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cachebuild.local import baseimage, registry
from cachebuild.local.distribution import Registry
from support.registry_proxy import FailingProxy, registry_error
from support.requirements import require
from support.signals import default_sigint

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
STEP_LINE = re.compile(r"^  \[(\d)/6\] (base image|built|cached \(remote\)|cached \(local\))\s+[0-9.]+s$", re.M)


@pytest.fixture(autouse=True)
def _tools():
    require("buildah", "docker-registry")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """Every process of this module keeps its registry data and layer stores in a private cache dir."""
    xdg = tmp_path_factory.mktemp("xdg")
    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(xdg)
    yield xdg
    if old is None:
        del os.environ["XDG_CACHE_HOME"]
    else:
        os.environ["XDG_CACHE_HOME"] = old


@pytest.fixture(scope="module")
def reg(env):
    state = registry.start("tests", port=registry.free_port(), wipe=True)
    yield state
    registry.stop("tests")


@pytest.fixture(scope="module")
def base(reg):
    return baseimage.push(Registry(reg.address))


def workspace(tmp_path: Path, deps: str = "libalpha 30\nlibbeta 10\n") -> Path:
    """A copy of examples/ with a small deps.txt (the same Dockerfile, less work)."""
    ws = tmp_path / "ws"
    shutil.copytree(EXAMPLES, ws)
    (ws / "deps.txt").write_text(deps)
    return ws


def cachebuild(*args, timeout=240):
    print("$ cachebuild", *args, flush=True)
    done = subprocess.run([sys.executable, "-m", "cachebuild", *args], capture_output=True, text=True, timeout=timeout)
    print(done.stdout, done.stderr, flush=True)
    return done


def build(ws, image, base, *extra):
    return cachebuild("build", "--workspace", str(ws), "--image", image, "--build-arg", f"BASE={base}", "--fresh", *extra)


def steps(stdout: str) -> dict[int, str]:
    return {int(n): outcome for n, outcome in STEP_LINE.findall(stdout)}


def manifest(reg, image):
    repo, tag = image.split("/", 1)[1].rsplit(":", 1)
    return Registry(reg.address).manifest(repo, tag)


@pytest.fixture(scope="module")
def cold(reg, base, tmp_path_factory):
    """One cold build (empty local store, empty cache repository) of the example."""
    ws = workspace(tmp_path_factory.mktemp("cold"))
    image = f"{reg.address}/t/app:cold"
    done = build(ws, image, base)
    assert done.returncode == 0, done.stderr
    return ws, image, done


def test_cold_build_builds_every_step_and_exports_the_cache(cold, reg):
    _, image, done = cold
    assert steps(done.stdout) == {1: "base image", 2: "built", 3: "built", 4: "built", 5: "built", 6: "built"}
    assert "summary: 5 steps: 0 from the cache (0 pulled from the remote cache), 5 built;" in done.stdout
    assert "\x1b" not in done.stdout and "\r" not in done.stdout  # not a terminal: plain lines
    assert len(Registry(reg.address).tags("t/app/cache")) == 5  # one cache image per step, keyed by content


def test_fresh_build_takes_every_step_from_the_remote_cache_and_yields_the_same_image(cold, reg, base):
    ws, cold_image, cold_run = cold
    image = f"{reg.address}/t/app:fresh"
    report_file = ws.parent / "fresh-cache-report.json"
    done = build(ws, image, base, "--cache-report", str(report_file))
    assert done.returncode == 0, done.stderr
    assert steps(done.stdout) == {1: "base image", **{n: "cached (remote)" for n in range(2, 7)}}
    assert "summary: 5 steps: 5 from the cache (5 pulled from the remote cache), 0 built;" in done.stdout
    # the report the templates give, in the same form
    assert "cache hits: 5/5 (steps taken from a cache / steps)" in done.stdout.splitlines()
    reported = json.loads(report_file.read_text())
    assert (reported["builder"], reported["hits"]) == ("buildah", "5/5")
    assert [(s["step"], s["outcome"]) for s in reported["steps"]] == [(f"{n}/6", "pulled") for n in range(2, 7)]
    image_id = re.search(r"^image id: (sha256:[0-9a-f]{64})$", done.stdout, re.M)[1]
    assert f"image id: {image_id}" in cold_run.stdout
    digest = re.search(r"^pushed: \S+@(sha256:[0-9a-f]{64})$", done.stdout, re.M)[1]
    assert f"@{digest}" in cold_run.stdout
    first, second = manifest(reg, cold_image), manifest(reg, image)
    assert second["config"]["digest"] == first["config"]["digest"] == image_id
    assert [layer["digest"] for layer in second["layers"]] == [layer["digest"] for layer in first["layers"]]
    assert len(first["layers"]) == 5  # base + COPY deps + RUN + COPY src + RUN


def test_a_changed_source_file_rebuilds_exactly_the_steps_from_its_copy_on(cold, reg, base, tmp_path):
    ws = tmp_path / "changed"
    shutil.copytree(cold[0], ws)
    with open(ws / "src" / "main.sh", "a") as fh:
        fh.write("# one changed line\n")
    done = build(ws, f"{reg.address}/t/app:changed", base)
    assert done.returncode == 0, done.stderr
    # FROM, COPY deps.txt, RUN (the slow step) from the cache; COPY src/ and every step after it built.
    assert steps(done.stdout) == {1: "base image", 2: "cached (remote)", 3: "cached (remote)", 4: "built", 5: "built", 6: "built"}


def test_cache_registry_down_builds_without_cache_and_says_so(reg, base, tmp_path):
    closed = registry.free_port()
    ws = workspace(tmp_path, "libdown 5\n")
    done = build(ws, f"{reg.address}/t/down:1", base, "--cache-repo", f"127.0.0.1:{closed}/t/down/cache")
    assert done.returncode == 0, done.stderr
    assert (
        f"note: cache: the registry 127.0.0.1:{closed} does not answer ([Errno 111] Connection refused); "
        "building WITHOUT the remote cache"
    ) in done.stdout
    assert steps(done.stdout) == {1: "base image", 2: "built", 3: "built", 4: "built", 5: "built", 6: "built"}
    assert re.search(rf"^pushed: {reg.address}/t/down:1@sha256:[0-9a-f]{{64}}$", done.stdout, re.M)


def docker_config(path: Path, host: str, user: str, password: str) -> Path:
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    path.write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    return path


@pytest.fixture(scope="module")
def auth_reg(env):
    state = registry.start("tests-auth", port=registry.free_port(), htpasswd=registry.htpasswd_line("ci", "s3cret"), wipe=True)
    yield state
    registry.stop("tests-auth")


def test_wrong_password_fails_with_a_clear_error_before_building(auth_reg, base, tmp_path):
    ws = workspace(tmp_path)
    config = docker_config(tmp_path / "config.json", auth_reg.address, "ci", "wrong")
    done = build(ws, f"{auth_reg.address}/t/app:1", base, "--docker-config", str(config))
    assert done.returncode == 1
    assert done.stderr == f"cachebuild: error: no push access to {auth_reg.address}/t/app with the credentials given (HTTP 401)\n"
    assert "[1/6]" not in done.stdout  # buildah never started
    assert "wrong" not in done.stdout + done.stderr


def test_no_credentials_for_a_registry_with_auth_fails_before_building(auth_reg, base, tmp_path):
    config = tmp_path / "empty.json"
    config.write_text("{}")
    done = build(workspace(tmp_path), f"{auth_reg.address}/t/app:1", base, "--docker-config", str(config))
    assert done.returncode == 1
    assert done.stderr == f"cachebuild: error: no push access to {auth_reg.address}/t/app with no credentials (HTTP 401)\n"


def test_right_password_builds_and_pushes_with_the_docker_config_as_authfile(auth_reg, reg, base, tmp_path):
    config = docker_config(tmp_path / "config.json", auth_reg.address, "ci", "s3cret")
    # the base image comes from the open registry; image and cache go to the one with auth
    done = build(workspace(tmp_path, "libauth 3\n"), f"{auth_reg.address}/t/app:1", base, "--docker-config", str(config))
    assert done.returncode == 0, done.stderr
    assert f"push access: {auth_reg.address}/t/app, {auth_reg.address}/t/app/cache" in done.stdout
    assert "s3cret" not in done.stdout + done.stderr
    client = Registry(auth_reg.address, ("ci", "s3cret"))
    assert client.manifest("t/app", "1")["config"]["digest"] in done.stdout


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--image", "127.0.0.1:5000/App:1"], "--image[0]: the repository path must be lower-case (got '127.0.0.1:5000/App:1')"),
        (["--image", "127.0.0.1:5000/a:1", "--cache-ttl", "7 days"], "--cache-ttl: must be a Go duration such as 168h or 30m"),
        (["--image", "127.0.0.1:5000/a:1", "--cache-repo", "127.0.0.1:5000/c:tag"], "--cache-repo: must be a repository"),
        (["--image", "127.0.0.1:5000/a:1", "--dockerfile", "Nope"], "--dockerfile: no such file in the context"),
        (["--image", "127.0.0.1:5000/a:1", "--context", "../up"], "--context: must not contain '..'"),
        (
            ["--image", "127.0.0.1:5000/a:1", "--warm-image", "x:1"],
            "--warm-image is not a flag of cachebuild build: only the kaniko engine reads it; the local engine builds "
            "with buildah",
        ),
        (
            ["--image", "127.0.0.1:5000/a:1", "--workspace-pvc", "src"],
            "--workspace-pvc is not a flag of cachebuild build: a cluster setting; the local engine builds from a folder, the "
            "workspace (cachebuild build PATH, or --workspace DIR)",
        ),
        (
            ["--image", "127.0.0.1:5000/a:1", "--cache-mounts-pvc", "mounts"],
            "--cache-mounts-pvc is not a flag of cachebuild build: a cluster setting; this machine's buildah keeps "
            "RUN --mount=type=cache directories between builds already (in /var/tmp)",
        ),
        (
            ["--image", "127.0.0.1:5000/a:1", "--cache-mode", "max"],
            "--cache-mode is not a flag of cachebuild build: only the "
            "buildkit engine reads it; the local engine builds with buildah",
        ),
        (
            ["--image", "127.0.0.1:5000/a:1", "--platform", "linux/wasm"],
            "--platform: this machine cannot run wasm programs: no emulator is registered (/proc/sys/fs/binfmt_misc/qemu-wasm "
            "is missing; apt-get install qemu-user-static) (got 'linux/wasm')",
        ),
        ([], "--image: at least one destination is required: --image REF (or -t REF), or --specs FILE\n"),
    ],
)
def test_bad_spec_input_is_a_field_named_error_and_exit_2(args, error, tmp_path):
    done = cachebuild("build", "--workspace", str(workspace(tmp_path)), *args)
    assert done.returncode == 2
    assert done.stderr.startswith("cachebuild: error: " + error)
    assert done.stdout == ""


def test_ctrl_c_stops_buildah_cleans_up_and_reports_no_success(reg, base, tmp_path, env):
    ws = workspace(tmp_path, "libslow 1000000\n")  # the RUN step would take hours
    process = subprocess.Popen(
        [sys.executable, "-m", "cachebuild", "build", "--workspace", str(ws), "--image", f"{reg.address}/t/slow:1"]
        + ["--build-arg", f"BASE={base}", "--fresh"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )
    seen = []
    for line in process.stdout:
        seen.append(line)
        if line.startswith("  [3/6] RUN"):
            break
    time.sleep(1)  # buildah is inside the RUN step now
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)  # buildah stops within 15 s; the rest is cleanup on a busy disk
    stdout = "".join(seen) + out
    assert process.returncode == 130
    assert err == "cachebuild: interrupted: buildah was stopped; the build did not complete\n"
    assert "pushed:" not in stdout and "summary:" not in stdout
    assert not list(env.glob("cachebuild/fresh-*"))  # the --fresh layer store is removed
    leftovers = [p for p in Path("/proc").glob("[0-9]*") if _cmdline_mentions(p, str(env))]
    assert leftovers == []
    assert Registry(reg.address).tags("t/slow") == []


def _cmdline_mentions(proc: Path, text: str) -> bool:
    try:
        return text.encode() in (proc / "cmdline").read_bytes() and b"buildah" in (proc / "cmdline").read_bytes()
    except OSError:
        return False


def test_start_registry_starts_it_on_the_port_the_image_names(reg, base, tmp_path, env):
    port = registry.free_port()
    try:
        done = cachebuild(
            "build", "--start-registry", "--workspace", str(workspace(tmp_path, "libstart 3\n")),
            "--image", f"127.0.0.1:{port}/t/app:1", "--build-arg", f"BASE={base}",
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"registry: started on 127.0.0.1:{port} (stop it with: cachebuild registry stop)\n")
        assert registry.status().port == port  # still running for the user
        assert Registry(f"127.0.0.1:{port}").tags("t/app") == ["1"]
    finally:
        registry.stop()


def test_start_registry_needs_a_local_image_address(tmp_path):
    done = cachebuild("build", "--start-registry", "--workspace", str(workspace(tmp_path)), "--image", "ghcr.io/org/app:1")
    assert done.returncode == 2
    assert done.stderr == (
        "cachebuild: error: --image: with --start-registry the image must name 127.0.0.1:PORT/... (got 'ghcr.io/org/app:1')\n"
    )


def _image_id_and_digest(stdout: str) -> tuple[str, str]:
    image_id = re.search(r"^image id: (sha256:[0-9a-f]{64})$", stdout, re.M)[1]
    return image_id, re.search(r"^pushed: \S+@(sha256:[0-9a-f]{64})$", stdout, re.M)[1]


def test_a_push_whose_connection_is_reset_is_retried_by_buildah(reg, base, tmp_path):
    """buildah's --retry (containers/common) retries network errors: the first manifest PUT is reset."""
    host, port = reg.address.split(":")
    with FailingProxy((host, int(port)), "PUT", "/v2/t/reset/manifests/", reply=None) as proxy:
        image = f"{proxy.address}/t/reset:1"
        done = build(workspace(tmp_path, "libreset 3\n"), image, base)
    assert done.returncode == 0, done.stderr
    assert proxy.events == ["failed: PUT /v2/t/reset/manifests/1", "forwarded: PUT /v2/t/reset/manifests/1 -> 201"]
    retried = re.findall(r"^  retrying: (.*)$", done.stdout, re.M)
    assert len(retried) == 1
    assert retried[0].startswith(
        f'Failed, retrying in 2s ... (1/3). Error: writing manifest: Put "http://{proxy.address}/v2/t/reset/manifests/1": '
    )
    assert retried[0].endswith("connection reset by peer")
    image_id, digest = _image_id_and_digest(done.stdout)
    assert Registry(reg.address).manifest("t/reset", "1")["config"]["digest"] == image_id
    assert Registry(reg.address).manifest("t/reset", digest)["config"]["digest"] == image_id


def test_a_push_answered_503_once_is_pushed_again(reg, base, tmp_path):
    """buildah 1.28 does not retry an HTTP status: the engine runs the push again when it was 5xx/429."""
    host, port = reg.address.split(":")
    unavailable = registry_error(503, "Service Unavailable", "UNAVAILABLE", "service unavailable")
    with FailingProxy((host, int(port)), "PUT", "/v2/t/busy/manifests/", reply=unavailable) as proxy:
        image = f"{proxy.address}/t/busy:1"
        done = build(workspace(tmp_path, "libbusy 3\n"), image, base)
    assert done.returncode == 0, done.stderr
    assert proxy.events == ["failed: PUT /v2/t/busy/manifests/1", "forwarded: PUT /v2/t/busy/manifests/1 -> 201"]
    assert re.findall(r"^  retrying: (.*)$", done.stdout, re.M) == [
        f"the registry answered 503 Service Unavailable; pushing {image} again in 2s (1/3)"
    ]
    image_id, digest = _image_id_and_digest(done.stdout)
    assert Registry(reg.address).manifest("t/busy", "1")["config"]["digest"] == image_id
    assert Registry(reg.address).manifest("t/busy", digest)["config"]["digest"] == image_id


def test_a_push_refused_for_good_is_not_retried(reg, base, tmp_path):
    """A status that is not transient (404, 401 …) fails at once, with buildah's error."""
    host, port = reg.address.split(":")
    missing = registry_error(404, "Not Found", "NAME_UNKNOWN", "repository name not known to registry")
    with FailingProxy((host, int(port)), "PUT", "/v2/t/gone/manifests/", reply=missing, failures=4) as proxy:
        done = build(workspace(tmp_path, "libgone 3\n"), f"{proxy.address}/t/gone:1", base)
    assert done.returncode == 1
    assert proxy.events == ["failed: PUT /v2/t/gone/manifests/1"]
    assert "retrying:" not in done.stdout and "pushed:" not in done.stdout
    assert done.stderr.startswith(f"cachebuild: error: buildah push {proxy.address}/t/gone:1 failed (exit 125):\n")
    assert done.stderr.endswith(f"writing manifest: uploading manifest 1 to {proxy.address}/t/gone: name unknown\n")


def test_no_cache_builds_every_step_from_no_cache_at_all(cold, reg, base):
    ws, _, _ = cold
    image = f"{reg.address}/t/app:nocache"
    local = ["build", "--workspace", str(ws), "--image", image, "--build-arg", f"BASE={base}"]  # the engine's own store
    warm = cachebuild(*local)
    assert warm.returncode == 0, warm.stderr
    assert set(steps(warm.stdout).values()) <= {"base image", "cached (remote)", "cached (local)"}  # every step cached
    done = cachebuild(*local, "--no-cache", "-v")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(f"| --> Pushing cache {reg.address}/t/app/cache:") == 5  # buildah still exports each step
    assert steps(done.stdout) == {1: "base image", **{n: "built" for n in range(2, 7)}}
    assert (
        f"cache: none used (--no-cache: every step is built); new layers still go to the remote cache {reg.address}/t/app/cache "
        "(--cache-to)\n"
    ) in done.stdout
    assert "summary: 5 steps: 0 from the cache (0 pulled from the remote cache), 5 built;" in done.stdout


def test_no_remote_cache_neither_reads_nor_writes_it(reg, base, tmp_path):
    ws = workspace(tmp_path, "libnoremote 3\n")
    done = build(ws, f"{reg.address}/t/noremote:1", base, "--no-remote-cache")
    assert done.returncode == 0, done.stderr
    assert "cache: the local layer store only (--no-remote-cache)\n" in done.stdout
    assert f"push access: {reg.address}/t/noremote\n" in done.stdout  # no cache repository to push to
    assert steps(done.stdout) == {1: "base image", **{n: "built" for n in range(2, 7)}}
    assert Registry(reg.address).tags("t/noremote/cache") == []


def test_a_docker_style_command_line_builds(reg, base, tmp_path):
    """cachebuild build PATH -t IMAGE -f DOCKERFILE --build-arg K=V, from inside the context and from outside."""
    ws = workspace(tmp_path, "libdocker 3\n")
    (ws / "Dockerfile.alt").write_text((ws / "Dockerfile").read_text())
    image = f"{reg.address}/t/docker:1"
    argv = ["-t", image, "--build-arg", f"BASE={base}", "--fresh"]
    inside = subprocess.run([sys.executable, "-m", "cachebuild", "build", ".", "-f", "Dockerfile.alt", *argv],
                            capture_output=True, text=True, cwd=ws, timeout=240)  # fmt: skip
    assert inside.returncode == 0, inside.stderr
    assert inside.stdout.startswith(f"build: {image} (context ., Dockerfile.alt)\n")
    outside = subprocess.run([sys.executable, "-m", "cachebuild", "build", "ws", "-f", "ws/Dockerfile.alt", *argv],
                             capture_output=True, text=True, cwd=tmp_path, timeout=240)  # fmt: skip
    assert outside.returncode == 0, outside.stderr
    assert outside.stdout.startswith(f"build: {image} (context ., Dockerfile.alt)\n")  # -f from here, made context-relative
    assert _image_id_and_digest(inside.stdout) == _image_id_and_digest(outside.stdout)


@pytest.fixture(scope="module")
def arm64_program(tmp_path_factory):
    """A static linux/arm64 program (Go, cross-compiled) that writes its architecture to /arch.txt."""
    if shutil.which("go") is None:
        pytest.fail("needs the Go toolchain to cross-compile an arm64 program (the tests' Go tools need it too)")
    src = tmp_path_factory.mktemp("arm64-src")
    (src / "go.mod").write_text("module archprobe\n\ngo 1.21\n")
    (src / "main.go").write_text(
        'package main\n\nimport (\n\t"os"\n\t"runtime"\n)\n\n'
        'func main() { _ = os.WriteFile("/arch.txt", []byte(runtime.GOARCH+"\\n"), 0o644) }\n'
    )
    out = src / "archprobe"
    env = {**os.environ, "CGO_ENABLED": "0", "GOOS": "linux", "GOARCH": "arm64", "GOFLAGS": "-mod=mod"}
    subprocess.run(["go", "build", "-trimpath", "-o", str(out), "."], cwd=src, env=env, check=True, timeout=300)
    return out


def test_another_architecture_is_built_under_its_emulator(reg, arm64_program, tmp_path):
    """--platform linux/arm64 on this amd64 machine: the RUN step runs the arm64 program under qemu (binfmt_misc)."""
    import io
    import tarfile

    entry = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64")
    assert entry.is_file(), "needs qemu-user-static's binfmt_misc entry for aarch64 (apt-get install qemu-user-static)"
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    shutil.copy(arm64_program, ctx / "archprobe")
    (ctx / "Dockerfile").write_text('FROM scratch\nCOPY archprobe /archprobe\nRUN ["/archprobe"]\n')
    image = f"{reg.address}/t/arm64:1"
    done = cachebuild("build", str(ctx), "-t", image, "--platform", "linux/arm64", "--fresh")
    assert done.returncode == 0, done.stderr
    client = Registry(reg.address)
    manifest = client.manifest("t/arm64", "1")
    config = json.loads(client.request("GET", "t/arm64", f"blobs/{manifest['config']['digest']}").body)
    assert (config["os"], config["architecture"]) == ("linux", "arm64")
    layer = client.request("GET", "t/arm64", f"blobs/{manifest['layers'][-1]['digest']}").body
    with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
        assert tar.extractfile("arch.txt").read() == b"arm64\n"  # written by the RUN step, under emulation


def test_several_platforms_make_one_index(reg, tmp_path):
    """buildah --manifest (the builder program), pushed with manifest push --all: one image per platform."""
    import io
    import tarfile

    ctx = tmp_path / "ctx"
    ctx.mkdir()
    for arch in ("amd64", "arm64"):
        (ctx / f"{arch}.txt").write_text(f"built for {arch}\n")
    (ctx / "Dockerfile").write_text("FROM scratch\nARG TARGETARCH\nCOPY ${TARGETARCH}.txt /arch.txt\n")
    image = f"{reg.address}/t/multi:1"
    done = cachebuild("build", str(ctx), "-t", image, "--platform", "linux/amd64,linux/arm64", "--fresh")
    assert done.returncode == 0, done.stderr
    assert re.search(r"^  \[linux/arm64 3/3\] built +[0-9.]+s$", done.stdout, re.M)
    assert re.search(r"^  \[linux/amd64 3/3\] built +[0-9.]+s$", done.stdout, re.M)
    assert "summary: 4 steps (2 platforms): " in done.stdout
    client = Registry(reg.address)
    index = client.manifest("t/multi", "1")
    by_arch = {m["platform"]["architecture"]: m["digest"] for m in index["manifests"]}
    assert sorted(by_arch) == ["amd64", "arm64"]
    for arch, digest in by_arch.items():
        layer = client.manifest("t/multi", digest)["layers"][-1]["digest"]
        with tarfile.open(fileobj=io.BytesIO(client.request("GET", "t/multi", f"blobs/{layer}").body)) as tar:
            assert tar.extractfile("arch.txt").read() == f"built for {arch}\n".encode()


def test_platforms_buildah_gives_one_image_are_not_reported_as_built(reg, tmp_path):
    """buildah 1.28's layer cache ignores the platform: byte-identical layers make a one-entry index; that fails."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "same.txt").write_text("the same bytes for every platform\n")
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY same.txt /same.txt\n")
    image = f"{reg.address}/t/same:1"
    done = cachebuild("build", str(ctx), "-t", image, "--platform", "linux/amd64,linux/arm64", "--fresh")
    assert done.returncode == 1
    assert re.fullmatch(
        rf"cachebuild: error: the index pushed to {re.escape(image)} holds linux/(amd64|arm64), not linux/(amd64|arm64): "
        r"buildah 1\.28 gave two platforms one image because their layers were the same bytes .*\n",
        done.stderr,
    ), done.stderr
    assert "pushed:" not in done.stdout and "summary:" not in done.stdout
    fixed = cachebuild("build", str(ctx), "-t", image, "--platform", "linux/amd64,linux/arm64", "--fresh", "--no-cache")
    assert fixed.returncode == 0, fixed.stderr
    assert len(Registry(reg.address).manifest("t/same", "1")["manifests"]) == 2


def test_a_failing_run_step_is_shown_as_failed_with_its_last_output(reg, base, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(
        "ARG BASE\nFROM ${BASE}\nRUN echo preparing\nRUN echo first line; echo 'the last words' >&2; exit 3\nRUN echo never\n"
    )
    done = cachebuild("build", str(ctx), "-t", f"{reg.address}/t/fails:1", "--build-arg", f"BASE={base}", "--fresh")
    assert done.returncode == 1
    assert re.search(r"^  \[2/4\] built +[0-9.]+s$", done.stdout, re.M)
    assert re.search(r"^  \[3/4\] FAILED +[0-9.]+s$", done.stdout, re.M)
    assert "[3/4] built" not in done.stdout and "[4/4]" not in done.stdout and "pushed:" not in done.stdout
    head, _, tail = done.stderr.partition("\n")
    assert head == (
        "cachebuild: error: buildah build failed in step 3/4: RUN echo first line; echo 'the last words' >&2; exit 3 "
        "(exit 3); its last output:"
    )
    assert "first line\nthe last words\n" in tail
    assert tail.rstrip().endswith("exit status 3")


def test_a_failing_from_is_shown_as_failed_not_as_a_base_image(reg, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM {reg.address}/t/no-such-base:1\nRUN true\n")
    done = cachebuild("build", str(ctx), "-t", f"{reg.address}/t/nobase:1", "--fresh")
    assert done.returncode == 1
    assert re.search(r"^  \[1/2\] FAILED +[0-9.]+s$", done.stdout, re.M)
    assert "base image" not in done.stdout
    assert done.stderr.startswith(
        f"cachebuild: error: buildah build failed in step 1/2: FROM {reg.address}/t/no-such-base:1 (exit 125); its last output:\n"
    )
    assert "manifest unknown" in done.stderr


def test_on_a_terminal_the_running_step_shows_a_live_timer_and_its_last_line(reg, base, tmp_path):
    import os
    import pty

    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text('ARG BASE\nFROM ${BASE}\nRUN for i in 1 2 3 4 5 6; do echo "tick $i"; sleep 0.5; done\n')
    master, slave = pty.openpty()
    argv = [sys.executable, "-m", "cachebuild", "build", str(ctx), "-t", f"{reg.address}/t/live:1", "--build-arg",
            f"BASE={base}", "--fresh"]  # fmt: skip
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the terminal's other side closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert process.wait(timeout=60) == 0
    text = b"".join(chunks).decode(errors="replace")
    shown = re.findall(r"\r\x1b\[2K {4} *([0-9]+\.[0-9])s  (tick \d)", text)
    assert len(shown) >= 5, text
    seconds = [float(t) for t, _ in shown]
    assert seconds == sorted(seconds) and seconds[-1] >= 2.0  # a timer that runs
    assert {"tick 2", "tick 5"} <= {line for _, line in shown}  # the step's last output line, as it changes
    assert re.search(r"\x1b\[2K\s*\[2/2\] built +[0-9.]+s", text)  # the status is cleared for the step's result


def test_in_a_log_a_long_step_is_told_in_plain_lines():
    import io

    from cachebuild.commands.steps import StepDisplay
    from cachebuild.local.engine import Step

    out = io.StringIO()
    step = Step(number=3, total=6, instruction="RUN make")
    with StepDisplay(out, live=False, every=1.0, tick=0.05) as display:
        display.line("  [3/6] RUN make")
        display.activity(step, None)
        display.activity(step, "compiling module 7")
        time.sleep(2.3)
        step.seconds = 2.3
        display.line("  [3/6] built              2.3s")
    assert out.getvalue() == (
        "  [3/6] RUN make\n"
        "  [3/6] still running, 1s: compiling module 7\n"
        "  [3/6] still running, 2s: compiling module 7\n"
        "  [3/6] built              2.3s\n"
    )


def test_an_arg_after_from_is_warned_about_with_its_line(reg, base, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("ARG BASE\nFROM ${BASE}\n# the version\nARG VERSION=1\nRUN echo $VERSION > /v\n")
    image = f"{reg.address}/t/argafter"
    warning = (
        "Dockerfile line 4: ARG VERSION=1: an ARG after FROM gets a new cache key on every build with buildah 1.28, so "
        "every later step of its stage misses the remote cache; declare it before the first FROM if only FROM lines use it"
    )
    runs = [cachebuild("build", str(ctx), "-t", f"{image}:{n}", "--build-arg", f"BASE={base}", "--fresh") for n in (1, 2)]
    for done in runs:
        assert done.returncode == 0, done.stderr
        assert f"warning: {warning}\n" in done.stdout and f"note: {warning}\n" in done.stdout
    outcomes = re.findall(r"^  \[(\d)/3\] (base image|built|cached \(remote\)|cached \(local\))", runs[1].stdout, re.M)
    assert outcomes == [("1", "base image"), ("2", "built"), ("3", "built")]  # what it warns of: the remote cache missed
    quiet = cachebuild("build", str(ctx), "-t", f"{image}:3", "--build-arg", f"BASE={base}", "--fresh", "--no-remote-cache")
    assert quiet.returncode == 0 and "warning:" not in quiet.stdout  # no remote cache to miss


def _non_loopback_address() -> str:
    """An IPv4 address of this machine that is not 127.x (a registry there is spoken to over TLS)."""
    import socket

    out = subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout.split()
    found = [a for a in out if a.count(".") == 3 and not a.startswith("127.")]
    if not found:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect(("192.0.2.1", 9))  # no packet is sent: it picks the interface a route would use
            found = [sock.getsockname()[0]]
    assert not found[0].startswith("127."), "this machine has no IPv4 address besides 127.x"
    return found[0]


def test_a_plain_http_registry_at_a_tls_address_is_said_to_be_one(tmp_path):
    import http.server
    import threading

    address = _non_loopback_address()
    server = http.server.ThreadingHTTPServer((address, 0), http.server.BaseHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host = f"{address}:{server.server_address[1]}"
    try:
        ws = workspace(tmp_path)
        done = cachebuild("build", str(ws), "-t", f"{host}/t/app:1")
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == 1
    assert done.stderr == (
        f"cachebuild: error: TLS with the registry {host} failed (WRONG_VERSION_NUMBER): it does not speak TLS: a "
        "plain-HTTP registry (spoken to over plain HTTP only on 127.0.0.1 or localhost)\n"
    )
    assert "does not answer" not in done.stdout + done.stderr and "WITHOUT the remote cache" not in done.stdout


def test_the_readme_local_engine_example_runs_as_written(env, tmp_path):
    """README.md's commands, on a port of the tests' range instead of 5000 (the same code path)."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## The local engine: build on this machine", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [line.split("  #")[0].strip() for line in section.splitlines() if line.startswith("cachebuild ")]
    assert [c.split()[1] for c in commands] == ["registry", "registry", "build"]
    port = next(p for p in range(47800, 47900) if registry.port_is_free(p))
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    (tmp_path / "examples" / "deps.txt").write_text("libreadme 3\n")
    try:
        for command in commands:
            argv = command.replace("127.0.0.1:5000", f"127.0.0.1:{port}").split()[1:]
            if argv == ["registry", "start"]:
                argv += ["--port", str(port)]
            done = subprocess.run([sys.executable, "-m", "cachebuild", *argv], capture_output=True, text=True, cwd=tmp_path,
                                  timeout=240)  # fmt: skip
            assert done.returncode == 0, f"{command}\n{done.stderr}"
        assert done.stdout.startswith(f"build: 127.0.0.1:{port}/team/app:1 (context ., Dockerfile)\n")
        assert f"  [1/6] FROM 127.0.0.1:{port}/cachebuild/busybox:1\n" in done.stdout
        assert re.search(rf"^pushed: 127\.0\.0\.1:{port}/team/app:1@sha256:[0-9a-f]{{64}}$", done.stdout, re.M)
    finally:
        registry.stop()


def test_a_cache_that_cannot_be_written_does_not_fail_the_build(reg, base, tmp_path):
    """buildah fails a build whose cache push is refused; the engine warns and builds again from the
    local layers without --cache-to, then pushes the image (as the templates' launcher does)."""
    host, port = reg.address.split(":")
    denied = registry_error(403, "Forbidden", "DENIED", "requested access to the resource is denied")
    with FailingProxy((host, int(port)), "PUT", "/v2/t/cachefail/cache/manifests/", reply=denied, failures=100) as proxy:
        image = f"{reg.address}/t/cachefail:1"
        done = build(workspace(tmp_path, "libcachefail 3\n"), image, base, "--cache-repo", f"{proxy.address}/t/cachefail/cache")
    assert done.returncode == 0, done.stderr
    assert proxy.events[0].startswith("failed: PUT /v2/t/cachefail/cache/manifests/")
    assert (
        f"warning: the cache was not written to {proxy.address}/t/cachefail/cache (see above); building again from the "
        "local layers without exporting the cache"
    ) in done.stdout
    _, digest = _image_id_and_digest(done.stdout)
    assert Registry(reg.address).manifest("t/cachefail", digest)


def test_an_unchanged_build_is_published_without_starting_buildah(reg, base, tmp_path):
    """--skip-unchanged: the first build keeps its inputs' digest as a cache tag; the same inputs again
    publish that image under the new tag, the same digest, and no buildah process runs."""
    recorder = tmp_path / "bin" / "buildah"  # buildah, with a note of every run
    recorder.parent.mkdir()
    ran = tmp_path / "buildah-ran"
    recorder.write_text(f'#!/bin/sh\necho "$@" >> {ran}\nexec {shutil.which("buildah")} "$@"\n')
    recorder.chmod(0o755)
    env = {**os.environ, "PATH": f"{recorder.parent}:{os.environ['PATH']}"}

    def build_unchanged(tag, *extra):
        argv = ["build", "--workspace", str(ws), "--image", f"{reg.address}/t/same:{tag}", "--build-arg", f"BASE={base}"]
        return subprocess.run(
            [sys.executable, "-m", "cachebuild", *argv, "--skip-unchanged", *extra],
            capture_output=True, text=True, env=env, timeout=180,
        )  # fmt: skip

    ws = workspace(tmp_path, "libsame 5\n")
    (ws / ".dockerignore").write_text("notes/\n*.tmp\n!keep.tmp\n")
    first = build_unchanged("1")
    assert first.returncode == 0, first.stderr
    assert re.search(r"^inputs: [0-9a-f]{16}… kept as \S+/t/same/cache:inputs-[0-9a-f]{64}$", first.stdout, re.M)
    _, digest = _image_id_and_digest(first.stdout)
    assert ran.exists()
    ran.unlink()
    # files .dockerignore leaves out change nothing a build can see
    (ws / "notes").mkdir()
    (ws / "notes" / "todo.md").write_text("not in the build\n")
    (ws / "scratch.tmp").write_text("not in the build either\n")
    second = build_unchanged("2", "--fresh")
    assert second.returncode == 0, second.stderr
    assert "unchanged: these inputs" in second.stdout and "summary: unchanged: nothing built" in second.stdout
    assert f"pushed: {reg.address}/t/same:2@{digest}" in second.stdout.splitlines()
    assert not ran.exists(), f"buildah ran: {ran.read_text()}"
    assert Registry(reg.address).manifest_digest("t/same", "2") == digest
    # a file the build sees: built again
    (ws / "keep.tmp").write_text("an exception of .dockerignore: the build sees it\n")
    third = build_unchanged("3")
    assert third.returncode == 0 and "not built before: building" in third.stdout


def test_cache_warnings_name_every_cache_buster_by_its_line_in_order(tmp_path):
    from cachebuild.dockerfile import ADD_URL, COPY_BEFORE_INSTALL
    from cachebuild.local.engine import cache_warnings

    dockerfile = tmp_path / "Containerfile"
    dockerfile.write_text("FROM node:22\nCOPY . .\nARG MODE\nADD http://x.test/a /a\nRUN npm ci\n")
    assert cache_warnings(dockerfile) == [
        f"Containerfile line 2: COPY . before the dependency install on line 5: {COPY_BEFORE_INSTALL}",
        "Containerfile line 3: ARG MODE: an ARG after FROM gets a new cache key on every build with buildah 1.28, so "
        "every later step of its stage misses the remote cache; declare it before the first FROM if only FROM lines use it",
        f"Containerfile line 4: ADD http://x.test/a: {ADD_URL}",
    ]
