"""Submit builds to Tekton as PipelineRuns through the ``kubernetes`` client.

``POST/GET /apis/tekton.dev/v1/namespaces/{ns}/pipelineruns`` and ``GET …/taskruns/{name}`` for
each child TaskRun's results (``IMAGE_URL``, ``IMAGE_DIGEST``). Creation is idempotent the same
way as for Argo: a fixed name and the ``cachebuild.dev/submission`` label.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any

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

GROUP, VERSION = "tekton.dev", "v1"
REQUEST_TIMEOUT = (10.0, 60.0)
"""Seconds to connect, and to wait for an answer: an API server that never answers fails, it does not hang."""


def _phase(obj: dict[str, Any]) -> tuple[str, str]:
    """(phase, message) from the ``Succeeded`` condition of a PipelineRun or TaskRun."""
    status = obj.get("status") or {}
    condition = next((c for c in status.get("conditions") or [] if c.get("type") == "Succeeded"), None)
    if condition is None:
        return "", ""
    message = condition.get("message", "")
    if condition.get("status") == "True":
        return "Succeeded", message
    if condition.get("status") == "False":
        return "Failed", message
    reason = condition.get("reason", "")
    return ("Pending" if reason in ("Pending", "PipelineRunPending", "") else "Running"), message


class TektonClient:
    """The Kubernetes API (kubeconfig or in-cluster) for Tekton objects in one namespace.

    A kubeconfig that is missing or unusable raises :class:`~cachebuild.errors.SpecError` naming its path.
    """

    def __init__(
        self,
        *,
        kubeconfig: str | None = None,
        context: str | None = None,
        namespace: str | None = None,
        in_cluster: bool = False,
    ) -> None:
        from kubernetes import client, config

        configuration = client.Configuration()
        if in_cluster:
            try:
                config.load_incluster_config(client_configuration=configuration)
            except config.ConfigException as err:
                raise SubmitError(f"in-cluster configuration: {err} (is this a pod with a service account?)") from None
        else:
            shown = _kubeconfig_files(kubeconfig)
            try:
                config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=configuration)
            except (config.ConfigException, OSError, ValueError, TypeError, KeyError) as err:
                raise SpecError("kubeconfig", shown, f"cannot use it: {err}") from None
        configuration.retries = 0  # our own retries, inside the deadline
        self.address = str(configuration.host)
        if namespace is None and not in_cluster:
            try:
                _, active = config.list_kube_config_contexts(config_file=kubeconfig)
                chosen = active
                if context:
                    contexts, _ = config.list_kube_config_contexts(config_file=kubeconfig)
                    chosen = next((c for c in contexts if c["name"] == context), active)
                namespace = chosen.get("context", {}).get("namespace")
            except config.ConfigException:
                namespace = None
        self.namespace = namespace or "default"
        self._api = client.CustomObjectsApi(client.ApiClient(configuration))

    def _call(self, what: str, fn: Any, *, not_found: str) -> Any:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            return fn()
        except ApiException as err:
            code = int(err.status or 0)
            if code == 0 or code == 429 or code >= 500:
                raise Transient(f"{what}: HTTP {code} {err.reason}") from err
            hints = {
                401: "the credentials in the kubeconfig were not accepted: check the user's token or certificate",
                403: f"not allowed in namespace {self.namespace!r}: check RBAC for tekton.dev pipelineruns and --namespace",
                404: not_found,
            }
            raise SubmitError(f"{what}: HTTP {code}: {hints.get(code, _message(err))}", status=code) from err
        except (HTTPError, OSError) as err:
            raise connection_failure(what, self.address, err) from err

    def get(self, plural: str, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            f"get {plural} {name}",
            lambda: self._api.get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, plural, name, _request_timeout=REQUEST_TIMEOUT
            ),
            not_found=f"no {plural[:-1]} {name!r} in namespace {self.namespace!r}",
        )
        return result

    def create(self, manifest: dict[str, Any], *, retry: Retry) -> TektonBuild:
        """Create a PipelineRun (or TaskRun) under a fixed name, once, however often it is retried."""
        submission = new_submission_id()
        manifest = copy.deepcopy(manifest)
        plural = {"PipelineRun": "pipelineruns", "TaskRun": "taskruns"}[manifest["kind"]]
        metadata = manifest.setdefault("metadata", {})
        metadata["name"] = metadata.get("name") or f"{metadata.pop('generateName', None) or 'cachebuild-'}{submission}"
        metadata.pop("generateName", None)
        metadata.setdefault("labels", {})[SUBMISSION_LABEL] = submission
        name = metadata["name"]

        def attempt() -> TektonBuild:
            try:
                self._call(
                    f"create {plural[:-1]} {name}",
                    lambda: self._api.create_namespaced_custom_object(
                        GROUP, VERSION, self.namespace, plural, manifest, _request_timeout=REQUEST_TIMEOUT
                    ),
                    not_found=f"namespace {self.namespace!r} not found, or Tekton Pipelines is not installed "
                    f"(no {plural}.tekton.dev/v1 resource)",
                )
            except SubmitError as err:
                if err.status != 409:
                    raise
                existing = self.get(plural, name)
                if existing.get("metadata", {}).get("labels", {}).get(SUBMISSION_LABEL) != submission:
                    raise SubmitError(
                        f"a {manifest['kind']} named {name!r} already exists in {self.namespace!r}", status=409
                    ) from err
            return TektonBuild(self, plural, name)

        return retry.call(f"create {plural[:-1]}", attempt)


def _kubeconfig_files(given: str | None) -> str:
    """The kubeconfig file(s) the client reads (``given``, else ``$KUBECONFIG``, else ``~/.kube/config``, as
    kubectl), for messages; :class:`SpecError` naming them when none exists."""
    import os

    if given:
        paths, what = [given], "given"
    elif os.environ.get("KUBECONFIG"):
        paths, what = [p for p in os.environ["KUBECONFIG"].split(os.pathsep) if p], "from $KUBECONFIG"
    else:
        paths, what = [os.path.expanduser("~/.kube/config")], "the default"
    shown = os.pathsep.join(paths)
    if not any(os.path.isfile(p) for p in paths):
        raise SpecError("kubeconfig", shown, f"no such file ({what}): give --kubeconfig FILE, or --in-cluster in a pod")
    return shown


def _message(err: Any) -> str:
    import json

    try:
        return str(json.loads(err.body).get("message", err.reason))
    except (TypeError, ValueError):
        return str(err.reason)


def _results(obj: dict[str, Any]) -> dict[str, str]:
    return {r["name"]: str(r.get("value", "")) for r in (obj.get("status") or {}).get("results") or []}


@dataclass
class TektonBuild:
    """A submitted PipelineRun (or TaskRun)."""

    client: TektonClient
    plural: str
    name: str

    def status(self, retry: Retry | None = None) -> BuildStatus:
        retry = retry or Retry(time.monotonic() + 60)
        run = retry.call(f"get {self.name}", lambda: self.client.get(self.plural, self.name))
        phase, message = _phase(run)
        status = run.get("status") or {}
        if self.plural == "taskruns":
            children = [(self.name, run)]
        else:
            refs = [r for r in status.get("childReferences") or [] if r.get("kind") == "TaskRun"]
            children = [(ref.get("pipelineTaskName") or ref["name"], self._taskrun(ref["name"], retry)) for ref in refs]
        steps = []
        for step, child in children:
            child_phase, child_message = _phase(child)
            results = _results(child)
            steps.append(
                ImageResult(
                    step=step,
                    phase=child_phase,
                    url=results.get("IMAGE_URL", ""),
                    digest=results.get("IMAGE_DIGEST", ""),
                    message=child_message,
                    cache_hits=results.get("CACHE_HITS", ""),
                )
            )
        return BuildStatus(
            name=self.name,
            phase=phase,
            images=tuple(steps),
            message=message,
            started=epoch(status.get("startTime")),
            finished=epoch(status.get("completionTime")),
        )

    def _taskrun(self, name: str, retry: Retry) -> dict[str, Any]:
        return retry.call(f"get {name}", lambda: self.client.get("taskruns", name))

    def wait(
        self,
        timeout: float,
        *,
        poll_interval: float = 2.0,
        on_progress: Progress | None = None,
        on_retry: RetryNotice | None = None,
    ) -> BuildStatus:
        """Until the run finishes or ``timeout`` seconds pass (then :class:`BuildTimeout`)."""
        return wait_for(self.status, timeout=timeout, poll_interval=poll_interval, on_progress=on_progress, on_retry=on_retry)
