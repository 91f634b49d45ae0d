"""Real registries for the end-to-end tests: Debian's ``docker-registry serve`` on 127.0.0.1 (the
cluster tier: on the node's address), in two modes.

* plain HTTP, addressed by a host name (``registry-http.cachebuild.test:PORT``), which a pod resolves
  to the registry's address through ``spec.hostAliases`` (:attr:`TestRegistry.host_alias`);
* TLS with a CA of the test's own (openssl; the server certificate has the host name as SAN) and
  htpasswd credentials, with a docker ``config.json`` (``auths`` with ``auth``) for a Secret.

:meth:`TestRegistry.client` is a :class:`cachebuild.local.distribution.Registry` that resolves the name
to the registry's address and verifies TLS against the test CA. Ports come from 47000-47499.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import secrets
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cachebuild.local import baseimage
from cachebuild.local.distribution import Registry, RegistryUnreachable
from cachebuild.local.registry import htpasswd_line
from e2e.images import tools_bin

HTTP_HOST = "registry-http.cachebuild.test"
TLS_HOST = "registry-tls.cachebuild.test"
PORTS = range(47000, 47500)
USER = "cachebuild-ci"
_READY_SECONDS = 20.0


class RegistryError(Exception):
    """A test registry cannot be started; the message says why."""


def free_port(ports: range = PORTS, ip: str = "127.0.0.1") -> int:
    """The first port of ``ports`` nothing listens on at ``ip``."""
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((ip, port))
            except OSError:
                continue
            return port
    raise RegistryError(f"no free port on {ip} in {ports.start}-{ports.stop - 1}")


@dataclass
class TestRegistry:
    """A running docker-registry; ``address`` (``NAME:PORT``) is what image references use."""

    __test__ = False  # not a pytest test class

    name: str
    host_name: str
    port: int
    folder: Path
    process: subprocess.Popen[bytes]
    tls: bool = False
    ca_file: Path | None = None
    credentials: tuple[str, str] | None = None
    ip: str = "127.0.0.1"  # the address it listens on, which its name resolves to
    _ports: list[int] = field(default_factory=list)

    @property
    def address(self) -> str:
        if self.tls and self.port == 443:  # HTTPS's own port goes unsaid, as image references have it
            return self.host_name
        return f"{self.host_name}:{self.port}"

    @property
    def host_alias(self) -> dict[str, Any]:
        """The pod ``spec.hostAliases`` entry that resolves the registry's name to its address."""
        return {"ip": self.ip, "hostnames": [self.host_name]}

    def docker_config(self) -> bytes:
        """A docker ``config.json`` with this registry's credentials (``{}`` auths when it has none)."""
        auths: dict[str, Any] = {}
        if self.credentials is not None:
            user, password = self.credentials
            auths[self.address] = {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
        return json.dumps({"auths": auths}).encode()

    def client(self) -> Registry:
        return Registry(
            self.address,
            self.credentials,
            scheme="https" if self.tls else "http",
            ca_file=self.ca_file,
            address=self.ip,
        )

    def log(self) -> str:
        return (self.folder / "registry.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    # -- assertions' helpers ------------------------------------------------------------------
    def tags(self, repository: str) -> list[str]:
        return sorted(self.client().tags(repository))

    def manifest(self, repository: str, reference: str) -> tuple[dict[str, Any], str]:
        """The manifest (or index) JSON and its digest as the registry computed it."""
        reply = self.client().manifest_response(repository, reference)
        return json.loads(reply.body), reply.headers.get("docker-content-digest", "")

    def platforms(self, repository: str, reference: str) -> list[str]:
        """``os/architecture`` of each index entry (attestation entries left out)."""
        index, _ = self.manifest(repository, reference)
        found = []
        for entry in index.get("manifests") or []:
            p = entry.get("platform") or {}
            if p.get("os") == "unknown":  # BuildKit's attestation manifests
                continue
            found.append(f"{p.get('os')}/{p.get('architecture')}" + (f"/{p['variant']}" if p.get("variant") else ""))
        return sorted(found)

    def has_blob(self, repository: str, digest: str) -> bool:
        return self.client().has_blob(repository, digest)

    def image_file(self, repository: str, reference: str, path: str) -> bytes:
        """The file at ``path`` in the image, as its topmost layer holding it has it (an image manifest, not an index)."""
        manifest, _ = self.manifest(repository, reference)
        for layer in reversed(manifest["layers"]):
            blob = self.client().blob(repository, layer["digest"])
            with tarfile.open(fileobj=io.BytesIO(blob), mode="r:*") as tar:
                for member in tar.getmembers():
                    if member.isfile() and member.name.lstrip("./") == path.lstrip("/"):
                        data = tar.extractfile(member)
                        assert data is not None
                        return data.read()
        raise FileNotFoundError(f"{path} is in no layer of {repository}:{reference}")

    def push_base_image(
        self, repository: str = baseimage.REPOSITORY, tag: str = baseimage.TAG, *, multi_platform: bool = True, media: str = "oci"
    ) -> str:
        """The project's busybox base image, as a linux/amd64 + linux/arm64 index (or amd64 only);
        ``media="docker"``: a Docker manifest list of Docker manifests instead of OCI."""
        client = self.client()
        if not multi_platform:
            baseimage.push(client, repository, tag)
        else:
            arm64 = tools_bin() / "busybox-arm64"
            if not arm64.exists():
                raise RegistryError(f"{arm64} is missing: run `bash scripts/tools.sh`")
            baseimage.push_index(client, {"amd64": baseimage.BUSYBOX, "arm64": arm64.resolve()}, repository, tag, media=media)
        return f"{self.address}/{repository}:{tag}"


def _openssl(*args: str, cwd: Path) -> None:
    done = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RegistryError(f"openssl {' '.join(args[:2])} failed: {done.stderr.strip()}")


def make_ca_and_certificate(folder: Path, host_name: str, *more_names: str) -> tuple[Path, Path, Path]:
    """A test CA and a server certificate for ``host_name`` and ``more_names`` (SANs) signed by it:
    ``(ca.crt, server.crt, server.key)``."""
    if shutil.which("openssl") is None:
        raise RegistryError("openssl is not installed (apt-get install openssl; scripts/setup.sh installs it)")
    folder.mkdir(parents=True, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ca_extensions = ["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=cachebuild test CA",
             *ca_extensions, cwd=folder)  # fmt: skip
    _openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", f"/CN={host_name}", cwd=folder)
    names = ",".join(f"DNS:{name}" for name in (host_name, *more_names))
    (folder / "server.ext").write_text(
        f"subjectAltName={names}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\nbasicConstraints=CA:FALSE\n"
    )
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "server.crt", "-days", "2", "-extfile", "server.ext", cwd=folder)  # fmt: skip
    return folder / "ca.crt", folder / "server.crt", folder / "server.key"


def start_registry(
    folder: Path,
    *,
    tls: bool,
    name: str | None = None,
    ip: str = "127.0.0.1",
    host_name: str | None = None,
    port: int | None = None,
    auth: bool = True,
    more_names: tuple[str, ...] = (),
) -> TestRegistry:
    """Start docker-registry on ``ip``: plain HTTP as ``registry-http.cachebuild.test`` or TLS + htpasswd
    (unless not ``auth``) as ``registry-tls...`` (or as ``host_name``), on a free port of :data:`PORTS`
    (or ``port``). Its TLS certificate also names ``more_names``: the other names it answers to."""
    binary = shutil.which("docker-registry")
    if binary is None:
        raise RegistryError("docker-registry is not installed (apt-get install docker-registry; scripts/setup.sh installs it)")
    host_name = host_name or (TLS_HOST if tls else HTTP_HOST)
    name = name or ("tls" if tls else "http")
    folder.mkdir(parents=True, exist_ok=True)
    port = port or free_port(ip=ip)
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "info", "accesslog": {"disabled": False}},
        "storage": {"filesystem": {"rootdirectory": str(folder / "data")}, "delete": {"enabled": True}},
        "http": {"addr": f"{ip}:{port}"},
    }
    ca_file = None
    credentials = None
    if tls:
        ca_file, cert, key = make_ca_and_certificate(folder / "tls", host_name, *more_names)
        config["http"]["tls"] = {"certificate": str(cert), "key": str(key)}
    if tls and auth:
        credentials = (USER, "pw-" + secrets.token_hex(12))
        (folder / "htpasswd").write_text(htpasswd_line(*credentials))
        config["auth"] = {"htpasswd": {"realm": "cachebuild-test", "path": str(folder / "htpasswd")}}
    (folder / "config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    with open(folder / "registry.log", "ab") as log:
        process = subprocess.Popen(
            [binary, "serve", str(folder / "config.yml")], stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
    registry = TestRegistry(name, host_name, port, folder, process, tls, ca_file, credentials, ip)
    deadline = time.monotonic() + _READY_SECONDS
    client = registry.client()
    while True:
        if process.poll() is not None:
            raise RegistryError(f"docker-registry ({registry.address}) exited with {process.returncode}: {registry.log()[-800:]}")
        try:
            client.ping()
            return registry
        except RegistryUnreachable:
            if time.monotonic() > deadline:
                registry.stop()
                raise RegistryError(
                    f"docker-registry did not answer on {registry.address} ({ip}:{port}) within {_READY_SECONDS:.0f}s"
                ) from None
            time.sleep(0.1)


@contextlib.contextmanager
def registries(folder: Path | None = None, ip: str = "127.0.0.1") -> Iterator[tuple[TestRegistry, TestRegistry]]:
    """Both registries on ``ip``, ``(plain HTTP by name, TLS + auth)``, stopped afterwards."""
    base = folder or Path(tempfile.mkdtemp(prefix="infra-registries-"))
    http = start_registry(base / "http", tls=False, ip=ip)
    try:
        tls = start_registry(base / "tls", tls=True, ip=ip)
        try:
            yield http, tls
        finally:
            tls.stop()
    finally:
        http.stop()
