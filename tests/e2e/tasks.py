"""Run cachebuild's own templates as a cluster would: the Workflow or PipelineRun the library makes,
turned into Pods by Argo's and Tekton's own code (``argo-check pod``, ``tekton-check pod``), run by
the pod runner, their outputs read the way the controllers read them (Argo: the output parameter
files; Tekton: the termination message, through ``tekton-check results``).

A :class:`Run` is one Workflow or PipelineRun: its pods run in the order of its tasks (warm before
build), each a new pod with empty builder state; claims the run makes itself (a kaniko cache
``volumeClaimTemplate``) start empty.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cachebuild import BuildSpec, argo
from cachebuild.argo import templates as argo_templates
from cachebuild.tekton import pipelines
from e2e.images import pinned_versions, tool
from e2e.pods import Node, PodResult, Secret, run_pod
from e2e.registries import TestRegistry

REPO = Path(__file__).resolve().parents[2]
POD_TIMEOUT = 600.0
DOCKER_SECRET = "registry-credentials"  # noqa: S105 (a Secret's name)
CA_CONFIG_MAP = "registry-ca"
TEKTON_READY = "tekton.dev/ready"  # the annotation Tekton's controller sets once the pod runs


def _check_tool(kind: str) -> Path:
    versions = pinned_versions()
    version = versions["TEKTON_NEWEST_VERSION"] if kind == "tekton-check" else versions["ARGO_VERSION"]
    return tool(f"{kind}-{version}")


def _go_tool(kind: str, *args: str) -> str:
    done = subprocess.run([str(_check_tool(kind)), *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise AssertionError(f"{kind} {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


@dataclass
class PodRun:
    """One task's pod: what ran, its log, how long, and the outputs its controller would read."""

    task: str
    pod: dict[str, Any]
    result: PodResult
    seconds: float
    outputs: dict[str, str] = field(default_factory=dict)

    @property
    def log(self) -> str:
        return "".join(c.log for c in [*self.result.init_containers.values(), *self.result.containers.values()])


@dataclass
class Run:
    engine: str  # argo / tekton
    builder: str
    pods: list[PodRun]

    @property
    def seconds(self) -> float:
        return sum(p.seconds for p in self.pods)

    @property
    def log(self) -> str:
        return "\n".join(p.log for p in self.pods)

    @property
    def build(self) -> PodRun:
        return self.pods[-1]

    @property
    def digest(self) -> str:
        return self.build.outputs.get("image-digest") or self.build.outputs.get("IMAGE_DIGEST", "")

    @property
    def cache_hits(self) -> str:
        return self.build.outputs.get("cache-hits") or self.build.outputs.get("CACHE_HITS", "")

    @property
    def cache_report(self) -> dict[str, Any]:
        text = self.build.outputs.get("cache-report") or self.build.outputs.get("CACHE_REPORT", "")
        return json.loads(text) if text else {}

    @property
    def url(self) -> str:
        return self.build.outputs.get("image-url") or self.build.outputs.get("IMAGE_URL", "")


def registry_spec_fields(registry: TestRegistry) -> dict[str, Any]:
    """How a build reaches ``registry``: plain HTTP by name, or TLS with its CA and its credentials."""
    if registry.tls:
        return {"registry_ca": CA_CONFIG_MAP, "docker_config_secret": DOCKER_SECRET}
    return {"insecure_registries": [registry.address]}


def node_for(registry: TestRegistry, images: dict[str, Path], source: Path, work: Path) -> Node:
    """The node a run's pods find: the source claim, the registry's Secret and CA ConfigMap."""
    secrets = {DOCKER_SECRET: Secret.docker_config(registry.docker_config())} if registry.credentials else {}
    config_maps = {CA_CONFIG_MAP: {"ca.crt": registry.ca_file.read_text()}} if registry.ca_file else {}
    return Node(images, claims={"source": source}, secrets=secrets, config_maps=config_maps, work_dir=work)


def _new_claims(pod: dict[str, Any], node: Node, work: Path) -> None:
    """Claims the run creates itself (volumeClaimTemplates): new and empty, as a provisioner gives them."""
    for volume in pod["spec"].get("volumes") or []:
        claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
        if claim and claim not in node.claims:
            folder = work / "claims" / claim
            folder.mkdir(parents=True)
            node.claims[claim] = folder


def _run_pod(task: str, pod: dict[str, Any], node: Node, work: Path) -> PodRun:
    _new_claims(pod, node, work)
    start = time.monotonic()
    result = run_pod(pod, node, timeout=POD_TIMEOUT)
    run = PodRun(task, pod, result, time.monotonic() - start)
    (work / f"{task}.log").write_text(run.log)
    if result.phase != "Succeeded":
        raise AssertionError(f"pod {task} {result.phase}: {result.message}\n{run.log[-6000:]}")
    return run


