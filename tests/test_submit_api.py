"""The Python submission API with the real manifests cachebuild builds, against the strict fakes."""

import io

import pytest
import yaml

from cachebuild import BuildSpec, SpecError
from cachebuild.commands.submit import ProgressPrinter
from cachebuild.submit import (
    ArgoClient,
    BuildStatus,
    ImageResult,
    TektonClient,
    submit_argo_templates,
    submit_argo_workflow,
    submit_tekton,
)
from support.fake_servers import fake_digest
from support.schemas import ROOT

SPECS = [BuildSpec(f"registry.example.com/team/svc{i}:1", context=f"svc{i}", workspace_pvc="src") for i in range(3)]


def digests(result):
    return sorted((i.url, i.digest) for i in result.images if i.url)


EXPECTED = sorted((s.image, fake_digest(s.image)) for s in SPECS)


@pytest.mark.parametrize("engine", ["buildkit", "kaniko", "buildah"])
@pytest.mark.parametrize("inline", [False, True])
def test_argo_workflow_for_many_specs(argo, engine, inline):
    client = ArgoClient(argo.url, token=argo.token, namespace="argo")
    build = submit_argo_workflow(client, SPECS, engine, inline=inline)
    result = build.wait(30, poll_interval=0.01)
    assert result.succeeded and digests(result) == EXPECTED
    (workflow,) = argo.objects.values()
    templates = workflow["spec"]["templates"]
    if inline:  # one shared build template, whatever the number of images
        assert len([t for t in templates if "container" in t]) == 1
    else:
        assert all("container" not in t for t in templates)


def test_argo_installed_templates_one_workflow_per_spec(argo):
    for name in ("kaniko-build", "buildkit-build"):
        argo.install(yaml.safe_load((ROOT / "workflows" / f"{name}.yaml").read_text()))
    client = ArgoClient(argo.url, token=argo.token, namespace="argo")
    specs = [BuildSpec(s.images, context=s.context, workspace_pvc="src", kaniko_cache_pvc="kaniko-cache") for s in SPECS]
    builds = submit_argo_templates(client, specs, "kaniko")
    assert len(builds) == len(argo.objects) == 3
    results = [b.wait(30, poll_interval=0.01) for b in builds]
    assert sorted(d for r in results for d in digests(r)) == EXPECTED


def test_argo_templates_need_existing_pvcs_named_per_spec(argo):
    client = ArgoClient(argo.url, token=argo.token, namespace="argo")
    specs = [SPECS[0], BuildSpec("registry.example.com/team/x:1")]
    with pytest.raises(SpecError) as caught:
        submit_argo_templates(client, specs, "buildkit")
    assert caught.value.field == "specs[1].workspace_pvc"
    assert argo.requests == []


@pytest.mark.parametrize("engine", ["buildkit", "kaniko", "buildah"])
def test_tekton_pipelinerun_for_many_specs(kube, tmp_path, engine):
    client = TektonClient(kubeconfig=str(kube.kubeconfig(tmp_path / "kubeconfig", namespace="ci")))
    build = submit_tekton(client, SPECS, engine)
    result = build.wait(30, poll_interval=0.01)
    assert result.succeeded and digests(result) == EXPECTED
    ((_, namespace, _),) = [k for k in kube.objects if k[0] == "PipelineRun"]
    assert namespace == "ci"


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_is_one_live_line_on_a_terminal_and_plain_lines_otherwise():
    statuses = [
        BuildStatus("wf-1", ""),
        BuildStatus("wf-1", "Running", (ImageResult("build-0", "Running"),)),
        BuildStatus("wf-1", "Running", (ImageResult("build-0", "Running"),)),
        BuildStatus("wf-1", "Succeeded", (ImageResult("build-0", "Succeeded", "r/a:1", "sha256:x"),)),
    ]
    live, plain = Terminal(), io.StringIO()
    for printer in (ProgressPrinter(live), ProgressPrinter(plain)):
        for elapsed, status in enumerate(statuses):
            printer(status, float(elapsed))
    assert live.getvalue().count("\r\x1b[2K") == 4 and live.getvalue().endswith("wf-1: Succeeded (build-0: Succeeded)\n")
    assert plain.getvalue().splitlines() == [
        "[     0s] wf-1: submitted",
        "[     1s] wf-1: Running (build-0: Running)",
        "[     3s] wf-1: Succeeded (build-0: Succeeded)",
    ]
