"""Run a :class:`~cachebuild.spec.BuildSpec` on this machine with buildah, and say what the cache did.

The argv is :func:`cachebuild.builders.buildah.build_argv` — ``build --layers --cache-from/--cache-to``
then ``push`` per image — with this machine's layout: the workspace folder, the docker config as
``--authfile``, ``--tls-verify=false`` for a registry on 127.0.0.1, and a layer store of our own
under the cache dir (``--fresh``: a new empty one, removed afterwards, as a new CI pod would have).

Before buildah starts:

* a cache registry that does not answer → the build runs without the remote cache, and says so
  (buildah itself would fail the build when it cannot push cache layers);
* push access to every image repository and to the cache repository is checked through the
  registry API, so wrong credentials fail in a second with a clear message, not after the build.

buildah's output is parsed per Dockerfile step: ``STEP n/m: …``, then ``--> Cache pulled from
remote REPO:KEY`` (the layer came from the cache repository), ``--> Using cache ID`` (the step was
not run) or nothing (the step was built; ``--> Pushing cache`` exports it).
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cachebuild import report
from cachebuild.builders import buildah
from cachebuild.dockerfile import args_in_stages, cache_busters
from cachebuild.errors import SpecError
from cachebuild.local import LocalError, cache_dir, unchanged
from cachebuild.local.distribution import DockerConfig, Registry, RegistryUnreachable, is_loopback
from cachebuild.refs import ImageRef, parse_repository
from cachebuild.spec import BuildSpec

Progress = Callable[[str], None]
Activity = Callable[["Step", "str | None"], None]
"""A step started (``None``), or it printed a line: for a live display of the running step."""

# buildah prefixes a stage ("[2/3] ") in multi-stage builds and the platform ("[linux/arm64] ") in multi-platform ones.
_STEP = re.compile(r"^(?:\[([a-z0-9_]+/[a-z0-9_./]+)\] )?(?:\[(\d+)/(\d+)\] )?STEP (\d+)/(\d+): (.*)$")
_USING_CACHE = re.compile(r"^--> Using cache ([0-9a-f]{64})")
_PULLED = re.compile(r"^--> Cache pulled from remote (\S+)")
_PUSHING = re.compile(r"^--> Pushing cache (\S+)")
_IMAGE_ID = re.compile(r"^[0-9a-f]{64}$")
# containers/common's retry loop logs through logrus: level=warning msg="Failed, retrying in 2s ... (1/3). Error: ..."
_RETRYING = re.compile(r'level=warning msg="(Failed, retrying in (?:[^"\\]|\\.)*)"')
# An HTTP answer buildah 1.28 does not retry (containers/common retries network errors, not statuses).
_UNRETRIED_STATUS = re.compile(r"received unexpected HTTP status: (5\d\d [^\n]*)|: (toomanyrequests)\b")
_STEP_LINES_KEPT = 40
_FAILURE_LINES = 15
"""How many of its last output lines a failed step shows."""
_PUSH_RETRY_SECONDS = 2.0
_TERMINATE_SECONDS = 10.0


class BuildInterrupted(LocalError):
    """Ctrl-C (or SIGTERM) during the build: buildah was stopped; nothing is reported as built."""


@dataclass
class Step:
    """One Dockerfile step as buildah ran it."""

    number: int
    total: int
    instruction: str
    stage: str = ""
    platform: str = ""
    """Set in a multi-platform build: the platform this step built for."""
    cached: bool = False
    remote: bool = False
    """The layer was pulled from the cache repository (implies ``cached``)."""
    exported: bool = False
    failed: bool = False
    """The build stopped in this step."""
    seconds: float = 0.0
    output: deque[str] = field(default_factory=lambda: deque(maxlen=_STEP_LINES_KEPT), repr=False)
    """The step's last lines of buildah output."""

    @property
    def is_from(self) -> bool:
        return self.instruction.upper().startswith("FROM ")

    @property
    def label(self) -> str:
        """``[2/6]``, or ``[linux/arm64 2/6]`` in a multi-platform build."""
        return f"[{self.platform + ' ' if self.platform else ''}{self.number}/{self.total}]"

    @property
    def outcome(self) -> str:
        if self.failed:
            return "FAILED"
        if self.is_from:
            return "base image"
        if self.remote:
            return "cached (remote)"
        return "cached (local)" if self.cached else "built"


