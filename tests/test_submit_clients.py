"""Argo (Hera WorkflowsService) and Tekton (kubernetes client) submission against strict fake control planes."""

import re
import socket
import threading
import time

import pytest

from cachebuild import SpecError
from cachebuild.submit.argo import ArgoClient
from cachebuild.submit.common import SUBMISSION_LABEL, BuildTimeout, Retry, SubmitError, Unreachable
from cachebuild.submit.tekton import TektonClient
from support.fake_servers import Fault, fake_digest

IMAGES = ["registry.example.com/team/a:1", "registry.example.com/team/b:1"]


def simple_workflow():
    """A complete two-build Workflow (what cachebuild.argo renders has the same shape: a DAG of build tasks)."""
    build = {
        "name": "build",
        "inputs": {"parameters": [{"name": "image"}]},
        "outputs": {"parameters": [{"name": "image-digest", "valueFrom": {"path": "/tmp/d", "default": ""}}]},
        "container": {"image": "docker.io/library/busybox:1.36", "args": ["true"]},
    }
    tasks = [
        {"name": f"build-{i}", "template": "build", "arguments": {"parameters": [{"name": "image", "value": img}]}}
        for i, img in enumerate(IMAGES)
    ]
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": "cachebuild-"},
        "spec": {"entrypoint": "main", "templates": [{"name": "main", "dag": {"tasks": tasks}}, build]},
    }


def closed_port() -> int:
    """A port of 127.0.0.1 in 47500-47999 that nothing listens on."""
    for port in range(47990, 47500, -1):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise AssertionError("no closed port in 47500-47999")


def fast(timeout=10.0):
    return Retry(time.monotonic() + timeout, first=0.01, cap=0.05)


def test_argo_create_and_wait_reports_every_digest(argo):
    client = ArgoClient(argo.url, token=argo.token, namespace="argo")
    build = client.create(simple_workflow(), retry=fast())
    seen = []
    result = build.wait(10, poll_interval=0.01, on_progress=lambda s, t: seen[-1:] != [s.phase] and seen.append(s.phase))
    assert seen == ["", "Pending", "Running", "Succeeded"]  # empty and Pending did not end the wait
    assert result.succeeded and result.duration == 90.0
    assert [(i.step, i.url, i.digest) for i in result.images] == [
        ("build-0", IMAGES[0], fake_digest(IMAGES[0])),
        ("build-1", IMAGES[1], fake_digest(IMAGES[1])),
    ]
    (stored,) = argo.objects.values()
    assert stored["metadata"]["name"] == build.name and build.name.startswith("cachebuild-")
    assert stored["metadata"]["labels"][SUBMISSION_LABEL] == build.name.removeprefix("cachebuild-")


def test_argo_failure_carries_the_failed_step_and_message(argo):
    argo.outcome = "Failed"
    result = ArgoClient(argo.url, token=argo.token).create(simple_workflow(), retry=fast()).wait(10, poll_interval=0.01)
    assert result.phase == "Failed" and not result.succeeded
    assert result.failed_step is not None and result.failed_step.step == "build-1"
    assert result.failed_step.message == "Error (exit code 1): failed to push: unauthorized"


@pytest.mark.parametrize(
    "fault",
    [Fault(status=503, after=True), Fault(status=None, after=True), Fault(status=502), Fault(status=429), Fault(status=None)],
)
def test_argo_create_retried_after_a_lost_answer_makes_one_workflow(argo, fault):
    argo.faults.append(fault)
    build = ArgoClient(argo.url, token=argo.token).create(simple_workflow(), retry=fast())
    assert len(argo.objects) == 1
    assert [r[0] for r in argo.requests].count("POST") == 2
    assert build.wait(10, poll_interval=0.01).succeeded


def test_argo_get_retries_a_dropped_connection(argo):
    build = ArgoClient(argo.url, token=argo.token).create(simple_workflow(), retry=fast())
    argo.faults += [Fault(status=None, method="GET"), Fault(status=500, method="GET")]
    assert build.wait(10, poll_interval=0.01).succeeded


def test_argo_401_is_reported_at_once_without_the_token(argo):
    client = ArgoClient(argo.url, token="wrong-token", namespace="argo")
    with pytest.raises(SubmitError) as caught:
        client.create(simple_workflow(), retry=fast())
    assert caught.value.status == 401 and "check --token / ARGO_TOKEN" in str(caught.value)
    assert "wrong-token" not in str(caught.value) and len(argo.requests) == 1


def test_argo_403_names_the_namespace(argo):
    with pytest.raises(SubmitError) as caught:
        ArgoClient(argo.url, token=argo.token, namespace="prod").create(simple_workflow(), retry=fast())
    assert caught.value.status == 403 and "'prod'" in str(caught.value)


