"""Tekton Pipelines, PipelineRuns and TaskRuns for :class:`~cachebuild.spec.BuildSpec`\\ s.

Tasks are referenced one of three ways (:data:`TaskSource`): through the git resolver
(``taskRef: {resolver: git, params: [url, revision, pathInRepo]}``,
https://tekton.dev/docs/pipelines/git-resolver/), embedded (``taskSpec``), or by the name of a
Task installed in the namespace (``taskRef: {name}``). A kaniko build is a warm → build chain
sharing the ``cache`` workspace (a PVC: an emptyDir does not cross Pods).
Fields: https://tekton.dev/docs/pipelines/pipelines/ , /pipelineruns/ , /taskruns/ .
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from cachebuild import __version__
from cachebuild.builders import buildah, buildkit, spec_values
from cachebuild.errors import SpecError
from cachebuild.spec import BuildSpec, check_batch
from cachebuild.tekton.tasks import (
    BUILD_TASK,
    BUILDER_IMAGE,
    CACHE,
    CACHE_HITS,
    CACHE_MOUNTS,
    CACHE_REPORT,
    DOCKERCONFIG,
    IMAGE_DIGEST,
    IMAGE_URL,
    KANIKO_WARM,
    PARAMS,
    REGISTRY_CA,
    SOURCE,
    TaskDef,
    task_path,
)

TaskSource = Literal["git", "inline", "name"]
DEFAULT_GIT_URL = "https://github.com/cachebuild/cachebuild.git"
DEFAULT_GIT_REVISION = f"v{__version__}"
CACHE_CLAIM_SIZE = "5Gi"
"""Size of the per-run PVC a kaniko chain gets when the spec names no ``kaniko_cache_pvc``."""


@dataclass(frozen=True)
class TaskOrigin:
    """Where Tasks come from: ``name`` (installed in the namespace, the default), ``git`` (the resolver,
    ``url``@``revision``; the default ``url`` is a placeholder) or ``inline``."""

    source: TaskSource = "name"
    url: str = DEFAULT_GIT_URL
    revision: str = DEFAULT_GIT_REVISION

    def reference(self, task: TaskDef) -> dict[str, Any]:
        """``taskRef`` or ``taskSpec`` of a PipelineTask or TaskRun."""
        if self.source == "inline":
            return {"taskSpec": task.manifest()["spec"]}
        if self.source == "name":
            return {"taskRef": {"name": task.name}}
        params = [
            {"name": "url", "value": self.url},
            {"name": "revision", "value": self.revision},
            {"name": "pathInRepo", "value": task_path(task)},
        ]
        return {"taskRef": {"resolver": "git", "params": params}}


def param_values(task: TaskDef, spec: BuildSpec) -> list[dict[str, Any]]:
    """The Task params for ``spec``: the required ones and every one that differs from its default."""
    if len(spec.images) > 1:
        raise SpecError("images", list(spec.images), "a Tekton build pushes one image (IMAGE, the IMAGE_URL result); give one")
    values = spec_values(spec)
    out: list[dict[str, Any]] = []
    declared = {p.name for p in task.params}
    for key, param in PARAMS.items():
        if param.name not in declared:
            continue
        value = values[key]
        wanted: str | list[str] = list(value) if param.type == "array" else (value if isinstance(value, str) else value[0])
        if wanted != param.default:
            out.append({"name": param.name, "value": wanted})
    if spec.builder_image:
        out.append({"name": BUILDER_IMAGE, "value": spec.builder_image})
    return out


def chain(spec: BuildSpec, engine: str) -> list[TaskDef]:
    """The Tasks that build ``spec``: a kaniko build is warmed first when the spec names ``warm_images`` (as on Argo)."""
    spec.check_cluster()
    spec.check_engine(engine)
    build = BUILD_TASK[engine]
    if engine == "kaniko" and spec.warm_images:
        return [KANIKO_WARM, build]
    return [build]


CACHE_SUBPATH = ".cachebuild/kaniko-cache"
"""Where a kaniko warm → build chain keeps the warmed base images inside the source PVC."""


@dataclass(frozen=True)
class _Bindings:
    """The workspace names one spec's tasks use in a Pipeline, and the PipelineRun bindings it adds.

    ``names``: task workspace → (Pipeline workspace, subPath or "").
    """

    names: dict[str, tuple[str, str]]
    bindings: list[dict[str, Any]]


def _bindings(spec: BuildSpec, engine: str, suffix: str, shared: dict[str, str]) -> _Bindings:
    """Builds that use the same PVC or Secret share one workspace (``shared``: binding → name); others get their own.

    Tekton's default ``coschedule: workspaces`` refuses a TaskRun bound to two PersistentVolumeClaims
    (``more than one PersistentVolumeClaim is bound``, workspace.ValidateOnlyOnePVCIsUsed): a kaniko
    warm → build chain keeps its cache in the source PVC (``subPath``) rather than in a claim of its own.
    """
    names: dict[str, tuple[str, str]] = {}
    bindings: list[dict[str, Any]] = []

    def bind(role: str, volume: dict[str, Any], *, shareable: bool = True) -> None:
        key = f"{role}:{json.dumps(volume, sort_keys=True)}"
        if shareable and key in shared:
            names[role] = (shared[key], "")
            return
        names[role] = (role + suffix, "")
        if shareable:
            shared[key] = names[role][0]
        bindings.append({"name": names[role][0], **volume})

    if spec.workspace_pvc:
        bind(SOURCE, {"persistentVolumeClaim": {"claimName": spec.workspace_pvc}})
    elif spec.git is not None:
        bind(SOURCE, {"emptyDir": {}}, shareable=False)
    else:
        raise SpecError(
            "workspace_pvc",
            None,
            f"the context {spec.context!r} is a workspace path: name the PVC that holds it (or use a git context)",
        )
    if spec.docker_config_secret:
        bind(DOCKERCONFIG, {"secret": {"secretName": spec.docker_config_secret}})
    if spec.registry_ca:
        # A ConfigMap or a Secret: Tekton binds either; a ConfigMap is the usual home of a CA bundle.
        bind(REGISTRY_CA, {"configMap": {"name": spec.registry_ca}})
    if spec.cache_mounts_pvc:
        _bind_cache_mounts(spec, engine, names, bind)
    if engine == "kaniko" and spec.warm_images:
        if spec.kaniko_cache_pvc and spec.workspace_pvc:
            raise SpecError(
                "kaniko_cache_pvc",
                spec.kaniko_cache_pvc,
                f"a kaniko build would bind two PersistentVolumeClaims ({spec.workspace_pvc!r} and this one), which "
                "Tekton refuses under its default coschedule: workspaces ('more than one PersistentVolumeClaim is "
                f"bound'): leave it out (the warmed images then live in {CACHE_SUBPATH} of the workspace PVC) or "
                "use a git context",
            )
        if spec.kaniko_cache_pvc:
            bind(CACHE, {"persistentVolumeClaim": {"claimName": spec.kaniko_cache_pvc}})
        elif spec.workspace_pvc:
            names[CACHE] = (names[SOURCE][0], CACHE_SUBPATH)
        else:
            claim = {"spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": CACHE_CLAIM_SIZE}}}}
            bind(CACHE, {"volumeClaimTemplate": claim})  # the run's one claim (the source is an emptyDir)
    return _Bindings(names, bindings)


CACHE_MOUNTS_SUBPATH = {"buildkit": buildkit.CACHE_MOUNTS_SUBPATH, "buildah": buildah.CACHE_MOUNTS_SUBPATH}


def _bind_cache_mounts(spec: BuildSpec, engine: str, names: dict[str, tuple[str, str]], bind: Any) -> None:
    """The ``cache-mounts`` workspace: a subPath of ``cache_mounts_pvc``, which is the source PVC or the run's only claim."""
    claim = spec.cache_mounts_pvc
    spec.check_engine(engine)  # kaniko refuses it, with the reason
    sub_path = CACHE_MOUNTS_SUBPATH[engine]
    if spec.workspace_pvc and claim != spec.workspace_pvc:
        raise SpecError(
            "cache_mounts_pvc",
            claim,
            f"a build would bind two PersistentVolumeClaims ({spec.workspace_pvc!r} and this one), which Tekton "
            "refuses under its default coschedule: workspaces ('more than one PersistentVolumeClaim is bound'): "
            f"give the workspace PVC (the cache mounts then live in {sub_path} of it) or use a git context",
        )
    if claim == spec.workspace_pvc:
        names[CACHE_MOUNTS] = (names[SOURCE][0], sub_path)
        return
    bind(CACHE_MOUNTS, {"persistentVolumeClaim": {"claimName": claim}})
    names[CACHE_MOUNTS] = (names[CACHE_MOUNTS][0], sub_path)


