"""What the Argo controller does with a template call, for tests: resolve inputs and substitute them."""

from __future__ import annotations

import re
from typing import Any

_INPUT = re.compile(r"\{\{inputs\.parameters\.([A-Za-z0-9_-]+)\}\}")


def inputs(template: dict[str, Any], arguments: list[dict[str, str]], workflow_name: str = "wf-test") -> dict[str, str]:
    """Each input parameter's value: the caller's argument, else the template default (missing required = error)."""
    given = {a["name"]: a["value"].replace("{{workflow.name}}", workflow_name) for a in arguments}
    declared = {p["name"]: p for p in template["inputs"]["parameters"]}
    unknown = set(given) - set(declared)
    assert not unknown, f"arguments the template does not declare: {sorted(unknown)}"
    values = {}
    for name, param in declared.items():
        if name in given:
            values[name] = given[name]
        else:
            assert "default" in param, f"required input {name!r} not given"
            values[name] = param["default"]
    return values


def substitute(text: str, values: dict[str, str]) -> str:
    return _INPUT.sub(lambda m: values[m[1]], text)


def container_env(template: dict[str, Any], values: dict[str, str]) -> dict[str, str]:
    """The main container's environment after Argo's substitution."""
    return {e["name"]: substitute(e["value"], values) for e in template["container"]["env"]}


def task_calls(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    """Every DAG task or step of the Workflow."""
    calls = []
    for t in workflow["spec"]["templates"]:
        calls += t.get("dag", {}).get("tasks", [])
        for group in t.get("steps", []) or []:
            calls += group
    return calls
