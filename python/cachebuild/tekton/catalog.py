"""The Tekton half of the catalog: ``tasks/<name>/<version>/{<name>.yaml, README.md, samples/, tests/run.yaml}``.

Layout and e2e form of tektoncd/catalog (https://github.com/tektoncd/catalog#catalog-structure);
:mod:`cachebuild.catalog` writes these files and indexes :func:`entries` in ``catalog.yaml``.
"""

from __future__ import annotations

import re
from typing import Any

from cachebuild.builders import buildah, buildkit, kaniko
from cachebuild.markdown import GENERATED_HEADER, cell, code, default_cell, fenced, table
from cachebuild.spec import BuildSpec
from cachebuild.tekton.pipelines import CACHE_SUBPATH, DEFAULT_GIT_REVISION, DEFAULT_GIT_URL, TaskOrigin, pipeline_run, task_run
from cachebuild.tekton.tasks import BUILDKIT, CACHE_MOUNTS, KANIKO_WARM, PARAMS, TASKS, VERSION, TaskDef, task_path
from cachebuild.yamltext import dump_yaml

_REGISTRY = "registry.example.com/team"
_GIT = TaskOrigin("git")  # the samples and README examples reference the Tasks through the git resolver
_SECRET_NAME = "registry-credentials"  # noqa: S105 -- the name of a Secret in the samples, not a credential
_E2E_REGISTRY = "localhost:5000"
"""tests/run.yaml pushes here: the catalog e2e adds a registry sidecar on localhost:5000."""
_E2E_CONTEXT = "https://github.com/kelseyhightower/nocode.git#master"


def _sample_spec(engine: str) -> BuildSpec:
    return BuildSpec(
        f"{_REGISTRY}/app:1.0",
        context="services/api",
        cache_repo=f"{_REGISTRY}/app/cache",
        build_args={"VERSION": "1.0"},
        docker_config_secret=_SECRET_NAME,
        workspace_pvc="app-source",
        warm_images=("docker.io/library/python:3.12-slim",) if engine == "kaniko" else (),
        cache_ttl="168h" if engine != "buildkit" else None,
    )


def _samples(task: TaskDef) -> dict[str, dict[str, Any]]:
    if task.engine == "kaniko":
        return {
            "warm-then-build.yaml": pipeline_run(
                [_sample_spec("kaniko")], "kaniko", _GIT, generate_name="kaniko-warm-then-build-"
            )
        }
    if task is BUILDKIT:
        return {
            "registry-cache.yaml": pipeline_run([_sample_spec("buildkit")], "buildkit", _GIT, generate_name="buildkit-build-")
        }
    return {"registry-cache.yaml": pipeline_run([_sample_spec("buildah")], "buildah", _GIT, generate_name="buildah-build-")}


def _e2e(task: TaskDef) -> dict[str, Any]:
    """tests/run.yaml: run the installed Task (``taskRef: {name}``) on a public git context."""
    spec = BuildSpec(
        f"{_E2E_REGISTRY}/cachebuild-e2e/{task.name}:e2e",
        context=_E2E_CONTEXT,
        warm_images=("docker.io/library/alpine:3.20",) if task is KANIKO_WARM else (),
        insecure_registries=[_E2E_REGISTRY],  # the catalog e2e's registry speaks plain HTTP
    )
    if task is KANIKO_WARM:
        return pipeline_run([spec], "kaniko", TaskOrigin("name"), generate_name="kaniko-warm-e2e-")
    return task_run(spec, task, TaskOrigin("name"), generate_name=f"{task.name}-e2e-")


def _param_rows(task: TaskDef) -> list[str]:
    rows = []
    for p in task.params:
        note = task.param_notes.get(p.name, "")
        rows.append([code(p.name), p.type, default_cell(p.default), cell(p.description + (" " + note if note else ""))])
    return table(["name", "type", "default", "description"], rows)


GIT_URL_NOTE = (
    f"The git resolver `url` in these examples, `{DEFAULT_GIT_URL}`, is a placeholder (the project's public "
    "repository is not known yet): **replace it with the URL of your clone or fork of cachebuild**, and `revision` "
    f"(`{DEFAULT_GIT_REVISION}`) with a tag or commit of it. `cachebuild workflow --on tekton --tekton-git-url URL "
    "--tekton-git-revision REV` prints PipelineRuns that use yours; without them it references the Tasks installed "
    "in the namespace by name (`taskRef: {name: …}`, after `kubectl apply -f`)."
)


def _cache_notes(task: TaskDef) -> list[str]:
    """What the remote cache does with the Task's builder (its notes name the Argo params: given in Tekton's names)."""
    if task is KANIKO_WARM:
        return ["None: the warmer fills the `cache` workspace with base images; kaniko-build reads it."]
    notes = {"buildkit": buildkit.CACHE_NOTES, "kaniko": kaniko.CACHE_NOTES, "buildah": buildah.CACHE_NOTES}[task.engine]
    names = {p.name.lower().replace("_", "-"): p.name for p in PARAMS.values()}
    text = re.sub(r"`(cache-[a-z-]+|extra-args)`", lambda m: f"`{names.get(m[1], m[1])}`", notes)
    return [text, "", "`CACHE_HITS` and `CACHE_REPORT` say what the cache did in each run (Results)."]


def _workspace_traits(workspace: dict[str, Any]) -> str:
    traits = [t for t, on in (("optional", workspace.get("optional")), ("read-only", workspace.get("readOnly"))) if on]
    return f" ({', '.join(traits)})" if traits else ""


