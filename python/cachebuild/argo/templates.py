"""The four Argo templates, defined once with Hera from the builder programs.

Each template's container runs ``[shell, "-c", compile_sh(PROGRAM), "cachebuild"]``
(:func:`~cachebuild.builders.program.compile_sh`): the constant launcher reads every value from
``CB_*`` environment variables, which the template sets to its input parameters
(``{{inputs.parameters.cache-repo}}``) or to constants (paths inside the pod). A parameter
value therefore never becomes shell code, and no builder flag is spelled here.

Every template declares each volume it mounts itself, with the claim or Secret name taken from
a parameter, so it works when called by ``templateRef`` from another Workflow (Argo resolves a
template's ``volumeMounts`` in that template's ``volumes`` first; the ``volumes`` of the
WorkflowTemplate that holds it are never used). See
https://argo-workflows.readthedocs.io/en/latest/fields/#template .
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from hera.workflows import (
    ClusterWorkflowTemplate,
    Container,
    EmptyDirVolume,
    Env,
    ExistingVolume,
    Parameter,
    ProjectedVolume,
    WorkflowTemplate,
    models,
)

from cachebuild import report
from cachebuild.builders import WORKSPACE, buildah, buildkit, kaniko
from cachebuild.builders.program import Input, Program, compile_sh, placeholder_env
from cachebuild.spec import DEFAULT_CACHE_TAG, Engine

MAJOR = 1
"""The templates' major version: part of every template name (``buildkit-build-v1``)."""
VERSION = f"{MAJOR}.0"
ARGO_VERSION = ">= 3.5.0"
MAINTAINER = "@cachebuild"
OUTPUT_DIR = "/tmp/cachebuild"
URL_FILE = f"{OUTPUT_DIR}/image-url"
DEFAULT_DOCKER_CONFIG_SECRET = "cachebuild-docker-config"  # noqa: S105 (a Secret name, not a password)
"""Default Secret name: when no such Secret exists the credentials volume is empty (anonymous pushes)."""
DEFAULT_REGISTRY_CA = "cachebuild-registry-ca"
"""Default name of the ConfigMap or Secret with registry CA certificates: none there, none trusted."""
REGISTRY_CA_DIR = "/cachebuild/registry-ca"
MAIN_CONTAINER = "main"
"""Argo always names a template's container ``main`` (AppArmor annotation, podSpecPatch)."""

# Volume names inside each template (prefixed so they never clash with a caller's volumes).
WORKSPACE_VOLUME = "cb-workspace"
DOCKER_CONFIG_VOLUME = "cb-docker-config"
REGISTRY_CA_VOLUME = "cb-registry-ca"
OUTPUT_VOLUME = "cb-outputs"
BUILDKIT_STATE_VOLUME = "cb-buildkit-state"
KANIKO_CACHE_VOLUME = "cb-kaniko-cache"
BUILDAH_STORAGE_VOLUME = "cb-buildah-storage"
BUILDAH_STORAGE_DIR = "/var/lib/containers"
BUILDAH_TMP_VOLUME = "cb-buildah-tmp"
CACHE_MOUNTS_PARAM = "cache-mounts-pvc"


@dataclass(frozen=True)
class CacheMounts:
    """Where a builder keeps ``RUN --mount=type=cache`` directories: an emptyDir that the
    ``cache-mounts-pvc`` parameter swaps for that claim (``podSpecPatch``), mounted from ``sub_path``."""

    volume: str
    mount_path: str
    sub_path: str


@dataclass(frozen=True)
class Param:
    """One input parameter; ``key`` is the builder program value it feeds (``None``: template-only)."""

    name: str
    description: str
    default: str | None = None  # None: required
    key: str | None = None
    enum: tuple[str, ...] = ()