def _task_workspaces(task: TaskDef, names: dict[str, tuple[str, str]]) -> list[dict[str, str]]:
    declared = {w["name"] for w in task.workspaces()}
    out = []
    for name, (bound, sub_path) in names.items():
        if name in declared:
            out.append({"name": name, "workspace": bound, **({"subPath": sub_path} if sub_path else {})})
    return out


def _task_run_bindings(task: TaskDef, ws: _Bindings) -> list[dict[str, Any]]:
    """A TaskRun's own bindings: each task workspace bound to its volume (a subPath of another's when shared)."""
    by_name = {b["name"]: b for b in ws.bindings}
    declared = {w["name"] for w in task.workspaces()}
    out = []
    for name, (bound, sub_path) in ws.names.items():
        if name in declared:
            out.append({**by_name[bound], "name": name, **({"subPath": sub_path} if sub_path else {})})
    return out


def _suffixes(specs: Sequence[BuildSpec]) -> list[str]:
    return [""] if len(specs) == 1 else [f"-{i}" for i in range(len(specs))]


def _spec_part(
    spec: BuildSpec, engine: str, origin: TaskOrigin, suffix: str, many: bool, shared: dict[str, str]
) -> dict[str, list[dict[str, Any]]]:
    """The workspaces, bindings, tasks and results one spec adds to the Pipeline."""
    ws = _bindings(spec, engine, suffix, shared)
    part: dict[str, list[dict[str, Any]]] = {"workspaces": [], "bindings": ws.bindings, "tasks": [], "results": []}
    for binding in ws.bindings:
        item: dict[str, Any] = {"name": binding["name"]}
        if "secret" in binding:
            item["optional"] = True
        part["workspaces"].append(item)
    previous: str | None = None
    for task in chain(spec, engine):
        name = ("warm" if task is KANIKO_WARM else "build") + suffix
        entry: dict[str, Any] = {"name": name, **origin.reference(task)}
        if previous:
            entry["runAfter"] = [previous]
        params = param_values(task, spec)
        if params:
            entry["params"] = params
        entry["workspaces"] = _task_workspaces(task, ws.names)
        part["tasks"].append(entry)
        previous = name
    build = "build" + suffix
    prefix = f"BUILD_{suffix[1:]}_" if many else ""
    part["results"] = [
        {"name": prefix + name, "value": f"$(tasks.{build}.results.{name})"}
        for name in (IMAGE_URL, IMAGE_DIGEST, CACHE_HITS, CACHE_REPORT)
    ]
    return part


