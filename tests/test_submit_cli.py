"""``cachebuild submit`` end to end against the strict fake Argo Server and Kubernetes API."""

import json
import subprocess
import sys

import pytest
import yaml

from cachebuild.cli import main
from support.fake_servers import Fault, fake_digest
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
    code = argo_submit("--engine", engine, mode, "--image", IMG, "--image", second, "--wait", "--timeout", "30")
    out, err = capsys.readouterr()
    assert code == 0, err
    (workflow,) = argo.objects.values()
    assert out.splitlines()[0] == f"submitted {workflow['metadata']['name']}"
    assert f"{IMG}@{fake_digest(IMG)}" in out.splitlines()
    assert "Succeeded" in err and argo.token not in out + err
    assert all(argo.token not in body for _, _, _, body in argo.requests)  # only in the Authorization header


def test_argo_submit_many_images_from_specs_file(argo_submit, capsys, tmp_path):
    specs = tmp_path / "specs.yaml"
    specs.write_text(yaml.safe_dump([{"image": f"registry.example.com/team/svc{i}:1", "context": f"svc{i}"} for i in range(5)]))
    code = argo_submit("--engine", "kaniko", "--specs", str(specs), "--wait", "--output", "json")
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
    code = argo_submit("--image", IMG, "--wait")
    _, err = capsys.readouterr()
    assert code == 1 and "Failed" in err and "failed to push: unauthorized" in err


def test_argo_timeout_exits_3(argo_submit, capsys):
    code = argo_submit("--image", IMG, "--wait", "--timeout", "0.05", "--poll-interval", "1")
    _, err = capsys.readouterr()
    assert code == 3 and "timed out after 0.05s" in err


def test_argo_5xx_then_success_creates_one_workflow(argo, argo_submit):
    argo.faults.append(Fault(status=503, after=True))
    assert argo_submit("--image", IMG, "--wait") == 0
    assert len(argo.objects) == 1


def test_argo_wrong_token_exits_1_and_never_prints_it(argo):
    proc = submit("--on", "argo", "--argo-server", argo.url, "--token", "not-the-token", "--image", IMG)
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


def test_tekton_dropped_connection_then_success(kube, tekton_submit):
    kube.faults.append(Fault(status=None, after=True))
    assert tekton_submit("--workspace-pvc", "src", "--image", IMG, "--wait") == 0
    assert len([k for k in kube.objects if k[0] == "PipelineRun"]) == 1


def test_tekton_failure_exits_1(kube, tekton_submit, capsys):
    kube.outcome = "Failed"
    code = tekton_submit("--workspace-pvc", "src", "--image", IMG, "--wait")
    assert code == 1 and "failed to push" in capsys.readouterr().err
