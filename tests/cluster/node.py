"""A single-node Kubernetes cluster on this machine, from the programs ``scripts/cluster-tools.sh`` builds.

etcd, kube-apiserver, kube-controller-manager, kube-scheduler, containerd (with Debian's runc and CNI
plugins), the kubelet and kube-proxy run as processes of this machine, each with its log in
``<folder>/logs/``. Clients authenticate with static tokens (``--token-auth-file``): ``admin`` is in
``system:masters``; the kubelet, the controller manager, the scheduler and kube-proxy are the users the
default RBAC and the Node authorizer name. Pods reach the API server through the ``kubernetes`` Service
(kube-proxy's iptables rules) and the host through its own address (:attr:`Cluster.node_ip`).

What differs from a production node, and why:

* ``failCgroupV1: false``: these machines run cgroup v1, which kubelet v1.36 refuses unless told.
* ``restrict_oom_score_adj`` in containerd: root here lacks CAP_SYS_RESOURCE, so no process may lower
  its OOM score (the kubelet asks -998 for every pod sandbox).
* The kubelet accepts anonymous requests (``AlwaysAllow``): only the API server on this machine calls it.
* No CoreDNS (it is not built): the pods' resolver is Debian's dnsmasq on the node's address, which
  answers every name under ``cachebuild.test`` (the test registries') and the names of the stand-ins
  for the internet's hosts with addresses of this machine, and nothing else; the kubelet's
  ``resolvConf`` names it, as it would a node's.
* PersistentVolumeClaims are provisioned by the controller manager's host-path provisioner
  (``--enable-hostpath-provisioner``, the single-node provisioner ``local-up-cluster.sh`` uses).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from e2e.images import tools_bin

NODE_NAME = "cachebuild-node"
SERVICE_CIDR = "10.96.0.0/16"
API_SERVICE_IP = "10.96.0.1"
POD_CIDR = "10.88.0.0/16"
BRIDGE = "cachebuild0"
API_PORT = 6443
ETCD_PORT = 23790  # not etcd's default 2379, so that a stray etcd cannot answer for it
CNI_PLUGINS = Path("/usr/lib/cni")  # Debian's containernetworking-plugins
RUNC = "/usr/sbin/runc"
PAUSE_IMAGE = "cachebuild.test/pause:3.10"
DNS_DOMAIN = "cachebuild.test"  # every name under it resolves, in pods, to the node (the test registries)


class ClusterError(Exception):
    """The cluster cannot start; the message names the component, its address and its last log lines."""


def cluster_bin() -> Path:
    """``$CACHEBUILD_TOOLS/cluster-bin``: a link per program ``scripts/cluster-tools.sh`` built."""
    return tools_bin().parent / "cluster-bin"


def program(name: str) -> str:
    path = cluster_bin() / name
    if not path.exists():
        raise ClusterError(f"{path} is missing: run `bash scripts/cluster-tools.sh` (scripts/cluster-e2e.sh runs it)")
    return str(path.resolve())


def node_ip() -> str:
    """The address of this machine that pods reach it by (the source address of its default route)."""
    out = subprocess.run(["ip", "-4", "-o", "route", "get", "192.0.2.255"], capture_output=True, text=True, check=False).stdout
    words = out.split()
    if "src" in words:
        return words[words.index("src") + 1]
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        return line.split()[3].split("/")[0]
    raise ClusterError("this machine has no global IPv4 address for pods to reach it by (ip -4 addr)")


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _pki(folder: Path, ip: str) -> None:
    """A CA, the API server's serving certificate and the service-account signing key."""
    folder.mkdir(parents=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
             "-subj", "/CN=cachebuild-cluster-ca", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=folder)  # fmt: skip
    names = ["kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "localhost"]
    san = ",".join([*(f"DNS:{n}" for n in names), f"IP:{API_SERVICE_IP}", "IP:127.0.0.1", f"IP:{ip}"])
    (folder / "apiserver.ext").write_text(
        f"subjectAltName={san}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
    )
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "apiserver.key", "-out", "apiserver.csr",
             "-subj", "/CN=kube-apiserver", cwd=folder)  # fmt: skip
    _openssl("x509", "-req", "-in", "apiserver.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "apiserver.crt", "-days", "2", "-extfile", "apiserver.ext", cwd=folder)  # fmt: skip
    _openssl("genrsa", "-out", "sa.key", "2048", cwd=folder)
    _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=folder)