def _pipeline_spec(specs: Sequence[BuildSpec], engine: str, origin: TaskOrigin) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    if not specs:
        raise SpecError("specs", [], "at least one build spec is required")
    check_batch(specs, engine)
    many = len(specs) > 1
    parts: dict[str, list[dict[str, Any]]] = {"workspaces": [], "bindings": [], "tasks": [], "results": []}
    shared: dict[str, str] = {}
    for i, (spec, suffix) in enumerate(zip(specs, _suffixes(specs), strict=True)):
        try:
            part = _spec_part(spec, engine, origin, suffix, many, shared)
        except SpecError as err:
            raise err.renamed(f"specs[{i}].{err.field}") if many else err from None
        for key, items in part.items():
            parts[key] += items
    spec_body: dict[str, Any] = {
        "description": f"Builds {', '.join(s.image for s in specs)} with {engine} (generated by cachebuild).",
        "workspaces": parts["workspaces"],
        "tasks": parts["tasks"],
        "results": parts["results"],
    }
    return spec_body, parts["bindings"]


def pipeline(specs: Sequence[BuildSpec], engine: str, name: str, origin: TaskOrigin | None = None) -> dict[str, Any]:
    """A Pipeline building ``specs``; bind its workspaces with :func:`workspace_bindings`."""
    body, _ = _pipeline_spec(specs, engine, origin or TaskOrigin())
    return {"apiVersion": "tekton.dev/v1", "kind": "Pipeline", "metadata": {"name": name}, "spec": body}


def workspace_bindings(specs: Sequence[BuildSpec], engine: str) -> list[dict[str, Any]]:
    """The PipelineRun ``workspaces`` for :func:`pipeline`'s workspaces (PVCs, Secrets, emptyDirs)."""
    _, bindings = _pipeline_spec(specs, engine, TaskOrigin())
    return bindings


def _metadata(generate_name: str, namespace: str | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"generateName": generate_name}
    if namespace:
        meta["namespace"] = namespace
    return meta


def pipeline_run(
    specs: Sequence[BuildSpec],
    engine: str,
    origin: TaskOrigin | None = None,
    *,
    namespace: str | None = None,
    service_account: str | None = None,
    generate_name: str = "cachebuild-",
) -> dict[str, Any]:
    """A ready-to-create PipelineRun (embedded ``pipelineSpec``) building every spec in parallel."""
    body, bindings = _pipeline_spec(specs, engine, origin or TaskOrigin())
    spec: dict[str, Any] = {"pipelineSpec": body, "workspaces": bindings}
    if service_account:
        spec["taskRunTemplate"] = {"serviceAccountName": service_account}
    return {"apiVersion": "tekton.dev/v1", "kind": "PipelineRun", "metadata": _metadata(generate_name, namespace), "spec": spec}


def task_run(
    spec: BuildSpec,
    task: TaskDef,
    origin: TaskOrigin | None = None,
    *,
    namespace: str | None = None,
    service_account: str | None = None,
    generate_name: str | None = None,
) -> dict[str, Any]:
    """A TaskRun of one Task for ``spec`` (kaniko-build alone: its cache workspace starts empty)."""
    spec.check_cluster()
    spec.check_engine(task.engine)
    ws = _bindings(spec, task.engine, "", {})
    body: dict[str, Any] = {**(origin or TaskOrigin()).reference(task)}
    params = param_values(task, spec)
    if params:
        body["params"] = params
    body["workspaces"] = _task_run_bindings(task, ws)
    if service_account:
        body["serviceAccountName"] = service_account
    meta = _metadata(generate_name or f"{task.name}-", namespace)
    return {"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "metadata": meta, "spec": body}