def cache_mount_notes(task: TaskDef) -> str:
    """What the optional ``cache-mounts`` workspace keeps, and the caveats."""
    if task is KANIKO_WARM:
        return "None: the warmer runs no Dockerfile step."
    notes = {"buildkit": buildkit.CACHE_MOUNT_NOTES, "kaniko": kaniko.CACHE_MOUNT_NOTES, "buildah": buildah.CACHE_MOUNT_NOTES}
    if not task.cache_mounts:
        return notes[task.engine]
    return (
        f"`RUN --mount=type=cache` directories last one build unless the optional `{CACHE_MOUNTS}` workspace is bound "
        "to a PersistentVolumeClaim. Tekton's default `coschedule: workspaces` binds one claim per TaskRun: bind a "
        "`subPath` of the `source` claim (`cachebuild workflow --cache-mounts-pvc` does, or binds a claim of its own "
        f"when the context is git). {notes[task.engine]}"
    )


def readme(task: TaskDef) -> str:
    """The Task's README: interface, Pod Security, a TaskRun and a Pipeline using the git resolver."""
    manifest = task.manifest()
    spec = _sample_spec(task.engine)
    if task is KANIKO_WARM:
        spec = BuildSpec(
            spec.image,
            context=spec.context,
            docker_config_secret=_SECRET_NAME,
            workspace_pvc="app-source",
            warm_images=("docker.io/library/golang:1.23", "docker.io/library/alpine:3.20"),
        )
    run = dump_yaml(task_run(spec, task, _GIT), header=False)
    chain_intro = (
        "kaniko-warm, then kaniko-build, sharing the `cache` workspace (a PVC: an emptyDir does not cross Pods). "
        f"It is the `{CACHE_SUBPATH}` folder of the source PVC, not a claim of its own: Tekton's default "
        "`coschedule: workspaces` refuses a TaskRun bound to two PersistentVolumeClaims (`more than one "
        "PersistentVolumeClaim is bound`). The same git resolver `url` placeholder:"
        if task.engine == "kaniko"
        else "A PipelineRun with an embedded Pipeline that runs the Task (the same git resolver `url` placeholder):"
    )
    chain = dump_yaml(_samples(task)[next(iter(_samples(task)))], header=False)
    workspaces = [f"- `{w['name']}`{_workspace_traits(w)}: {w['description']}" for w in manifest["spec"]["workspaces"]]
    arrays = ", ".join(code(name) for name, _ in task.arrays)
    results = [f"- `{r['name']}`: {r['description']}" for r in manifest["spec"].get("results", [])] or ["None."]
    lines = [
        f"# {task.name}",
        "",
        manifest["spec"]["description"],
        "",
        "Generated by `cachebuild render`; do not edit by hand.",
        "",
        "## Install",
        "",
        "From a clone of cachebuild:",
        "",
        *fenced("sh", f"kubectl apply -f {task_path(task)}"),
        "",
        "or reference it with the git resolver (below).",
        "",
        "## Parameters",
        "",
        *_param_rows(task),
        "",
        f"Array params ({arrays}) reach the step as `args`, each item exactly one argument; "
        "string params reach it as `env`. No param is ever part of a script. An array item must not contain a "
        "newline or start with `--cachebuild-array=`.",
        "",
        "## Remote cache",
        "",
        *_cache_notes(task),
        "",
        "## Cache mounts",
        "",
        cache_mount_notes(task),
        "",
        "## Workspaces",
        "",
        *workspaces,
        "",
        "## Results",
        "",
        *results,
        "",
        "## Pod Security",
        "",
        task.pod_security,
        "",
        "No step sets `privileged: true`. Credentials are only read from the read-only `dockerconfig` workspace "
        "(linked to where the builder reads them, never printed or passed as params, args or env values).",
        "",
        "## TaskRun",
        "",
        GIT_URL_NOTE,
        "",
        *fenced("yaml", run),
        "",
        "## PipelineRun (Tasks from the git resolver)",
        "",
        chain_intro,
        "",
        *fenced("yaml", chain),
        "",
        "## Tests",
        "",
        f"`tests/run.yaml` runs the installed Task on a public git context and pushes to `{_E2E_REGISTRY}` "
        "(the catalog e2e adds a registry sidecar there).",
        "",
    ]
    return "\n".join(lines)


def files() -> dict[str, str]:
    """Every file under ``tasks/``."""
    out: dict[str, str] = {}
    for task in TASKS:
        folder = f"tasks/{task.name}/{VERSION}"
        out[task_path(task)] = dump_yaml(task.manifest())
        out[f"{folder}/README.md"] = GENERATED_HEADER + readme(task)
        for name, sample in _samples(task).items():
            out[f"{folder}/samples/{name}"] = dump_yaml(sample)
        out[f"{folder}/tests/run.yaml"] = dump_yaml(_e2e(task))
    return out


def entries() -> list[dict[str, Any]]:
    """One ``catalog.yaml`` entry per Task."""
    out = []
    for task in TASKS:
        manifest = task.manifest()
        out.append(
            {
                "name": task.name,
                "version": VERSION,
                "kind": "Task",
                "path": task_path(task),
                "description": manifest["spec"]["description"],
                "params": [{"name": p.name, "type": p.type, "default": p.default} for p in task.params],
                "results": [r["name"] for r in manifest["spec"].get("results", [])],
                "workspaces": [w["name"] for w in manifest["spec"]["workspaces"]],
                "images": [task.image],
            }
        )
    return out
