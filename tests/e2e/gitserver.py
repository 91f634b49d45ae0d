"""A git server over HTTPS for the tests: Git's own ``git http-backend`` (the smart HTTP protocol that
GitHub speaks, which the git CLI of BuildKit, buildah and Tekton's git resolver and kaniko's go-git all
use) behind a small threaded HTTPS server, serving the bare repositories under one folder.

:func:`make_repository` commits a folder's files as one commit and publishes them as
``<root>/<org>/<name>.git`` with the branches and tags asked for.
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class GitServerError(Exception):
    pass


def _git(*args: str, cwd: Path) -> str:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(cwd), "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
           "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z"}  # fmt: skip
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise GitServerError(f"git {' '.join(args)} failed in {cwd}: {done.stderr.strip()}")
    return done.stdout


def make_repository(
    root: Path, path: str, files: Path, branches: tuple[str, ...] = ("main",), tags: tuple[str, ...] = ()
) -> Path:
    """``files`` (a folder) as one commit, on each of ``branches`` (the first is the default one) and
    tagged ``tags``, in the bare repository ``root/path`` (``org/name.git``), which the server then
    serves at ``https://HOST/org/name.git``."""
    if shutil.which("git") is None:
        raise GitServerError("git is not installed (apt-get install git; scripts/setup.sh installs it)")
    bare = root / path
    work = bare.with_name(bare.name + ".work")
    for folder in (bare, work):
        shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(files, work, symlinks=True)
    _git("init", "-q", "-b", branches[0], cwd=work)
    _git("add", "-A", cwd=work)
    _git("-c", "user.name=cachebuild tests", "-c", "user.email=tests@cachebuild.test", "commit", "-q", "-m", "import", cwd=work)
    for branch in branches[1:]:
        _git("branch", branch, cwd=work)
    for tag in tags:
        _git("tag", tag, cwd=work)
    bare.parent.mkdir(parents=True, exist_ok=True)
    _git("clone", "-q", "--bare", str(work), str(bare), cwd=bare.parent)
    shutil.rmtree(work)
    return bare


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base class's name)
        with open(self.server.log_file, "a") as log:
            log.write(f"{self.address_string()} {format % args}\n")

    def do_GET(self) -> None:
        self._backend()

    def do_POST(self) -> None:
        self._backend()

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":  # git sends big requests chunked
            body = b""
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                body += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
            return body
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _backend(self) -> None:
        """One request through ``git http-backend``, a CGI program (RFC 3875)."""
        path, _, query = self.path.partition("?")
        body = self._body() if self.command == "POST" else b""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GIT_PROJECT_ROOT": str(self.server.root),
            "GIT_HTTP_EXPORT_ALL": "1", "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(self.server.root),
            "REQUEST_METHOD": self.command, "PATH_INFO": path, "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""), "CONTENT_LENGTH": str(len(body)),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""), "REMOTE_ADDR": self.client_address[0],
            "SERVER_PROTOCOL": "HTTP/1.1", "GATEWAY_INTERFACE": "CGI/1.1",
        }  # fmt: skip
        done = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, check=False)
        head, sep, payload = done.stdout.partition(b"\r\n\r\n")
        if not sep:
            head, sep, payload = done.stdout.partition(b"\n\n")
        status, headers = 200, []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        if done.returncode != 0 and not sep:
            status, headers, payload = 500, [("Content-Type", "text/plain")], done.stderr
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    root: Path
    log_file: Path


@dataclass
class GitServer:
    """``https://<host_name>/<org>/<name>.git`` for each bare repository under ``root``, on ``ip:port``."""

    host_name: str
    ip: str
    port: int
    root: Path
    log_file: Path
    _server: _Server
    _thread: threading.Thread

    def url(self, path: str) -> str:
        return f"https://{self.host_name}/{path}" if self.port == 443 else f"https://{self.host_name}:{self.port}/{path}"

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


def start_git_server(root: Path, host_name: str, ip: str, port: int, certificate: Path, key: Path) -> GitServer:
    """Serve ``root`` over HTTPS on ``ip:port`` with ``certificate`` (whose SAN names ``host_name``)."""
    root.mkdir(parents=True, exist_ok=True)
    try:
        server = _Server((ip, port), _Handler)
    except OSError as err:
        raise GitServerError(f"the git server cannot listen on {ip}:{port}: {err}") from None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.root = root
    server.log_file = root.parent / f"{root.name}-access.log"
    thread = threading.Thread(target=server.serve_forever, name=f"git-server-{host_name}", daemon=True)
    thread.start()
    return GitServer(host_name, ip, port, root, server.log_file, server, thread)
