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


def submit(*args, env=None):
    """Run the real command in a child process (as a user would), with the token from the environment."""
    return subprocess.run(
        [sys.executable, "-m", "cachebuild", "submit", "--poll-interval", "0.01", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


@pytest.mark.parametrize("engine", ["buildkit", "kaniko", "buildah"])
@pytest.mark.parametrize("mode", ["--ref", "--inline"])
def test_argo_submit_and_wait_prints_every_digest(argo, monkeypatch, capsys, engine, mode):
    monkeypatch.setenv("ARGO_TOKEN", argo.token)
    code = main(
        [
            "submit",
            "--on",
            "argo",
            "--argo-server",
            argo.url,
            "--engine",
            engine,
            mode,
            "--image",
            IMG,
            "--image",
            IMG2 if engine != "kaniko" else IMG,
            "--wait",
            "--timeout",
            "30",
            "--poll-interval",
            "0.01",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    (workflow,) = argo.objects.values()
    assert out.splitlines()[0] == f"submitted {workflow['metadata']['name']}"
    assert f"{IMG}@{fake_digest(IMG)}" in out.splitlines()
    assert "Succeeded" in err and argo.token not in out + err
    assert all(argo.token not in body for _, _, _, body in argo.requests)  # only in the Authorization header


def test_argo_submit_many_images_from_specs_file(argo, monkeypatch, capsys, tmp_path):
    specs = tmp_path / "specs.yaml"
    specs.write_text(yaml.safe_dump([{"image": f"registry.example.com/team/svc{i}:1", "context": f"svc{i}"} for i in range(5)]))
    monkeypatch.setenv("ARGO_TOKEN", argo.token)
    code = main(
        [
            "submit",
            "--on",
            "argo",
            "--argo-server",
            argo.url,
            "--engine",
            "kaniko",
            "--specs",
            str(specs),
            "--wait",
            "--output",
            "json",
            "--poll-interval",
            "0.01",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    (result,) = json.loads(out)
    urls = sorted(i["url"] for i in result["images"] if i["url"])
    assert urls == [f"registry.example.com/team/svc{i}:1" for i in range(5)]
    assert all(i["digest"] == fake_digest(i["url"]) for i in result["images"] if i["url"])


def test_argo_submit_from_template(argo, monkeypatch, capsys):
    templates = yaml.safe_load((ROOT / "workflows" / "buildkit-build.yaml").read_text())
    argo.install(templates)
    monkeypatch.setenv("ARGO_TOKEN", argo.token)
    code = main(
        [
            "submit",
            "--on",
            "argo",
            "--argo-server",
            argo.url,
            "--from-template",
            "--engine",
            "buildkit",
            "--image",
            IMG,
            "--build-arg",
            "A=x y",
            "--workspace-pvc",
            "src",
            "--wait",
            "--poll-interval",
            "0.01",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    (workflow,) = argo.objects.values()
    assert workflow["spec"]["workflowTemplateRef"] == {"name": templates["metadata"]["name"]}
    params = {p["name"]: p["value"] for p in workflow["spec"]["arguments"]["parameters"]}
    assert params["image"] == IMG and params["build-args"] == "A=x y"
    assert f"{IMG}@{fake_digest(IMG)}" in out


def test_argo_missing_template_is_404_with_advice(argo, monkeypatch, capsys):
    monkeypatch.setenv("ARGO_TOKEN", argo.token)
    code = main(
        ["submit", "--on", "argo", "--argo-server", argo.url, "--from-template", "--image", IMG, "--workspace-pvc", "src"]
    )
    _, err = capsys.readouterr()
    assert code == 1 and "HTTP 404" in err and "kubectl apply -k workflows/" in err


def test_argo_from_template_without_a_pvc_is_bad_input(argo, monkeypatch, capsys):
    monkeypatch.setenv("ARGO_TOKEN", argo.token)
    code = main(["submit", "--on", "argo", "--argo-server", argo.url, "--from-template", "--image", IMG])
    assert code == 2 and "--workspace-pvc" in capsys.readouterr().err and argo.requests == []


def test_argo_failed_build_exits_1_with_the_step_message(argo, monkeypatch, capsys):
    argo.outcome = "Failed"
    monkeypatch.setenv("ARGO_TOKEN", argo.token)
    code = main(["submit", "--on", "argo", "--argo-server", argo.url, "--image", IMG, "--wait", "--poll-interval", "0.01"])
    _, err = capsys.readouterr()
    assert code == 1 and "Failed" in err and "failed to push: unauthorized" in err


def test_argo_timeout_exits_3(argo, monkeypatch, capsys):
    monkeypatch.setenv("ARGO_TOKEN", argo.token)
    code = main(
        [
            "submit",
            "--on",
            "argo",
            "--argo-server",
            argo.url,
            "--image",
            IMG,
            "--wait",
            "--timeout",
            "0.05",
            "--poll-interval",
            "1",
        ]
    )
    _, err = capsys.readouterr()
    assert code == 3 and "timed out after 0.05s" in err


def test_argo_5xx_then_success_creates_one_workflow(argo, monkeypatch, capsys):
    argo.faults.append(Fault(status=503, after=True))
    monkeypatch.setenv("ARGO_TOKEN", argo.token)
    assert main(["submit", "--on", "argo", "--argo-server", argo.url, "--image", IMG, "--wait", "--poll-interval", "0.01"]) == 0
    assert len(argo.objects) == 1


def test_argo_wrong_token_exits_1_and_never_prints_it(argo):
    proc = submit("--on", "argo", "--argo-server", argo.url, "--token", "not-the-token", "--image", IMG)
    assert proc.returncode == 1
    assert "HTTP 401" in proc.stderr and "not-the-token" not in proc.stdout + proc.stderr


def test_bad_spec_input_exits_2_before_any_request(argo):
    proc = submit("--on", "argo", "--argo-server", argo.url, "--token", argo.token, "--image", "Bad/Ref")
    assert proc.returncode == 2 and "--image[0]" in proc.stderr and proc.stdout == ""
    assert argo.requests == []


def test_tekton_submit_and_wait(kube, tmp_path, capsys):
    kubeconfig = kube.kubeconfig(tmp_path / "kubeconfig", namespace="ci")
    code = main(
        [
            "submit",
            "--on",
            "tekton",
            "--kubeconfig",
            str(kubeconfig),
            "--workspace-pvc",
            "src",
            "--engine",
            "kaniko",
            "--image",
            IMG,
            "--wait",
            "--poll-interval",
            "0.01",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    ((kind, namespace, name),) = [k for k in kube.objects if k[0] == "PipelineRun"]
    assert namespace == "ci" and out.splitlines()[0] == f"submitted {name}"
    assert f"{IMG}@{fake_digest(IMG)}" in out


def test_tekton_dropped_connection_then_success(kube, tmp_path, capsys):
    kube.faults.append(Fault(status=None, after=True))
    kubeconfig = kube.kubeconfig(tmp_path / "kubeconfig")
    assert (
        main(
            [
                "submit",
                "--on",
                "tekton",
                "--kubeconfig",
                str(kubeconfig),
                "--workspace-pvc",
                "src",
                "--image",
                IMG,
                "--wait",
                "--poll-interval",
                "0.01",
            ]
        )
        == 0
    )
    assert len([k for k in kube.objects if k[0] == "PipelineRun"]) == 1


def test_tekton_failure_exits_1(kube, tmp_path, capsys):
    kube.outcome = "Failed"
    kubeconfig = kube.kubeconfig(tmp_path / "kubeconfig")
    code = main(
        [
            "submit",
            "--on",
            "tekton",
            "--kubeconfig",
            str(kubeconfig),
            "--workspace-pvc",
            "src",
            "--image",
            IMG,
            "--wait",
            "--poll-interval",
            "0.01",
        ]
    )
    assert code == 1 and "failed to push" in capsys.readouterr().err