@dataclass
class BuildResult:
    images: tuple[str, ...]
    digest: str
    image_id: str
    steps: list[Step]
    remote_cache: bool
    """Whether the remote cache was used (``False`` when off or unreachable)."""
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    skipped: bool = False
    """Nothing was built: an earlier build's image with the same inputs was published (``skip_unchanged``)."""

    @property
    def layer_steps(self) -> list[Step]:
        """The steps after ``FROM`` (the ones a cache can save)."""
        return [s for s in self.steps if not s.is_from]

    def cache_report(self) -> report.Report:
        """The report every template gives (:mod:`cachebuild.report`): the same JSON, from this build."""
        outcome = {"FAILED": "failed", "cached (remote)": "pulled", "cached (local)": "cached", "built": "built"}
        return report.Report(
            "buildah",
            tuple(
                report.Step(s.label[1:-1], report.cut(s.instruction), outcome[s.outcome], round(s.seconds, 1))
                for s in self.layer_steps
            ),
        )

    def summary(self) -> str:
        if self.skipped:
            return f"unchanged: nothing built, the image of the same inputs published; {self.seconds:.1f}s"
        steps = self.layer_steps
        cached = sum(s.cached for s in steps)
        remote = sum(s.remote for s in steps)
        platforms = len({s.platform for s in self.steps if s.platform})
        return (
            f"{len(steps)} steps{f' ({platforms} platforms)' if platforms > 1 else ''}: {cached} from the cache "
            f"({remote} pulled from the remote cache), {len(steps) - cached} built; {self.seconds:.1f}s"
        )


def storage_dir() -> Path:
    """The local engine's own buildah layer store (kept between builds unless ``--fresh``)."""
    return cache_dir() / "storage"


def _registry_hosts(refs: Sequence[ImageRef]) -> list[str]:
    hosts = []
    for ref in refs:
        host = ref.domain or "docker.io"
        if host not in hosts:
            hosts.append(host)
    return hosts


def _repository_path(ref: ImageRef) -> str:
    return ref.path if ref.domain else (ref.path if "/" in ref.path else f"library/{ref.path}")


def _short(instruction: str, width: int = 90) -> str:
    return instruction if len(instruction) <= width else instruction[: width - 3] + "..."


class _StepParser:
    """Turns buildah's output lines into :class:`Step` records, telling ``progress`` as it goes."""

    def __init__(self, progress: Progress) -> None:
        self.steps: list[Step] = []
        self.image_id = ""
        self.progress = progress
        self._started = time.monotonic()

    def _finish_current(self) -> None:
        if self.steps and not self.steps[-1].seconds:
            step = self.steps[-1]
            step.seconds = time.monotonic() - self._started
            self.progress(f"  {step.label} {step.outcome:<16} {step.seconds:5.1f}s")

    @property
    def running(self) -> Step | None:
        """The step buildah is in (started, not finished)."""
        return self.steps[-1] if self.steps and not self.steps[-1].seconds else None

    def feed(self, line: str) -> None:
        line = line.rstrip("\n")
        if self.steps and not _STEP.match(line):
            self.steps[-1].output.append(line)
        if m := _STEP.match(line):
            self._finish_current()
            stage = f"stage {m[2]}/{m[3]} " if m[2] else ""
            step = Step(number=int(m[4]), total=int(m[5]), instruction=m[6], stage=stage, platform=m[1] or "")
            self.steps.append(step)
            self._started = time.monotonic()
            self.progress(f"  {step.label} {stage}{_short(step.instruction)}")
        elif self.steps and _PULLED.match(line):
            self.steps[-1].remote = True
        elif self.steps and _USING_CACHE.match(line):
            self.steps[-1].cached = True
        elif self.steps and _PUSHING.match(line):
            self.steps[-1].exported = True
        elif _IMAGE_ID.match(line):
            self.image_id = "sha256:" + line

    def close(self, *, failed: bool = False) -> None:
        """The end of buildah's output; ``failed``: it exited non-zero, in the step that was running."""
        if failed and self.running is not None:
            self.running.failed = True
        self._finish_current()


@contextmanager
def _storage(fresh: bool, progress: Progress) -> Iterator[Path]:
    """The layer store for one build: ours, or with ``fresh`` a new empty one removed afterwards."""
    if not fresh:
        root = storage_dir()
        root.mkdir(parents=True, exist_ok=True)
        yield root
        return
    cache_dir().mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="fresh-", dir=cache_dir()))
    progress(f"storage: a new empty layer store {root} (--fresh; removed afterwards)")
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _run(argv: list[str], on_line: Callable[[str], None], log: list[str]) -> int:
    """Run buildah in its own session; Ctrl-C/SIGTERM stops it (SIGTERM, then SIGKILL) and raises."""
    process = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,  # our Ctrl-C handling decides; buildah gets an orderly SIGTERM
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            log.append(line.rstrip("\n"))
            on_line(line)
        return process.wait()
    except BaseException:
        _stop_process_group(process)
        raise


