"""Submit builds to Argo Workflows through Hera's ``WorkflowsService`` (the Argo Server REST API).

* :meth:`ArgoClient.create` — ``POST /api/v1/workflows/{ns}`` with a complete Workflow.
* :meth:`ArgoClient.submit_template` — ``POST /api/v1/workflows/{ns}/submit`` of an installed
  WorkflowTemplate with parameters.
* :meth:`ArgoBuild.status` / :meth:`ArgoBuild.wait` — ``GET /api/v1/workflows/{ns}/{name}``.

Every create carries a name fixed before the first try and the label ``cachebuild.dev/submission``,
so a create retried after a lost answer finds its own Workflow (409) instead of starting a second build.
"""

from __future__ import annotations

import copy
import json
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

import requests

from cachebuild.errors import SpecError
from cachebuild.submit.common import (
    SUBMISSION_LABEL,
    BuildStatus,
    ImageResult,
    Progress,
    Retry,
    RetryNotice,
    SubmitError,
    Transient,
    connection_failure,
    epoch,
    new_submission_id,
    wait_for,
)

DIGEST_OUTPUT = "image-digest"
CACHE_HITS_OUTPUT = "cache-hits"
URL_OUTPUT = "image-url"
REQUEST_TIMEOUT = (10.0, 60.0)
"""Seconds to connect, and to wait for an answer: a server that never answers fails, it does not hang."""


def _is_url(text: object) -> bool:
    """An ``http(s)://host[:port][/path]`` URL with a host and no blanks."""
    if not isinstance(text, str) or any(c.isspace() for c in text):
        return False
    try:
        url = urllib.parse.urlsplit(text)
        url.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        return False
    return url.scheme in ("http", "https") and bool(url.hostname)


class _Session(requests.Session):
    """A session whose requests time out (Hera's ``WorkflowsService`` passes no timeout)."""

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", REQUEST_TIMEOUT)
        return super().request(method, url, *args, **kwargs)


def workflow_status(workflow: dict[str, Any]) -> BuildStatus:
    """A :class:`BuildStatus` from a Workflow object: its phase and each Pod node's outputs."""
    status = workflow.get("status") or {}
    steps = []
    for node in (status.get("nodes") or {}).values():
        if node.get("type") != "Pod":
            continue
        outputs = {p["name"]: p.get("value", "") for p in (node.get("outputs") or {}).get("parameters") or []}
        steps.append(
            (
                node.get("startedAt") or "",
                ImageResult(
                    step=node.get("displayName") or node.get("name", ""),
                    phase=node.get("phase", ""),
                    url=outputs.get(URL_OUTPUT, ""),
                    digest=outputs.get(DIGEST_OUTPUT, ""),
                    message=node.get("message", ""),
                    cache_hits=outputs.get(CACHE_HITS_OUTPUT, ""),
                ),
            )
        )
    steps.sort(key=lambda pair: (pair[0], pair[1].step))
    return BuildStatus(
        name=workflow.get("metadata", {}).get("name", ""),
        phase=status.get("phase", ""),
        images=tuple(step for _, step in steps),
        message=status.get("message", ""),
        started=epoch(status.get("startedAt")),
        finished=epoch(status.get("finishedAt")),
    )


def _dropped(sent: Any, given: Any, path: str) -> str | None:
    """The first path present in ``given`` but missing from ``sent``."""
    if isinstance(given, dict) and isinstance(sent, dict):
        for key, value in given.items():
            if key not in sent:
                return f"{path}.{key}" if value not in (None, [], {}) else None
            found = _dropped(sent[key], value, f"{path}.{key}")
            if found:
                return found
    elif isinstance(given, list) and isinstance(sent, list):
        for i, (a, b) in enumerate(zip(sent, given, strict=False)):
            found = _dropped(a, b, f"{path}[{i}]")
            if found:
                return found
    return None


def _check_nothing_dropped(manifest: dict[str, Any], request: Any) -> None:
    """Hera's models drop unknown fields silently; refuse to submit a Workflow that would lose one."""
    sent = json.loads(request.model_dump_json(exclude_none=True, by_alias=True, exclude_unset=True, exclude_defaults=True))
    sent = sent["workflow"]
    lost = _dropped(sent, manifest, "workflow")
    if lost:
        raise SubmitError(f"{lost}: not a Workflow field (Hera would drop it); fix the manifest", status=400)


