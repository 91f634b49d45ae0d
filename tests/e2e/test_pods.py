"""The pod runner against real runc and the real builder images."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cachebuild.builders import buildah, buildkit, kaniko
from e2e.expansion import expand, mapping_func_for
from e2e.pods import Node, PodRefused, PodResult, Secret, run_pod
from support.signals import default_sigint


def pod(*containers: dict[str, Any], init: tuple[dict[str, Any], ...] = (), **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "t", "annotations": {"team": 'a"b'}},
        "spec": {"initContainers": list(init), "containers": list(containers), **spec},
    }


def sh(name: str, script: str, image: str = buildah.IMAGE, **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": image, "command": ["/bin/sh", "-c", script], **extra}


def run(node: Node, spec: dict[str, Any], timeout: float = 60) -> PodResult:
    return run_pod(spec, node, timeout=timeout)


def _mounts_under(folder: Path) -> list[str]:
    return [
        line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines() if line.split()[1].startswith(str(folder))
    ]


# -- expansion (the kubelet's rules, ported) -----------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$(A)", "a"),
        ("$$(A)", "$(A)"),
        ("$$$(A)", "$a"),
        ("$(UNSET)", "$(UNSET)"),
        ("$(A", "$(A"),
        ("$A", "$A"),
        ("x$", "x$"),
        ("$()", ""),
        ("$(A)$(B)", "ab"),
    ],
)
def test_expansion_follows_the_kubelet(text: str, expected: str) -> None:
    assert expand(text, mapping_func_for({"A": "a", "B": "b", "": ""})) == expected


# -- users, env, command ---------------------------------------------------------------------------
def test_user_from_image_then_security_context(make_node: Callable[..., Node]) -> None:
    node = make_node()
    spec = pod(
        sh("image-user", "id -u; id -g", buildkit.IMAGE),
        sh("run-as", "id -u; id -g; id -G", buildkit.IMAGE, securityContext={"runAsUser": 1234, "runAsGroup": 2345}),
        sh("pod-level", "id -u; id -G", buildah.IMAGE),
        securityContext={"runAsUser": 4321, "supplementalGroups": [555]},
    )
    result = run(node, spec)
    assert result.phase == "Succeeded", result.message
    # the container's runAsUser wins over the pod's; the pod's applies where the container says nothing
    assert result.containers["image-user"].log.split() == ["4321", "0"]
    assert result.containers["run-as"].log.splitlines() == ["1234", "2345", "2345 555"]
    assert result.containers["pod-level"].log.splitlines() == ["4321", "0 555"]
    spec = pod(sh("image-user", "id -u; id -g; echo $HOME", buildkit.IMAGE))
    assert run(node, spec).containers["image-user"].log.split() == ["1000", "1000", "/home/user"]


def test_env_expansion_command_and_args(make_node: Callable[..., Node]) -> None:
    container = {
        "name": "main",
        "image": buildkit.IMAGE,
        "command": ["/bin/sh", "-c", 'printf "%s|" "$@"; echo; echo "$B;$C;$D;$HOME;$TMPDIR"', "$(B)"],
        "args": ["$(B)", "$$(B)", "$(NOPE)"],
        "env": [
            {"name": "A", "value": "a"},
            {"name": "B", "value": "$(A)-b"},
            {"name": "C", "value": "$$(A)"},
            {"name": "D", "value": "$(E)"},  # E is defined later: not expanded
            {"name": "E", "value": "e"},
            {"name": "HOME", "value": "/elsewhere"},  # container env over the image's
        ],
    }
    result = run(make_node(), pod(container))
    assert result.phase == "Succeeded", result.message
    lines = result.containers["main"].log.splitlines()
    assert lines[0] == "a-b|$(B)|$(NOPE)|"
    assert lines[1] == "a-b;$(A);$(E);/elsewhere;/home/user/.local/tmp"


def test_image_entrypoint_and_cmd_semantics(make_node: Callable[..., Node]) -> None:
    # kaniko's image: Entrypoint /kaniko/executor. args alone keep the entrypoint; command replaces it.
    result = run(make_node(), pod({"name": "main", "image": kaniko.IMAGE, "args": ["version"]}))
    assert result.phase == "Succeeded", result.message
    assert "Kaniko version :  v1.24.0" in result.containers["main"].log
    result = run(make_node(), pod({"name": "main", "image": kaniko.IMAGE, "command": ["/busybox/sh", "-c", "pwd; echo $PATH"]}))
    assert result.containers["main"].log.split() == ["/workspace", "/usr/local/bin:/kaniko:/busybox"]


# -- volumes ---------------------------------------------------------------------------------------
def test_secrets_are_mounted_read_only_under_their_key_names(make_node: Callable[..., Node]) -> None:
    config = b'{"auths": {"r.example:5000": {"auth": "dTpw"}}}'
    node = make_node(secrets={"docker": Secret.docker_config(config), "generic": Secret({"config.json": config, "other": b"x"})})
    script = (
        "ls -A /a; echo --; ls -A /b; echo --; cat /a/config.json; echo; cat /b/config.json; echo; "
        "stat -c %a /b/..data/config.json; echo hi > /a/config.json; echo rc=$?; touch /b/new; echo rc=$?"
    )
    spec = pod(
        sh("main", script, volumeMounts=[{"name": "a", "mountPath": "/a"}, {"name": "b", "mountPath": "/b"}]),
        volumes=[
            {"name": "a", "secret": {"secretName": "docker", "items": [{"key": ".dockerconfigjson", "path": "config.json"}]}},
            {"name": "b", "secret": {"secretName": "generic"}},
        ],
    )
    result = run(node, spec)
    log = result.containers["main"].log
    parts = log.split("--\n")
    # the kubelet's atomic writer: ..<timestamp>/ with the files, ..data -> it, one link per key
    first, second = parts[0].split(), parts[1].split()
    assert len(first) == 3 and {"..data", "config.json"} <= set(first) and first[0].startswith("..20")
    assert len(second) == 4 and {"..data", "config.json", "other"} <= set(second)
    assert log.count(config.decode()) == 2
    assert "\n644\n" in log
    assert "Read-only file system" in log
    assert "rc=0" not in log


def test_missing_secret_and_unbound_claim_fail_the_pod(make_node: Callable[..., Node]) -> None:
    node = make_node()
    result = run(node, pod(sh("main", "true"), volumes=[{"name": "s", "secret": {"secretName": "nope"}}]))
    assert (result.phase, result.message) == ("Failed", 'secret "nope" not found')
    result = run(node, pod(sh("main", "true"), volumes=[{"name": "s", "secret": {"secretName": "nope", "optional": True}}]))
    assert result.phase == "Succeeded"
    result = run(node, pod(sh("main", "true"), volumes=[{"name": "c", "persistentVolumeClaim": {"claimName": "cache"}}]))
    assert result.phase == "Failed"
    assert result.message == 'pod has unbound immediate PersistentVolumeClaims: persistentvolumeclaim "cache" not found'
    assert result.containers == {}


def test_sub_path_claim_config_map_and_downward_api(make_node: Callable[..., Node], tmp_path: Path) -> None:
    claim = tmp_path / "claim"
    claim.mkdir()
    node = make_node(claims={"work": claim}, config_maps={"cfg": {"buildkitd.toml": "debug = true\n"}})
    spec = pod(
        sh(
            "main",
            "echo hello > /w/f; cat /etc/buildkit/buildkitd.toml; cat /info/annotations",
            volumeMounts=[
                {"name": "work", "mountPath": "/w", "subPath": "some/dir"},
                {"name": "cfg", "mountPath": "/etc/buildkit/buildkitd.toml", "subPath": "buildkitd.toml"},
                {"name": "info", "mountPath": "/info"},
            ],
        ),
        volumes=[
            {"name": "work", "persistentVolumeClaim": {"claimName": "work"}},
            {"name": "cfg", "configMap": {"name": "cfg"}},
            {
                "name": "info",
                "downwardAPI": {"items": [{"path": "annotations", "fieldRef": {"fieldPath": "metadata.annotations"}}]},
            },
        ],
    )
    result = run(node, spec)
    assert result.phase == "Succeeded", result.containers["main"].log
    assert (claim / "some/dir/f").read_text() == "hello\n"
    assert result.containers["main"].log == 'debug = true\nteam="a\\"b"'


def test_fs_group_owns_the_volumes(make_node: Callable[..., Node], tmp_path: Path) -> None:
    claim = tmp_path / "claim"
    (claim / "sub").mkdir(parents=True)
    (claim / "sub" / "old").write_text("x")
    node = make_node(claims={"c": claim}, secrets={"s": Secret({"k": b"v"})})
    mounts = [{"name": "e", "mountPath": "/e"}, {"name": "c", "mountPath": "/c"}, {"name": "s", "mountPath": "/s"}]
    script = "touch /e/new /c/sub/new; stat -c '%n %g %a' /e /e/new /c/sub /c/sub/old /c/sub/new /s/..data/k"
    spec = pod(
        sh("main", script, buildkit.IMAGE, volumeMounts=mounts),
        securityContext={"fsGroup": 2000},
        volumes=[
            {"name": "e", "emptyDir": {}},
            {"name": "c", "persistentVolumeClaim": {"claimName": "c"}},
            {"name": "s", "secret": {"secretName": "s"}},
        ],
    )
    result = run(node, spec)
    assert result.phase == "Succeeded", result.containers["main"].log
    # uid 1000 (the image's user, fsGroup 2000 among its groups) writes into a claim owned by root
    assert result.containers["main"].log.splitlines() == [
        "/e 2000 2777",
        "/e/new 2000 644",
        "/c/sub 2000 2775",
        "/c/sub/old 2000 664",
        "/c/sub/new 2000 644",
        "/s/..data/k 2000 644",
    ]


def test_empty_dir_is_shared_by_init_and_main(make_node: Callable[..., Node]) -> None:
    mounts = [{"name": "shared", "mountPath": "/shared"}]
    spec = pod(
        sh("main", "cat /shared/from-init; ls -ld /shared | cut -c1-10", buildkit.IMAGE, volumeMounts=mounts),
        init=(sh("init", "echo made-by-init > /shared/from-init", volumeMounts=mounts),),
        volumes=[{"name": "shared", "emptyDir": {}}],
    )
    result = run(make_node(), spec)
    assert result.phase == "Succeeded", result.message
    assert result.containers["main"].log.split() == ["made-by-init", "drwxrwxrwx"]


def test_failing_init_container_fails_the_pod(make_node: Callable[..., Node]) -> None:
    spec = pod(sh("main", "echo should-not-run"), init=(sh("ok", "true"), sh("bad", "echo broken >&2; exit 3")))
    result = run(make_node(), spec)
    assert result.phase == "Failed"
    assert result.message == "init container 'bad' exited with 3"
    assert result.init_containers["bad"].exit_code == 3
    assert result.init_containers["bad"].log == "broken\n"
    assert result.containers == {}


def test_read_file_and_termination_message(make_node: Callable[..., Node]) -> None:
    mounts = [{"name": "out", "mountPath": "/out"}]
    script = "echo in-rootfs > /tmp/result; echo in-volume > /out/v; rm /etc/passwd; printf done > /dev/termination-log; exit 2"
    spec = pod(sh("main", script, volumeMounts=mounts), volumes=[{"name": "out", "emptyDir": {}}])
    result = run(make_node(), spec)
    assert result.phase == "Failed"
    main = result.containers["main"]
    assert (main.exit_code, main.termination_message) == (2, "done")
    assert result.read_file("main", "/tmp/result") == b"in-rootfs\n"
    assert result.read_file("main", "/out/v") == b"in-volume\n"
    assert result.read_file("main", "/etc/containers/storage.conf").startswith(b"[storage]")  # from the image
    with pytest.raises(FileNotFoundError):
        result.read_file("main", "/etc/passwd")  # deleted in the container: a whiteout in its upper dir
    spec = pod(sh("main", "echo last words; exit 1", terminationMessagePolicy="FallbackToLogsOnError"))
    assert run(make_node(), spec).containers["main"].termination_message == "last words\n"


def test_timeout_kills_the_container_and_cleans_up(make_node: Callable[..., Node], tmp_path: Path) -> None:
    node = make_node()
    start = time.monotonic()
    result = run(node, pod(sh("main", "echo started; sleep 120")), timeout=3)
    assert time.monotonic() - start < 20
    main = result.containers["main"]
    assert (result.phase, main.reason, main.exit_code) == ("Failed", "DeadlineExceeded", 137)
    assert "started\n" in main.log
    assert "'main' killed after the pod's timeout of 3s" in main.log
    assert result.message == "container 'main' timed out"
    assert _mounts_under(tmp_path) == []
    listed = subprocess.run(["runc", "--root", str(result.pod_dir / "runc"), "list", "-q"], capture_output=True, text=True)
    assert listed.stdout.strip() == ""


def test_active_deadline_seconds_is_the_pod_timeout_when_shorter(make_node: Callable[..., Node]) -> None:
    start = time.monotonic()
    result = run(make_node(), pod(sh("main", "sleep 120"), activeDeadlineSeconds=2), timeout=60)
    assert time.monotonic() - start < 15
    assert result.containers["main"].reason == "DeadlineExceeded"
    assert "killed after the pod's timeout of 2s" in result.containers["main"].log


def _tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames + dirnames):
            path = Path(dirpath, name)
            st = path.lstat()
            digest.update(f"{path.relative_to(root)}|{st.st_mode}|{st.st_size}|{st.st_uid}\n".encode())
    return digest.hexdigest()


def test_deleting_its_own_root_leaves_host_and_image_untouched(
    images: dict[str, Path], make_node: Callable[..., Node], tmp_path: Path
) -> None:
    sentinel = Path("/tmp") / f"infra-sentinel-{os.getpid()}"
    sentinel.write_text("host file")
    image_rootfs = images[kaniko.IMAGE] / "rootfs"
    before = _tree_digest(image_rootfs)
    try:
        script = f"/busybox/rm -rf /tmp {sentinel} /kaniko /etc /busybox/ls; /busybox/ls /; echo rc=$?"
        result = run(make_node(), pod({"name": "main", "image": kaniko.IMAGE, "command": ["/busybox/sh", "-c", script]}))
        assert "/busybox/ls: not found" in result.containers["main"].log
        assert sentinel.read_text() == "host file"
        assert Path("/bin/busybox").is_file() and Path("/etc/passwd").is_file()
        assert _tree_digest(image_rootfs) == before
    finally:
        sentinel.unlink()
    assert _mounts_under(tmp_path) == []


# -- security ------------------------------------------------------------------------------------
def _status(log: str, field: str) -> str:
    return next(line.split(":", 1)[1].strip() for line in log.splitlines() if line.startswith(field + ":"))


def test_security_context_fields(make_node: Callable[..., Node]) -> None:
    status = "grep -E '^(Seccomp|NoNewPrivs|CapBnd):' /proc/self/status; touch /x 2>&1; echo"
    spec = pod(
        sh("default", status),
        sh(
            "hardened",
            status,
            securityContext={
                "seccompProfile": {"type": "RuntimeDefault"},
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"], "add": ["CHOWN"]},
            },
        ),  # fmt: skip
        sh("unconfined", status, securityContext={"seccompProfile": {"type": "Unconfined"}, "capabilities": {"drop": ["KILL"]}}),
    )
    result = run(make_node(), spec)
    default, hardened, unconfined = (result.containers[n].log for n in ("default", "hardened", "unconfined"))
    assert (_status(default, "Seccomp"), _status(default, "NoNewPrivs"), _status(default, "CapBnd")) == (
        "0",
        "0",
        "00000000a80425fb",
    )
    assert (_status(hardened, "Seccomp"), _status(hardened, "NoNewPrivs"), _status(hardened, "CapBnd")) == (
        "2",
        "1",
        "0000000000000001",
    )
    assert "Read-only file system" in hardened and "Read-only" not in default
    assert _status(unconfined, "Seccomp") == "0"
    assert _status(unconfined, "CapBnd") == f"{0xA80425FB & ~(1 << 5):016x}"


def test_run_as_non_root_is_checked_as_the_kubelet_does(make_node: Callable[..., Node]) -> None:
    node = make_node()
    result = run(node, pod(sh("main", "id -u", buildkit.IMAGE, securityContext={"runAsNonRoot": True})))
    assert (result.phase, result.containers["main"].log) == ("Succeeded", "1000\n")  # the image's numeric User
    result = run(node, pod(sh("main", "id -u", securityContext={"runAsNonRoot": True})))
    assert (result.phase, result.message) == ("Failed", "container 'main': container has runAsNonRoot and image will run as root")


def test_privileged_and_host_path_are_refused(make_node: Callable[..., Node]) -> None:
    with pytest.raises(PodRefused, match="privileged containers are never run here"):
        run_pod(pod(sh("main", "true", securityContext={"privileged": True})), make_node(), timeout=10)
    with pytest.raises(PodRefused, match="hostPath volumes are not allowed"):
        run_pod(pod(sh("main", "true"), volumes=[{"name": "h", "hostPath": {"path": "/"}}]), make_node(), timeout=10)


def test_hosts_file_has_host_aliases(make_node: Callable[..., Node]) -> None:
    aliases = [{"ip": "127.0.0.1", "hostnames": ["registry-http.cachebuild.test", "other.test"]}]
    result = run(make_node(), pod(sh("main", "cat /etc/hosts; hostname"), hostAliases=aliases))
    log = result.containers["main"].log
    assert log.startswith("# Kubernetes-managed hosts file (host network).\n")
    assert "\n# Entries added by HostAliases.\n127.0.0.1\tregistry-http.cachebuild.test\tother.test\n" in log
    assert log.endswith("\nt\n")
    assert json.loads(json.dumps(aliases)) == aliases


_INTERRUPTED_POD = """
import sys
from pathlib import Path
from cachebuild.builders import buildah
from e2e.images import ensure_images
from e2e.pods import Node, run_pod
node = Node(ensure_images(), work_dir=Path(sys.argv[1]))
spec = {"metadata": {"name": "ctrl-c"}, "spec": {"containers": [
    {"name": "main", "image": buildah.IMAGE, "command": ["/bin/sh", "-c", "echo started; sleep 300"]}]}}