def retry_notice(line: str) -> str | None:
    """buildah's "Failed, retrying in …" warning (``--retry``) as plain text, else ``None``."""
    found = _RETRYING.search(line)
    return found[1].replace('\\"', '"') if found else None


def unretried_failure(log: Sequence[str]) -> str | None:
    """The transient registry answer (HTTP 5xx, 429 ``toomanyrequests``) a failed ``buildah push`` gave
    up on without retrying, else ``None``."""
    for line in reversed(log[-5:]):
        if found := _UNRETRIED_STATUS.search(line):
            return found[1] or found[2]
    return None


def _stop_process_group(process: subprocess.Popen[str]) -> None:
    for sig, wait in ((signal.SIGTERM, _TERMINATE_SECONDS), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    if process.stdout is not None:
        process.stdout.close()


def _push(image: str, argv: list[str], on_line: Callable[[str], None], progress: Progress) -> None:
    """Run ``buildah push``; again (up to ``retries`` more times) when the registry answered with a
    transient HTTP status, which buildah's own ``--retry`` does not retry (network errors it does)."""
    attempts = 1 + int(buildah.LAYOUT["retries"])
    for attempt in range(1, attempts + 1):
        log: list[str] = []
        code = _run(argv, on_line, log)
        if code == 0:
            return
        status = unretried_failure(log)
        if status is None or attempt == attempts:
            raise LocalError(f"buildah push {image} failed (exit {code}):\n" + "\n".join(log[-15:]))
        delay = _PUSH_RETRY_SECONDS * attempt
        progress(f"  retrying: the registry answered {status}; pushing {image} again in {delay:.0f}s ({attempt}/{attempts - 1})")
        time.sleep(delay)


CLUSTER_FIELDS = {
    "workspace_pvc": "a cluster setting; the local engine builds from a folder, the workspace",
    "docker_config_secret": "a cluster setting; the local engine reads credentials from a docker config file",
    "builder_image": "a cluster setting; the local engine runs this machine's buildah",
    "registry_ca": "a cluster setting (a ConfigMap or Secret); the local engine trusts this machine's CA certificates",
    "insecure_registries": "a cluster setting; the local engine speaks plain HTTP to registries on 127.0.0.1 or "
    "localhost only, TLS to any other",
    "cache_mounts_pvc": "a cluster setting; this machine's buildah keeps RUN --mount=type=cache directories between "
    "builds already (in /var/tmp)",
}
"""The spec fields the local engine has no use for (beyond those buildah does not read), and why."""

BINFMT_MISC = Path("/proc/sys/fs/binfmt_misc")
# GOARCH (the OCI platform's architecture) → the name of qemu-user-static's binfmt_misc entry.
_QEMU_NAMES = {
    "amd64": "x86_64",
    "386": "i386",
    "arm64": "aarch64",
    "arm": "arm",
    "ppc64le": "ppc64le",
    "ppc64": "ppc64",
    "s390x": "s390x",
    "riscv64": "riscv64",
    "mips64le": "mips64el",
    "mips64": "mips64",
    "mipsle": "mipsel",
    "mips": "mips",
    "loong64": "loongarch64",
}
# platform.machine() → the architectures its CPU runs without an emulator.
_NATIVE = {"x86_64": {"amd64", "386"}, "aarch64": {"arm64"}, "ppc64le": {"ppc64le"}, "s390x": {"s390x"}, "riscv64": {"riscv64"}}


def check_local(spec: BuildSpec) -> None:
    """What the local engine cannot build: cluster settings, other builders' options, several or foreign platforms."""
    for name, reason in CLUSTER_FIELDS.items():
        value = getattr(spec, name)
        if value not in (None, ()):
            raise SpecError(name, list(value) if isinstance(value, tuple) else value, reason)
    spec.check_engine("buildah")
    check_platform(spec)


def check_platform(spec: BuildSpec) -> None:
    """Each platform of another architecture needs its emulator registered (binfmt_misc, with the F flag)."""
    for i, value in enumerate(spec.platforms):
        _check_one_platform(f"platforms[{i}]" if len(spec.platforms) > 1 else "platforms", value)


def _check_one_platform(field: str, value: str) -> None:
    system, arch = value.split("/")[:2]
    if system != "linux":
        raise SpecError(field, value, "the local engine builds linux images only")
    machine = platform.machine()
    if arch in (_NATIVE.get(machine) or {goarch for goarch, qemu in _QEMU_NAMES.items() if qemu == machine}):
        return
    entry = BINFMT_MISC / f"qemu-{_QEMU_NAMES.get(arch, arch)}"
    try:
        lines = entry.read_text().splitlines()
    except OSError:
        raise SpecError(
            field,
            value,
            f"this machine cannot run {arch} programs: no emulator is registered ({entry} is missing; "
            "apt-get install qemu-user-static)",
        ) from None
    flags = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("flags:")), "")
    if not lines or lines[0] != "enabled":
        raise SpecError(field, value, f"the {arch} emulator is registered but disabled ({entry})")
    if "F" not in flags:
        raise SpecError(
            field,
            value,
            f"the {arch} emulator ({entry}) lacks the F flag, so RUN steps inside buildah's chroot cannot start it "
            "(Debian's qemu-user-static registers it with F)",
        )