# Program value → parameter, for every value a caller may set. Lists are one item a line.
SPEC_PARAMS: tuple[Param, ...] = (
    Param("image", "Destination image reference(s), one a line; the first is image-url.", key="images"),
    Param("context", "Build context: a path inside the workspace, or https://host/repo.git#ref:subdir.", ".", "context"),
    Param("dockerfile", "The Dockerfile, relative to the context.", "Dockerfile", "dockerfile"),
    Param("cache", "Import and export the remote layer cache (true or false).", "true", "cache", ("true", "false")),
    Param(
        "no-cache",
        "Build every step, using no layer cache, local or remote (true or false).",
        "false",
        "no_cache",
        ("true", "false"),
    ),
    Param(
        "cache-repo",
        "Repository for cache layers, without a tag (empty: <repository of the first image>/cache).",
        "",
        "cache_repo",
    ),
    Param("cache-tag", "Tag of the cache manifest in cache-repo.", DEFAULT_CACHE_TAG, "cache_tag"),
    Param("cache-mode", "min caches the final stage only; max also intermediate stages.", "max", "cache_mode", ("min", "max")),
    Param("cache-ttl", "Ignore cached layers older than this Go duration (empty: the builder's default).", "", "cache_ttl"),
    Param(
        "cache-from",
        "Caches to import from, in order, one a line (empty: where the cache is exported to).",
        "",
        "cache_from",
    ),
    Param("cache-to", "Where the cache is exported to (empty: cache-repo, with cache-tag for BuildKit).", "", "cache_to"),
    Param(
        "cache-read-only", "Import the cache, never export to it (true or false).", "false", "cache_read_only", ("true", "false")
    ),
    Param(
        "cache-branch",
        "Import cache-repo:<branch> then the default cache tag, export to the branch's tag (empty: no branch).",
        "",
        "cache_branch",
    ),
    Param("cache-compression", "The cache layers' compression: gzip or zstd (empty: gzip).", "", "cache_compression"),
    Param(
        "cache-compression-level",
        "The compression level: gzip 0-9, zstd 0-22 (empty: the default).",
        "",
        "cache_compression_level",
    ),
    Param(
        "cache-oci-mediatypes",
        "Export the cache in OCI media types (true or false).",
        "true",
        "cache_oci_mediatypes",
        ("true", "false"),
    ),
    Param(
        "cache-image-manifest",
        "Export the cache as an image manifest, not an index, as ECR and Harbor need (true or false).",
        "true",
        "cache_image_manifest",
        ("true", "false"),
    ),
    Param("build-args", "Build arguments KEY=VALUE, one a line.", "", "build_args"),
    Param("target", "The Dockerfile stage to build (empty: the last).", "", "target"),
    Param("platforms", "Target platforms os/arch[/variant], one a line.", "", "platforms"),
    Param("labels", "Image labels KEY=VALUE, one a line.", "", "labels"),
    Param(
        "warm-images",
        "Base images to put in the cache volume, one a line (empty: those the Dockerfile names).",
        "",
        "warm_images",
    ),
    Param(
        "insecure-registries",
        "Registries (host[:port]) reached over plain HTTP, one a line: pulls, pushes and the cache (others keep TLS).",
        "",
        "insecure_registries",
    ),
    Param(
        "extra-args",
        "More builder arguments, one argv element a line: the one way to add builder flags (every other "
        "parameter is a value, never a flag).",
        "",
        "extra_args",
    ),
)
PARAM_BY_KEY = {p.key: p for p in SPEC_PARAMS if p.key}

# Resources are set through podSpecPatch: quantities in container.resources must match the
# Quantity pattern, which a {{inputs.parameters.…}} placeholder does not.
RESOURCE_PARAMS: tuple[tuple[str, str, str, str], ...] = (
    # (parameter, requests|limits, resource, default)
    ("cpu-request", "requests", "cpu", "500m"),
    ("memory-request", "requests", "memory", "1Gi"),
    ("cpu-limit", "limits", "cpu", "2"),
    ("memory-limit", "limits", "memory", "4Gi"),
)


def placeholder(param: str) -> str:
    """The Argo expression for an input parameter of the running template."""
    return "{{inputs.parameters." + param + "}}"


