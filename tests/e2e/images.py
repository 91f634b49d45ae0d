"""The builder images, made on this machine from the binaries of ``scripts/tools.sh`` and Debian's packages.

Nothing is pulled: each image is a folder ``~/.cache/cachebuild/images/<name>-<hash>/`` with ``rootfs/``
(the filesystem, laid out as the upstream image has it) and ``config.json`` (the OCI image config:
``Env``, ``User``, ``WorkingDir``, ``Entrypoint``, ``Cmd``). The hash covers every input (file contents,
modes, owners, the config), so an image is rebuilt only when one changes.

Upstream layouts followed:
* BuildKit: ``github.com/moby/buildkit@<v>/Dockerfile`` target ``rootless`` (alpine + rootlesskit +
  the binaries + ``buildctl-daemonless.sh``, user 1000, ``USER 1000:1000``).
* kaniko: ``github.com/GoogleContainerTools/kaniko@<v>/deploy/Dockerfile`` target ``kaniko-debug``.
* buildah: Debian's buildah 1.28 with its libraries and ``/etc/containers`` set up for
  ``--isolation chroot --storage-driver vfs`` as root (quay.io/buildah/stable's environment).

:func:`ensure_images` maps the pinned references of ``cachebuild.builders.*.IMAGE`` to these folders,
so a rendered template's default ``builder-image`` runs one of them unchanged.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cachebuild.builders import buildah, buildkit, kaniko
from cachebuild.local import cache_dir

RECIPE_VERSION = "1"  # bump when the way images are laid out changes
HOST_BUSYBOX = Path("/bin/busybox")  # Debian's busybox-static (amd64, static)
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class ImageError(Exception):
    """A builder image cannot be made; the message names the missing setup step."""


def tools_bin() -> Path:
    """The folder with one symlink per tool that ``scripts/tools.sh`` built (``$CACHEBUILD_TOOLS/bin``)."""
    base = os.environ.get("CACHEBUILD_TOOLS") or str(cache_dir() / "tools")
    return Path(base) / "bin"


def tool(name: str) -> Path:
    path = tools_bin() / name
    if not path.exists():
        raise ImageError(f"{path} is missing: run `bash scripts/tools.sh` (scripts/setup.sh runs it)")
    return path.resolve()


def host_binary(path: str, package: str) -> Path:
    found = Path(path)
    if not found.is_file():
        raise ImageError(f"{path} is missing: apt-get install {package} (scripts/setup.sh installs it)")
    return found


def pinned_versions() -> dict[str, str]:
    """``tools/versions.env`` (KEY=VALUE lines): the one place the pinned versions live."""
    text = (Path(__file__).resolve().parents[2] / "tools" / "versions.env").read_text()
    return dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#") and "=" in line)


def module_file(module: str, version: str, path: str) -> Path:
    """A file of a Go module's source in the module cache (``scripts/tools.sh`` downloaded it)."""
    done = subprocess.run(["go", "env", "GOMODCACHE"], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ImageError("`go env GOMODCACHE` failed: is Go installed? (scripts/tools.sh needs it too)")
    escaped = re.sub(r"[A-Z]", lambda m: "!" + m.group(0).lower(), module)  # the module cache's case encoding
    found = Path(done.stdout.strip()) / f"{escaped}@{version}" / path
    if not found.is_file():
        raise ImageError(f"{found} is missing: run `bash scripts/tools.sh` (it downloads {module}@{version})")
    return found


def images_dir() -> Path:
    return cache_dir() / "images"


# -- a recipe: what goes where ----------------------------------------------------------------
@dataclass(frozen=True)
class Entry:
    """One path in the image: a copied file (``source``), a text (``text``), a symlink or a directory."""

    path: str  # absolute, inside the image
    source: Path | None = None
    text: str | None = None
    link: str | None = None
    mode: int = 0o755
    uid: int = 0
    gid: int = 0
    capabilities: tuple[int, ...] = ()  # file capabilities (security.capability), permitted + effective

    def fingerprint(self) -> str:
        content = ""
        if self.source is not None:
            content = _file_digest(self.source)
        elif self.text is not None:
            content = hashlib.sha256(self.text.encode()).hexdigest()
        kind = "dir" if self.source is None and self.text is None and self.link is None else "file"
        return f"{self.path}|{content}|{self.link}|{self.mode:o}|{self.uid}|{self.gid}|{kind}|{self.capabilities}"


_DIGESTS: dict[tuple[str, int, int], str] = {}


def _file_digest(path: Path) -> str:
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _DIGESTS:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        _DIGESTS[key] = digest.hexdigest()
    return _DIGESTS[key]


@dataclass
class Recipe:
    name: str
    reference: str
    config: dict[str, object]
    entries: list[Entry] = field(default_factory=list)

    def add(self, entry: Entry) -> None:
        """Add ``entry``; a later entry for the same path replaces the earlier (a binary over a busybox applet)."""
        self.entries = [e for e in self.entries if e.path != entry.path]
        self.entries.append(entry)

    def file(self, path: str, source: Path, mode: int | None = None) -> None:
        self.add(Entry(path, source=source, mode=mode if mode is not None else source.stat().st_mode & 0o7777))

    def text(self, path: str, text: str, mode: int = 0o644) -> None:
        self.add(Entry(path, text=text, mode=mode))

    def symlink(self, path: str, target: str) -> None:
        self.add(Entry(path, link=target, mode=0o777))

    def directory(self, path: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> None:
        self.add(Entry(path, mode=mode, uid=uid, gid=gid))

    def binary_with_libraries(self, path: str, source: Path, mode: int | None = None, capabilities: tuple[int, ...] = ()) -> None:
        """A dynamic binary, each shared library ``ldd`` lists at the path it resolved, and the loader."""
        self.add(
            Entry(
                path, source=source, mode=mode if mode is not None else source.stat().st_mode & 0o7777, capabilities=capabilities
            )
        )
        for library, resolved in _ldd(source):
            self.file(library, resolved, 0o755)

    def digest(self) -> str:
        text = "\n".join(
            [RECIPE_VERSION, self.name, self.reference, json.dumps(self.config, sort_keys=True)]
            + sorted(e.fingerprint() for e in self.entries)
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _ldd(binary: Path) -> list[tuple[str, Path]]:
    """``(path in the image, host file)`` for each library of ``binary`` and its dynamic loader."""
    done = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=False)
    if "not a dynamic executable" in done.stdout + done.stderr:
        return []
    if done.returncode != 0:
        raise ImageError(f"ldd {binary} failed: {done.stderr.strip()}")
    found: list[tuple[str, Path]] = []
    for line in done.stdout.splitlines():
        match = re.match(r"\s*(\S+) => (/\S+) \(0x", line) or re.match(r"\s*(/\S+) \(0x", line)
        if match is None:
            continue  # linux-vdso.so.1: in the kernel
        path = match.group(2) if match.lastindex == 2 else match.group(1)
        # Keep the path the binary asks for (e.g. /lib64/ld-linux-x86-64.so.2), with the real file's content.
        found.append((path, Path(path).resolve()))
    return found


def _busybox_applets(busybox: Path, flat_dir: str | None) -> list[str]:
    """Paths of the applet links: ``busybox --list-full`` (as /bin/sh, /usr/bin/env ...) or flat in ``flat_dir``."""
    if flat_dir is not None:
        names = subprocess.run([str(busybox), "--list"], capture_output=True, text=True, check=True).stdout.split()
        return [f"{flat_dir}/{n}" for n in names if n != "busybox"]
    paths = subprocess.run([str(busybox), "--list-full"], capture_output=True, text=True, check=True).stdout.split()
    return ["/" + p for p in paths]


def _add_git(recipe: Recipe) -> None:
    """Debian's git with its HTTP(S) transport: BuildKit and buildah run ``git`` for a git build context.
    Also ``git submodule`` (in git 2.39 a shell script, with the scripts it sources), which BuildKit
    runs after every clone: the images' git (alpine's, Fedora's) is the whole package."""
    recipe.binary_with_libraries("/usr/bin/git", host_binary("/usr/bin/git", "git"), 0o755)
    core = "/usr/lib/git-core"
    for program in ("git-remote-http", "git-sh-i18n--envsubst"):
        recipe.binary_with_libraries(f"{core}/{program}", host_binary(f"{core}/{program}", "git"), 0o755)
    recipe.symlink(f"{core}/git-remote-https", "git-remote-http")
    for script in ("git-submodule", "git-sh-setup", "git-sh-i18n"):
        recipe.file(f"{core}/{script}", host_binary(f"{core}/{script}", "git"), 0o755 if script == "git-submodule" else 0o644)


# -- the three images -------------------------------------------------------------------------
_CAP_SETGID, _CAP_SETUID, _CAP_SETFCAP = 6, 7, 31
_PASSWD_ROOT = "root:x:0:0:root:/root:/bin/sh\n"
_GROUP_ROOT = "root:x:0:\n"
_NSSWITCH = "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\nprotocols: files\nservices: files\n"


def buildkit_recipe() -> Recipe:
    home = "/home/user"
    recipe = Recipe(
        "buildkit-rootless",
        buildkit.IMAGE,
        {
            "User": "1000:1000",
            "Env": [
                f"PATH={_DEFAULT_PATH}",
                f"HOME={home}",
                "USER=user",
                "XDG_RUNTIME_DIR=/run/user/1000",
                f"TMPDIR={home}/.local/tmp",
                "BUILDKIT_HOST=unix:///run/user/1000/buildkit/buildkitd.sock",
            ],
            "Entrypoint": ["rootlesskit", "buildkitd"],
            "WorkingDir": "",
            "Volumes": {f"{home}/.local/share/buildkit": {}},
        },
    )
    for d in (
        "/bin",
        "/sbin",
        "/usr",
        "/usr/bin",
        "/usr/sbin",
        "/etc",
        "/etc/ssl",
        "/etc/ssl/certs",
        "/home",
        "/run",
        "/run/user",
    ):
        recipe.directory(d)
    recipe.directory("/tmp", 0o1777)
    recipe.directory("/root", 0o700)
    recipe.file("/bin/busybox", HOST_BUSYBOX, 0o755)
    for applet in _busybox_applets(HOST_BUSYBOX, None):
        if applet != "/bin/busybox":
            recipe.symlink(applet, "/bin/busybox")
    for name in ("buildkitd", "buildctl", "buildctl-daemonless.sh"):
        recipe.file(f"/usr/bin/{name}", tool(name), 0o755)
    recipe.binary_with_libraries("/usr/bin/rootlesskit", host_binary("/usr/bin/rootlesskit", "rootlesskit"), 0o755)
    runc = host_binary("/usr/sbin/runc", "runc")
    recipe.binary_with_libraries("/usr/bin/buildkit-runc", runc, 0o755)
    recipe.file("/usr/bin/runc", runc, 0o755)
    # Upstream's (alpine) newuidmap/newgidmap are setuid root and, built with libcap, drop to the
    # caller's uid keeping CAP_SETUID/CAP_SETGID (+CAP_SETFCAP) before writing the map. Debian's are
    # built without that: setuid root, they stay euid 0 without CAP_SYS_ADMIN in the pod and the
    # kernel refuses the map ("newuidmap: write to uid_map failed: Operation not permitted").
    # File capabilities give the same result as upstream's (as Fedora installs them).
    recipe.binary_with_libraries(
        "/usr/bin/newuidmap", host_binary("/usr/bin/newuidmap", "uidmap"), 0o755, (_CAP_SETUID, _CAP_SETFCAP)
    )
    recipe.binary_with_libraries("/usr/bin/newgidmap", host_binary("/usr/bin/newgidmap", "uidmap"), 0o755, (_CAP_SETGID,))
    # upstream's apk add: fuse-overlayfs (the snapshotter where kernel overlay is refused), git, xz
    recipe.binary_with_libraries("/usr/bin/fuse-overlayfs", host_binary("/usr/bin/fuse-overlayfs", "fuse-overlayfs"), 0o755)
    recipe.binary_with_libraries("/usr/bin/xz", host_binary("/usr/bin/xz", "xz-utils"), 0o755)
    _add_git(recipe)
    recipe.text("/etc/passwd", _PASSWD_ROOT + f"user:x:1000:1000::{home}:/bin/sh\n")
    recipe.text("/etc/group", _GROUP_ROOT + "user:x:1000:\n")
    recipe.text("/etc/subuid", "user:100000:65536\n")
    recipe.text("/etc/subgid", "user:100000:65536\n")
    recipe.text("/etc/nsswitch.conf", _NSSWITCH)
    recipe.file("/etc/ssl/certs/ca-certificates.crt", HOST_CA_BUNDLE, 0o644)
    for d in (
        "/run/user/1000",
        home,
        f"{home}/.local",
        f"{home}/.local/tmp",
        f"{home}/.local/share",
        f"{home}/.local/share/buildkit",
    ):
        recipe.directory(d, 0o700 if d == "/run/user/1000" else 0o755, 1000, 1000)
    return recipe


def kaniko_recipe() -> Recipe:
    recipe = Recipe(
        "kaniko-debug",
        kaniko.IMAGE,
        {
            "User": "",
            "Env": [
                "PATH=/usr/local/bin:/kaniko:/busybox",
                "HOME=/root",
                "USER=root",
                "SSL_CERT_DIR=/kaniko/ssl/certs",
                "DOCKER_CONFIG=/kaniko/.docker/",
                "DOCKER_CREDENTIAL_GCR_CONFIG=/kaniko/.config/gcloud/docker_credential_gcr_config.json",
            ],
            "Entrypoint": ["/kaniko/executor"],
            "WorkingDir": "/workspace",
        },
    )
    recipe.directory("/kaniko", 0o777)
    for d in ("/kaniko/ssl", "/kaniko/ssl/certs", "/kaniko/.docker", "/busybox", "/bin", "/etc", "/workspace"):
        recipe.directory(d)
    recipe.file("/kaniko/executor", tool("executor"), 0o755)
    recipe.file("/kaniko/warmer", tool("warmer"), 0o755)
    recipe.file("/kaniko/ssl/certs/ca-certificates.crt", HOST_CA_BUNDLE, 0o644)
    recipe.file("/busybox/busybox", HOST_BUSYBOX, 0o755)
    for applet in _busybox_applets(HOST_BUSYBOX, "/busybox"):
        recipe.symlink(applet, "busybox")
    recipe.symlink("/bin/sh", "/busybox/sh")
    versions = pinned_versions()  # upstream's own nsswitch.conf (COPY files/nsswitch.conf /etc/nsswitch.conf)
    recipe.file(
        "/etc/nsswitch.conf", module_file(versions["KANIKO_MODULE"], versions["KANIKO_VERSION"], "files/nsswitch.conf"), 0o644
    )
    return recipe


_REGISTRIES_CONF = 'unqualified-search-registries = []\nshort-name-mode = "permissive"\n'
_STORAGE_CONF = '[storage]\ndriver = "vfs"\nrunroot = "/run/containers/storage"\ngraphroot = "/var/lib/containers/storage"\n'
_POLICY = '{"default": [{"type": "insecureAcceptAnything"}]}\n'


def buildah_recipe() -> Recipe:
    recipe = Recipe(
        "buildah",
        buildah.IMAGE,
        {
            "User": "",
            "Env": [f"PATH={_DEFAULT_PATH}", "HOME=/root", "BUILDAH_ISOLATION=chroot", "STORAGE_DRIVER=vfs"],
            "Entrypoint": [],
            "Cmd": ["/bin/sh"],
            "WorkingDir": "/",
        },
    )
    for d in ("/bin", "/sbin", "/usr", "/usr/bin", "/usr/sbin", "/usr/share", "/usr/share/containers", "/etc", "/etc/containers"):
        recipe.directory(d)
    for d in ("/etc/ssl", "/etc/ssl/certs", "/var", "/var/lib", "/var/lib/containers", "/run", "/run/containers"):
        recipe.directory(d)
    recipe.directory("/tmp", 0o1777)
    recipe.directory("/var/tmp", 0o1777)
    recipe.directory("/root", 0o700)
    recipe.file("/bin/busybox", HOST_BUSYBOX, 0o755)
    for applet in _busybox_applets(HOST_BUSYBOX, None):
        if applet != "/bin/busybox":
            recipe.symlink(applet, "/bin/busybox")
    recipe.binary_with_libraries("/usr/bin/buildah", host_binary("/usr/bin/buildah", "buildah"), 0o755)
    _add_git(recipe)
    seccomp = Path("/usr/share/containers/seccomp.json")  # containers-common: the RUN steps' seccomp profile
    if seccomp.is_file():
        recipe.file(str(seccomp), seccomp, 0o644)
    recipe.text("/etc/containers/policy.json", _POLICY)
    recipe.text("/etc/containers/registries.conf", _REGISTRIES_CONF)
    recipe.text("/etc/containers/storage.conf", _STORAGE_CONF)
    recipe.text("/etc/passwd", _PASSWD_ROOT)
    recipe.text("/etc/group", _GROUP_ROOT)
    recipe.text("/etc/nsswitch.conf", _NSSWITCH)
    recipe.file("/etc/ssl/certs/ca-certificates.crt", HOST_CA_BUNDLE, 0o644)
    return recipe


TEKTON_ENTRYPOINT_IMAGE = "cachebuild.test/tekton/entrypoint"
"""The entrypoint image ``tekton-check pod`` names (Tekton's controller gets its own through ko)."""


def tekton_entrypoint_recipe() -> Recipe:
    """Tekton's entrypoint binary where ko puts it (``/ko-app/entrypoint``), at the newest Tekton pinned:
    the Pod's init container copies it into ``/tekton/bin`` and every step runs through it."""
    version = pinned_versions()["TEKTON_NEWEST_VERSION"]
    recipe = Recipe(
        "tekton-entrypoint",
        TEKTON_ENTRYPOINT_IMAGE,
        {"User": "65532", "Env": [f"PATH={_DEFAULT_PATH}", "KO_DATA_PATH=/var/run/ko"], "Entrypoint": ["/ko-app/entrypoint"]},
    )
    for d in ("/ko-app", "/etc", "/var", "/var/run", "/var/run/ko"):
        recipe.directory(d)
    recipe.file("/ko-app/entrypoint", tool(f"tekton-entrypoint-{version}"), 0o755)
    recipe.text("/etc/passwd", "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")
    return recipe


RECIPES: tuple[Callable[[], Recipe], ...] = (buildkit_recipe, kaniko_recipe, buildah_recipe, tekton_entrypoint_recipe)


# -- materializing ------------------------------------------------------------------------------
@dataclass(frozen=True)
class BuiltImage:
    name: str
    reference: str
    folder: Path  # holds rootfs/ and config.json

    @property
    def rootfs(self) -> Path:
        return self.folder / "rootfs"

    @property
    def config(self) -> dict[str, object]:
        data: dict[str, object] = json.loads((self.folder / "config.json").read_text())
        return data


def _file_capabilities(capabilities: tuple[int, ...]) -> bytes:
    """``security.capability`` (VFS_CAP_REVISION_2, effective): what ``setcap CAPS+ep`` writes."""
    permitted = sum(1 << c for c in capabilities)
    return struct.pack("<IIIII", 0x02000000 | 0x1, permitted & 0xFFFFFFFF, 0, permitted >> 32, 0)


def _materialize(recipe: Recipe, folder: Path) -> None:
    rootfs = folder / "rootfs"
    rootfs.mkdir(parents=True)
    os.chmod(rootfs, 0o755)
    # Directories first (parents before children), then files and links; owners and modes last so
    # a setuid bit survives the chown.
    entries = sorted(recipe.entries, key=lambda e: (e.source is not None or e.text is not None or e.link is not None, e.path))
    for entry in entries:
        target = rootfs / entry.path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if entry.link is not None:
            if target.is_symlink() or target.exists():
                target.unlink()
            os.symlink(entry.link, target)
            continue
        if entry.source is not None:
            if target.exists():
                target.unlink()
            shutil.copyfile(entry.source, target)
        elif entry.text is not None:
            target.write_text(entry.text)
        else:
            target.mkdir(exist_ok=True)
        os.chown(target, entry.uid, entry.gid)
        os.chmod(target, entry.mode)
        if entry.capabilities:
            os.setxattr(target, "security.capability", _file_capabilities(entry.capabilities))
    config = {"architecture": "amd64", "os": "linux", "config": recipe.config}
    (folder / "config.json").write_text(json.dumps(recipe.config, indent=1, sort_keys=True) + "\n")
    (folder / "image.json").write_text(json.dumps({"reference": recipe.reference, **config}, indent=1) + "\n")


_UNUSED_DAYS = 7  # an image folder no run asked for this long is removed (others may still run on newer ones)


def ensure_image(recipe: Recipe, *, log: Callable[[str], None] | None = None) -> BuiltImage:
    """The folder of ``recipe``'s image, made now unless one with the same inputs exists.

    Safe against a concurrent run (another worktree on the same machine): each makes its own
    partial folder and the first rename wins. Folders of other inputs are left alone (a pod may run
    on one) until unused for a week."""
    say = log or (lambda text: print(text, file=sys.stderr))
    base = images_dir()
    folder = base / f"{recipe.name}-{recipe.digest()}"
    if not (folder / "config.json").is_file():
        start = time.monotonic()
        base.mkdir(parents=True, exist_ok=True)
        partial = base / f".{folder.name}.partial-{os.getpid()}"
        if partial.exists():
            shutil.rmtree(partial)
        try:
            _materialize(recipe, partial)
            try:
                partial.rename(folder)
            except OSError:
                if not (folder / "config.json").is_file():  # not a concurrent run's identical image
                    raise
        finally:
            if partial.exists():
                shutil.rmtree(partial)
        say(f"images: made {recipe.name} in {time.monotonic() - start:.1f}s at {folder}")
    (folder / "last-used").touch()
    for old in base.glob(f"{recipe.name}-*"):
        if old == folder or not re.fullmatch(re.escape(recipe.name) + r"-[0-9a-f]{16}", old.name):
            continue
        marker = old / "last-used"
        used = marker.stat().st_mtime if marker.exists() else old.stat().st_mtime
        if time.time() - used > _UNUSED_DAYS * 86400:
            shutil.rmtree(old, ignore_errors=True)
    return BuiltImage(recipe.name, recipe.reference, folder)


def ensure_images(names: Iterable[str] | None = None) -> dict[str, Path]:
    """The pinned image references (``cachebuild.builders.*.IMAGE``) → their image folders (``rootfs/``, ``config.json``)."""
    wanted = set(names) if names is not None else None
    result: dict[str, Path] = {}
    for make in RECIPES:
        recipe = make()
        if wanted is not None and recipe.name not in wanted:
            continue
        result[recipe.reference] = ensure_image(recipe).folder
    return result


# -- an OCI archive, for a runtime that imports images (containerd, buildah pull oci-archive:) ----
def oci_archive(folder: Path) -> Path:
    """``folder/image.oci.tar``: an OCI image layout (one layer: ``rootfs/``; file capabilities kept as
    ``SCHILY.xattr`` PAX records) with ``index.json`` naming the pinned reference by name and tag
    (its digest is upstream's). Made once per folder."""
    import gzip
    import io
    import tarfile

    archive = folder / "image.oci.tar"
    if archive.is_file():
        return archive
    rootfs = folder / "rootfs"
    layer_buffer = io.BytesIO()
    with tarfile.open(fileobj=layer_buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for dirpath, dirnames, filenames in os.walk(rootfs):
            dirnames.sort()
            for name in [*sorted(dirnames), *sorted(filenames)]:
                path = Path(dirpath, name)
                info = tar.gettarinfo(str(path), arcname=str(path.relative_to(rootfs)))
                info.mtime, info.uname, info.gname = 0, "", ""
                with contextlib.suppress(OSError):
                    caps = os.getxattr(path, "security.capability", follow_symlinks=False)
                    # surrogateescape: tarfile writes the raw bytes (hdrcharset=BINARY), not their UTF-8
                    info.pax_headers = {"SCHILY.xattr.security.capability": caps.decode("utf-8", "surrogateescape")}
                if info.isreg():
                    with open(path, "rb") as handle:
                        tar.addfile(info, handle)
                else:
                    tar.addfile(info)
    uncompressed = layer_buffer.getvalue()
    layer = gzip.compress(uncompressed, compresslevel=1, mtime=0)
    image = json.loads((folder / "image.json").read_text())
    config = {
        "architecture": image["architecture"],
        "os": image["os"],
        "config": image["config"],
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(uncompressed).hexdigest()]},
    }
    config_blob = json.dumps(config, sort_keys=True).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": _sha(config_blob),
            "size": len(config_blob),
        },  # noqa: E501
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": _sha(layer), "size": len(layer)}],
    }
    manifest_blob = json.dumps(manifest, sort_keys=True).encode()
    name_and_tag = image["reference"].split("@", 1)[0]
    if ":" not in name_and_tag.rsplit("/", 1)[-1]:
        name_and_tag += ":latest"  # a reference without a tag means :latest, as docker has it
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": manifest["mediaType"],
                "digest": _sha(manifest_blob),
                "size": len(manifest_blob),
                # The pinned reference's digest is upstream's, not this image's: name it by tag only.
                "annotations": {
                    "io.containerd.image.name": name_and_tag,
                    "org.opencontainers.image.ref.name": name_and_tag.rsplit(":", 1)[1],
                },
            }
        ],
    }
    partial = archive.with_suffix(f".partial-{os.getpid()}")
    with tarfile.open(partial, "w") as out:

        def put(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))

        put("oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
        put("index.json", json.dumps(index).encode())
        for blob in (config_blob, layer, manifest_blob):
            put("blobs/sha256/" + _sha(blob).split(":")[1], blob)
    partial.rename(archive)
    return archive


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


if __name__ == "__main__":
    for reference, path in ensure_images().items():
        print(f"{reference}\n  -> {path}")