# -- Argo -------------------------------------------------------------------------------------
def argo_run(spec: BuildSpec, builder: str, registry: TestRegistry, node: Node, work: Path) -> Run:
    """The Workflow ``cachebuild workflow --on argo`` prints (templateRef to the installed templates)."""
    workflow = argo.workflow(spec, builder).to_dict()
    workflow["metadata"] = {"name": f"e2e-{builder}"}
    workflow["spec"]["hostAliases"] = [registry.host_alias]  # the registry's name, as a cluster's DNS would give it
    work.mkdir(parents=True, exist_ok=True)
    path = work / "workflow.yaml"
    path.write_text(yaml.safe_dump(workflow))
    pods = []
    for task in _dag_tasks(workflow):
        args = ["--workflow", str(path), "--templates", str(REPO / "workflows"), "--task", task]
        pod = json.loads(_go_tool("argo-check", "pod", *args))
        pods.append(_argo_outputs(_run_pod(task, pod, node, work), workflow, task))
    return Run("argo", builder, pods)


def _dag_tasks(workflow: dict[str, Any]) -> list[str]:
    (main,) = [t for t in workflow["spec"]["templates"] if t["name"] == workflow["spec"]["entrypoint"]]
    return [t["name"] for t in main["dag"]["tasks"]]


def _argo_outputs(run: PodRun, workflow: dict[str, Any], task: str) -> PodRun:
    """Each output parameter read from its ``valueFrom.path`` in the main container (as Argo's executor does)."""
    (main,) = [t for t in workflow["spec"]["templates"] if t["name"] == workflow["spec"]["entrypoint"]]
    (call,) = [t for t in main["dag"]["tasks"] if t["name"] == task]
    name = call["templateRef"]["template"]
    (t,) = [t for t in argo_templates.TEMPLATES if t.name == name]
    for parameter in argo_templates.template_dict(t).get("outputs", {}).get("parameters", []):
        value_from = parameter["valueFrom"]
        try:
            run.outputs[parameter["name"]] = run.result.read_file("main", value_from["path"]).decode()
        except FileNotFoundError:
            run.outputs[parameter["name"]] = value_from.get("default", "")
    return run


# -- Tekton -----------------------------------------------------------------------------------
def tekton_run(spec: BuildSpec, builder: str, registry: TestRegistry, node: Node, work: Path) -> Run:
    """The PipelineRun ``cachebuild workflow --on tekton --tekton-ref installed`` prints."""
    run = pipelines.pipeline_run([spec], builder, pipelines.TaskOrigin("name"))
    run["metadata"] = {"name": f"e2e-{builder}"}
    run["spec"]["taskRunTemplate"] = {"podTemplate": {"hostAliases": [registry.host_alias]}}
    work.mkdir(parents=True, exist_ok=True)
    path = work / "pipelinerun.yaml"
    path.write_text(yaml.safe_dump(run))
    pods = []
    for task in [t["name"] for t in run["spec"]["pipelineSpec"]["tasks"]]:
        args = ["--pipelinerun", str(path), "--pipeline-task", task, "--repo", str(REPO)]
        pods.append(_tekton_pod(task, args, node, work))
    return Run("tekton", builder, pods)


def tekton_task_run(task_run: dict[str, Any], builder: str, registry: TestRegistry, node: Node, work: Path) -> Run:
    """One TaskRun (``taskRef: {name}``, as a user applies it) through the TaskRun reconciler's pod."""
    task_run = {**task_run, "metadata": {"name": f"e2e-{builder}"}}
    task_run["spec"] = {**task_run["spec"], "podTemplate": {"hostAliases": [registry.host_alias]}}
    work.mkdir(parents=True, exist_ok=True)
    path = work / "taskrun.yaml"
    path.write_text(yaml.safe_dump(task_run))
    return Run("tekton", builder, [_tekton_pod("run", ["--taskrun", str(path), "--repo", str(REPO)], node, work)])


def _tekton_pod(task: str, args: list[str], node: Node, work: Path) -> PodRun:
    pod = json.loads(_go_tool("tekton-check", "pod", *args))
    pod.setdefault("metadata", {}).setdefault("annotations", {})[TEKTON_READY] = "READY"
    done = _run_pod(task, pod, node, work)
    terminations = []
    for name, container in done.result.containers.items():
        file = work / f"{task}-{name}.termination"
        file.write_text(container.termination_message)
        terminations += ["--termination", f"{name}={file}"]
    results = json.loads(_go_tool("tekton-check", "results", *args, *terminations))
    for result in results.get("results") or []:  # none for kaniko-warm
        value = result["value"]
        done.outputs[result["name"]] = value if isinstance(value, str) else json.dumps(value)
    return done


def run(engine: str, spec: BuildSpec, builder: str, registry: TestRegistry, node: Node, work: Path) -> Run:
    return (argo_run if engine == "argo" else tekton_run)(spec, builder, registry, node, work)
