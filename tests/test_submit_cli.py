"""``cachebuild submit`` end to end against the strict fake Argo Server and Kubernetes API."""

import json
import re
import socket
import ssl
import subprocess
import sys
import time

import pytest
import yaml

from cachebuild.cli import main
from support.fake_servers import FAKE_CACHE_HITS, FakeArgoServer, Fault, fake_digest
from support.schemas import ROOT

IMG = "registry.example.com/team/app:1.0"
IMG2 = "registry.example.com/team/worker:1.0"


def submit(*args):
    """Run the real command in a child process, as a user would."""
    argv = [sys.executable, "-m", "cachebuild", "submit", "--poll-interval", "0.01", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


@pytest.fixture
def argo_submit(argo, monkeypatch):
    """``cachebuild submit --on argo`` in this process, the token in ARGO_TOKEN as a user would set it."""
    monkeypatch.setenv("ARGO_TOKEN", argo.token)
    return lambda *args: main(["submit", "--on", "argo", "--argo-server", argo.url, "--poll-interval", "0.01", *args])


@pytest.fixture
def tekton_submit(kube, tmp_path):
    """``cachebuild submit --on tekton`` with a kubeconfig pointing at the fake API (context namespace ``ci``)."""
    kubeconfig = kube.kubeconfig(tmp_path / "kubeconfig", namespace="ci")
    return lambda *args: main(["submit", "--on", "tekton", "--kubeconfig", str(kubeconfig), "--poll-interval", "0.01", *args])


@pytest.mark.parametrize("engine", ["buildkit", "kaniko", "buildah"])
@pytest.mark.parametrize("mode", ["--ref", "--inline"])
def test_argo_submit_and_wait_prints_every_digest(argo, argo_submit, capsys, engine, mode):
    second = IMG2 if engine != "kaniko" else IMG
    code = argo_submit(
        "--engine", engine, mode, "--image", IMG, "--image", second, "--wait", "--timeout", "30", "--workspace-pvc", "src"
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    (workflow,) = argo.objects.values()
    assert out.splitlines()[0] == f"submitted {workflow['metadata']['name']}"
    assert f"{IMG}@{fake_digest(IMG)}" in out.splitlines()
    assert f"{IMG}: cache hits {FAKE_CACHE_HITS} (steps taken from a cache / steps)" in err.splitlines()
    assert "Succeeded" in err and argo.token not in out + err
    assert all(argo.token not in body for _, _, _, body in argo.requests)  # only in the Authorization header


def test_argo_submit_many_images_from_specs_file(argo_submit, capsys, tmp_path):
    specs = tmp_path / "specs.yaml"
    specs.write_text(yaml.safe_dump([{"image": f"registry.example.com/team/svc{i}:1", "context": f"svc{i}"} for i in range(5)]))
    code = argo_submit("--engine", "kaniko", "--specs", str(specs), "--wait", "--output", "json", "--workspace-pvc", "src")
    out, err = capsys.readouterr()
    assert code == 0, err
    (result,) = json.loads(out)
    urls = sorted(i["url"] for i in result["images"] if i["url"])
    assert urls == [f"registry.example.com/team/svc{i}:1" for i in range(5)]
    assert all(i["digest"] == fake_digest(i["url"]) for i in result["images"] if i["url"])


def test_argo_submit_from_template(argo, argo_submit, capsys):
    templates = yaml.safe_load((ROOT / "workflows" / "buildkit-build.yaml").read_text())
    argo.install(templates)
    code = argo_submit("--from-template", "--engine", "buildkit", "--image", IMG, "--build-arg", "A=x y",
                       "--workspace-pvc", "src", "--wait")  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    (workflow,) = argo.objects.values()
    assert workflow["spec"]["workflowTemplateRef"] == {"name": templates["metadata"]["name"]}
    params = {p["name"]: p["value"] for p in workflow["spec"]["arguments"]["parameters"]}
    assert params["image"] == IMG and params["build-args"] == "A=x y"
    assert f"{IMG}@{fake_digest(IMG)}" in out


def test_argo_missing_template_is_404_with_advice(argo_submit, capsys):
    code = argo_submit("--from-template", "--image", IMG, "--workspace-pvc", "src")
    _, err = capsys.readouterr()
    assert code == 1 and "HTTP 404" in err and "kubectl apply -k workflows/" in err


def test_argo_from_template_without_a_pvc_is_bad_input(argo, argo_submit, capsys):
    code = argo_submit("--from-template", "--image", IMG)
    assert code == 2 and "--workspace-pvc" in capsys.readouterr().err and argo.requests == []


def test_argo_failed_build_exits_1_with_the_step_message(argo, argo_submit, capsys):
    argo.outcome = "Failed"
    code = argo_submit("--image", IMG, "--wait", "--workspace-pvc", "src")
    _, err = capsys.readouterr()
    assert code == 1 and "Failed" in err and "failed to push: unauthorized" in err


def test_argo_timeout_exits_3(argo_submit, capsys):
    code = argo_submit("--image", IMG, "--wait", "--timeout", "0.05", "--poll-interval", "1", "--workspace-pvc", "src")
    _, err = capsys.readouterr()
    assert code == 3 and "timed out after 0.05s" in err


def test_argo_5xx_then_success_creates_one_workflow(argo, argo_submit):
    argo.faults.append(Fault(status=503, after=True))
    assert argo_submit("--image", IMG, "--wait", "--workspace-pvc", "src") == 0
    assert len(argo.objects) == 1


def test_argo_wrong_token_exits_1_and_never_prints_it(argo):
    proc = submit("--on", "argo", "--argo-server", argo.url, "--token", "not-the-token", "--image", IMG, "--workspace-pvc", "src")
    assert proc.returncode == 1
    assert "HTTP 401" in proc.stderr and "not-the-token" not in proc.stdout + proc.stderr


def test_bad_spec_input_exits_2_before_any_request(argo):
    proc = submit("--on", "argo", "--argo-server", argo.url, "--token", argo.token, "--image", "Bad/Ref")
    assert proc.returncode == 2 and "--image[0]" in proc.stderr and proc.stdout == ""
    assert argo.requests == []


def test_tekton_submit_and_wait(kube, tekton_submit, capsys):
    code = tekton_submit("--workspace-pvc", "src", "--engine", "kaniko", "--image", IMG, "--wait")
    out, err = capsys.readouterr()
    assert code == 0, err
    ((_, namespace, name),) = [k for k in kube.objects if k[0] == "PipelineRun"]
    assert namespace == "ci" and out.splitlines()[0] == f"submitted {name}"
    assert f"{IMG}@{fake_digest(IMG)}" in out
    assert f"{IMG}: cache hits {FAKE_CACHE_HITS} (steps taken from a cache / steps)" in err.splitlines()


def test_tekton_dropped_connection_then_success(kube, tekton_submit):
    kube.faults.append(Fault(status=None, after=True))
    assert tekton_submit("--workspace-pvc", "src", "--image", IMG, "--wait") == 0
    assert len([k for k in kube.objects if k[0] == "PipelineRun"]) == 1


def test_tekton_failure_exits_1(kube, tekton_submit, capsys):
    kube.outcome = "Failed"
    code = tekton_submit("--workspace-pvc", "src", "--image", IMG, "--wait")
    assert code == 1 and "failed to push" in capsys.readouterr().err


def closed_port() -> int:
    for port in range(47980, 47500, -1):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise AssertionError("no closed port in 47500-47999")


@pytest.mark.parametrize("wait", [[], ["--wait"]])
def test_a_dead_argo_server_fails_in_seconds_naming_the_address(wait):
    port = closed_port()
    started = time.monotonic()
    proc = submit("--argo-server", f"http://127.0.0.1:{port}", "--token", "t", "--image", IMG, "--workspace-pvc", "src", *wait)
    assert time.monotonic() - started < 15  # the interpreter and hera take a few seconds to start
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr == (
        f"cachebuild: error: create workflow cachebuild-{proc.stderr.split('cachebuild-')[1].split(':')[0]}: "
        f"cannot reach http://127.0.0.1:{port}: connection refused (nothing listens there)\n"
    )


def test_a_name_that_does_not_resolve_and_a_tls_mismatch_fail_at_once(argo):
    proc = submit("--argo-server", "https://no-such-host.invalid:2746", "--token", "t", "--image", IMG, "--workspace-pvc", "src")
    assert proc.returncode == 1
    unknown = ": cannot reach https://no-such-host.invalid:2746: the name 'no-such-host.invalid' does not resolve\n"
    assert proc.stderr.endswith(unknown)
    tls = argo.url.replace("http://", "https://")
    proc = submit("--argo-server", tls, "--token", argo.token, "--image", IMG, "--workspace-pvc", "src")
    assert proc.returncode == 1
    assert f"TLS with {tls} failed (WRONG_VERSION_NUMBER): it does not speak TLS: a plain-HTTP server" in proc.stderr
    assert argo.requests == []


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 (openssl), and its key."""
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    return folder / "cert.pem", folder / "key.pem"


def test_an_untrusted_certificate_says_to_name_the_ca_and_ca_bundle_does(certificate):
    cert, key = certificate
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = FakeArgoServer().start(tls=context)
    try:
        proc = submit("--argo-server", server.url, "--token", server.token, "--image", IMG, "--workspace-pvc", "src")
        assert proc.returncode == 1
        assert f"TLS with {server.url} failed (CERTIFICATE_VERIFY_FAILED): the server's certificate is not trusted" in proc.stderr
        trusted = submit("--argo-server", server.url, "--token", server.token, "--ca-bundle", str(cert),
                         "--image", IMG, "--workspace-pvc", "src")  # fmt: skip
        assert trusted.returncode == 0, trusted.stderr
        assert trusted.stdout.startswith("submitted cachebuild-")
    finally:
        server.stop()


def test_retries_are_shown_a_line_each(argo, argo_submit, capsys):
    argo.faults += [Fault(status=503), Fault(status=502)]
    assert argo_submit("--image", IMG, "--workspace-pvc", "src") == 0
    err = capsys.readouterr().err
    retried = [line for line in err.splitlines() if line.startswith("retrying: ")]
    assert len(retried) == 2
    expected = r"retrying: create workflow cachebuild-\w+: HTTP 503 upstream unavailable; trying again in [0-9.]+s \(try 2\)"
    assert re.fullmatch(expected, retried[0])
    assert "HTTP 502" in retried[1] and "(try 3)" in retried[1]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--argo-server", "argo.example.com:2746"], 2,
         "--argo-server: must be the Argo Server's URL, such as https://argo.example.com:2746 (got 'argo.example.com:2746')"),
        (["--on", "tekton", "--kubeconfig", "/nope"], 2,
         "--kubeconfig: no such file (given): give --kubeconfig FILE, or --in-cluster in a pod (got '/nope')"),
        ([], 2, "--argo-server: is required with --on argo (the Argo Server's URL)"),
    ],
)  # fmt: skip
def test_bad_connection_input_exits_2_naming_the_flag(args, code, message):
    proc = submit(*args, "--image", IMG, "--workspace-pvc", "src")
    assert (proc.returncode, proc.stdout) == (code, "")
    assert proc.stderr == f"cachebuild: error: {message}\n"


def test_json_output_prints_an_error_object_on_stdout():
    port = closed_port()
    proc = submit("--argo-server", f"http://127.0.0.1:{port}", "--token", "t", "--image", IMG, "--workspace-pvc", "src",
                  "--output", "json")  # fmt: skip
    assert proc.returncode == 1
    error = json.loads(proc.stdout)
    assert error["error"]["exitCode"] == 1 and error["submitted"] == []
    assert error["error"]["address"] == f"http://127.0.0.1:{port}"
    assert error["error"]["message"].endswith("connection refused (nothing listens there)")
    bad = submit("--argo-server", "http://127.0.0.1:1", "--image", "Bad/Ref", "--output", "json")
    assert bad.returncode == 2
    assert json.loads(bad.stdout)["error"] == {
        "message": "--image[0]: the repository path must be lower-case (got 'Bad/Ref')",
        "exitCode": 2,
        "field": "--image[0]",
    }
