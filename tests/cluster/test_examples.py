"""``workflows/examples/`` on the cluster, applied as they are (``kubectl create -f``), against their own
registry name: ``registry.example.com`` resolves to the node, where a registry serves TLS on 443 with
a CA the builder images trust (as a company registry's CA is baked into its images).

The examples whose context is a git repository on GitHub cannot run on these machines (no internet);
a test says which, so a new example is either run here or named there.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from cluster.conftest import EXAMPLES_HOST, REPO, Env, namespace
from cluster.runs import SUBMIT_TIMEOUT, argo_status, diagnose
from e2e import raw

EXAMPLES = REPO / "workflows" / "examples"
RUN_HERE = {"buildkit-build.yaml": "buildkit", "buildkit-many-images.yaml": "buildkit"}  # example -> builder


def _calls(workflow: dict[str, Any]) -> list[dict[str, str]]:
    """Each DAG task's arguments (name -> value)."""
    (main,) = [t for t in workflow["spec"]["templates"] if t["name"] == workflow["spec"]["entrypoint"]]
    return [{p["name"]: str(p.get("value", "")) for p in t["arguments"]["parameters"]} for t in main["dag"]["tasks"]]


def test_the_examples_not_run_here_take_their_context_from_github() -> None:
    for path in sorted(EXAMPLES.glob("*.yaml")):
        if path.name in RUN_HERE:
            continue
        contexts = {call["context"] for call in _calls(yaml.safe_load(path.read_text())) if "context" in call}
        assert contexts and all(c.startswith("https://github.com/") for c in contexts), (
            f"{path.name} builds {contexts}: run it in test_example_runs_as_it_is (RUN_HERE)"
        )


@pytest.mark.parametrize("example", sorted(RUN_HERE))
def test_example_runs_as_it_is(env: Env, example: str) -> None:
    builder = RUN_HERE[example]
    ns = namespace(builder)
    workflow = yaml.safe_load((EXAMPLES / example).read_text())
    calls = _calls(workflow)
    source: Path = env.sources[ns]
    for call in calls:
        assert call["image"].startswith(f"{EXAMPLES_HOST}/"), call
        raw.write_context(source / call["context"], f"{EXAMPLES_HOST}/cachebuild/busybox:1")
    name = env.cluster.kubectl("create", "-n", ns, "-f", str(EXAMPLES / example), "-o", "name").strip()
    deadline = time.monotonic() + SUBMIT_TIMEOUT
    while not (status := argo_status(env.cluster.get("-n", ns, name))).done:
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} not done within {SUBMIT_TIMEOUT}s: {status}\n{diagnose(env, ns)}")
        time.sleep(2)
    assert status.succeeded, f"{name} {status.phase}: {status.message}\n{diagnose(env, ns)}"
    assert len(status.images) == len(calls)
    for call in calls:
        repository, tag = call["image"].removeprefix(f"{EXAMPLES_HOST}/").rsplit(":", 1)
        _, digest = env.examples.manifest(repository, tag)
        (image,) = [i for i in status.images if i.url == call["image"]]
        assert image.digest == digest, f"{call['image']}: the workflow says {image.digest}, the registry {digest}"
        if "platforms" in call:
            wanted = sorted(p.strip() for p in call["platforms"].splitlines() if p.strip())
            assert env.examples.platforms(repository, tag) == wanted