def test_argo_404_for_a_missing_template_says_to_install_it(argo):
    client = ArgoClient(argo.url, token=argo.token)
    with pytest.raises(SubmitError) as caught:
        client.submit_template("buildkit-build-v1", {"image": IMAGES[0]}, retry=fast())
    assert caught.value.status == 404 and "kubectl apply -k workflows/" in str(caught.value)


def test_argo_unknown_field_is_refused_before_submitting(argo):
    wf = simple_workflow()
    wf["spec"]["templates"][1]["container"]["argz"] = ["x"]
    with pytest.raises(SubmitError) as caught:
        ArgoClient(argo.url, token=argo.token).create(wf, retry=fast())
    assert str(caught.value).startswith("workflow.spec.templates[1].container.argz: not a Workflow field")
    assert argo.requests == []


def test_argo_invalid_workflow_is_a_400_with_the_server_message(argo):
    wf = simple_workflow()
    wf["metadata"] = {"name": "Not_A_DNS_Name"}
    with pytest.raises(SubmitError) as caught:
        ArgoClient(argo.url, token=argo.token).create(wf, retry=fast())
    assert caught.value.status == 400 and "metadata/name: 'Not_A_DNS_Name' does not match" in str(caught.value)


def test_argo_wait_times_out_with_the_last_status(argo):
    build = ArgoClient(argo.url, token=argo.token).create(simple_workflow(), retry=fast())
    with pytest.raises(BuildTimeout) as caught:
        build.wait(0.2, poll_interval=0.5)
    assert "timed out after 0.2s" in str(caught.value)
    assert caught.value.last is not None and caught.value.last.phase in ("", "Pending")


def test_argo_refused_connection_is_reported_at_once_with_the_address():
    port = closed_port()
    client = ArgoClient(f"http://127.0.0.1:{port}", token="t")
    started = time.monotonic()
    with pytest.raises(Unreachable) as caught:
        client.create(simple_workflow(), retry=fast(60))
    assert time.monotonic() - started < 5
    assert str(caught.value).endswith(f": cannot reach http://127.0.0.1:{port}: connection refused (nothing listens there)")
    assert caught.value.address == f"http://127.0.0.1:{port}" and caught.value.status is None


def test_argo_tls_to_a_plain_http_server_is_reported_at_once(argo):
    client = ArgoClient(argo.url.replace("http://", "https://"), token=argo.token)
    expected = r"TLS with https://127\.0\.0\.1:\d+ failed \(WRONG_VERSION_NUMBER\): it does not speak TLS"
    with pytest.raises(Unreachable, match=expected):
        client.create(simple_workflow(), retry=fast(60))


def test_argo_5xx_retries_are_told_to_on_retry(argo):
    argo.faults += [Fault(status=503), Fault(status=503)]
    notices = []
    retry = Retry(time.monotonic() + 10, first=0.01, cap=0.05, on_retry=notices.append)
    ArgoClient(argo.url, token=argo.token).create(simple_workflow(), retry=retry)
    assert len(notices) == 2 and len(argo.objects) == 1
    expected = r"create workflow cachebuild-\w+: HTTP 503 upstream unavailable; trying again in \d\.\ds \(try 2\)"
    assert re.fullmatch(expected, notices[0])


def test_a_wait_rides_out_a_server_restart_and_says_so(argo):
    build = ArgoClient(argo.url, token=argo.token).create(simple_workflow(), retry=fast())
    port = argo.port
    argo.stop()
    restart = threading.Timer(1.0, lambda: argo.start(port=port))
    restart.start()
    notices = []
    try:
        result = build.wait(20, poll_interval=0.05, on_retry=notices.append)
    finally:
        restart.join()
    assert result.succeeded
    assert "Remote end closed connection without response" in notices[0]  # the kept-alive connection died
    assert any(f"cannot reach http://127.0.0.1:{port}: connection refused" in n for n in notices[1:])


def test_a_create_that_never_gets_through_times_out_with_no_status(argo):
    argo.faults += [Fault(status=503)] * 50
    with pytest.raises(BuildTimeout) as caught:
        ArgoClient(argo.url, token=argo.token).create(simple_workflow(), retry=fast(0.3))
    assert "gave up after" in str(caught.value) and "HTTP 503" in str(caught.value)
    assert caught.value.last is None


def test_a_bad_argo_server_url_is_bad_input():
    for host in ("argo.example.com:2746", "https://", "https://a b", "ftp://argo.example.com"):
        with pytest.raises(SpecError) as caught:
            ArgoClient(host)
        assert caught.value.field == "host"