def check_context(spec: BuildSpec, workspace: Path) -> Path:
    """The context folder inside ``workspace``; :class:`SpecError` when it or the Dockerfile is missing."""
    if spec.git is not None:
        return workspace
    context = workspace / spec.context
    if not context.is_dir():
        raise SpecError("context", spec.context, f"no such folder in the workspace {workspace}")
    if not (context / spec.dockerfile).is_file():
        raise SpecError("dockerfile", spec.dockerfile, f"no such file in the context {context}")
    return context


def preflight(spec: BuildSpec, config: DockerConfig, progress: Progress) -> tuple[BuildSpec, list[str]]:
    """Check the registries before building: cache reachability (else build without it) and push access.

    Returns the spec to build (``cache`` turned off when the cache registry does not answer) and notes.
    """
    notes: list[str] = []
    clients: dict[str, Registry] = {}

    def client(host: str) -> Registry:
        if host not in clients:
            clients[host] = Registry(host, config.credentials(host))
        return clients[host]

    if spec.cache:
        cache_ref = parse_repository("cache_repo", spec.effective_cache_repo)
        cache_host = _registry_hosts([cache_ref])[0]
        try:
            client(cache_host).ping()
        except RegistryUnreachable as err:
            note = f"cache: {err}; building WITHOUT the remote cache"
            notes.append(note)
            progress(note)
            spec = spec.without_remote_cache()
    targets = list(spec.image_refs)
    if spec.cache:
        targets.append(parse_repository("cache_repo", spec.effective_cache_repo))
    checked = []
    for ref in targets:
        host = _registry_hosts([ref])[0]
        repository = _repository_path(ref)
        try:
            client(host).check_push(repository)
        except RegistryUnreachable as err:
            raise LocalError(f"cannot push {ref}: {err}") from None
        checked.append(f"{host}/{repository}")
    progress("push access: " + ", ".join(dict.fromkeys(checked)))
    return spec, notes


def cache_warnings(dockerfile: Path) -> list[str]:
    """What in the Dockerfile makes builds miss the remote cache: the cache-busters every template warns
    of (:func:`cachebuild.dockerfile.cache_busters`) and, with buildah 1.28, an ``ARG`` inside a stage."""
    text = dockerfile.read_text(encoding="utf-8", errors="replace")
    in_stages = [
        (
            number,
            f"line {number}: {_short(instruction, 60)}: an ARG after FROM gets a new cache key on every "
            "build with buildah 1.28, so every later step of its stage misses the remote cache; declare it before the "
            "first FROM if only FROM lines use it",
        )
        for number, instruction in args_in_stages(text)
    ]
    return [f"{dockerfile.name} {message}" for _, message in sorted(in_stages + cache_busters(text), key=lambda found: found[0])]