@dataclass(frozen=True)
class BuildTemplate:
    """What differs between the four templates; :func:`template` builds the Hera object."""

    task: str
    engine: Engine
    program: Program
    image: str
    interpreter: str
    """The POSIX sh in the builder image that runs the launcher."""
    description: str
    tags: tuple[str, ...]
    layout: Mapping[str, str]
    """Program values that are constants inside the pod (paths, buildah settings)."""
    docker_config_dir: str
    docker_config_env: bool = True
    """Set ``DOCKER_CONFIG`` to the credentials folder (buildah gets ``CB_AUTH_FILE`` instead)."""
    extra_env: Mapping[str, str] = field(default_factory=dict)
    uses_cache_pvc: bool = False
    state_dirs: Mapping[str, str] = field(default_factory=dict)
    """emptyDir volume name → mount path, for builder state."""
    cache_mounts: CacheMounts | None = None
    rootless: bool = False
    pod_security: str = "baseline"

    @property
    def name(self) -> str:
        """The versioned name of the template and of the (Cluster)WorkflowTemplate that holds it."""
        return f"{self.task}-v{MAJOR}"

    @property
    def has_outputs(self) -> bool:
        return "digest_file" in self.layout

    def spec_params(self) -> list[Param]:
        keys = self.program.value_keys()
        return [p for p in SPEC_PARAMS if p.key in keys]

    def params(self) -> list[Param]:
        """Every input parameter, in the order the template lists them."""
        params = self.spec_params()
        params.append(Param("builder-image", "The builder image (default: the pinned one).", self.image))
        params.append(Param("workspace-pvc", f"PersistentVolumeClaim holding the build context, mounted at {WORKSPACE}."))
        if self.uses_cache_pvc:
            params.append(
                Param("cache-pvc", f"PersistentVolumeClaim of the kaniko base-image cache, mounted at {kaniko.CACHE_DIR}.")
            )
        if self.cache_mounts:
            m = self.cache_mounts
            params.append(
                Param(
                    CACHE_MOUNTS_PARAM,
                    "PersistentVolumeClaim that keeps RUN --mount=type=cache directories between builds "
                    f"({m.sub_path} of it mounted at {m.mount_path}; one build at a time per claim). Empty: an emptyDir.",
                    "",
                )
            )
        params.append(
            Param(
                "registry-ca",
                "ConfigMap or Secret (not both) whose *.crt / *.pem keys are CA certificates to trust for registries, "
                f"mounted read-only at {REGISTRY_CA_DIR}. A missing one mounts nothing.",
                DEFAULT_REGISTRY_CA,
            )
        )
        params.append(
            Param(
                "docker-config-secret",
                "Secret with registry credentials: kubernetes.io/dockerconfigjson (.dockerconfigjson) or generic "
                f"(config.json); mounted read-only at {self.docker_config_dir}. A missing Secret mounts nothing.",
                DEFAULT_DOCKER_CONFIG_SECRET,
            )
        )
        for name, kind, resource, default in RESOURCE_PARAMS:
            params.append(Param(name, f"Container resources.{kind}.{resource}.", default))
        return params

    def env(self) -> dict[str, str]:
        """The container environment: ``CB_*`` for the launcher, then the builder's own variables."""

        def value(key: str) -> str | None:
            if key in self.layout:
                return self.layout[key]
            param = PARAM_BY_KEY.get(key)
            return placeholder(param.name) if param else None

        env = placeholder_env(self.program, value)
        if self.docker_config_env:
            env["DOCKER_CONFIG"] = self.docker_config_dir
        env.update(self.extra_env)
        return env

    def command(self) -> list[str]:
        inputs = {p.key: Input(p.name) for p in self.spec_params() if p.key}
        return [self.interpreter, "-c", compile_sh(self.program, inputs), "cachebuild"]


# Constants of every build template: the workspace, the registry CA folder, the output files
# (in OUTPUT_DIR, an emptyDir the output parameters are read from).
_CA = {"registry_ca_dir": REGISTRY_CA_DIR}
_OUTPUTS = {
    "workspace": WORKSPACE,
    **_CA,
    "digest_file": f"{OUTPUT_DIR}/image-digest",
    "url_file": URL_FILE,
    "cache_hits_file": f"{OUTPUT_DIR}/cache-hits",
    "cache_report_file": f"{OUTPUT_DIR}/cache-report",
}