def pipelinerun():
    tasks = [
        {
            "name": f"build-{i}",
            "taskRef": {
                "resolver": "git",
                "params": [
                    {"name": "url", "value": "https://github.com/example/cachebuild.git"},
                    {"name": "revision", "value": "main"},
                    {"name": "pathInRepo", "value": "tasks/kaniko-build/0.1/kaniko-build.yaml"},
                ],
            },
            "params": [{"name": "IMAGE", "value": f"$(params.image-{i})"}],
        }
        for i in range(2)
    ]
    return {
        "apiVersion": "tekton.dev/v1",
        "kind": "PipelineRun",
        "metadata": {"generateName": "cachebuild-"},
        "spec": {
            "params": [{"name": f"image-{i}", "value": img} for i, img in enumerate(IMAGES)],
            "pipelineSpec": {"params": [{"name": f"image-{i}", "type": "string"} for i in range(2)], "tasks": tasks},
        },
    }


def test_tekton_create_and_wait_reports_task_results(kube, tmp_path):
    client = TektonClient(kubeconfig=str(kube.kubeconfig(tmp_path / "kc", namespace="ci")))
    assert client.namespace == "ci"
    build = client.create(pipelinerun(), retry=fast())
    phases = []
    result = build.wait(10, poll_interval=0.01, on_progress=lambda s, t: phases[-1:] != [s.phase] and phases.append(s.phase))
    assert phases == ["", "Pending", "Running", "Succeeded"]
    assert [(i.step, i.url, i.digest) for i in result.images] == [
        ("build-0", IMAGES[0], fake_digest(IMAGES[0])),
        ("build-1", IMAGES[1], fake_digest(IMAGES[1])),
    ]
    assert result.duration == 90.0


def test_tekton_failure_message(kube, tmp_path):
    kube.outcome = "Failed"
    client = TektonClient(kubeconfig=str(kube.kubeconfig(tmp_path / "kc")))
    result = client.create(pipelinerun(), retry=fast()).wait(10, poll_interval=0.01)
    assert result.phase == "Failed" and result.failed_step.step == "build-1"
    assert "failed to push" in result.failed_step.message


@pytest.mark.parametrize("fault", [Fault(status=503, after=True), Fault(status=None, after=True)])
def test_tekton_retried_create_makes_one_pipelinerun(kube, tmp_path, fault):
    kube.faults.append(fault)
    client = TektonClient(kubeconfig=str(kube.kubeconfig(tmp_path / "kc")))
    build = client.create(pipelinerun(), retry=fast())
    assert len([k for k in kube.objects if k[0] == "PipelineRun"]) == 1
    assert build.wait(10, poll_interval=0.01).succeeded


def test_tekton_401_and_404(kube, tmp_path):
    client = TektonClient(kubeconfig=str(kube.kubeconfig(tmp_path / "kc", token="nope")))
    with pytest.raises(SubmitError) as caught:
        client.create(pipelinerun(), retry=fast())
    assert caught.value.status == 401 and "nope" not in str(caught.value)
    client = TektonClient(kubeconfig=str(kube.kubeconfig(tmp_path / "kc2", namespace="missing")))
    with pytest.raises(SubmitError) as caught:
        client.create(pipelinerun(), retry=fast())
    assert caught.value.status == 404 and "Tekton Pipelines is not installed" in str(caught.value)


def test_tekton_refused_and_tls_failures_are_reported_at_once(kube, tmp_path):
    port = closed_port()
    config = kube.kubeconfig(tmp_path / "kc")
    config.write_text(config.read_text().replace(kube.url, f"http://127.0.0.1:{port}"))
    with pytest.raises(Unreachable, match=rf"cannot reach http://127\.0\.0\.1:{port}: connection refused"):
        TektonClient(kubeconfig=str(config)).create(pipelinerun(), retry=fast(60))
    config.write_text(config.read_text().replace(f"http://127.0.0.1:{port}", kube.url.replace("http:", "https:")))
    config.write_text(config.read_text().replace("    server:", "    insecure-skip-tls-verify: true\n    server:"))
    with pytest.raises(Unreachable, match=r"TLS with https://127\.0\.0\.1:\d+ failed \(WRONG_VERSION_NUMBER\)"):
        TektonClient(kubeconfig=str(config)).create(pipelinerun(), retry=fast(60))


def test_a_missing_kubeconfig_names_its_path(tmp_path, monkeypatch):
    with pytest.raises(SpecError) as caught:
        TektonClient(kubeconfig=str(tmp_path / "nope"))
    assert str(caught.value) == (
        f"kubeconfig: no such file (given): give --kubeconfig FILE, or --in-cluster in a pod (got '{tmp_path / 'nope'}')"
    )
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "a") + ":" + str(tmp_path / "b"))
    with pytest.raises(SpecError, match=r"no such file \(from \$KUBECONFIG\)"):
        TektonClient()
    (tmp_path / "a").write_text("not: [a kubeconfig")
    with pytest.raises(SpecError, match=r"^kubeconfig: cannot use it: "):
        TektonClient()
