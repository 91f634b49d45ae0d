"""The strict validator itself must reject what a strict cluster rejects."""

import pytest

from support.schemas import errors, validate

TASK = {
    "apiVersion": "tekton.dev/v1",
    "kind": "Task",
    "metadata": {"name": "t"},
    "spec": {"steps": [{"name": "s", "image": "docker.io/library/busybox:1.36", "args": ["x"]}]},
}


def test_valid_task_passes():
    validate(TASK)


def test_unknown_field_is_rejected():
    bad = {**TASK, "spec": {"steps": [{**TASK["spec"]["steps"][0], "imagee": "typo"}]}}
    assert any("imagee" in e for e in errors(bad))


def test_unknown_metadata_field_and_kind_are_rejected():
    assert errors({**TASK, "metadata": {"name": "t", "labelz": {}}})
    assert errors({**TASK, "kind": "Taskk"})


def test_argo_workflow_typo_is_rejected():
    wf = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": "b-"},
        "spec": {"entrypoint": "m", "templates": [{"name": "m", "container": {"image": "x", "argz": []}}]},
    }
    assert any("argz" in e for e in errors(wf))
    del wf["spec"]["templates"][0]["container"]["argz"]
    validate(wf)
    with pytest.raises(AssertionError):
        validate({**wf, "spec": {**wf["spec"], "entrypointt": "m"}})