BUILDKIT_BUILD = BuildTemplate(
    task="buildkit-build",
    engine="buildkit",
    program=buildkit.PROGRAM,
    image=buildkit.IMAGE,
    interpreter="/bin/sh",
    description="Builds and pushes an image with rootless BuildKit, importing and exporting a registry layer cache.",
    tags=("build", "buildkit", "cache", "rootless"),
    layout={**buildkit.LAYOUT, **_OUTPUTS},
    docker_config_dir=buildkit.DOCKER_CONFIG_DIR,
    cache_mounts=CacheMounts(BUILDKIT_STATE_VOLUME, buildkit.STATE_DIR, buildkit.CACHE_MOUNTS_SUBPATH),
    rootless=True,
    pod_security="privileged",
)
KANIKO_WARM = BuildTemplate(
    task="kaniko-warm",
    engine="kaniko",
    program=kaniko.WARMER_PROGRAM,
    image=kaniko.IMAGE,
    interpreter=kaniko.SHELL,
    description="Fills a kaniko cache volume with base images, for kaniko-build to read.",
    tags=("build", "kaniko", "cache"),
    layout={"workspace": WORKSPACE, **{k: kaniko.LAYOUT[k] for k in ("cache_dir", "ca_bundle", "warm_list_file")}, **_CA},
    docker_config_dir=kaniko.DOCKER_CONFIG_DIR,
    uses_cache_pvc=True,
)
KANIKO_BUILD = BuildTemplate(
    task="kaniko-build",
    engine="kaniko",
    program=kaniko.EXECUTOR_PROGRAM,
    image=kaniko.IMAGE,
    interpreter=kaniko.SHELL,
    description="Builds and pushes an image with the kaniko executor, with a registry layer cache and a warmed base-image cache.",
    tags=("build", "kaniko", "cache"),
    layout={**kaniko.LAYOUT, **_OUTPUTS},
    docker_config_dir=kaniko.DOCKER_CONFIG_DIR,
    uses_cache_pvc=True,
)
BUILDAH_BUILD = BuildTemplate(
    task="buildah-build",
    engine="buildah",
    program=buildah.PROGRAM,
    image=buildah.IMAGE,
    interpreter="/bin/sh",
    description="Builds and pushes an image with buildah (chroot isolation, vfs storage), with a registry layer cache.",
    tags=("build", "buildah", "cache"),
    layout={**buildah.LAYOUT, **_OUTPUTS},
    docker_config_dir=buildah.AUTH_FILE.rsplit("/", 1)[0],
    docker_config_env=False,
    state_dirs={BUILDAH_STORAGE_VOLUME: BUILDAH_STORAGE_DIR},
    cache_mounts=CacheMounts(BUILDAH_TMP_VOLUME, buildah.CACHE_MOUNTS_DIR, buildah.CACHE_MOUNTS_SUBPATH),
)

TEMPLATES: tuple[BuildTemplate, ...] = (BUILDKIT_BUILD, KANIKO_WARM, KANIKO_BUILD, BUILDAH_BUILD)
BY_TASK = {t.task: t for t in TEMPLATES}


def docker_config_volume(t: BuildTemplate) -> ProjectedVolume:
    """The credentials Secret as ``config.json``, whichever kind of Secret it is.

    Two projections of the same Secret, both ``optional``
    (https://kubernetes.io/docs/concepts/storage/projected-volumes/):

    1. key ``.dockerconfigjson`` (a ``kubernetes.io/dockerconfigjson`` Secret) → ``config.json``;
    2. every key under its own name, so a generic Secret's ``config.json`` is ``config.json``.

    Both cannot map an item to ``config.json``: the API server rejects a projected volume whose
    items name the same path twice ("conflicting duplicate paths"). ``optional`` makes a missing
    key or Secret an empty projection instead of a pod that never starts.
    """
    secret = placeholder("docker-config-secret")
    return ProjectedVolume(
        name=DOCKER_CONFIG_VOLUME,
        mount_path=t.docker_config_dir,
        read_only=True,
        sources=[
            models.VolumeProjection(
                secret=models.SecretProjection(
                    name=secret, optional=True, items=[models.KeyToPath(key=".dockerconfigjson", path="config.json")]
                )
            ),
            models.VolumeProjection(secret=models.SecretProjection(name=secret, optional=True)),
        ],
    )


