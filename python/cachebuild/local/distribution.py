"""A small client for the OCI distribution (registry v2) API, and docker config credentials.

Used before a build to see whether a registry answers and whether the credentials may push to a
repository (start a blob upload, ``POST /v2/<name>/blobs/uploads/``, then cancel it), to push the
locally made base image, and by the tests to read manifests.
Spec: https://github.com/opencontainers/distribution-spec/blob/main/spec.md
Token auth: https://distribution.github.io/distribution/spec/auth/token/
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import re
import socket
import ssl
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cachebuild.local import LocalError

MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
DOCKER_HUB = "docker.io"
_DOCKER_HUB_API = "registry-1.docker.io"
_TIMEOUT = 10.0


class RegistryUnreachable(LocalError):
    """Nothing answers the registry API at this address."""


class RegistryTLSError(LocalError):
    """The registry answered, but the TLS handshake failed (a plain-HTTP registry, an untrusted certificate)."""


_TLS_HINTS = {
    "WRONG_VERSION_NUMBER": "it does not speak TLS: a plain-HTTP registry (spoken to over plain HTTP only on "
    "127.0.0.1 or localhost)",
    "CERTIFICATE_VERIFY_FAILED": "its certificate is not trusted here: add its CA to this machine's CA certificates",
}


class AccessDenied(LocalError):
    """The registry refused the credentials (HTTP 401/403)."""


def is_loopback(host: str) -> bool:
    """``127.0.0.1:5000``, ``localhost``, ``[::1]:5000``: a registry on this machine (plain HTTP)."""
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return name in ("localhost", "[::1]") or name.startswith("127.")


# -- credentials ------------------------------------------------------------------------------
def default_docker_config() -> Path | None:
    """The credentials file buildah would read: ``$REGISTRY_AUTH_FILE``, ``$DOCKER_CONFIG/config.json``,
    ``~/.docker/config.json`` — the first that exists."""
    candidates = []
    if os.environ.get("REGISTRY_AUTH_FILE"):
        candidates.append(Path(os.environ["REGISTRY_AUTH_FILE"]))
    if os.environ.get("DOCKER_CONFIG"):
        candidates.append(Path(os.environ["DOCKER_CONFIG"]) / "config.json")
    candidates.append(Path.home() / ".docker" / "config.json")
    return next((p for p in candidates if p.is_file()), None)


def _normal_host(key: str) -> str:
    host = key.split("://", 1)[-1].split("/", 1)[0]
    return DOCKER_HUB if host in ("index.docker.io", _DOCKER_HUB_API) else host


@dataclass
class DockerConfig:
    """Registry credentials from a docker config file (``{"auths": {HOST: {"auth": base64(user:pass)}}}``)."""

    path: Path | None = None
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None) -> DockerConfig:
        if path is None:
            return cls()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as err:
            raise LocalError(f"cannot read the docker config {path}: {err.strerror}") from None
        except ValueError as err:
            raise LocalError(f"the docker config {path} is not valid JSON: {err}") from None
        if not isinstance(data, dict):
            raise LocalError(f"the docker config {path} must hold a JSON object")
        return cls(path, data)

    def for_buildah(self, folder: Path) -> Path | None:
        """The file to pass as ``--authfile``: this one, or, when it has entries buildah does not read
        (bare ``username``/``password``), a copy with ``auth`` entries written in ``folder`` (mode 0600)."""
        auths = self.data.get("auths") or {}
        if self.path is None or all(not isinstance(e, dict) or "username" not in e or e.get("auth") for e in auths.values()):
            return self.path
        data = dict(self.data)
        data["auths"] = {
            key: {"auth": base64.b64encode(f"{e['username']}:{e.get('password', '')}".encode()).decode()}
            if isinstance(e, dict) and e.get("username") and not e.get("auth")
            else e
            for key, e in auths.items()
        }
        copy = folder / "auth.json"
        copy.touch(mode=0o600)
        copy.write_text(json.dumps(data))
        return copy

    def credentials(self, host: str) -> tuple[str, str] | None:
        """``(user, password)`` for ``host``, from ``auths`` or a credential helper; ``None`` if none."""
        host = _normal_host(host)
        helper = (self.data.get("credHelpers") or {}).get(host) or self.data.get("credsStore")
        for key, entry in (self.data.get("auths") or {}).items():
            if _normal_host(key) != host or not isinstance(entry, dict):
                continue
            if entry.get("auth"):
                try:
                    user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
                except ValueError:
                    raise LocalError(f"{self.path}: the 'auth' entry of {key} is not base64 of user:password") from None
                return user, password
            if entry.get("username"):
                return str(entry["username"]), str(entry.get("password", ""))
        if helper:
            return _credential_helper(str(helper), host)
        return None


def _credential_helper(name: str, host: str) -> tuple[str, str] | None:
    """Ask ``docker-credential-NAME get`` (the docker credential-helper protocol)."""
    try:
        done = subprocess.run(
            [f"docker-credential-{name}", "get"], input=host, capture_output=True, text=True, timeout=30, check=False
        )
    except OSError:
        raise LocalError(f"the credential helper docker-credential-{name} is not installed") from None
    if done.returncode != 0:
        return None
    reply = json.loads(done.stdout)
    return str(reply.get("Username", "")), str(reply.get("Secret", ""))


# -- the API ----------------------------------------------------------------------------------
@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


def _pinned_opener(address: str | None, context: ssl.SSLContext | None) -> urllib.request.OpenerDirector:
    """An opener that connects to ``address`` (an IP) whatever host a URL names, keeping the name for
    the ``Host`` header, SNI and the certificate check; ``context`` verifies TLS (e.g. against a test CA)."""

    def connect_to(host: str, port: int | None, timeout: float) -> socket.socket:
        return socket.create_connection((address or host, port or 0), timeout)

    class PinnedHTTP(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = connect_to(self.host, self.port, self.timeout)  # type: ignore[arg-type]

    class PinnedHTTPS(http.client.HTTPSConnection):
        def connect(self) -> None:
            sock = connect_to(self.host, self.port, self.timeout)  # type: ignore[arg-type]
            self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]

    class HTTPHandler(urllib.request.HTTPHandler):
        def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(PinnedHTTP, req)

    class HTTPSHandler(urllib.request.HTTPSHandler):
        def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(PinnedHTTPS, req, context=context)

    return urllib.request.build_opener(HTTPHandler(), HTTPSHandler(context=context))


class Registry:
    """One registry host, with the credentials for it; token auth handled per repository scope.

    ``scheme``: ``http`` or ``https`` (default: plain HTTP for loopback addresses only); ``ca_file``: a
    CA bundle to verify the registry's certificate with (default: the system's); ``address``: an IP to
    connect to instead of resolving the host name (as a pod's ``hostAliases`` would).
    """

    def __init__(
        self,
        host: str,
        credentials: tuple[str, str] | None = None,
        *,
        scheme: str | None = None,
        ca_file: Path | None = None,
        address: str | None = None,
    ) -> None:
        self.host = host
        api_host = _DOCKER_HUB_API if _normal_host(host) == DOCKER_HUB else host
        self.base = f"{scheme or ('http' if is_loopback(host) else 'https')}://{api_host}"
        self.credentials = credentials
        self._tokens: dict[str, str] = {}
        self._opener: urllib.request.OpenerDirector | None = None
        if ca_file is not None or address is not None:
            context = ssl.create_default_context(cafile=str(ca_file) if ca_file is not None else None)
            self._opener = _pinned_opener(address, context)

    def _send(self, method: str, url: str, headers: dict[str, str], data: bytes | None) -> Response:
        request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 (http/https only)
        try:
            opener = self._opener.open if self._opener is not None else urllib.request.urlopen
            with opener(request, timeout=_TIMEOUT) as reply:
                return Response(reply.status, {k.lower(): v for k, v in reply.headers.items()}, reply.read())
        except urllib.error.HTTPError as err:
            return Response(err.code, {k.lower(): v for k, v in err.headers.items()}, err.read())
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            if isinstance(reason, ssl.SSLError):  # it answered: TLS, not the network, is what failed
                raise RegistryTLSError(
                    f"TLS with the registry {self.host} failed ({getattr(reason, 'reason', None) or reason}): "
                    + _TLS_HINTS.get(getattr(reason, "reason", ""), "check its certificate")
                ) from None
            raise RegistryUnreachable(f"the registry {self.host} does not answer ({reason})") from None

    def ping(self) -> None:
        """``GET /v2/``: raises :class:`RegistryUnreachable` unless a registry answers (401 counts)."""
        reply = self._send("GET", f"{self.base}/v2/", {}, None)
        if reply.status not in (200, 401):
            raise RegistryUnreachable(f"{self.base}/v2/ answered HTTP {reply.status}: not a registry")

    def request(
        self, method: str, repository: str, path: str, *, headers: dict[str, str] | None = None, data: bytes | None = None
    ) -> Response:
        """``METHOD /v2/<repository>/<path>`` (or an absolute URL), authenticating when asked to."""
        if path.startswith(("http://", "https://")):
            url = path
        elif path.startswith("/"):  # a Location header relative to the registry
            url = self.base + path
        else:
            url = f"{self.base}/v2/{repository}/{path}"
        sent = dict(headers or {})
        auth = self._auth_header(repository)
        reply = self._send(method, url, {**sent, **auth}, data)
        if reply.status == 401 and "www-authenticate" in reply.headers:
            auth = self._authenticate(repository, reply.headers["www-authenticate"])
            reply = self._send(method, url, {**sent, **auth}, data)
        return reply

    def _auth_header(self, repository: str) -> dict[str, str]:
        if repository in self._tokens:
            return {"Authorization": self._tokens[repository]}
        return {}

    def _authenticate(self, repository: str, challenge: str) -> dict[str, str]:
        scheme, _, params_text = challenge.partition(" ")
        params = dict(re.findall(r'(\w+)="([^"]*)"', params_text))
        if scheme.lower() == "basic":
            if self.credentials is None:
                return {}
            user, password = self.credentials
            value = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        elif scheme.lower() == "bearer" and "realm" in params:
            query = {"service": params.get("service", ""), "scope": f"repository:{repository}:pull,push"}
            headers = {}
            if self.credentials is not None:
                user, password = self.credentials
                headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
            reply = self._send("GET", params["realm"] + "?" + urllib.parse.urlencode(query), headers, None)
            if reply.status in (401, 403):
                raise AccessDenied(f"{self.host} refused the credentials (HTTP {reply.status} from its token service)")
            token = json.loads(reply.body or b"{}")
            value = "Bearer " + str(token.get("token") or token.get("access_token") or "")
        else:
            return {}
        self._tokens[repository] = value
        return {"Authorization": value}

    # -- operations ---------------------------------------------------------------------------
    def check_push(self, repository: str) -> None:
        """Start a blob upload to ``repository`` and cancel it: raises :class:`AccessDenied` on 401/403."""
        reply = self.request("POST", repository, "blobs/uploads/")
        if reply.status in (401, 403):
            who = "no credentials" if self.credentials is None else "the credentials given"
            raise AccessDenied(f"no push access to {self.host}/{repository} with {who} (HTTP {reply.status})")
        if reply.status != 202:
            raise LocalError(f"{self.host}/{repository}: starting an upload answered HTTP {reply.status}")
        location = reply.headers.get("location", "")
        if location:
            self.request("DELETE", repository, location)

    def push_blob(self, repository: str, blob: bytes) -> str:
        """Upload ``blob`` (monolithic POST-then-PUT) unless present; its digest."""
        digest = "sha256:" + hashlib.sha256(blob).hexdigest()
        if self.request("HEAD", repository, f"blobs/{digest}").status == 200:
            return digest
        start = self.request("POST", repository, "blobs/uploads/")
        if start.status != 202:
            raise LocalError(f"{self.host}/{repository}: starting an upload answered HTTP {start.status}")
        location = start.headers["location"]
        url = location + ("&" if "?" in location else "?") + urllib.parse.urlencode({"digest": digest})
        done = self.request("PUT", repository, url, headers={"Content-Type": "application/octet-stream"}, data=blob)
        if done.status != 201:
            raise LocalError(f"{self.host}/{repository}: uploading {digest} answered HTTP {done.status}")
        return digest

    def put_manifest(self, repository: str, reference: str, manifest: bytes, media_type: str) -> str:
        reply = self.request("PUT", repository, f"manifests/{reference}", headers={"Content-Type": media_type}, data=manifest)
        if reply.status != 201:
            raise LocalError(f"{self.host}/{repository}: PUT manifest answered HTTP {reply.status}: {reply.body[:200]!r}")
        return "sha256:" + hashlib.sha256(manifest).hexdigest()

    def manifest(self, repository: str, reference: str) -> dict[str, Any]:
        """The manifest of ``repository:reference`` as JSON."""
        reply = self.request("GET", repository, f"manifests/{reference}", headers={"Accept": ", ".join(MANIFEST_TYPES)})
        if reply.status != 200:
            raise LocalError(f"{self.host}/{repository}:{reference}: GET manifest answered HTTP {reply.status}")
        data: dict[str, Any] = json.loads(reply.body)
        return data

    def manifest_response(self, repository: str, reference: str) -> Response:
        """``GET`` the manifest with OCI (and Docker) Accept headers; the reply as the registry sent it."""
        reply = self.request("GET", repository, f"manifests/{reference}", headers={"Accept": ", ".join(MANIFEST_TYPES)})
        if reply.status != 200:
            raise LocalError(f"{self.host}/{repository}:{reference}: GET manifest answered HTTP {reply.status}")
        return reply

    def digest(self, repository: str, reference: str) -> str:
        """The manifest digest as the registry computes it (``Docker-Content-Digest``)."""
        reply = self.manifest_response(repository, reference)
        digest = reply.headers.get("docker-content-digest", "")
        if not digest:
            raise LocalError(f"{self.host}/{repository}:{reference}: no Docker-Content-Digest header")
        return digest

    def has_blob(self, repository: str, digest: str) -> bool:
        return self.request("HEAD", repository, f"blobs/{digest}").status == 200

    def blob(self, repository: str, digest: str) -> bytes:
        reply = self.request("GET", repository, f"blobs/{digest}")
        if reply.status != 200:
            raise LocalError(f"{self.host}/{repository}: GET blob {digest} answered HTTP {reply.status}")
        return reply.body

    def mount_blob(self, repository: str, digest: str, source: str) -> bool:
        """Link blob ``digest`` of repository ``source`` into ``repository`` (same registry, no upload):
        ``POST /v2/<repository>/blobs/uploads/?mount=<digest>&from=<source>``; whether it was."""
        query = urllib.parse.urlencode({"mount": digest, "from": source})
        reply = self.request("POST", repository, f"blobs/uploads/?{query}")
        if reply.status == 202 and reply.headers.get("location"):  # an upload started instead: cancel it
            self.request("DELETE", repository, reply.headers["location"])
        return reply.status == 201

    def tags(self, repository: str) -> list[str]:
        reply = self.request("GET", repository, "tags/list")
        if reply.status == 404:
            return []
        return list(json.loads(reply.body).get("tags") or [])

    def manifest_digest(self, repository: str, reference: str) -> str:
        """The digest of the manifest ``repository:reference`` (what ``IMAGE@sha256:…`` pins)."""
        reply = self.request("GET", repository, f"manifests/{reference}", headers={"Accept": ", ".join(MANIFEST_TYPES)})
        if reply.status != 200:
            raise LocalError(f"{self.host}/{repository}:{reference}: GET manifest answered HTTP {reply.status}")
        return reply.headers.get("docker-content-digest") or "sha256:" + hashlib.sha256(reply.body).hexdigest()