run_pod(spec, node, timeout=600, on_output=lambda c, line: print(line, end="", flush=True))
"""


def test_ctrl_c_stops_the_container_and_cleans_up(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    work = tmp_path / "pods"
    child = subprocess.Popen(
        [sys.executable, "-c", _INTERRUPTED_POD, str(work)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": f"{root / 'python'}:{root / 'tests'}"},
        preexec_fn=default_sigint,
    )
    assert child.stdout is not None
    first = child.stdout.readline()
    assert first == b"started\n", first + child.stdout.read()
    child.send_signal(signal.SIGINT)
    rest = child.communicate(timeout=30)[0]
    assert b"KeyboardInterrupt" in rest
    assert _mounts_under(tmp_path) == []
    (pod_dir,) = work.iterdir()
    assert not (pod_dir / "runc").exists()  # runc's state: deleted with the container
    sleeping = subprocess.run(["pgrep", "-f", "sleep 300"], capture_output=True, text=True).stdout.split()
    assert not [pid for pid in sleeping if Path(f"/proc/{pid}/root").resolve() != Path("/")]


@pytest.mark.parametrize("kind", ["dockerconfigjson", "generic", "missing"])
def test_projected_docker_config_as_the_templates_mount_it(kind: str, make_node: Callable[..., Node]) -> None:
    """Both Secret kinds through one projected volume (items for .dockerconfigjson, then all keys), optional."""
    config = b'{"auths": {}}'
    secrets = {
        "dockerconfigjson": {"creds": Secret.docker_config(config)},
        "generic": {"creds": Secret({"config.json": config})},
        "missing": {},
    }[kind]
    volume = {
        "name": "docker",
        "projected": {
            "sources": [
                {"secret": {"name": "creds", "optional": True, "items": [{"key": ".dockerconfigjson", "path": "config.json"}]}},
                {"secret": {"name": "creds", "optional": True}},
            ]
        },
    }
    mounts = [{"name": "docker", "mountPath": "/d"}]
    spec = pod(sh("main", "ls -A /d | grep -v '^\\.\\.'; cat /d/config.json", volumeMounts=mounts), volumes=[volume])
    result = run(make_node(secrets=secrets), spec)
    log = result.containers["main"].log
    if kind == "missing":
        assert log == "cat: can't open '/d/config.json': No such file or directory\n"
    else:
        names = log.splitlines()[:-1]
        assert names == ([".dockerconfigjson", "config.json"] if kind == "dockerconfigjson" else ["config.json"])
        assert log.endswith(config.decode())