def registry_ca_volume() -> ProjectedVolume:
    """The ConfigMap or Secret named by ``registry-ca`` (both projections ``optional``: a missing one is empty)."""
    name = placeholder("registry-ca")
    return ProjectedVolume(
        name=REGISTRY_CA_VOLUME,
        mount_path=REGISTRY_CA_DIR,
        read_only=True,
        sources=[
            models.VolumeProjection(config_map=models.ConfigMapProjection(name=name, optional=True)),
            models.VolumeProjection(secret=models.SecretProjection(name=name, optional=True)),
        ],
    )


def _volumes(t: BuildTemplate) -> list[Any]:
    volumes: list[Any] = [
        ExistingVolume(name=WORKSPACE_VOLUME, claim_name=placeholder("workspace-pvc"), mount_path=WORKSPACE),
        docker_config_volume(t),
        registry_ca_volume(),
    ]
    if t.uses_cache_pvc:
        volumes.append(ExistingVolume(name=KANIKO_CACHE_VOLUME, claim_name=placeholder("cache-pvc"), mount_path=kaniko.CACHE_DIR))
    if t.has_outputs:
        volumes.append(EmptyDirVolume(name=OUTPUT_VOLUME, mount_path=OUTPUT_DIR))
    volumes += [EmptyDirVolume(name=name, mount_path=path) for name, path in t.state_dirs.items()]
    if t.cache_mounts:
        m = t.cache_mounts
        volumes.append(EmptyDirVolume(name=m.volume, mount_path=m.mount_path, sub_path=m.sub_path))
    return volumes


def _security_context(t: BuildTemplate) -> models.SecurityContext | None:
    """Rootless BuildKit: uid/gid 1000, seccomp and AppArmor Unconfined (its user namespaces need them)."""
    if not t.rootless:
        return None
    return models.SecurityContext(
        run_as_user=buildkit.RUN_AS,
        run_as_group=buildkit.RUN_AS,
        run_as_non_root=True,
        seccomp_profile=models.SeccompProfile(type="Unconfined"),
        app_armor_profile=models.AppArmorProfile(type="Unconfined"),
    )


def _pod_spec_patch(t: BuildTemplate) -> str:
    """``podSpecPatch``: the main container's resources from parameters (they stay overridable), and
    the cache-mounts emptyDir replaced by the ``cache-mounts-pvc`` claim when one is given.

    One expression (https://argo-workflows.readthedocs.io/en/latest/variables/#expression) whose
    ``sprig.toJson`` writes every parameter as a JSON string: a value holding quotes stays a value
    (a plain ``{{inputs.parameters.…}}`` would be pasted into the JSON and could add fields). A
    strategic merge patch replaces the volume of the same name; ``emptyDir: null`` drops its source.
    Argo ends a tag at its first ``}}``, so no two closing braces touch inside the expression.
    """

    def param(name: str) -> str:
        return f"inputs.parameters['{name}']"

    kinds: dict[str, list[str]] = {}
    for name, kind, resource, _ in RESOURCE_PARAMS:
        kinds.setdefault(kind, []).append(f'"{resource}": {param(name)}')
    resources = ", ".join(f'"{kind}": {{{", ".join(items)}}}' for kind, items in kinds.items())
    patch = f'"containers": [{{"name": "{MAIN_CONTAINER}", "resources": {{{resources}}}}}]'
    if t.cache_mounts:
        claim = param(CACHE_MOUNTS_PARAM)
        volume = f'{{"name": "{t.cache_mounts.volume}", "emptyDir": nil, "persistentVolumeClaim": {{"claimName": {claim}}}}}'
        patch += f', "volumes": {claim} == "" ? [] : [{volume}]'
    expression = f"sprig.toJson({{{patch}}})"
    while "}}" in expression:  # Argo's template tags end at the first "}}"
        expression = expression.replace("}}", "} }")
    return "{{=" + expression + "}}"