def check_index(spec: BuildSpec, digest: str, config: DockerConfig) -> None:
    """The pushed index must hold every platform asked for.

    buildah 1.28's layer cache does not key layers by platform: when two platforms' layers are the
    same bytes (``FROM scratch`` and a ``COPY``), the second platform reuses the first's image and
    ``--manifest`` keeps one entry. A build that says it made two platforms must have made two.
    """
    ref = spec.image_refs[0]
    host = _registry_hosts([ref])[0]
    index = Registry(host, config.credentials(host)).manifest(_repository_path(ref), digest)
    found = {
        "/".join(filter(None, (m["platform"]["os"], m["platform"]["architecture"], m["platform"].get("variant"))))
        for m in index.get("manifests", [])
        if "platform" in m
    }
    missing = [p for p in spec.platforms if p not in found]
    if missing:
        raise LocalError(
            f"the index pushed to {spec.images[0]} holds {', '.join(sorted(found)) or 'no platform'}, not "
            f"{', '.join(missing)}: buildah 1.28 gave two platforms one image because their layers were the same "
            "bytes (its layer cache does not key layers by platform, e.g. FROM scratch and a COPY); build each "
            "platform with --no-cache, or from a base image of that platform"
        )


def _client(ref: ImageRef, config: DockerConfig) -> tuple[Registry, str]:
    host = _registry_hosts([ref])[0]
    return Registry(host, config.credentials(host)), _repository_path(ref)


def buildah_version() -> str:
    """``buildah --version``, kept per binary (path, size, mtime) so that a skipped build starts no buildah."""
    binary = Path(shutil.which("buildah") or "buildah").resolve()
    stat = binary.stat()
    key = f"{binary}|{stat.st_size}|{stat.st_mtime_ns}"
    kept = cache_dir() / "buildah-version.json"
    try:
        known = json.loads(kept.read_text())
        if known.get("binary") == key:
            return str(known["version"])
    except (OSError, ValueError, KeyError):
        pass
    version = subprocess.run([str(binary), *buildah.VERSION_ARGS], capture_output=True, text=True, check=False).stdout.strip()
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_text(json.dumps({"binary": key, "version": version}))
    return version


def _inputs(spec: BuildSpec, context: Path, config: DockerConfig) -> unchanged.Inputs:
    version = buildah_version()

    def resolve(ref: ImageRef) -> str:
        client, repository = _client(ref, config)
        return client.digest(repository, ref.tag or "latest")

    return unchanged.inputs(spec, context, version, resolve)


def _publish_unchanged(spec: BuildSpec, inputs: unchanged.Inputs, config: DockerConfig, progress: Progress) -> BuildResult | None:
    """The image a build with the same inputs made, published under ``spec.images``; None if none was made."""
    cache_client, cache_repository = _client(parse_repository("cache_repo", spec.effective_cache_repo), config)
    if not unchanged.exists(cache_client, cache_repository, inputs.tag):
        progress(f"inputs: {inputs.digest[:16]}… not built before: building")
        return None
    progress(f"unchanged: these inputs ({inputs.digest[:16]}…) were built before: publishing that image, building nothing")
    digest = ""
    for ref in spec.image_refs:
        client, repository = _client(ref, config)
        other = None if client.host == cache_client.host else client
        digest = unchanged.copy(cache_client, cache_repository, inputs.tag, repository, ref.tag or "latest", other)
    config_digest = cache_client.manifest(cache_repository, inputs.tag).get("config", {}).get("digest", "")
    return BuildResult(images=spec.images, digest=digest, image_id=config_digest, steps=[], remote_cache=True, skipped=True)


def _keep_inputs(spec: BuildSpec, inputs: unchanged.Inputs, digest: str, config: DockerConfig) -> None:
    client, repository = _client(spec.image_refs[0], config)
    cache_client, cache_repository = _client(parse_repository("cache_repo", spec.effective_cache_repo), config)
    into = None if cache_client.host == client.host else cache_client
    unchanged.copy(client, repository, digest, cache_repository, inputs.tag, into)


