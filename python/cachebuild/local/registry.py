"""The embedded default registry: ``docker-registry serve`` on 127.0.0.1, started and stopped by name.

Each instance keeps everything in ``<cache dir>/registry/<name>/``: ``config.yml``, ``data/`` (the
blobs, kept between runs), ``registry.log``, an optional ``htpasswd`` and ``state.json`` (pid, port),
so ``cachebuild registry stop`` works from another process than the one that started it.
Configuration reference: https://distribution.github.io/distribution/about/configuration/
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from cachebuild.local import LocalError, cache_dir
from cachebuild.local.distribution import Registry, RegistryUnreachable

DEFAULT_NAME = "default"
DEFAULT_PORT = 5000
_READY_SECONDS = 20.0
_STOP_SECONDS = 10.0


@dataclass(frozen=True)
class RegistryState:
    """A running registry: where it listens and how to stop it."""

    name: str
    pid: int
    port: int
    data_dir: str
    auth: bool

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``: the registry host in image references."""
        return f"127.0.0.1:{self.port}"


def instance_dir(name: str = DEFAULT_NAME) -> Path:
    return cache_dir() / "registry" / name


def free_port() -> int:
    """A TCP port nothing listens on now, on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(port: int) -> bool:
    """Whether docker-registry could listen on ``port`` of 127.0.0.1 now.

    Bound with ``SO_REUSEADDR``, as Go's listener (docker-registry's) does on Linux: the sockets of a
    registry just stopped (TIME-WAIT, FIN-WAIT) do not make its port look taken; a listener does.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def last_port(name: str = DEFAULT_NAME) -> int | None:
    """The port instance ``name`` last ran on (kept after it stops, so it comes back there)."""
    try:
        return int((instance_dir(name) / "port").read_text())
    except (OSError, ValueError):
        return None


def instances() -> list[str]:
    """The names of the instances that have run here (``default`` first, then by name)."""
    root = cache_dir() / "registry"
    names = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    return sorted(names, key=lambda n: n != DEFAULT_NAME)


def running() -> list[RegistryState]:
    """Every instance that runs now."""
    return [state for name in instances() if (state := status(name)) is not None]


def _alive(pid: int) -> bool:
    """The process runs (not a zombie) and is a docker-registry."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    state = stat.rpartition(")")[2].split()[0]
    return state != "Z" and b"registry" in cmdline


def _exited(pid: int) -> bool:
    """The process is gone or a zombie: its files, the listening socket among them, are closed.

    Not :func:`_alive`: an exiting process shows an empty cmdline (its memory is released) before
    its files are closed, and its port would still be taken.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] in ("Z", "X")


def status(name: str = DEFAULT_NAME) -> RegistryState | None:
    """The running instance ``name``, or ``None`` (a stale state file is removed)."""
    state_file = instance_dir(name) / "state.json"
    try:
        state = RegistryState(**json.loads(state_file.read_text()))
    except (OSError, ValueError, TypeError):
        return None
    if not _alive(state.pid):
        state_file.unlink(missing_ok=True)
        return None
    return state


def htpasswd_line(user: str, password: str) -> str:
    """One bcrypt htpasswd line (``htpasswd -B``; the password goes through stdin, not argv)."""
    if not user or ":" in user:
        raise LocalError(f"htpasswd user {user!r} must be non-empty and without ':'")
    if shutil.which("htpasswd") is None:
        raise LocalError("htpasswd is not installed (apt-get install apache2-utils)")
    done = subprocess.run(["htpasswd", "-niB", user], input=password, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise LocalError(f"htpasswd failed: {done.stderr.strip()}")
    return done.stdout.strip() + "\n"


def start(
    name: str = DEFAULT_NAME,
    *,
    port: int | None = None,
    htpasswd: str | None = None,
    wipe: bool = False,
) -> RegistryState:
    """Start ``docker-registry`` on 127.0.0.1 and wait until it answers.

    ``port``: that one (:class:`LocalError` when taken); else the port the instance last ran on, else
    5000, whichever is free first, else any free port (so a restarted registry stays where it was).

    ``htpasswd``: the content of an htpasswd file (bcrypt lines) to require basic auth.
    ``wipe``: start from an empty data directory. Already running → :class:`LocalError`.
    """
    running = status(name)
    if running is not None:
        raise LocalError(f"registry {name!r} already runs on {running.address} (pid {running.pid}); stop it first")
    binary = shutil.which("docker-registry")
    if binary is None:
        raise LocalError("docker-registry is not installed (apt-get install docker-registry)")
    if port is None:
        candidates = [p for p in (last_port(name), DEFAULT_PORT) if p is not None]
        port = next((p for p in candidates if port_is_free(p)), None) or free_port()
    elif not port_is_free(port):
        raise LocalError(f"port {port} on 127.0.0.1 is in use")
    home = instance_dir(name)
    data = home / "data"
    if wipe and data.exists():
        shutil.rmtree(data)
    data.mkdir(parents=True, exist_ok=True)
    config: dict[str, object] = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(data)}, "delete": {"enabled": True}},
        "http": {"addr": f"127.0.0.1:{port}"},
    }
    auth_file = home / "htpasswd"
    auth_file.unlink(missing_ok=True)
    if htpasswd is not None:
        auth_file.touch(mode=0o600)
        auth_file.write_text(htpasswd)
        config["auth"] = {"htpasswd": {"realm": f"cachebuild-{name}", "path": str(auth_file)}}
    (home / "config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    with open(home / "registry.log", "ab") as log:
        process = subprocess.Popen(
            [binary, "serve", str(home / "config.yml")],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,  # survives this process; Ctrl-C in this terminal does not reach it
        )
    state = RegistryState(name=name, pid=process.pid, port=port, data_dir=str(data), auth=htpasswd is not None)
    try:
        _wait_ready(state, process, home / "registry.log")
    except BaseException:
        _terminate(process.pid)
        raise
    (home / "state.json").write_text(json.dumps(asdict(state)))
    (home / "port").write_text(str(port))
    return state


def _wait_ready(state: RegistryState, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + _READY_SECONDS
    client = Registry(state.address)
    while True:
        if process.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-5:]
            raise LocalError(f"docker-registry exited with status {process.returncode}: " + " | ".join(tail))
        try:
            client.ping()
            return
        except RegistryUnreachable:
            if time.monotonic() > deadline:
                raise LocalError(f"docker-registry did not answer on {state.address} within {_READY_SECONDS:.0f}s") from None
            time.sleep(0.1)


def _terminate(pid: int) -> None:
    """SIGTERM, wait, then SIGKILL; reap it when it is our child."""
    for sig, wait in ((signal.SIGTERM, _STOP_SECONDS), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):  # reap it when it is our child
                os.waitpid(pid, os.WNOHANG)
            if _exited(pid):
                return
            time.sleep(0.05)


def stop(name: str = DEFAULT_NAME) -> RegistryState | None:
    """Stop instance ``name``; the state it had, or ``None`` when it was not running. Data is kept."""
    state = status(name)
    if state is None:
        return None
    _terminate(state.pid)
    # The process can look gone (a zombie leader) while its other threads still hold the listening
    # socket: stopped means the port can be listened on again.
    deadline = time.monotonic() + _STOP_SECONDS
    while not port_is_free(state.port) and time.monotonic() < deadline:
        time.sleep(0.02)
    (instance_dir(name) / "state.json").unlink(missing_ok=True)
    return state