@dataclass
class Component:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Cluster:
    """The running cluster: ``kubectl()`` runs the pinned kubectl as ``admin``; :meth:`stop` ends it all."""

    folder: Path
    node_ip: str
    tokens: dict[str, str]
    dns_names: tuple[str, ...] = (DNS_DOMAIN,)  # what the pods' resolver answers, with the node's address
    more_hosts: dict[str, str] = field(default_factory=dict)  # name -> another address of this machine
    components: list[Component] = field(default_factory=list)
    log: Callable[[str], None] = print

    @property
    def kubeconfig(self) -> Path:
        return self.folder / "admin.kubeconfig"

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{API_PORT}"

    @property
    def ca_file(self) -> Path:
        return self.folder / "pki" / "ca.crt"

    @property
    def containerd_socket(self) -> Path:
        return self.folder / "containerd" / "containerd.sock"

    def kubectl(self, *args: str, input: bytes | str | None = None, check: bool = True, timeout: float = 300) -> str:
        data = input.encode() if isinstance(input, str) else input
        done = subprocess.run(
            [program("kubectl"), "--kubeconfig", str(self.kubeconfig), *args],
            input=data, capture_output=True, timeout=timeout, check=False,
        )  # fmt: skip
        if check and done.returncode != 0:
            raise ClusterError(
                f"kubectl {' '.join(args)} exited {done.returncode}: {done.stderr.decode(errors='replace')[-2000:]}"
            )
        return done.stdout.decode(errors="replace")

    def get(self, *args: str) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.kubectl("get", *args, "-o", "json"))
        return result

    def ctr(self, *args: str) -> str:
        done = subprocess.run(
            [program("ctr"), "--address", str(self.containerd_socket), "--namespace", "k8s.io", *args],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise ClusterError(f"ctr {' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}")
        return done.stdout

    # -- starting ----------------------------------------------------------------------------
    def _start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Component:
        log = self.folder / "logs" / f"{name}.log"
        with open(log, "ab") as out:
            process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env={**os.environ, **(env or {})}, start_new_session=True
            )
        component = Component(name, process, log)
        self.components.append(component)
        return component

    def _wait(self, component: Component, what: str, ready: Callable[[], bool], seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while not ready():
            if component.process.poll() is not None:
                raise ClusterError(f"{component.name} exited with {component.process.returncode}:\n{component.tail()}")
            if time.monotonic() > deadline:
                raise ClusterError(f"{component.name} did not {what} within {seconds:.0f}s:\n{component.tail()}")
            time.sleep(0.25)

    def _kubeconfig(self, path: Path, user: str) -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "cachebuild", "cluster": {"server": self.server, "certificate-authority": str(self.ca_file)}}],
            "users": [{"name": user, "user": {"token": self.tokens[user]}}],
            "contexts": [{"name": "cachebuild", "context": {"cluster": "cachebuild", "user": user}}],
            "current-context": "cachebuild",
        }
        path.write_text(json.dumps(config, indent=2))
        path.chmod(0o600)

    def _api_ready(self) -> bool:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        request = urllib.request.Request(self.server + "/readyz", headers={"Authorization": f"Bearer {self.tokens['admin']}"})
        try:
            with urllib.request.urlopen(request, context=context, timeout=2) as reply:
                return bool(reply.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def _node_ready(self) -> bool:
        done = subprocess.run(
            [program("kubectl"), "--kubeconfig", str(self.kubeconfig), "get", "node", NODE_NAME, "-o", "json"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            return False
        conditions = json.loads(done.stdout).get("status", {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    def start(self) -> None:
        f = self.folder
        for sub in ("logs", "etcd", "containerd", "kubelet", "cni/net.d"):
            (f / sub).mkdir(parents=True, exist_ok=True)
        _pki(f / "pki", self.node_ip)
        pki = f / "pki"
        groups = {"admin": "system:masters", f"system:node:{NODE_NAME}": "system:nodes"}
        (f / "tokens.csv").write_text(
            "".join(f'{token},{user},{user},"{groups.get(user, "")}"\n' for user, token in self.tokens.items())
        )
        for user in self.tokens:
            self._kubeconfig(f / f"{user.split(':')[-1]}.kubeconfig", user)

        self.log("cluster: starting etcd")
        self._start("etcd", [
            program("etcd"), "--data-dir", str(f / "etcd"), "--name", NODE_NAME,
            "--listen-client-urls", f"http://127.0.0.1:{ETCD_PORT}", "--advertise-client-urls", f"http://127.0.0.1:{ETCD_PORT}",
            "--listen-peer-urls", f"http://127.0.0.1:{ETCD_PORT + 1}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{ETCD_PORT + 1}",
            "--initial-cluster", f"{NODE_NAME}=http://127.0.0.1:{ETCD_PORT + 1}", "--listen-metrics-urls", "",
            "--quota-backend-bytes", str(2 << 30),
        ])  # fmt: skip
        self.log("cluster: starting kube-apiserver")
        apiserver = self._start("kube-apiserver", [
            program("kube-apiserver"),
            f"--etcd-servers=http://127.0.0.1:{ETCD_PORT}",
            f"--advertise-address={self.node_ip}", "--bind-address=0.0.0.0", f"--secure-port={API_PORT}",
            f"--tls-cert-file={pki / 'apiserver.crt'}", f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}", f"--token-auth-file={f / 'tokens.csv'}",
            "--authorization-mode=Node,RBAC", f"--service-cluster-ip-range={SERVICE_CIDR}",
            f"--service-account-key-file={pki / 'sa.pub'}", f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--allow-privileged=false", "--profiling=false", "--kubelet-preferred-address-types=InternalIP",
        ])  # fmt: skip
        self._wait(apiserver, f"answer on {self.server}/readyz", self._api_ready, 120)
        self.log("cluster: starting kube-controller-manager, kube-scheduler")
        self._start("kube-controller-manager", [
            program("kube-controller-manager"), f"--kubeconfig={f / 'kube-controller-manager.kubeconfig'}",
            f"--authentication-kubeconfig={f / 'kube-controller-manager.kubeconfig'}",
            f"--authorization-kubeconfig={f / 'kube-controller-manager.kubeconfig'}",
            f"--service-account-private-key-file={pki / 'sa.key'}", f"--root-ca-file={pki / 'ca.crt'}",
            "--use-service-account-credentials=true", "--leader-elect=false", "--bind-address=127.0.0.1",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--enable-hostpath-provisioner=true", "--controllers=*",
        ])  # fmt: skip
        self._start("kube-scheduler", [
            program("kube-scheduler"), f"--kubeconfig={f / 'kube-scheduler.kubeconfig'}",
            f"--authentication-kubeconfig={f / 'kube-scheduler.kubeconfig'}",
            f"--authorization-kubeconfig={f / 'kube-scheduler.kubeconfig'}",
            "--leader-elect=false", "--bind-address=127.0.0.1",
        ])  # fmt: skip

        self.log("cluster: starting containerd")
        self._containerd_config()
        containerd = self._start("containerd", [program("containerd"), "--config", str(f / "containerd" / "config.toml")],
                                 env={"PATH": f"{cluster_bin()}:{os.environ.get('PATH', '')}"})  # fmt: skip
        self._wait(containerd, f"listen on {self.containerd_socket}", self.containerd_socket.exists, 60)

        self.log("cluster: starting dnsmasq, kube-proxy and the kubelet")
        dnsmasq = shutil.which("dnsmasq")
        if dnsmasq is None:
            raise ClusterError("dnsmasq is not installed (apt-get install dnsmasq-base; scripts/setup.sh installs it)")
        self._start("dnsmasq", [
            dnsmasq, "--keep-in-foreground", "--log-facility=-", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
            "--bind-interfaces", f"--listen-address={self.node_ip}", "--except-interface=lo",
            *(f"--address=/{name}/{self.node_ip}" for name in self.dns_names),
            *(f"--address=/{name}/{ip}" for name, ip in self.more_hosts.items()), "--user=root",
        ])  # fmt: skip
        (f / "resolv.conf").write_text(f"nameserver {self.node_ip}\n")
        self._start("kube-proxy", [program("kube-proxy"), f"--config={self._kube_proxy_config()}"])
        kubelet = self._start("kubelet", [
            program("kubelet"), f"--config={self._kubelet_config()}", f"--kubeconfig={f / f'{NODE_NAME}.kubeconfig'}",
            f"--root-dir={f / 'kubelet'}", f"--hostname-override={NODE_NAME}", f"--node-ip={self.node_ip}",
        ])  # fmt: skip
        self._wait(kubelet, f"register node {NODE_NAME} Ready", self._node_ready, 180)
        self.kubectl("apply", "-f", "-", input=_STORAGE_CLASS)
        # A namespace takes pods once the controller manager has made its ServiceAccount.
        self._wait(
            kubelet,
            "see the default ServiceAccount made",
            lambda: self.kubectl("get", "serviceaccount", "default", check=False) != "",
            60,
        )
        self.log("cluster: node Ready")

    def _containerd_config(self) -> None:
        c = self.folder / "containerd"
        (self.folder / "cni" / "net.d" / "10-cachebuild.conflist").write_text(json.dumps({
            "cniVersion": "1.0.0",
            "name": "cachebuild",
            "plugins": [
                {"type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": True, "hairpinMode": True,
                 "ipam": {"type": "host-local", "ranges": [[{"subnet": POD_CIDR}]], "routes": [{"dst": "0.0.0.0/0"}]}},
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ],
        }, indent=2))  # fmt: skip
        (c / "config.toml").write_text(f"""version = 3
root = "{c / "root"}"
state = "{c / "state"}"
[grpc]
  address = "{self.containerd_socket}"
[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "{PAUSE_IMAGE}"
[plugins.'io.containerd.cri.v1.runtime']
  # The kubelet gives a pod sandbox oom_score_adj -998; lowering it needs CAP_SYS_RESOURCE, which
  # these machines' root does not have. containerd then keeps each score no lower than its own.
  restrict_oom_score_adj = true
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["{CNI_PLUGINS}"]
    conf_dir = "{self.folder / "cni" / "net.d"}"
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = "{RUNC}"
        SystemdCgroup = false
""")

    def _kubelet_config(self) -> Path:
        path = self.folder / "kubelet-config.json"
        path.write_text(json.dumps({
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "failCgroupV1": False,
            "cgroupDriver": "cgroupfs",
            "containerRuntimeEndpoint": f"unix://{self.containerd_socket}",
            "authentication": {"anonymous": {"enabled": True}, "webhook": {"enabled": False}, "x509": {}},
            "authorization": {"mode": "AlwaysAllow"},
            "clusterDomain": "cluster.local",
            "resolvConf": str(self.folder / "resolv.conf"),
            "failSwapOn": False,
            "readOnlyPort": 0,
            "serializeImagePulls": False,
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "evictionHard": {
                "memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%", "nodefs.inodesFree": "1%",
            },
            "maxPods": 60,
        }, indent=2))  # fmt: skip
        return path

    def _kube_proxy_config(self) -> Path:
        path = self.folder / "kube-proxy-config.json"
        path.write_text(json.dumps({
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "clientConnection": {"kubeconfig": str(self.folder / "kube-proxy.kubeconfig")},
            "hostnameOverride": NODE_NAME,
            "clusterCIDR": POD_CIDR,
            "mode": "iptables",
            # Leave the machine's conntrack table alone (its sysfs is not writable in every sandbox).
            "conntrack": {"maxPerCore": 0},
        }, indent=2))  # fmt: skip
        return path

    # -- stopping ----------------------------------------------------------------------------
    def _claim_folders(self) -> list[Path]:
        """The host-path provisioner's folders of this cluster's PersistentVolumes."""
        done = subprocess.run(
            [program("kubectl"), "--kubeconfig", str(self.kubeconfig), "get", "pv", "-o", "json"],
            capture_output=True, text=True, check=False, timeout=30,
        )  # fmt: skip
        if done.returncode != 0:
            return []
        paths = [(pv["spec"].get("hostPath") or {}).get("path") for pv in json.loads(done.stdout)["items"]]
        return [Path(p) for p in paths if p and p.startswith("/tmp/hostpath_pv/")]

    def stop(self) -> None:
        claims = self._claim_folders() if self.components else []
        for component in reversed(self.components):
            if component.process.poll() is None:
                component.process.terminate()
        for component in reversed(self.components):
            try:
                component.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                component.process.kill()
                component.process.wait()
        _kill_pod_processes(self.folder)
        _unmount_under(self.folder)
        for claim in claims:
            shutil.rmtree(claim, ignore_errors=True)
        subprocess.run(["ip", "link", "delete", BRIDGE], capture_output=True, check=False)
        for ip in sorted(set(self.more_hosts.values())):
            subprocess.run(["ip", "addr", "del", f"{ip}/32", "dev", "lo"], capture_output=True, check=False)
        if self.components:
            with contextlib.suppress(ClusterError):
                subprocess.run([program("kube-proxy"), "--cleanup"], capture_output=True, check=False, timeout=60)


_STORAGE_CLASS = """apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: hostpath
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: kubernetes.io/host-path
reclaimPolicy: Delete
volumeBindingMode: Immediate
"""


def _kill_pod_processes(folder: Path) -> None:
    """Every container process (the pods' cgroups) and every runc shim of this cluster's containerd."""
    shim = (
        str((cluster_bin() / "containerd-shim-runc-v2").resolve())
        if (cluster_bin() / "containerd-shim-runc-v2").exists()
        else None
    )
    pids: set[int] = set()
    for procs in (
        Path("/sys/fs/cgroup/pids/kubepods").rglob("cgroup.procs") if Path("/sys/fs/cgroup/pids/kubepods").exists() else []
    ):
        with contextlib.suppress(OSError, ValueError):
            pids.update(int(p) for p in procs.read_text().split())
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and shim is not None:
            with contextlib.suppress(OSError):
                if os.readlink(entry / "exe") == shim:
                    pids.add(int(entry.name))
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)


def _unmount_under(folder: Path) -> None:
    prefix = str(folder.resolve()) + "/"
    for _ in range(3):
        mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
        mine = sorted((m for m in mounts if m.startswith(prefix)), key=len, reverse=True)
        if not mine:
            return
        for mount in mine:
            subprocess.run(["umount", "-l", mount], capture_output=True, check=False)


def _add_addresses(addresses: list[str]) -> None:
    for ip in addresses:
        subprocess.run(["ip", "addr", "del", f"{ip}/32", "dev", "lo"], capture_output=True, check=False)  # a run cut off
        done = subprocess.run(["ip", "addr", "add", f"{ip}/32", "dev", "lo"], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise ClusterError(f"ip addr add {ip}/32 dev lo failed: {done.stderr.strip()}")


@contextlib.contextmanager
def running_cluster(
    folder: Path, log: Callable[[str], None] = print, dns_names: tuple[str, ...] = (), more_hosts: dict[str, str] | None = None
) -> Iterator[Cluster]:
    """A new cluster in ``folder`` (emptied first), stopped and its mounts removed afterwards; the pods
    resolve the names under ``cachebuild.test`` and ``dns_names`` to the node, and each name of
    ``more_hosts`` to its address, which this machine gets for the cluster's life (on ``lo``: pods reach
    it through their default route to the node, as they would another host's)."""
    if folder.exists():
        _kill_pod_processes(folder)
        _unmount_under(folder)
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    users = ["admin", f"system:node:{NODE_NAME}", "system:kube-controller-manager", "system:kube-scheduler", "system:kube-proxy"]
    cluster = Cluster(folder, node_ip(), {user: secrets.token_hex(16) for user in users}, (DNS_DOMAIN, *dns_names),
                      dict(more_hosts or {}), log=log)  # fmt: skip
    try:
        _add_addresses(sorted(set(cluster.more_hosts.values())))
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
