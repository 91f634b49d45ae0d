"""The build spec: everything a user says about one image build, validated once, here.

Every front end (Python, ``cachebuild`` flags, ``--specs`` YAML) builds a :class:`BuildSpec`;
the builders, the Argo and Tekton wrappers and the local engine only ever see a valid one.
Invalid input raises :class:`~cachebuild.errors.SpecError` naming the field.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal, get_args

from cachebuild import kinds
from cachebuild.errors import SpecError
from cachebuild.refs import ImageRef, parse_image_ref, parse_repository

Engine = Literal["buildkit", "kaniko", "buildah"]
ENGINES: tuple[Engine, ...] = get_args(Engine)
CacheMode = Literal["min", "max"]

DEFAULT_CACHE_TAG = "buildcache"
CacheCompression = Literal["gzip", "zstd"]
GZIP_MAX_LEVEL = 9
"""Compression levels: gzip 0-9, zstd 0-22 (BuildKit's ``compression-level``); the launcher checks the same."""
KANIKO_ONE_PLATFORM = "kaniko builds one platform per run"
KANIKO_CACHE_MOUNTS = (
    "kaniko keeps RUN --mount=type=cache directories in /kaniko/caches and moves them into place with rename(2), "
    "which cannot cross onto a mounted volume, so they cannot outlive the pod"
)
BUILDAH_CACHE_REF = "buildah's cache is a repository without a tag (it tags layers by their content)"
"""kaniko's ``--custom-platform`` takes one: the rule BuildSpec and the kaniko launcher both apply."""

_BUILD_ARG_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LABEL_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*")


@dataclass(frozen=True)
class GitContext:
    """A remote git build context: ``https://host/repo.git#ref:subdir`` (Docker's syntax)."""

    url: str
    ref: str = ""
    subdir: str = ""

    def __str__(self) -> str:
        fragment = self.ref + (f":{self.subdir}" if self.subdir else "")
        return f"{self.url}#{fragment}" if fragment else self.url


def _check_text(name: str, value: object, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise SpecError(name, value, "must be a string")
    if not allow_empty and value == "":
        raise SpecError(name, value, "must not be empty")
    if "\n" in value or "\r" in value or "\0" in value:
        raise SpecError(name, value, "must not contain a newline or NUL character")
    return value


def _check_kind(name: str, kind: kinds.Kind, value: object) -> str:
    text = _check_text(name, value)
    if not kind.matches(text):
        raise SpecError(name, text, kind.reason(text))
    return text


def _check_relative_path(name: str, value: object, root: str) -> str:
    """A path relative to ``root`` (what the message calls it), that stays inside it."""
    text = _check_text(name, value)
    if text.startswith("/"):
        raise SpecError(name, text, f"must be a path relative to {root}, not an absolute path")
    if ".." in text.split("/"):
        raise SpecError(name, text, f"must not contain '..': it would leave {root}")
    return _check_kind(name, kinds.PATH, text)


# What a path field is relative to, as the error messages say it.
_WORKSPACE = "the workspace (the folder or volume that holds the build context)"
_CONTEXT = "the context"
_REPOSITORY = "the git repository"


def _check_dns_name(name: str, value: object) -> str:
    text = _check_text(name, value)
    if len(text) > 253 or not _DNS_SUBDOMAIN.fullmatch(text):
        raise SpecError(name, text, "must be a Kubernetes object name (lower-case a-z, 0-9, '-' and '.', at most 253)")
    return text


def parse_git_context(name: str, text: str) -> GitContext | None:
    """``https://host/repo.git#ref:subdir`` → :class:`GitContext`; a plain path → ``None``."""
    if "://" not in text:
        return None
    url, _, fragment = text.partition("#")
    ref, _, subdir = fragment.partition(":")
    if subdir:
        _check_relative_path(name, subdir, _REPOSITORY)
    _check_kind(name, kinds.GIT_CONTEXT, text)
    return GitContext(url=url, ref=ref, subdir=subdir)


def _as_tuple(name: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, Iterable) or isinstance(value, Mapping):
        raise SpecError(name, value, "must be a list of strings")
    return tuple(value)


def _as_pairs(name: str, value: object) -> tuple[tuple[str, str], ...]:
    if isinstance(value, Mapping):
        items = list(value.items())
    elif isinstance(value, Iterable) and not isinstance(value, str):
        items = []
        for i, entry in enumerate(value):
            if isinstance(entry, str) and "=" in entry:
                k, _, v = entry.partition("=")
                items.append((k, v))
            elif isinstance(entry, tuple) and len(entry) == 2:
                items.append(entry)
            else:
                raise SpecError(f"{name}[{i}]", entry, "must be KEY=VALUE")
    else:
        raise SpecError(name, value, "must be a mapping of KEY to VALUE")
    return tuple((k, v) for k, v in items)


@dataclass(frozen=True)
class BuildSpec:
    """One image build.

    Args:
        images: destination references; the first is the image's URL in results.
        context: a path inside the workspace (default ``.``), or a git URL
            ``https://host/repo.git#ref:subdir``.
        dockerfile: the Dockerfile, relative to the context.
        cache: import and export the remote layer cache (``cache_repo``); ``--no-remote-cache`` turns it off.
        no_cache: use no layer cache at all, local or remote, and build every step (``docker build
            --no-cache``); BuildKit and buildah still export to the remote cache when ``cache`` is on,
            kaniko neither reads nor writes it.
        cache_repo: repository for cache layers, without a tag; default ``<first image repository>/cache``.
        cache_tag: BuildKit only: the tag of the cache manifest in ``cache_repo``.
        cache_mode: BuildKit only: ``max`` also caches intermediate stages of multi-stage builds.
        cache_ttl: kaniko and buildah: cached layers older than this Go duration are ignored.
        cache_from: where the cache is imported from, in order (a fallback chain); default the
            cache the build exports to. BuildKit: references with a tag; buildah: repositories.
        cache_to: where the cache is exported to; default ``cache_repo`` (BuildKit: ``:cache_tag``).
        cache_read_only: import the cache, never export to it (builds of untrusted changes).
        cache_branch: BuildKit: import ``cache_repo:<branch tag>`` then ``cache_repo:cache_tag``,
            export to the branch tag (:func:`~cachebuild.kinds.branch_tag`), so a branch's first
            build takes the main cache and never overwrites it.
        cache_compression, cache_compression_level: BuildKit: the cache layers' compression
            (``gzip`` or ``zstd``) and level (gzip 0-9, zstd 0-22).
        cache_oci_mediatypes, cache_image_manifest: BuildKit: the cache in OCI media types, as an
            image manifest rather than an index (what ECR and Harbor need); both on by default.
        skip_unchanged: the local engine: when a build with the same inputs (context files, Dockerfile,
            args, base image digests, builder) was made before, publish its image under the requested
            tags instead of building (:mod:`cachebuild.local.unchanged`).
        build_args: ``ARG`` values, in order.
        target: the Dockerfile stage to build.
        platforms: ``os/arch[/variant]`` (BuildKit and buildah).
        labels: image labels.
        docker_config_secret: the Kubernetes Secret with registry credentials
            (``kubernetes.io/dockerconfigjson`` or a generic Secret with ``config.json``).
        insecure_registries: registries (``host[:port]``) spoken to over plain HTTP, for pulls,
            pushes and the cache (any other registry keeps TLS).
        registry_ca: a ConfigMap or Secret whose ``*.crt``/``*.pem`` keys are CA certificates to
            trust for registries, besides the builder image's own.
        workspace_pvc: the PersistentVolumeClaim that holds the build context.
        kaniko_cache_pvc: kaniko: the PVC the warmer fills with base images.
        cache_mounts_pvc: BuildKit and buildah: a PVC that keeps ``RUN --mount=type=cache`` directories
            between builds (BuildKit's whole state, in ``.cachebuild/buildkit`` of the claim; buildah's
            ``/var/tmp``, in ``.cachebuild/buildah``). One build at a time per claim.
        warm_images: kaniko: base images the warmer puts in the cache volume before the build.
        builder_image: replaces the builder's pinned image.
        extra_args: more builder arguments, each one argv element, added last.
    """

    images: tuple[str, ...]
    context: str = "."
    dockerfile: str = "Dockerfile"
    cache: bool = True
    no_cache: bool = False
    cache_repo: str | None = None
    cache_tag: str = DEFAULT_CACHE_TAG
    cache_mode: CacheMode = "max"
    cache_ttl: str | None = None
    cache_from: tuple[str, ...] = ()
    cache_to: str | None = None
    cache_read_only: bool = False
    cache_branch: str | None = None
    cache_compression: CacheCompression | None = None
    cache_compression_level: int | None = None
    cache_oci_mediatypes: bool = True
    cache_image_manifest: bool = True
    skip_unchanged: bool = False
    build_args: tuple[tuple[str, str], ...] = ()
    target: str | None = None
    platforms: tuple[str, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    docker_config_secret: str | None = None
    insecure_registries: tuple[str, ...] = ()
    registry_ca: str | None = None
    workspace_pvc: str | None = None
    kaniko_cache_pvc: str | None = None
    cache_mounts_pvc: str | None = None
    warm_images: tuple[str, ...] = ()
    builder_image: str | None = None
    extra_args: tuple[str, ...] = ()
    # Parsed forms, filled by validation.
    image_refs: tuple[ImageRef, ...] = field(init=False, repr=False, compare=False)
    git: GitContext | None = field(init=False, repr=False, compare=False)

    def __init__(
        self,
        images: str | Iterable[str],
        context: str = ".",
        dockerfile: str = "Dockerfile",
        cache: bool = True,
        no_cache: bool = False,
        cache_repo: str | None = None,
        cache_tag: str = DEFAULT_CACHE_TAG,
        cache_mode: CacheMode = "max",
        cache_ttl: str | None = None,
        cache_from: str | Iterable[str] = (),
        cache_to: str | None = None,
        cache_read_only: bool = False,
        cache_branch: str | None = None,
        cache_compression: CacheCompression | None = None,
        cache_compression_level: int | None = None,
        cache_oci_mediatypes: bool = True,
        cache_image_manifest: bool = True,
        skip_unchanged: bool = False,
        build_args: Mapping[str, str] | Iterable[str] | Iterable[tuple[str, str]] = (),
        target: str | None = None,
        platforms: str | Iterable[str] = (),
        labels: Mapping[str, str] | Iterable[str] | Iterable[tuple[str, str]] = (),
        docker_config_secret: str | None = None,
        insecure_registries: str | Iterable[str] = (),
        registry_ca: str | None = None,
        workspace_pvc: str | None = None,
        kaniko_cache_pvc: str | None = None,
        cache_mounts_pvc: str | None = None,
        warm_images: str | Iterable[str] = (),
        builder_image: str | None = None,
        extra_args: Iterable[str] = (),
    ) -> None:
        set_ = object.__setattr__
        set_(self, "images", _as_tuple("images", images))
        set_(self, "context", context)
        set_(self, "dockerfile", dockerfile)
        set_(self, "cache", cache)
        set_(self, "no_cache", no_cache)
        set_(self, "cache_repo", cache_repo)
        set_(self, "cache_tag", cache_tag)
        set_(self, "cache_mode", cache_mode)
        set_(self, "cache_ttl", cache_ttl)
        set_(self, "cache_from", _as_tuple("cache_from", cache_from))
        set_(self, "cache_to", cache_to)
        set_(self, "cache_read_only", cache_read_only)
        set_(self, "cache_branch", cache_branch)
        set_(self, "cache_compression", cache_compression)
        set_(self, "cache_compression_level", cache_compression_level)
        set_(self, "cache_oci_mediatypes", cache_oci_mediatypes)
        set_(self, "cache_image_manifest", cache_image_manifest)
        set_(self, "skip_unchanged", skip_unchanged)
        set_(self, "build_args", _as_pairs("build_args", build_args))
        set_(self, "target", target)
        set_(self, "platforms", _as_tuple("platforms", platforms))
        set_(self, "labels", _as_pairs("labels", labels))
        set_(self, "docker_config_secret", docker_config_secret)
        set_(self, "insecure_registries", _as_tuple("insecure_registries", insecure_registries))
        set_(self, "registry_ca", registry_ca)
        set_(self, "workspace_pvc", workspace_pvc)
        set_(self, "kaniko_cache_pvc", kaniko_cache_pvc)
        set_(self, "cache_mounts_pvc", cache_mounts_pvc)
        set_(self, "warm_images", _as_tuple("warm_images", warm_images))
        set_(self, "builder_image", builder_image)
        if isinstance(extra_args, str):
            raise SpecError("extra_args", extra_args, "must be a list of arguments, one argv element each")
        set_(self, "extra_args", tuple(extra_args))
        self._validate()

    # -- validation -------------------------------------------------------------------------
    def _validate(self) -> None:
        set_ = object.__setattr__
        if not self.images:
            raise SpecError("images", list(self.images), "at least one destination image is required")
        refs = []
        for i, image in enumerate(self.images):
            ref = parse_image_ref(f"images[{i}]", _check_text(f"images[{i}]", image))
            if ref.digest is not None:
                raise SpecError(f"images[{i}]", image, "a destination cannot be pinned by digest; give a tag")
            refs.append(ref)
        set_(self, "image_refs", tuple(refs))

        context = _check_text("context", self.context)
        git = parse_git_context("context", context)
        if git is None:
            _check_relative_path("context", context, _WORKSPACE)
        set_(self, "git", git)
        _check_relative_path("dockerfile", self.dockerfile, _CONTEXT)

        for name in ("cache", "no_cache"):
            if not isinstance(getattr(self, name), bool):
                raise SpecError(name, getattr(self, name), "must be true or false")
        if self.cache_repo is not None:
            parse_repository("cache_repo", _check_text("cache_repo", self.cache_repo))
        _check_kind("cache_tag", kinds.TAG, self.cache_tag)
        _check_kind("cache_mode", kinds.CACHE_MODE, self.cache_mode)
        if self.cache_ttl is not None:
            _check_kind("cache_ttl", kinds.DURATION, self.cache_ttl)
        self._validate_cache_policy()
        if not self.cache:
            defaults = {f.name: f.default for f in fields(self)}
            for name in _REMOTE_CACHE_FIELDS:
                if getattr(self, name) != defaults[name]:
                    value = getattr(self, name)
                    shown = list(value) if isinstance(value, tuple) else value
                    raise SpecError(name, shown, "is for the remote cache, which is off (cache false)")

        seen: set[str] = set()
        for key, value in self.build_args:
            where = f"build_args[{key!r}]"
            if not isinstance(key, str) or not _BUILD_ARG_NAME.fullmatch(key):
                raise SpecError(where, key, "a build-arg name must be a letter or '_' followed by letters, digits or '_'")
            if key in seen:
                raise SpecError(where, key, "is given twice")
            seen.add(key)
            _check_text(where, value, allow_empty=True)
            _check_kind(where, kinds.BUILD_ARG, f"{key}={value}")
        for key, value in self.labels:
            where = f"labels[{key!r}]"
            if not isinstance(key, str) or not _LABEL_KEY.fullmatch(key):
                raise SpecError(where, key, "a label key must be letters, digits, '.', '_', '/' or '-'")
            _check_text(where, value, allow_empty=True)
            _check_kind(where, kinds.LABEL, f"{key}={value}")

        if self.target is not None:
            _check_kind("target", kinds.STAGE, self.target)
        for i, platform in enumerate(self.platforms):
            _check_kind(f"platforms[{i}]", kinds.PLATFORM, platform)
        for i, registry in enumerate(self.insecure_registries):
            _check_kind(f"insecure_registries[{i}]", kinds.REGISTRY, registry)

        for name in ("docker_config_secret", "registry_ca", "workspace_pvc", "kaniko_cache_pvc", "cache_mounts_pvc"):
            value = getattr(self, name)
            if value is not None:
                _check_dns_name(name, value)
        for i, image in enumerate(self.warm_images):
            parse_image_ref(f"warm_images[{i}]", _check_text(f"warm_images[{i}]", image))
        if self.builder_image is not None:
            ref = parse_image_ref("builder_image", _check_text("builder_image", self.builder_image))
            if ref.domain is None:
                raise SpecError("builder_image", self.builder_image, "must be fully qualified with its registry host")
        for i, arg in enumerate(self.extra_args):
            _check_kind(f"extra_args[{i}]", kinds.ARGUMENT, arg)

    def _validate_cache_policy(self) -> None:
        for name in ("cache_read_only", "cache_oci_mediatypes", "cache_image_manifest", "skip_unchanged"):
            if not isinstance(getattr(self, name), bool):
                raise SpecError(name, getattr(self, name), "must be true or false")
        for i, ref in enumerate(self.cache_from):
            parse_image_ref(f"cache_from[{i}]", _check_text(f"cache_from[{i}]", ref))
            _check_kind(f"cache_from[{i}]", kinds.DESTINATION, ref)
        if self.cache_to is not None:
            parse_image_ref("cache_to", _check_text("cache_to", self.cache_to))
            _check_kind("cache_to", kinds.DESTINATION, self.cache_to)
            if self.cache_read_only:
                raise SpecError("cache_to", self.cache_to, "a read-only cache is never exported: give one or the other")
        if self.cache_branch is not None:
            _check_kind("cache_branch", kinds.BRANCH, self.cache_branch)
            if self.cache_from or self.cache_to is not None:
                reason = "chooses where the cache comes from and goes to: not with cache_from/cache_to"
                raise SpecError("cache_branch", self.cache_branch, reason)
        if self.cache_compression is not None:
            _check_kind("cache_compression", kinds.COMPRESSION, self.cache_compression)
        level = self.cache_compression_level
        if level is not None:
            if isinstance(level, bool) or not isinstance(level, int) or not kinds.COMPRESSION_LEVEL.matches(str(level)):
                raise SpecError("cache_compression_level", level, kinds.COMPRESSION_LEVEL.message)
            if self.cache_compression in (None, "gzip") and level > GZIP_MAX_LEVEL:
                raise SpecError("cache_compression_level", level, f"gzip (the default compression) goes up to {GZIP_MAX_LEVEL}")
        if self.cache_image_manifest and not self.cache_oci_mediatypes:
            raise SpecError("cache_image_manifest", True, "an image manifest needs OCI media types: turn it off too")

    # -- derived values ---------------------------------------------------------------------
    @property
    def image(self) -> str:
        """The first destination: the image's URL in results."""
        return self.images[0]

    @property
    def effective_cache_repo(self) -> str:
        """``cache_repo``, or kaniko's own default ``<first image repository>/cache``."""
        return self.cache_repo or f"{self.image_refs[0].repository}/cache"

    @property
    def context_path(self) -> str:
        """The context directory: inside the workspace, or inside the git repository."""
        return self.git.subdir if self.git else self.context

    def check_cluster(self) -> None:
        """Input the cluster templates cannot do (:data:`LOCAL_ONLY`)."""
        for name, reason in LOCAL_ONLY.items():
            if getattr(self, name):
                raise SpecError(name, getattr(self, name), reason)

    def without_remote_cache(self) -> BuildSpec:
        """The same build with the remote cache off (every setting of it back to its default)."""
        defaults: dict[str, Any] = {f.name: f.default for f in fields(self) if f.name in _REMOTE_CACHE_FIELDS}
        return dataclasses.replace(self, cache=False, **defaults)

    def check_engine(self, engine: str) -> None:
        """Input that only some builders accept: a field set that ``engine`` would ignore is an error."""
        if engine not in ENGINES:
            raise SpecError("engine", engine, f"must be one of {', '.join(ENGINES)}")
        if engine == "kaniko" and self.platforms and len(self.platforms) > 1:
            raise SpecError("platforms", list(self.platforms), KANIKO_ONE_PLATFORM)
        if engine == "buildah":  # as buildah's launcher checks them (builders.buildah.PROGRAM.kinds)
            refs = [(f"cache_from[{i}]", ref) for i, ref in enumerate(self.cache_from)]
            for where, ref in [*refs, *([("cache_to", self.cache_to)] if self.cache_to else [])]:
                if not kinds.REPOSITORY.matches(ref):
                    raise SpecError(where, ref, BUILDAH_CACHE_REF)
        defaults = {f.name: f.default for f in fields(self)}
        for name, engines in ENGINE_ONLY.items():
            value = getattr(self, name)
            if engine not in engines and value != defaults[name]:
                shown = list(value) if isinstance(value, tuple) else value
                raise SpecError(name, shown, engine_only_reason(name, engine))

    def to_dict(self) -> dict[str, object]:
        """The spec as plain data (the ``--specs`` YAML shape, with Python field names)."""
        out: dict[str, object] = {}
        for f in fields(self):
            if not f.init:
                continue
            value = getattr(self, f.name)
            if f.name in ("build_args", "labels"):
                value = dict(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out


ENGINE_ONLY: dict[str, tuple[Engine, ...]] = {
    "cache_tag": ("buildkit",),
    "cache_mode": ("buildkit",),
    "cache_ttl": ("kaniko", "buildah"),
    "cache_from": ("buildkit", "buildah"),
    "cache_to": ("buildkit", "buildah"),
    "cache_branch": ("buildkit",),
    "cache_compression": ("buildkit",),
    "cache_compression_level": ("buildkit",),
    "cache_oci_mediatypes": ("buildkit",),
    "cache_image_manifest": ("buildkit",),
    "warm_images": ("kaniko",),
    "kaniko_cache_pvc": ("kaniko",),
    "cache_mounts_pvc": ("buildkit", "buildah"),
}
"""The fields only some engines read (the others would ignore them, so a value for one is refused)."""


_REMOTE_CACHE_FIELDS = (
    "cache_repo",
    "cache_tag",
    "cache_mode",
    "cache_from",
    "cache_to",
    "cache_read_only",
    "cache_branch",
    "cache_compression",
    "cache_compression_level",
    "cache_oci_mediatypes",
    "cache_image_manifest",
    "skip_unchanged",
)
"""Settings of the remote cache: refused when it is off (the inputs tag of skip_unchanged lives in it too)."""

LOCAL_ONLY = {
    "skip_unchanged": "only the local engine skips an unchanged build: the builder images have no registry client "
    "to publish a manifest under another tag, and a launcher cannot hash the context with .dockerignore's rules",
}
"""Fields only the local engine reads, and why the templates cannot."""

_WHY_NOT = {
    ("cache_from", "kaniko"): "kaniko takes one cache repository (cache_repo), which it reads and writes",
    ("cache_to", "kaniko"): "kaniko takes one cache repository (cache_repo), which it reads and writes",
    ("cache_branch", "kaniko"): "kaniko keys its cache by layer content, not by tag: one cache_repo serves every branch",
    ("cache_mounts_pvc", "kaniko"): KANIKO_CACHE_MOUNTS,
    ("cache_branch", "buildah"): "buildah keys its cache by layer content, not by tag: one cache_repo serves every branch",
}


def engine_only_reason(name: str, engine: str) -> str:
    """Why field ``name`` is refused for ``engine``."""
    if (name, engine) in _WHY_NOT:
        return _WHY_NOT[name, engine]
    if name == "warm_images":
        return f"only the kaniko engine has a warmer, not {engine}"
    engines = ENGINE_ONLY[name]
    return f"only the {' and '.join(engines)} engine{'s read' if len(engines) > 1 else ' reads'} it, not {engine}"


def check_batch(specs: Sequence[BuildSpec], engine: str) -> None:
    """Input that is only wrong together, in one Workflow or PipelineRun.

    BuildKit keeps one cache manifest per ``cache_repo:cache_tag``: builds of different images
    exporting to the same one overwrite each other's cache on every run (a ``--cache-repo`` flag
    given as the default for every ``--specs`` item does that).
    """
    if engine != "buildkit":
        return
    first: dict[tuple[str, str], int] = {}
    for i, spec in enumerate(specs):
        if not spec.cache:
            continue
        key = (spec.effective_cache_repo, spec.cache_tag)
        j = first.setdefault(key, i)
        if spec.image_refs[0].repository != specs[j].image_refs[0].repository:
            raise SpecError(
                f"specs[{i}].cache_tag",
                spec.cache_tag,
                f"specs[{j}] builds another image into the same BuildKit cache {key[0]}:{key[1]}; each would "
                "overwrite the other's: give each image its own cache_repo or cache_tag",
            )