def template_outputs(t: BuildTemplate) -> list[Parameter]:
    """The template's output parameters (none for kaniko-warm)."""
    return _outputs(t) or []


def _outputs(t: BuildTemplate) -> list[Parameter] | None:
    """``image-digest`` and ``image-url`` from the launcher's files, with defaults so callers never break."""
    if not t.has_outputs:
        return None
    return [
        Parameter(
            name="image-digest",
            description="sha256 digest of the pushed image.",
            value_from=models.ValueFrom(path=t.layout["digest_file"], default=""),
        ),
        Parameter(
            name="image-url",
            description="The first destination image reference.",
            value_from=models.ValueFrom(path=t.layout["url_file"], default=""),
        ),
        Parameter(
            name="cache-hits",
            description=report.HITS_DESCRIPTION,
            value_from=models.ValueFrom(path=t.layout["cache_hits_file"], default=""),
        ),
        Parameter(
            name="cache-report",
            description=report.REPORT_DESCRIPTION,
            value_from=models.ValueFrom(path=t.layout["cache_report_file"], default=""),
        ),
    ]


def _input(p: Param) -> Parameter:
    # Hera writes default=None as the string "null": a required parameter gets no default at all.
    extra: dict[str, Any] = {"enum": list(p.enum)} if p.enum else {}
    if p.default is None:
        return Parameter(name=p.name, description=p.description, **extra)
    return Parameter(name=p.name, description=p.description, default=p.default, **extra)


_T = TypeVar("_T")


def _isolated(build: Callable[[], _T]) -> _T:
    """Build a Hera object outside any active ``with Workflow/DAG`` context (so it is not added to it)."""
    return contextvars.Context().run(build)


@functools.cache
def _container(task: str) -> Container:
    t = BY_TASK[task]
    annotations = {f"container.apparmor.security.beta.kubernetes.io/{MAIN_CONTAINER}": "unconfined"} if t.rootless else None
    return _isolated(
        lambda: Container(
            name=t.name,
            annotations=annotations,
            inputs=[_input(p) for p in t.params()],
            outputs=_outputs(t),
            image=placeholder("builder-image"),
            command=t.command(),
            env=[Env(name=k, value=v) for k, v in t.env().items()],
            volumes=_volumes(t),
            security_context=_security_context(t),
            pod_spec_patch=_pod_spec_patch(t),
        )
    )


def container(t: BuildTemplate) -> Container:
    """The Hera template (a ``Container``) for ``t``; the same object each call."""
    return _container(t.task)


def template_dict(t: BuildTemplate) -> dict[str, Any]:
    """The template as an Argo ``Template`` mapping (what ``spec.templates[]`` holds)."""
    spec: dict[str, Any] = workflow_template(t).to_dict()["spec"]
    return spec["templates"][0]  # type: ignore[no-any-return]


def catalog_annotations(t: BuildTemplate) -> dict[str, str]:
    """Catalog annotations (as Argo's community catalogs use them)."""
    return {
        "workflows.argoproj.io/description": t.description,
        "workflows.argoproj.io/maintainer": MAINTAINER,
        "workflows.argoproj.io/tags": ", ".join(t.tags),
        "workflows.argoproj.io/version": ARGO_VERSION,
        "cachebuild.dev/pod-security": t.pod_security,
    }


def workflow_template(t: BuildTemplate, *, cluster_scope: bool = False) -> WorkflowTemplate:
    """A (Cluster)WorkflowTemplate holding ``t`` as its only template and entrypoint.

    The entrypoint lets ``argo submit --from workflowtemplate/NAME -p image=… -p cache-repo=…`` run it.
    """
    cls = ClusterWorkflowTemplate if cluster_scope else WorkflowTemplate
    return _isolated(
        lambda: cls(
            api_version="argoproj.io/v1alpha1",
            kind=cls.__name__,
            name=t.name,
            labels={
                "app.kubernetes.io/name": t.task,
                "app.kubernetes.io/version": VERSION,
                "app.kubernetes.io/part-of": "cachebuild",
            },
            annotations=catalog_annotations(t),
            entrypoint=t.name,
            templates=[container(t)],
        )
    )
