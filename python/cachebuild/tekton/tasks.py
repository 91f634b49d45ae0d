"""The four Tekton v1 Tasks, built from the builder programs.

Each Task has one step ``build`` running ``[shell, "-c", prelude + compile_sh(PROGRAM), "cachebuild"]``
(:mod:`cachebuild.tekton.script`, :func:`~cachebuild.builders.program.compile_sh`); every value
reaches it through ``env`` (``value: $(params.X)``, https://tekton.dev/docs/pipelines/tasks/#specifying-steps)
or, for array params, through ``args`` (``$(params.X[*])``). The step never spells a builder flag.
Task fields: https://tekton.dev/docs/pipelines/tasks/ ; catalog metadata rules (catlin):
https://github.com/tektoncd/catalog/blob/main/recommendations.md .
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cachebuild import report
from cachebuild.builders import buildah, buildkit, kaniko
from cachebuild.builders.program import Input, Program, compile_sh, placeholder_env
from cachebuild.spec import DEFAULT_CACHE_TAG
from cachebuild.tekton import script

VERSION = "0.1"
MIN_PIPELINES_VERSION = "1.0.0"
PLATFORMS_ANNOTATION = "linux/amd64,linux/arm64"
CATEGORY = "Image Build"

SOURCE = "source"
DOCKERCONFIG = "dockerconfig"
REGISTRY_CA = "registry-ca"
CACHE = "cache"
CACHE_MOUNTS = "cache-mounts"
IMAGE_URL = "IMAGE_URL"
IMAGE_DIGEST = "IMAGE_DIGEST"
CACHE_HITS = "CACHE_HITS"
CACHE_REPORT = "CACHE_REPORT"
RESULTS = {
    IMAGE_DIGEST: "The digest of the pushed image (sha256:…).",
    IMAGE_URL: "The pushed image, as given in IMAGE.",
    CACHE_HITS: report.HITS_DESCRIPTION,
    CACHE_REPORT: report.REPORT_DESCRIPTION,
}
BUILDER_IMAGE = "BUILDER_IMAGE"
STEP = "build"


@dataclass(frozen=True)
class Param:
    """A Task param fed from one program key (https://tekton.dev/docs/pipelines/tasks/#specifying-parameters)."""

    name: str
    description: str
    type: str = "string"
    default: str | list[str] | None = None


# Program key → the Task param that feeds it. A Task declares those its program reads.
PARAMS: dict[str, Param] = {
    "images": Param(
        "IMAGE", "The image to build and push, e.g. registry.example.com/team/app:1.0 (its URL is the IMAGE_URL result)."
    ),
    "context": Param(
        "CONTEXT", "The build context: a path inside the source workspace, or https://host/repo.git#ref:subdir.", default="."
    ),
    "dockerfile": Param("DOCKERFILE", "The Dockerfile, relative to the context.", default="Dockerfile"),
    "cache": Param("CACHE", "Import and export the remote layer cache: true or false.", default="true"),
    "cache_repo": Param(
        "CACHE_REPO",
        "The cache repository, without a tag, e.g. registry.example.com/team/app/cache; empty: <repository of IMAGE>/cache.",
        default="",
    ),
    "no_cache": Param("NO_CACHE", "Build every step, using no layer cache, local or remote: true or false.", default="false"),
    "cache_tag": Param("CACHE_TAG", "The tag of the cache in CACHE_REPO.", default=DEFAULT_CACHE_TAG),
    "cache_mode": Param(
        "CACHE_MODE",
        "max also caches the intermediate stages of multi-stage builds; min only the final one.",
        default="max",
    ),
    "cache_ttl": Param(
        "CACHE_TTL", "Ignore cached layers older than this Go duration (e.g. 168h); empty: the builder's default.", default=""
    ),
    "cache_from": Param(
        "CACHE_FROM", "Caches to import from, in order; empty: where the cache is exported to.", type="array", default=[]
    ),
    "cache_to": Param("CACHE_TO", "Where the cache is exported to; empty: CACHE_REPO (BuildKit: with CACHE_TAG).", default=""),
    "cache_read_only": Param("CACHE_READ_ONLY", "Import the cache, never export to it: true or false.", default="false"),
    "cache_branch": Param(
        "CACHE_BRANCH",
        "Import CACHE_REPO:<branch> then CACHE_REPO:CACHE_TAG, export to the branch's tag; empty: no branch.",
        default="",
    ),
    "cache_compression": Param("CACHE_COMPRESSION", "The cache layers' compression: gzip or zstd; empty: gzip.", default=""),
    "cache_compression_level": Param(
        "CACHE_COMPRESSION_LEVEL", "The compression level: gzip 0-9, zstd 0-22; empty: the default.", default=""
    ),
    "cache_oci_mediatypes": Param("CACHE_OCI_MEDIATYPES", "Export the cache in OCI media types: true or false.", default="true"),
    "cache_image_manifest": Param(
        "CACHE_IMAGE_MANIFEST",
        "Export the cache as an image manifest, not an index, as ECR and Harbor need: true or false.",
        default="true",
    ),
    "build_args": Param("BUILD_ARGS", "Build arguments, one KEY=VALUE an item.", type="array", default=[]),
    "target": Param("TARGET", "The Dockerfile stage to build; empty: the last.", default=""),
    "platforms": Param("PLATFORMS", "Target platforms os/arch[/variant]; empty: the node's.", type="array", default=[]),
    "labels": Param("LABELS", "Image labels, one KEY=VALUE an item.", type="array", default=[]),
    "insecure_registries": Param(
        "INSECURE_REGISTRIES",
        "Registries (host[:port]) reached over plain HTTP: pulls, pushes and the cache (every other registry keeps TLS).",
        type="array",
        default=[],
    ),
    "extra_args": Param(
        "EXTRA_ARGS",
        "More builder arguments, each item one argv element, added last: the one way to add builder flags "
        "(every other param is a value, never a flag).",
        type="array",
        default=[],
    ),
    "warm_images": Param(
        "WARM_IMAGES",
        "Base images to put in the cache; empty: those the Dockerfile names (workspace contexts only).",
        type="array",
        default=[],
    ),
}


@dataclass(frozen=True)
class TaskDef:
    """One Task: its builder program, image and how its pod must run."""

    name: str
    display_name: str
    engine: str
    program: Program
    image: str
    shell_path: str
    layout: Mapping[str, str]
    """Constant program values (output files, storage options)."""
    credentials_link: str
    """Where the builder reads ``config.json``."""
    description: str
    tags: tuple[str, ...]
    pod_security: str
    """README text: the Pod Security level the Task needs and why."""
    param_notes: Mapping[str, str] = field(default_factory=dict)
    auth_file_key: str | None = None
    cache_workspace: bool = False
    cache_optional: bool = False
    """The cache workspace may be left unbound (kaniko-build: then kaniko's own /cache in the container)."""
    security_context: Mapping[str, Any] | None = None
    extra_env: Mapping[str, str] = field(default_factory=dict)
    state_volumes: Mapping[str, str] = field(default_factory=dict)
    """emptyDir volumes: name → mount path."""
    cache_mounts: str | None = None
    """An optional ``cache-mounts`` workspace keeping ``RUN --mount=type=cache`` directories: what it holds."""
    cache_mounts_path: str | None = None
    """Its mountPath (None: Tekton's /workspace/cache-mounts, given to the launcher)."""

    @property
    def params(self) -> list[Param]:
        keys = self.program.value_keys()
        found = [param for key, param in PARAMS.items() if key in keys]
        image = Param(BUILDER_IMAGE, f"The {self.engine} image (pinned by digest; replace to upgrade).", default=self.image)
        return [*found, image]

    @property
    def arrays(self) -> list[tuple[str, str]]:
        """(param, program key) of each array param, in param order."""
        return [(p.name, key) for key, p in PARAMS.items() if p in self.params and p.type == "array"]

    @property
    def results(self) -> list[str]:
        keys = self.program.value_keys()
        images = [IMAGE_DIGEST, IMAGE_URL] if "digest_file" in keys and self.program.url_result else []
        return images + ([CACHE_HITS, CACHE_REPORT] if self.program.report else [])

    def placeholder(self, key: str) -> str | None:
        """The ``env`` value of ``CB_<KEY>`` (None: unset; array params come through args)."""
        special = {
            "workspace": f"$(workspaces.{SOURCE}.path)",
            "digest_file": f"$(results.{IMAGE_DIGEST}.path)" if self.results else None,
            "url_file": f"$(results.{IMAGE_URL}.path)" if self.results else None,
            "cache_hits_file": f"$(results.{CACHE_HITS}.path)" if self.program.report else None,
            "cache_report_file": f"$(results.{CACHE_REPORT}.path)" if self.program.report else None,
            "cache_dir": f"$(workspaces.{CACHE}.path)" if self.cache_workspace else None,
            "registry_ca_dir": f"$(workspaces.{REGISTRY_CA}.path)",
            # Empty when the optional workspace is not bound.
            "cache_mounts_dir": f"$(workspaces.{CACHE_MOUNTS}.path)" if self.cache_mounts else None,
        }
        if key in special:
            return special[key]
        param = PARAMS.get(key)
        if param is not None:
            return None if param.type == "array" else f"$(params.{param.name})"
        if key == self.auth_file_key:
            return None  # set by the credentials prelude when the workspace holds credentials
        return self.layout.get(key)

    def step_script(self) -> str:
        # IMAGE is one string param though the program takes a list of images.
        inputs = {key: Input(p.name, single=key == "images") for key, p in PARAMS.items() if p in self.params}
        return script.prelude(self.arrays, self.auth_file_key) + compile_sh(self.program, inputs)

    def env(self) -> list[dict[str, str]]:
        env = dict(placeholder_env(self.program, self.placeholder))
        env[script.DOCKERCONFIG_BOUND_ENV] = f"$(workspaces.{DOCKERCONFIG}.bound)"
        env[script.DOCKERCONFIG_PATH_ENV] = f"$(workspaces.{DOCKERCONFIG}.path)"
        env[script.CREDENTIALS_LINK_ENV] = self.credentials_link
        env.update(self.extra_env)
        return [{"name": k, "value": v} for k, v in env.items()]

    def step(self) -> dict[str, Any]:
        """The one step (https://tekton.dev/docs/pipelines/tasks/#defining-steps)."""
        step: dict[str, Any] = {
            "name": STEP,
            "image": f"$(params.{BUILDER_IMAGE})",
            "command": [self.shell_path, "-c", self.step_script(), "cachebuild"],
        }
        args = script.array_args(self.arrays)
        if args:
            step["args"] = args
        step["env"] = self.env()
        if self.state_volumes:
            step["volumeMounts"] = [{"name": name, "mountPath": path} for name, path in self.state_volumes.items()]
        if self.security_context:
            step["securityContext"] = dict(self.security_context)
        return step

    def workspaces(self) -> list[dict[str, Any]]:
        """https://tekton.dev/docs/pipelines/workspaces/#using-workspaces-in-tasks"""
        out: list[dict[str, Any]] = [
            {"name": SOURCE, "description": "Holds the build context (unused by a git CONTEXT, but bind an emptyDir then)."},
            {
                "name": DOCKERCONFIG,
                "description": "Registry credentials: a Secret of type kubernetes.io/dockerconfigjson (key .dockerconfigjson) "
                "or a generic Secret with key config.json.",
                "optional": True,
                "readOnly": True,
            },
        ]
        out.append(
            {
                "name": REGISTRY_CA,
                "description": "CA certificates to trust for registries (every *.crt / *.pem file in it, besides the "
                "image's own): bind a ConfigMap or a Secret.",
                "optional": True,
                "readOnly": True,
            }
        )
        if self.cache_workspace:
            cache: dict[str, Any] = {
                "name": CACHE,
                "description": "kaniko's base-image cache (--cache-dir): a PVC shared by kaniko-warm and kaniko-build.",
            }
            if self.cache_optional:
                cache["description"] += " Optional: without it kaniko uses /cache inside the container."
                cache["optional"] = True
            out.append(cache)
        if self.cache_mounts:
            mounts: dict[str, Any] = {
                "name": CACHE_MOUNTS,
                "description": f"Keeps RUN --mount=type=cache directories between builds: {self.cache_mounts}. "
                "Optional: without it they last one build. Bind a PVC (a subPath of the source PVC under Tekton's "
                "default coschedule: workspaces); one build at a time per claim.",
                "optional": True,
            }
            if self.cache_mounts_path:
                mounts["mountPath"] = self.cache_mounts_path
            out.append(mounts)
        return out

    def manifest(self) -> dict[str, Any]:
        """The Task as applied to a cluster (``kubectl apply -f``)."""
        spec: dict[str, Any] = {"description": self.description}
        params = []
        for p in self.params:
            item: dict[str, Any] = {"name": p.name, "type": p.type, "description": p.description}
            if p.default is not None:
                item["default"] = p.default
            params.append(item)
        spec["params"] = params
        spec["workspaces"] = self.workspaces()
        if self.results:
            spec["results"] = [{"name": name, "type": "string", "description": RESULTS[name]} for name in self.results]
        if self.state_volumes:
            spec["volumes"] = [{"name": name, "emptyDir": {}} for name in self.state_volumes]
        spec["steps"] = [self.step()]
        return {
            "apiVersion": "tekton.dev/v1",
            "kind": "Task",
            "metadata": {
                "name": self.name,
                "labels": {"app.kubernetes.io/version": VERSION},
                "annotations": {
                    "tekton.dev/pipelines.minVersion": MIN_PIPELINES_VERSION,
                    "tekton.dev/categories": CATEGORY,
                    "tekton.dev/tags": ", ".join(self.tags),
                    "tekton.dev/displayName": self.display_name,
                    "tekton.dev/platforms": PLATFORMS_ANNOTATION,
                },
            },
            "spec": spec,
        }


_BUILDKIT_SECURITY = {
    "runAsUser": buildkit.RUN_AS,
    "runAsGroup": buildkit.RUN_AS,
    "seccompProfile": {"type": "Unconfined"},
    "appArmorProfile": {"type": "Unconfined"},
}

BUILDKIT = TaskDef(
    name="buildkit-build",
    display_name="BuildKit build (rootless, registry cache)",
    engine="buildkit",
    program=buildkit.PROGRAM,
    image=buildkit.IMAGE,
    shell_path="sh",
    layout={k: v for k, v in buildkit.LAYOUT.items() if k != "digest_file"},
    credentials_link=f"{buildkit.DOCKER_CONFIG_DIR}/config.json",
    description="Builds an image with rootless BuildKit (no privileged) and pushes it, importing and exporting "
    "a registry layer cache (CACHE_REPO:CACHE_TAG). Writes IMAGE_URL and IMAGE_DIGEST for Tekton Chains.",
    tags=("image-build", "buildkit", "cache"),
    pod_security=(
        "**privileged** (the Pod Security level, not a privileged container). Rootless BuildKit runs as uid/gid "
        f"{buildkit.RUN_AS} without `privileged: true`, but it creates user namespaces and mounts, which the default "
        "seccomp and AppArmor profiles block: the step sets `seccompProfile` and `appArmorProfile` to `Unconfined` "
        f"(and the launcher passes buildkitd `{buildkit.ROOTLESS_FLAG}` when it does not run as root), and the "
        "`baseline` level forbids Unconfined profiles. "
        "`appArmorProfile` needs Kubernetes 1.30 or later; on an older cluster the field is dropped, so add the "
        f"annotation `container.apparmor.security.beta.kubernetes.io/step-{STEP}: unconfined` to the TaskRun's (or the "
        "PipelineRun's) `metadata.annotations` (Tekton copies them to the Pod; the step's container is "
        f"`step-{STEP}`). Nodes without AppArmor need neither."
    ),
    security_context=_BUILDKIT_SECURITY,
    state_volumes={"buildkit-state": buildkit.STATE_DIR},
    cache_mounts="buildkitd's state (--root): its cache mounts and its layers",
)

KANIKO_BUILD = TaskDef(
    name="kaniko-build",
    display_name="kaniko build (registry cache, warmed base images)",
    engine="kaniko",
    program=kaniko.EXECUTOR_PROGRAM,
    image=kaniko.IMAGE,
    shell_path=kaniko.SHELL,
    layout={k: v for k, v in kaniko.LAYOUT.items() if k not in ("digest_file", "cache_dir")},
    credentials_link=f"{kaniko.DOCKER_CONFIG_DIR}/config.json",
    description="Builds an image with the kaniko executor (maintained osscontainertools fork) and pushes it, with "
    "a registry layer cache (CACHE_REPO) and the base images kaniko-warm put in the cache workspace. Writes "
    "IMAGE_URL and IMAGE_DIGEST for Tekton Chains.",
    tags=("image-build", "kaniko", "cache"),
    pod_security=(
        "**baseline**. kaniko runs as root inside the container and unpacks the image's filesystem there; it needs "
        "no privileged container, no extra capabilities and no Unconfined profiles, but `restricted` forbids root."
    ),
    param_notes={"PLATFORMS": "kaniko builds one platform a run (`--custom-platform`)."},
    cache_workspace=True,
    cache_optional=True,
)

KANIKO_WARM = TaskDef(
    name="kaniko-warm",
    display_name="kaniko cache warmer",
    engine="kaniko",
    program=kaniko.WARMER_PROGRAM,
    image=kaniko.IMAGE,
    shell_path=kaniko.SHELL,
    layout={k: v for k, v in kaniko.LAYOUT.items() if k != "cache_dir"},
    credentials_link=f"{kaniko.DOCKER_CONFIG_DIR}/config.json",
    description="Fills the cache workspace (a PVC) with base images for kaniko-build: the images named in "
    "WARM_IMAGES, or those the Dockerfile in the source workspace names.",
    tags=("image-build", "kaniko", "cache"),
    pod_security=(
        "**baseline**. The kaniko warmer runs as root (the kaniko image's user) to write the cache volume; no "
        "privileged container, capabilities or Unconfined profiles."
    ),
    cache_workspace=True,
)

BUILDAH = TaskDef(
    name="buildah-build",
    display_name="Buildah build (registry layer cache)",
    engine="buildah",
    program=buildah.PROGRAM,
    image=buildah.IMAGE,
    shell_path="sh",
    layout={k: v for k, v in buildah.LAYOUT.items() if k not in ("digest_file", "auth_file")},
    credentials_link=buildah.AUTH_FILE,
    auth_file_key="auth_file",
    description="Builds an image with buildah (--layers, chroot isolation, vfs storage, no privileged) and pushes "
    "it, with a registry layer cache (--cache-from/--cache-to CACHE_REPO). Writes IMAGE_URL and IMAGE_DIGEST for "
    "Tekton Chains.",
    tags=("image-build", "buildah", "cache"),
    cache_mounts=f"mounted at {buildah.CACHE_MOUNTS_DIR}, where buildah keeps them (buildah-cache*)",
    cache_mounts_path=buildah.CACHE_MOUNTS_DIR,
    pod_security=(
        "**baseline** at least. buildah runs as root in the container with `--isolation chroot` and the `vfs` "
        "storage driver, so it needs no privileged container and no user namespaces. `RUN` instructions mount "
        "`/proc` and `/sys` inside the chroot; container runtimes whose default seccomp profile or capability set "
        "refuses those mounts make `RUN` fail with `operation not permitted`, and then the step needs the "
        "`SYS_ADMIN` capability (Pod Security `privileged`). This has not been verified on every runtime."
    ),
)

TASKS: tuple[TaskDef, ...] = (BUILDKIT, KANIKO_WARM, KANIKO_BUILD, BUILDAH)
BY_NAME: dict[str, TaskDef] = {t.name: t for t in TASKS}
BUILD_TASK: dict[str, TaskDef] = {"buildkit": BUILDKIT, "kaniko": KANIKO_BUILD, "buildah": BUILDAH}


def task_path(task: TaskDef) -> str:
    """The Task's file in the catalog layout."""
    return f"tasks/{task.name}/{VERSION}/{task.name}.yaml"
