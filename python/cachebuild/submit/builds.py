"""One call from build specs to running builds: Argo (a Workflow, or installed templates) and Tekton (a PipelineRun).

These build the manifest with :mod:`cachebuild.argo` / :mod:`cachebuild.tekton` (so it is the same
object ``cachebuild workflow`` prints) and create it through :class:`~cachebuild.submit.ArgoClient`
or :class:`~cachebuild.submit.TektonClient`. Every spec is validated before anything is sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cachebuild.errors import SpecError
from cachebuild.spec import BuildSpec, Engine
from cachebuild.submit.argo import ArgoBuild, ArgoClient
from cachebuild.submit.common import Retry, RetryNotice
from cachebuild.submit.tekton import TektonBuild, TektonClient

CREATE_DEADLINE = 300.0
"""Seconds a create may keep retrying transient failures (429, 5xx, a dropped connection); ``on_retry``
is told of each retry. A server that cannot be reached at all is reported at once (:class:`Unreachable`)."""


def _specs(specs: BuildSpec | Sequence[BuildSpec]) -> list[BuildSpec]:
    items = [specs] if isinstance(specs, BuildSpec) else list(specs)
    if not items:
        raise SpecError("specs", [], "at least one build spec is required")
    return items


def submit_argo_workflow(
    client: ArgoClient,
    specs: BuildSpec | Sequence[BuildSpec],
    engine: Engine = "buildkit",
    *,
    inline: bool = False,
    cluster_scope: bool = False,
    create_deadline: float = CREATE_DEADLINE,
    on_retry: RetryNotice | None = None,
    **workflow_options: Any,
) -> ArgoBuild:
    """Create one Workflow building every spec (``POST /api/v1/workflows/{ns}``).

    By reference to the installed templates, or ``inline`` (runs where nothing is installed).
    ``workflow_options`` go to :func:`cachebuild.argo.workflow` (``service_account``, ``workspace_size``, …).
    """
    from cachebuild import argo

    manifest = argo.workflow(_specs(specs), engine, inline=inline, cluster_scope=cluster_scope, **workflow_options).to_dict()
    return client.create(manifest, retry=Retry.within(create_deadline, on_retry=on_retry))


def submit_argo_templates(
    client: ArgoClient,
    specs: BuildSpec | Sequence[BuildSpec],
    engine: Engine = "buildkit",
    *,
    cluster_scope: bool = False,
    create_deadline: float = CREATE_DEADLINE,
    on_retry: RetryNotice | None = None,
    service_account: str | None = None,
    generate_name: str | None = None,
) -> list[ArgoBuild]:
    """Run the installed WorkflowTemplate once per spec (``POST /api/v1/workflows/{ns}/submit``).

    Each spec must name an existing ``workspace_pvc`` (and for kaniko a ``kaniko_cache_pvc``).
    """
    from cachebuild import argo

    items = _specs(specs)
    submissions = []
    for i, spec in enumerate(items):
        try:
            submissions.append(argo.template_submission(spec, engine))
        except SpecError as err:
            raise err.renamed(f"specs[{i}].{err.field}") if len(items) > 1 else err from None
    retry = Retry.within(create_deadline, on_retry=on_retry)
    return [
        client.submit_template(
            name, params, retry=retry, cluster_scope=cluster_scope, service_account=service_account, generate_name=generate_name
        )
        for name, params in submissions
    ]


def submit_tekton(
    client: TektonClient,
    specs: BuildSpec | Sequence[BuildSpec],
    engine: Engine = "buildkit",
    *,
    create_deadline: float = CREATE_DEADLINE,
    on_retry: RetryNotice | None = None,
    **run_options: Any,
) -> TektonBuild:
    """Create one PipelineRun building every spec; ``run_options`` go to :func:`cachebuild.tekton.pipeline_run`."""
    from cachebuild import tekton

    manifest = tekton.pipeline_run(_specs(specs), engine, namespace=client.namespace, **run_options)
    return client.create(manifest, retry=Retry.within(create_deadline, on_retry=on_retry))