class ArgoClient:
    """The Argo Server API for one namespace. ``verify``: True, False, or a CA bundle path.

    A ``host`` that is not an http(s) URL raises :class:`~cachebuild.errors.SpecError` (field ``host``).
    """

    def __init__(self, host: str, *, token: str | None = None, namespace: str = "argo", verify: bool | str = True) -> None:
        from hera.workflows.service import WorkflowsService

        if not _is_url(host):
            raise SpecError("host", host, "must be the Argo Server's URL, such as https://argo.example.com:2746")
        self.address = host.rstrip("/")
        self.namespace = namespace
        self._last: requests.Response | None = None
        session = _Session()
        session.hooks["response"].append(self._remember)
        self._service = WorkflowsService(
            host=host.rstrip("/") + "/",
            token=token,
            namespace=namespace,
            verify_ssl=verify,  # type: ignore[arg-type]  # requests also takes a CA bundle path
            session=session,
        )

    def _remember(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._last = response

    def _call(self, what: str, fn: Any, *, not_found: str) -> Any:
        """``fn()`` with the API's failures sorted: transient ones raise :class:`Transient`."""
        self._last = None
        try:
            return fn()
        except (requests.ConnectionError, requests.Timeout) as err:
            raise connection_failure(what, self.address, err) from err
        except SubmitError:
            raise
        except Exception as err:  # Hera raises its own exceptions (or a KeyError) for non-2xx answers
            response = self._last
            if response is None:
                raise
            code = response.status_code
            try:
                message = response.json().get("message", "") or response.text
            except ValueError:
                message = response.text
            message = message.strip()[:500]
            if code == 429 or code >= 500:
                raise Transient(f"{what}: HTTP {code} {message}") from err
            hints = {
                401: "the token was not accepted: check --token / ARGO_TOKEN (a service account token, 'Bearer ' optional)",
                403: f"the token may not do this in namespace {self.namespace!r}: check its RBAC and --namespace",
                404: not_found,
            }
            hint = hints.get(code, message or "the server refused the request")
            raise SubmitError(
                f"{what}: HTTP {code}: {hint}" + (f" (server: {message})" if code in hints and message else ""), status=code
            ) from err

    def get(self, name: str) -> dict[str, Any]:
        workflow = self._call(
            f"get workflow {name}",
            lambda: self._service.get_workflow(name, namespace=self.namespace),
            not_found=f"no Workflow {name!r} in namespace {self.namespace!r}",
        )
        return dict(workflow.model_dump(mode="json", by_alias=True, exclude_none=True))

    def create(self, manifest: dict[str, Any], *, retry: Retry) -> ArgoBuild:
        """Create ``manifest`` (a complete Workflow) under a fixed name, once, however often it is retried."""
        from hera.workflows.models import Workflow, WorkflowCreateRequest

        submission = new_submission_id()
        manifest = copy.deepcopy(manifest)
        metadata = manifest.setdefault("metadata", {})
        name = f"{metadata.pop('generateName', None) or 'cachebuild-'}{submission}"
        metadata["name"] = metadata.get("name") or name
        metadata.setdefault("labels", {})[SUBMISSION_LABEL] = submission
        request = WorkflowCreateRequest(workflow=Workflow.model_validate(manifest))
        _check_nothing_dropped(manifest, request)

        def attempt() -> ArgoBuild:
            try:
                self._call(
                    f"create workflow {metadata['name']}",
                    lambda: self._service.create_workflow(request, namespace=self.namespace),
                    not_found=f"namespace {self.namespace!r} not found, or no Argo Server at this address",
                )
            except SubmitError as err:
                if err.status != 409:
                    raise
                self._adopt(metadata["name"], submission)
            return ArgoBuild(self, metadata["name"])

        return retry.call("create workflow", attempt)

    def submit_template(
        self,
        template: str,
        parameters: dict[str, str],
        *,
        retry: Retry,
        cluster_scope: bool = False,
        service_account: str | None = None,
        generate_name: str | None = None,
    ) -> ArgoBuild:
        """Run the installed (Cluster)WorkflowTemplate ``template`` with ``parameters``, as ``service_account``,
        the Workflow named ``<generate_name or template->`` plus a submission id."""
        from hera.workflows.models import SubmitOpts, WorkflowSubmitRequest

        submission = new_submission_id()
        name = f"{generate_name or template + '-'}{submission}"
        request = WorkflowSubmitRequest(
            namespace=self.namespace,
            resource_kind="ClusterWorkflowTemplate" if cluster_scope else "WorkflowTemplate",
            resource_name=template,
            submit_options=SubmitOpts(
                name=name,
                labels=f"{SUBMISSION_LABEL}={submission}",
                parameters=[f"{k}={v}" for k, v in parameters.items()],
                service_account=service_account,
            ),
        )
        kind = "ClusterWorkflowTemplate" if cluster_scope else "WorkflowTemplate"

        def attempt() -> ArgoBuild:
            try:
                self._call(
                    f"submit {kind} {template}",
                    lambda: self._service.submit_workflow(request, namespace=self.namespace),
                    not_found=f"no {kind} {template!r} in namespace {self.namespace!r}: install the templates "
                    "(kubectl apply -k workflows/) or submit without --from-template",
                )
            except SubmitError as err:
                if err.status != 409:
                    raise
                self._adopt(name, submission)
            return ArgoBuild(self, name)

        return retry.call(f"submit {template}", attempt)

    def _adopt(self, name: str, submission: str) -> None:
        """After a 409: the Workflow is ours if it carries our submission label."""
        existing = self.get(name)
        if existing.get("metadata", {}).get("labels", {}).get(SUBMISSION_LABEL) != submission:
            raise SubmitError(f"a Workflow named {name!r} already exists in namespace {self.namespace!r}", status=409)


@dataclass
class ArgoBuild:
    """A submitted Workflow."""

    client: ArgoClient
    name: str

    def status(self, retry: Retry | None = None) -> BuildStatus:
        retry = retry or Retry(time.monotonic() + 60)
        return workflow_status(retry.call(f"get workflow {self.name}", lambda: self.client.get(self.name)))

    def wait(
        self,
        timeout: float,
        *,
        poll_interval: float = 2.0,
        on_progress: Progress | None = None,
        on_retry: RetryNotice | None = None,
    ) -> BuildStatus:
        """Until the Workflow finishes or ``timeout`` seconds pass (then :class:`BuildTimeout`)."""
        return wait_for(self.status, timeout=timeout, poll_interval=poll_interval, on_progress=on_progress, on_retry=on_retry)
