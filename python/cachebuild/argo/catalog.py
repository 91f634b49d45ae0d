"""The rendered ``workflows/`` folder and its ``catalog.yaml`` entries (see :mod:`cachebuild.catalog`).

* ``workflows/<task>.yaml``: the WorkflowTemplate, ``workflows/<task>-cluster.yaml``: the same as a
  ClusterWorkflowTemplate;
* ``workflows/kustomization.yaml``: ``kubectl apply -k workflows/`` installs all of them;
* ``workflows/README.md``: the user documentation (:mod:`cachebuild.argo.readme`);
* ``workflows/examples/``: Workflows printed by :func:`cachebuild.argo.workflow` (by reference,
  cluster-scoped, inline, many images).
"""

from __future__ import annotations

from typing import Any

from cachebuild.argo.compose import workflow
from cachebuild.argo.readme import readme
from cachebuild.argo.templates import TEMPLATES, VERSION, BuildTemplate, template_outputs, workflow_template
from cachebuild.builders import WORKSPACE, kaniko
from cachebuild.markdown import GENERATED_HEADER
from cachebuild.spec import BuildSpec

FOLDER = "workflows"
_IMAGE = "registry.example.com/team/app:1.0"


def template_path(t: BuildTemplate, *, cluster_scope: bool = False) -> str:
    return f"{FOLDER}/{t.task}{'-cluster' if cluster_scope else ''}.yaml"


def _examples() -> dict[str, dict[str, Any]]:
    """Example Workflows (each is also a test: it must validate and build what it says)."""
    app = BuildSpec(_IMAGE, context="app", workspace_pvc="source", docker_config_secret="registry-credentials")  # noqa: S106 (a Secret name)
    return {
        "buildkit-build.yaml": workflow(app, "buildkit").to_dict(),
        "kaniko-warm-and-build-cluster.yaml": workflow(
            BuildSpec(
                _IMAGE,
                context="https://github.com/example/app.git#main:app",
                warm_images=["docker.io/library/golang:1.23", "docker.io/library/alpine:3.20"],
                kaniko_cache_pvc="kaniko-cache",
                docker_config_secret="registry-credentials",  # noqa: S106 (a Secret name)
            ),
            "kaniko",
            cluster_scope=True,
        ).to_dict(),
        "buildah-build-inline.yaml": workflow(
            BuildSpec(_IMAGE, context="https://github.com/example/app.git#v1.0", cache_ttl="168h"), "buildah", inline=True
        ).to_dict(),
        "buildkit-many-images.yaml": workflow(
            [
                BuildSpec(
                    f"registry.example.com/team/{name}:1.0",
                    context=name,
                    platforms=["linux/amd64", "linux/arm64"],
                    workspace_pvc="source",
                )
                for name in ("api", "web", "worker")
            ],
            "buildkit",
        ).to_dict(),
    }


def manifests() -> dict[str, dict[str, Any]]:
    """Every rendered manifest by path (for tests), kustomization excluded."""
    out: dict[str, dict[str, Any]] = {}
    for t in TEMPLATES:
        for cluster_scope in (False, True):
            out[template_path(t, cluster_scope=cluster_scope)] = workflow_template(t, cluster_scope=cluster_scope).to_dict()
    for name, manifest in _examples().items():
        out[f"{FOLDER}/examples/{name}"] = manifest
    return out


def files() -> dict[str, str]:
    from cachebuild.yamltext import dump_yaml

    out = {path: dump_yaml(manifest) for path, manifest in manifests().items()}
    resources = [
        template_path(t, cluster_scope=cluster_scope).removeprefix(f"{FOLDER}/")
        for t in TEMPLATES
        for cluster_scope in (False, True)
    ]
    kustomization = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": resources}
    out[f"{FOLDER}/kustomization.yaml"] = dump_yaml(kustomization)
    out[f"{FOLDER}/README.md"] = GENERATED_HEADER + readme()
    return out


def entries() -> list[dict[str, Any]]:
    """One catalog entry per (Cluster)WorkflowTemplate."""
    out = []
    for t in TEMPLATES:
        volumes: list[dict[str, Any]] = [{"name": "workspace-pvc", "mountPath": WORKSPACE}]
        if t.uses_cache_pvc:
            volumes.append({"name": "cache-pvc", "mountPath": kaniko.CACHE_DIR})
        volumes.append({"name": "docker-config-secret", "mountPath": t.docker_config_dir, "readOnly": True})
        for cluster_scope in (False, True):
            out.append(
                {
                    "name": t.name,
                    "version": VERSION,
                    "kind": "ClusterWorkflowTemplate" if cluster_scope else "WorkflowTemplate",
                    "path": template_path(t, cluster_scope=cluster_scope),
                    "description": t.description,
                    "params": [{"name": p.name, "type": "string", "default": p.default} for p in t.params()],
                    "results": [p.name for p in template_outputs(t)],
                    "workspaces": volumes,
                    "images": [t.image],
                }
            )
    return out
