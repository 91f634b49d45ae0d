"""Small HTTP servers on 127.0.0.1 that speak the parts of the Argo Server and Kubernetes APIs cachebuild uses.

They are strict, like the real ones with ``--validate=strict``: every request body is validated
against ../shared/schemas (the Workflow and PipelineRun CRDs, Argo's API JSON schema for the
request envelopes), the bearer token is checked, and a created object then walks a realistic
status sequence on each GET: no status → Pending → Running → Succeeded or Failed, with node
outputs (Argo) or TaskRun results (Tekton). Faults can be queued: an HTTP status or a dropped
connection, before or after the request takes effect.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from support.schemas import SCHEMAS, _strict, errors

STAMPS = ["2026-11-29T10:00:00Z", "2026-11-29T10:00:05Z", "2026-11-29T10:00:20Z", "2026-11-29T10:01:30Z"]


FAKE_CACHE_HITS = "4/5"
"""What a finished build reports as its cache hits (the templates' cache-hits / CACHE_HITS)."""


def fake_digest(image: str) -> str:
    return "sha256:" + hashlib.sha256(image.encode()).hexdigest()


@dataclass
class Fault:
    status: int | None = None  # an HTTP status to answer with; None = drop the connection
    after: bool = False  # let the request take effect first (the answer is lost, not the request)
    method: str = "POST"


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _serve(self) -> None:
        app = self.server.app
        if self.server.stopped:  # a kept-alive connection to a stopped server: it is gone
            self.close_connection = True
            return
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        app.requests.append((self.command, self.path, self.headers.get("Authorization"), raw.decode(errors="replace")))
        fault = app.take_fault(self.command)
        if fault and not fault.after:
            return self._fault(fault)
        if self.headers.get("Authorization") != f"Bearer {app.token}":
            status, body = app.unauthorized()
        else:
            try:
                body_json = json.loads(raw) if raw else None
            except ValueError:
                status, body = 400, {"code": 3, "message": "body is not JSON"}
            else:
                status, body = app.route(self.command, self.path.split("?")[0], body_json)
        if fault:
            return self._fault(fault)
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _fault(self, fault: Fault) -> None:
        if fault.status is None:
            self.close_connection = True
            self.connection.shutdown(2)
            return
        data = json.dumps({"code": 14, "message": "upstream unavailable"}).encode()
        self.send_response(fault.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    app: FakeAPI
    stopped = False


@dataclass
class FakeAPI:
    token: str = "s3cret-token-value"
    outcome: str = "Succeeded"  # or "Failed"
    objects: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)  # (kind, ns, name)
    requests: list[tuple[str, str, str | None, str]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    gets: dict[tuple[str, str, str], int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, port: int = 0, tls: ssl.SSLContext | None = None) -> FakeAPI:
        """Listen on 127.0.0.1 (``port``: 0 for a free one; the same one again after :meth:`stop`)."""
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.app = self
        self._scheme = "https" if tls else "http"
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.stopped = True
        self._server.shutdown()
        self._server.server_close()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"{self._scheme}://127.0.0.1:{self.port}"

    def take_fault(self, method: str) -> Fault | None:
        with self._lock:
            for i, fault in enumerate(self.faults):
                if fault.method == method:
                    return self.faults.pop(i)
        return None

    def stage(self, key: tuple[str, str, str]) -> int:
        """How far this object's status has come: one step further on each GET."""
        with self._lock:
            self.gets[key] = self.gets.get(key, 0) + 1
            return min(self.gets[key] - 1, 3)

    def unauthorized(self) -> tuple[int, dict[str, Any]]:
        raise NotImplementedError

    def route(self, method: str, path: str, body: Any) -> tuple[int, dict[str, Any]]:
        raise NotImplementedError


# -- Argo Server ---------------------------------------------------------------------------------
def _argo_request_validator(definition: str) -> jsonschema.protocols.Validator:
    schema = json.loads((SCHEMAS / "argo" / "schema.json").read_text())
    strict = _strict(schema)
    return jsonschema.Draft7Validator({"$ref": f"#/definitions/{definition}", "definitions": strict["definitions"]})


_SUBMIT_REQUEST = _argo_request_validator("io.argoproj.workflow.v1alpha1.WorkflowSubmitRequest")


@dataclass
class FakeArgoServer(FakeAPI):
    """``/api/v1/workflows/{ns}`` (create), ``…/{ns}/submit`` (from a template), ``…/{ns}/{name}`` (get)."""

    namespace: str = "argo"
    templates: dict[str, dict[str, Any]] = field(default_factory=dict)  # name → installed WorkflowTemplate

    def install(self, template: dict[str, Any]) -> None:
        problems = errors(template)
        assert not problems, problems
        self.templates[template["metadata"]["name"]] = template

    def unauthorized(self) -> tuple[int, dict[str, Any]]:
        return 401, {"code": 16, "message": "token not valid"}

    def route(self, method: str, path: str, body: Any) -> tuple[int, dict[str, Any]]:
        m = re.fullmatch(r"/api/v1/workflows/([^/]+)(?:/([^/]+))?", path)
        if not m:
            return 404, {"code": 5, "message": f"no route {path}"}
        namespace, rest = m.groups()
        if namespace != self.namespace:
            return 403, {"code": 7, "message": f"namespace {namespace} is forbidden for this token"}
        if method == "POST" and rest is None:
            return self._create(namespace, body)
        if method == "POST" and rest == "submit":
            return self._submit(namespace, body)
        if method == "GET" and rest:
            return self._get(namespace, rest)
        return 405, {"code": 12, "message": "method not allowed"}

    def _store(self, namespace: str, workflow: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        problems = errors(workflow)
        if problems:
            return 400, {"code": 3, "message": "workflow is invalid: " + "; ".join(problems[:5])}
        meta = workflow["metadata"]
        name = meta.get("name") or meta["generateName"] + hashlib.sha1(json.dumps(workflow).encode()).hexdigest()[:5]
        key = ("Workflow", namespace, name)
        with self._lock:
            if key in self.objects:
                return 409, {"code": 6, "message": f'workflows.argoproj.io "{name}" already exists'}
            stored = copy.deepcopy(workflow)
            stored["metadata"] = {**meta, "name": name, "namespace": namespace, "uid": f"uid-{len(self.objects)}"}
            stored["metadata"].pop("generateName", None)
            self.objects[key] = stored
        return 200, stored

    def _create(self, namespace: str, body: Any) -> tuple[int, dict[str, Any]]:
        if not isinstance(body, dict) or set(body) - {"namespace", "workflow", "serverDryRun", "createOptions"}:
            return 400, {"code": 3, "message": "body must be a WorkflowCreateRequest"}
        if "workflow" not in body:
            return 400, {"code": 3, "message": "workflow is required"}
        return self._store(namespace, body["workflow"])

    def _submit(self, namespace: str, body: Any) -> tuple[int, dict[str, Any]]:
        problems = sorted(e.message for e in _SUBMIT_REQUEST.iter_errors(body))
        if problems:
            return 400, {"code": 3, "message": "; ".join(problems)}
        if body.get("resourceKind") != "WorkflowTemplate":
            return 400, {"code": 3, "message": f"resourceKind {body.get('resourceKind')!r} is not supported here"}
        template = self.templates.get(body.get("resourceName", ""))
        if template is None:
            return 404, {"code": 5, "message": f'workflowtemplates.argoproj.io "{body.get("resourceName")}" not found'}
        opts = body.get("submitOptions") or {}
        given = dict(p.split("=", 1) for p in opts.get("parameters") or [])
        entry = next(t for t in template["spec"]["templates"] if t["name"] == template["spec"]["entrypoint"])
        declared = {p["name"]: p for p in (template["spec"].get("arguments") or {}).get("parameters") or []}
        declared.update({p["name"]: p for p in (entry.get("inputs") or {}).get("parameters") or []})
        unknown = sorted(set(given) - set(declared))
        if unknown:
            return 400, {"code": 3, "message": f"unknown parameters {unknown}"}
        missing = sorted(n for n, p in declared.items() if n not in given and "value" not in p and "default" not in p)
        if missing:
            return 400, {"code": 3, "message": f"inputs.parameters {missing} were not supplied"}
        labels = dict(pair.split("=", 1) for pair in opts["labels"].split(",")) if opts.get("labels") else {}
        workflow = {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {"name": opts["name"]}
            if opts.get("name")
            else {"generateName": opts.get("generateName") or f"{template['metadata']['name']}-"},
            "spec": {
                "workflowTemplateRef": {"name": template["metadata"]["name"]},
                "arguments": {"parameters": [{"name": k, "value": v} for k, v in given.items()]},
            },
        }
        if labels:
            workflow["metadata"]["labels"] = labels
        if opts.get("serviceAccount"):  # as Argo's submit does (util.ApplySubmitOpts)
            workflow["spec"]["serviceAccountName"] = opts["serviceAccount"]
        return self._store(namespace, workflow)

    def _build_nodes(self, workflow: dict[str, Any]) -> list[tuple[str, str]]:
        """(display name, image) of each build the Workflow runs."""
        spec = workflow["spec"]
        if "workflowTemplateRef" in spec:
            params = {p["name"]: p.get("value", "") for p in spec["arguments"]["parameters"]}
            return [(workflow["metadata"]["name"], params.get("image", "").split("\n")[0])]
        templates = {t["name"]: t for t in spec["templates"]}
        entry = templates[spec["entrypoint"]]
        global_params = {p["name"]: p.get("value", "") for p in (spec.get("arguments") or {}).get("parameters") or []}
        calls = (entry.get("dag") or {}).get("tasks") or [s for group in entry.get("steps") or [] for s in group]
        if not calls:
            return [(workflow["metadata"]["name"], "")]
        out = []
        for call in calls:
            params = {p["name"]: p.get("value", "") for p in (call.get("arguments") or {}).get("parameters") or []}
            image = re.sub(
                r"\{\{workflow\.parameters\.([\w-]+)\}\}", lambda m: global_params.get(m[1], ""), params.get("image", "")
            )
            out.append((call["name"], image.split("\n")[0]))
        return out

    def _get(self, namespace: str, name: str) -> tuple[int, dict[str, Any]]:
        key = ("Workflow", namespace, name)
        if key not in self.objects:
            return 404, {"code": 5, "message": f'workflows.argoproj.io "{name}" not found'}
        stage = self.stage(key)
        workflow = copy.deepcopy(self.objects[key])
        if stage == 0:
            return 200, workflow
        final = self.outcome
        phase = ["", "Pending", "Running", final][stage]
        nodes: dict[str, Any] = {}
        builds = self._build_nodes(workflow)
        for i, (display, image) in enumerate(builds):
            node_id = f"{name}-{i}"
            node_phase = {"Pending": "Pending", "Running": "Running"}.get(phase, "Succeeded")
            node: dict[str, Any] = {
                "id": node_id,
                "name": f"{name}.{display}",
                "displayName": display,
                "type": "Pod",
                "phase": node_phase,
                "startedAt": STAMPS[1],
            }
            if phase in ("Succeeded", "Failed"):
                node["finishedAt"] = STAMPS[3]
                if phase == "Failed" and i == len(builds) - 1:
                    node["phase"] = "Failed"
                    node["message"] = "Error (exit code 1): failed to push: unauthorized"
                else:
                    node["outputs"] = {
                        "parameters": [
                            {"name": "image-digest", "value": fake_digest(image)},
                            {"name": "image-url", "value": image},
                            {"name": "cache-hits", "value": FAKE_CACHE_HITS},
                        ]
                    }
            nodes[node_id] = node
        status: dict[str, Any] = {"phase": phase, "startedAt": STAMPS[0] if stage > 1 else None, "nodes": nodes}
        if stage == 1:
            status = {"phase": "Pending"}
        if phase in ("Succeeded", "Failed"):
            status["finishedAt"] = STAMPS[3]
            if phase == "Failed":
                status["message"] = "child 'x' failed"
        workflow["status"] = {k: v for k, v in status.items() if v is not None}
        problems = errors(workflow)
        assert not problems, problems  # the fake's own answers are schema-valid too
        return 200, workflow


# -- Kubernetes API (tekton.dev/v1) -----------------------------------------------------------
@dataclass
class FakeKubeServer(FakeAPI):
    """``/apis/tekton.dev/v1/namespaces/{ns}/{pipelineruns,taskruns}[/{name}]``."""

    namespaces: tuple[str, ...] = ("default", "ci")

    def unauthorized(self) -> tuple[int, dict[str, Any]]:
        return 401, _status(401, "Unauthorized", "Unauthorized")

    def kubeconfig(self, path: Path, namespace: str | None = None, token: str | None = None) -> Path:
        context: dict[str, Any] = {"cluster": "fake", "user": "ci"}
        if namespace:
            context["namespace"] = namespace
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
                    "users": [{"name": "ci", "user": {"token": token or self.token}}],
                    "contexts": [{"name": "fake", "context": context}],
                    "current-context": "fake",
                }
            )
        )
        return path

    def route(self, method: str, path: str, body: Any) -> tuple[int, dict[str, Any]]:
        m = re.fullmatch(r"/apis/tekton\.dev/v1/namespaces/([^/]+)/(pipelineruns|taskruns)(?:/([^/]+))?", path)
        if not m:
            return 404, _status(404, "NotFound", f"the server could not find the requested resource ({path})")
        namespace, plural, name = m.groups()
        if namespace not in self.namespaces:
            return 404, _status(404, "NotFound", f'namespaces "{namespace}" not found')
        kind = {"pipelineruns": "PipelineRun", "taskruns": "TaskRun"}[plural]
        if method == "POST" and name is None:
            return self._create(kind, namespace, body)
        if method == "GET" and name:
            return self._get(kind, namespace, name)
        return 405, _status(405, "MethodNotAllowed", "method not allowed")

    def _create(self, kind: str, namespace: str, body: Any) -> tuple[int, dict[str, Any]]:
        if not isinstance(body, dict) or body.get("kind") != kind:
            return 400, _status(400, "BadRequest", f"expected a {kind}")
        problems = errors(body)
        if problems:
            return 422, _status(422, "Invalid", f"{kind}.tekton.dev is invalid: " + "; ".join(problems[:5]))
        name = body["metadata"].get("name")
        if not name:
            return 422, _status(422, "Invalid", "metadata.name: Required value")
        key = (kind, namespace, name)
        with self._lock:
            if key in self.objects:
                return 409, _status(409, "AlreadyExists", f'{kind.lower()}s.tekton.dev "{name}" already exists')
            stored = copy.deepcopy(body)
            stored["metadata"]["namespace"] = namespace
            self.objects[key] = stored
        return 201, stored

    def _pipeline_tasks(self, run: dict[str, Any]) -> list[tuple[str, str]]:
        """(pipeline task name, IMAGE) of each task the PipelineRun runs."""
        params = {p["name"]: p["value"] for p in run["spec"].get("params") or []}
        tasks = (run["spec"].get("pipelineSpec") or {}).get("tasks") or []
        out = []
        for task in tasks:
            task_params = {p["name"]: p["value"] for p in task.get("params") or []}
            image = re.sub(r"\$\(params\.([\w-]+)\)", lambda m: str(params.get(m[1], "")), str(task_params.get("IMAGE", "")))
            out.append((task["name"], image))
        return out

    def _get(self, kind: str, namespace: str, name: str) -> tuple[int, dict[str, Any]]:
        key = (kind, namespace, name)
        if key not in self.objects:
            return 404, _status(404, "NotFound", f'{kind.lower()}s.tekton.dev "{name}" not found')
        if kind == "TaskRun":
            return 200, self.objects[key]
        stage = self.stage(key)
        run = copy.deepcopy(self.objects[key])
        if stage == 0:
            return 200, run
        status: dict[str, Any] = {"startTime": STAMPS[0]}
        tasks = self._pipeline_tasks(run)
        if stage == 1:
            status["conditions"] = [_condition("Unknown", "Pending", "PipelineRun is pending")]
        else:
            final = stage == 3
            status["conditions"] = [
                _condition("Unknown", "Running", f"Tasks Completed: 0 (Failed: 0), Incomplete: {len(tasks)}")
                if not final
                else _condition("True", "Succeeded", f"Tasks Completed: {len(tasks)} (Failed: 0)")
                if self.outcome == "Succeeded"
                else _condition("False", "Failed", "Tasks Completed: 1 (Failed: 1, Cancelled 0), Skipped: 0")
            ]
            status["childReferences"] = []
            for i, (task_name, image) in enumerate(tasks):
                child = f"{name}-{task_name}"
                status["childReferences"].append(
                    {"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "name": child, "pipelineTaskName": task_name}
                )
                failed = final and self.outcome == "Failed" and i == len(tasks) - 1
                taskrun: dict[str, Any] = {
                    "apiVersion": "tekton.dev/v1",
                    "kind": "TaskRun",
                    "metadata": {"name": child, "namespace": namespace},
                    "spec": {"taskRef": {"name": task_name}},
                    "status": {
                        "podName": f"{child}-pod",
                        "startTime": STAMPS[1],
                        "conditions": [_condition("Unknown", "Running", "Not all Steps in the Task have finished executing")],
                    },
                }
                if final:
                    taskrun["status"]["completionTime"] = STAMPS[3]
                    if failed:
                        taskrun["status"]["conditions"] = [
                            _condition("False", "Failed", '"step-build" exited with code 1: failed to push: unauthorized')
                        ]
                    else:
                        taskrun["status"]["conditions"] = [_condition("True", "Succeeded", "All Steps have completed executing")]
                        taskrun["status"]["results"] = [
                            {"name": "IMAGE_DIGEST", "type": "string", "value": fake_digest(image)},
                            {"name": "IMAGE_URL", "type": "string", "value": image},
                            {"name": "CACHE_HITS", "type": "string", "value": FAKE_CACHE_HITS},
                        ]
                assert not errors(taskrun), errors(taskrun)
                self.objects[("TaskRun", namespace, child)] = taskrun
            if final:
                status["completionTime"] = STAMPS[3]
        run["status"] = status
        problems = errors(run)
        assert not problems, problems
        return 200, run


def _condition(status: str, reason: str, message: str) -> dict[str, Any]:
    return {"type": "Succeeded", "status": status, "reason": reason, "message": message, "lastTransitionTime": STAMPS[2]}


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def running(server_factory: Callable[[], FakeAPI]) -> FakeAPI:
    return server_factory().start()