def build(
    spec: BuildSpec,
    *,
    workspace: Path,
    docker_config: Path | None = None,
    fresh: bool = False,
    progress: Progress = print,
    verbose: bool = False,
    activity: Activity | None = None,
) -> BuildResult:
    """Build and push ``spec`` with buildah; the digest and what the cache did per step.

    ``progress`` gets the report's lines; ``activity``, unless ``verbose``, is told when a step starts
    (``line`` ``None``) and of each line of buildah output while it runs (a live display of the step).

    Raises :class:`SpecError` (context or Dockerfile missing), :class:`LocalError` (registry access,
    a failed build or push, with buildah's last lines) or :class:`BuildInterrupted`.
    """
    started = time.monotonic()
    check_local(spec)
    workspace = workspace.resolve()
    check_context(spec, workspace)
    if shutil.which("buildah") is None:
        raise LocalError("buildah is not installed (apt-get install buildah; see scripts/setup.sh)")
    config = DockerConfig.load(docker_config)
    spec, notes = preflight(spec, config, progress)
    inputs = None
    if spec.skip_unchanged and spec.cache and spec.git is None:
        inputs = _inputs(spec, check_context(spec, workspace), config)
        published = _publish_unchanged(spec, inputs, config, progress)
        if published is not None:
            return dataclasses.replace(published, notes=notes, seconds=time.monotonic() - started)
    if spec.cache and not spec.no_cache and spec.git is None:
        for warning in cache_warnings(check_context(spec, workspace) / spec.dockerfile):
            progress(f"warning: {warning}")
            notes.append(warning)
    hosts = _registry_hosts(spec.image_refs) + (
        _registry_hosts([parse_repository("cache_repo", spec.effective_cache_repo)]) if spec.cache else []
    )
    tls_verify = "false" if any(is_loopback(h) for h in hosts) else "true"
    if spec.no_cache:
        also = f"; new layers still go to the remote cache {spec.effective_cache_repo} (--cache-to)" if spec.cache else ""
        progress(f"cache: none used (--no-cache: every step is built){also}")
    elif spec.cache:
        progress(f"cache: {spec.effective_cache_repo} (--cache-from/--cache-to)")
    elif not notes:
        progress("cache: the local layer store only (--no-remote-cache)")
    with _storage(fresh, progress) as root, tempfile.TemporaryDirectory(prefix="cachebuild-") as scratch:
        digest_file = Path(scratch) / "image-digest"
        auth_file = config.for_buildah(Path(scratch))
        layout = {
            "workspace": str(workspace),
            "auth_file": str(auth_file or ""),
            "tls_verify": tls_verify,
            "digest_file": str(digest_file),
            "storage_root": str(root / "root"),
            "storage_runroot": str(root / "runroot"),
        }
        argvs = buildah.build_argv(spec, **layout)
        parser = _StepParser(progress)
        log: list[str] = []

        def on_push_line(line: str) -> None:
            if verbose:
                progress("    | " + line.rstrip("\n"))
            elif notice := retry_notice(line):
                progress(f"  retrying: {notice}")

        def on_build_line(line: str) -> None:
            before = parser.running
            parser.feed(line)
            on_push_line(line)
            running = parser.running
            if activity is not None and not verbose and running is not None:
                activity(running, None if running is not before else line.rstrip("\n"))

        try:
            code = _run(argvs[0], on_build_line, log)
            fallback = buildah.CACHE_EXPORT_FAILED
            if code != 0 and spec.cache and any(fallback.pattern in line for line in log):
                # as the templates' launcher does: a cache export never fails the build
                without = dataclasses.replace(spec, cache_read_only=True, cache_to=None)
                export = spec.cache_to or spec.effective_cache_repo
                progress("warning: " + fallback.warning.removeprefix("cachebuild: warning: ").format(cache_export_repo=export))
                notes.append(f"the cache was not written to {export}")
                parser = _StepParser(progress)
                argvs[0] = buildah.build_argv(without, **layout)[0]
                code = _run(argvs[0], on_build_line, log)
            failed = parser.running if code != 0 else None
            parser.close(failed=code != 0)
            if failed is not None:
                raise LocalError(
                    f"buildah build failed in step {failed.label[1:-1]}: {_short(failed.instruction)} (exit {code}); "
                    "its last output:\n" + "\n".join(list(failed.output)[-_FAILURE_LINES:])
                )
            if code != 0:
                raise LocalError(f"buildah build failed (exit {code}):\n" + "\n".join(log[-_FAILURE_LINES:]))
            digest = ""
            for image, push_argv in zip(spec.images, argvs[1:], strict=True):
                progress(f"pushing {image}")
                _push(image, push_argv, on_push_line, progress)
                digest = digest_file.read_text().strip()
            if len(spec.platforms) > 1:
                check_index(spec, digest, config)
            if inputs is not None:  # the next build with the same inputs publishes this image
                _keep_inputs(spec, inputs, digest, config)
                progress(f"inputs: {inputs.digest[:16]}… kept as {spec.effective_cache_repo}:{inputs.tag}")
        except KeyboardInterrupt:
            raise BuildInterrupted("interrupted: buildah was stopped; the build did not complete") from None
    return BuildResult(
        images=spec.images,
        digest=digest,
        image_id=parser.image_id,
        steps=parser.steps,
        remote_cache=spec.cache,
        notes=notes,
        seconds=time.monotonic() - started,
    )
