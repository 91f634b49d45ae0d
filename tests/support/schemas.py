"""Strict validation against the real CRDs in ``../shared/schemas`` (what ``kubectl apply --validate=strict`` does).

Every object schema that lists ``properties`` and does not set
``x-kubernetes-preserve-unknown-fields: true`` gets ``additionalProperties: false``;
``x-kubernetes-int-or-string`` means integer or string. ``metadata`` is checked against the
fields of ObjectMeta a manifest may set. The schemas folder is ``$CACHEBUILD_SCHEMAS`` or
``../shared/schemas`` from the project root.
"""

from __future__ import annotations

import copy
import functools
import os
from pathlib import Path
from typing import Any

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = Path(os.environ.get("CACHEBUILD_SCHEMAS", ROOT.parent / "shared" / "schemas"))

CRD_FILES = {
    ("argoproj.io/v1alpha1", "Workflow"): "argo/argoproj.io_workflows.yaml",
    ("argoproj.io/v1alpha1", "WorkflowTemplate"): "argo/argoproj.io_workflowtemplates.yaml",
    ("argoproj.io/v1alpha1", "ClusterWorkflowTemplate"): "argo/argoproj.io_clusterworkflowtemplates.yaml",
    ("tekton.dev/v1", "Task"): "tekton/300-task.yaml",
    ("tekton.dev/v1", "TaskRun"): "tekton/300-taskrun.yaml",
    ("tekton.dev/v1", "Pipeline"): "tekton/300-pipeline.yaml",
    ("tekton.dev/v1", "PipelineRun"): "tekton/300-pipelinerun.yaml",
    ("tekton.dev/v1alpha1", "StepAction"): "tekton/300-stepaction.yaml",
}

_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
OBJECT_META: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "maxLength": 253, "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"},
        "generateName": {"type": "string"},
        "namespace": {"type": "string"},
        "labels": _STRING_MAP,
        "annotations": _STRING_MAP,
        "uid": {"type": "string"},
        "resourceVersion": {"type": "string"},
        "creationTimestamp": {"type": ["string", "null"]},
        "generation": {"type": "integer"},
        "finalizers": {"type": "array", "items": {"type": "string"}},
        "ownerReferences": {"type": "array"},
        "managedFields": {"type": "array"},
    },
}


def _strict(node: Any) -> Any:
    if isinstance(node, dict):
        node = {k: _strict(v) for k, v in node.items()}
        if node.pop("x-kubernetes-int-or-string", False):
            node.pop("type", None)
            node["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        preserve = node.get("x-kubernetes-preserve-unknown-fields") is True
        if "properties" in node and not preserve and "additionalProperties" not in node:
            node["additionalProperties"] = False
        if node.get("nullable") is True and isinstance(node.get("type"), str):
            node["type"] = [node["type"], "null"]
        return node
    if isinstance(node, list):
        return [_strict(v) for v in node]
    return node


@functools.cache
def validator(api_version: str, kind: str) -> jsonschema.protocols.Validator:
    path = SCHEMAS / CRD_FILES[(api_version, kind)]
    crd = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    version = api_version.split("/")[1]
    (entry,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    schema = _strict(copy.deepcopy(entry["schema"]["openAPIV3Schema"]))
    schema["properties"]["metadata"] = OBJECT_META
    schema["required"] = sorted(set(schema.get("required", [])) | {"apiVersion", "kind", "metadata"})
    schema["properties"]["apiVersion"] = {"const": api_version}
    schema["properties"]["kind"] = {"const": kind}
    return jsonschema.Draft7Validator(schema)


def errors(manifest: dict[str, Any]) -> list[str]:
    """Every schema violation in ``manifest`` (empty when valid), as ``path: message``."""
    key = (manifest.get("apiVersion"), manifest.get("kind"))
    if key not in CRD_FILES:
        return [f"unknown apiVersion/kind {key}"]
    found = validator(*key).iter_errors(manifest)  # type: ignore[arg-type]
    return sorted(f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in found)


def validate(manifest: dict[str, Any]) -> None:
    """Raise ``AssertionError`` listing every violation."""
    problems = errors(manifest)
    if problems:
        name = manifest.get("metadata", {}).get("name") or manifest.get("metadata", {}).get("generateName")
        raise AssertionError(f"{manifest.get('kind')} {name!r} fails strict validation:\n  " + "\n  ".join(problems[:20]))
