"""Argo (Hera WorkflowsService) and Tekton (kubernetes client) submission against strict fake control planes."""

import time

import pytest

from cachebuild.submit.argo import ArgoClient
from cachebuild.submit.common import SUBMISSION_LABEL, BuildTimeout, Retry, SubmitError
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


def test_argo_unreachable_server_gives_up_at_the_deadline():
    client = ArgoClient("http://127.0.0.1:9", token="t")
    with pytest.raises(BuildTimeout, match="connection failed"):
        client.create(simple_workflow(), retry=fast(0.3))


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
