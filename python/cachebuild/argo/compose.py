"""Composing the templates from Python: Hera Tasks/Steps, and complete Workflows.

``argo.buildkit_build(spec)`` (and ``kaniko_warm``, ``kaniko_build``, ``buildah_build``) returns a
Hera ``Task`` inside a ``DAG`` context (so ``warm >> build`` works) and a ``Step`` inside a
``Steps`` context. By default it calls the installed template by ``templateRef``
(https://argo-workflows.readthedocs.io/en/latest/workflow-templates/#referencing-other-workflowtemplates);
with ``inline=True`` the template is embedded in the Workflow, once however many builds use it.
Per build only the arguments that differ from the template's defaults are written.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

from hera.workflows import DAG, Parallel, Step, Steps, Task, Workflow, models

from cachebuild.argo.templates import (
    BUILDAH_BUILD,
    BUILDKIT_BUILD,
    CACHE_MOUNTS_PARAM,
    KANIKO_BUILD,
    KANIKO_WARM,
    BuildTemplate,
    container,
)
from cachebuild.builders import kaniko, spec_values
from cachebuild.errors import SpecError
from cachebuild.spec import BuildSpec, Engine, check_batch

WORKSPACE_CLAIM = "workspace"
KANIKO_CACHE_CLAIM = "kaniko-cache"
ENTRYPOINT = "build-images"
DEFAULT_WORKSPACE_SIZE = "1Gi"
DEFAULT_KANIKO_CACHE_SIZE = "5Gi"
_QUANTITY = re.compile(
    r"(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?"
)

Node = Task | Step


def claim_pvc_name(claim: str) -> str:
    """The PVC Argo creates for volumeClaimTemplate ``claim``: ``<workflow name>-<claim>``."""
    return "{{workflow.name}}-" + claim


def volume_claim(claim: str, size: str, *, field: str = "size") -> models.PersistentVolumeClaim:
    """A ``spec.volumeClaimTemplates[]`` entry (ReadWriteOnce, ``size`` of storage)."""
    if not isinstance(size, str) or not _QUANTITY.fullmatch(size):
        raise SpecError(field, size, "must be a Kubernetes quantity such as 1Gi or 500Mi")
    return models.PersistentVolumeClaim(
        metadata=models.ObjectMeta(name=claim),
        spec=models.PersistentVolumeClaimSpec(
            access_modes=["ReadWriteOnce"],
            resources=models.VolumeResourceRequirements(requests={"storage": models.Quantity(size)}),
        ),
    )


def _text(value: str | tuple[str, ...]) -> str:
    return "\n".join(value) if isinstance(value, tuple) else value


def arguments(
    t: BuildTemplate, spec: BuildSpec, *, workspace_pvc: str | None = None, cache_pvc: str | None = None
) -> dict[str, str]:
    """The template's input parameters for ``spec``: required ones, and those that differ from the defaults.

    Lists (images, build args, platforms, labels, extra args) are one item a line; the launcher
    splits them back into one argv element each.
    """
    values = spec_values(spec)
    args: dict[str, str] = {}
    for param in t.spec_params():
        assert param.key is not None
        text = _text(values[param.key])
        if param.default is None or text != param.default:
            args[param.name] = text
    if spec.builder_image:
        args["builder-image"] = spec.builder_image
    args["workspace-pvc"] = spec.workspace_pvc or workspace_pvc or claim_pvc_name(WORKSPACE_CLAIM)
    if t.uses_cache_pvc:
        args["cache-pvc"] = spec.kaniko_cache_pvc or cache_pvc or claim_pvc_name(KANIKO_CACHE_CLAIM)
    if spec.cache_mounts_pvc:
        args[CACHE_MOUNTS_PARAM] = spec.cache_mounts_pvc
    if spec.docker_config_secret:
        args["docker-config-secret"] = spec.docker_config_secret
    if spec.registry_ca:
        args["registry-ca"] = spec.registry_ca
    return args


def _in_steps() -> bool:
    from hera.workflows._context import _context

    pieces = _context.pieces or []
    return bool(pieces) and isinstance(pieces[-1], (Steps, Parallel))


def _free_name(base: str) -> str:
    """``base``, or ``base-2``, ``base-3`` … when the DAG or Steps being defined already has a node by that name."""
    from hera.workflows._context import _context

    pieces = _context.pieces or []
    taken: set[str] = set(getattr(pieces[-1], "_node_names", set())) if pieces else set()
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    return name


def _enclosing_workflow() -> Workflow | None:
    from hera.workflows._context import _context

    pieces = _context.pieces or []
    return pieces[0] if pieces and isinstance(pieces[0], Workflow) else None


def _ensure_claim(claim: str, size: str) -> None:
    """Add volumeClaimTemplate ``claim`` to the Workflow being defined, unless it has it (or there is none)."""
    w = _enclosing_workflow()
    if w is None:
        return
    claims = list(w.volume_claim_templates or [])
    if not any(c.metadata is not None and c.metadata.name == claim for c in claims):
        w.volume_claim_templates = [*claims, volume_claim(claim, size)]


def check_workspace(spec: BuildSpec, workspace_pvc: str | None = None) -> None:
    """A workspace path must come from an existing PVC: an empty claim would build from nothing."""
    if spec.workspace_pvc is None and workspace_pvc is None and spec.git is None:
        raise SpecError(
            "workspace_pvc",
            None,
            f"the context {spec.context!r} is a path in the workspace: name the PersistentVolumeClaim that holds it "
            "(or build from a git context, https://host/repo.git#ref:subdir)",
        )


def node(
    t: BuildTemplate,
    spec: BuildSpec,
    *,
    name: str | None = None,
    inline: bool = False,
    cluster_scope: bool = False,
    workspace_pvc: str | None = None,
    cache_pvc: str | None = None,
    kind: Literal["task", "step"] | None = None,
) -> Node:
    """A Task (or Step) running template ``t`` for ``spec``, by ``templateRef`` or inline."""
    spec.check_cluster()
    if t is KANIKO_WARM:
        kaniko.check_warm(spec)  # the warmer's own input rule (git contexts need warm_images)
    else:
        spec.check_engine(t.engine)
    check_workspace(spec, workspace_pvc)
    # A git context is fetched by the builder, but the template mounts a workspace either way: the
    # Workflow gets an empty claim for it (and kaniko a cache claim) when none is named.
    if spec.workspace_pvc is None and workspace_pvc is None:
        _ensure_claim(WORKSPACE_CLAIM, DEFAULT_WORKSPACE_SIZE)
    if t.uses_cache_pvc and spec.kaniko_cache_pvc is None and cache_pvc is None:
        _ensure_claim(KANIKO_CACHE_CLAIM, DEFAULT_KANIKO_CACHE_SIZE)
    call: dict[str, Any] = {
        "name": name or _free_name(t.task),
        "arguments": arguments(t, spec, workspace_pvc=workspace_pvc, cache_pvc=cache_pvc),
    }
    if inline:
        call["template"] = container(t)
    else:
        call["template_ref"] = models.TemplateRef(name=t.name, template=t.name, cluster_scope=True if cluster_scope else None)
    as_step = kind == "step" if kind else _in_steps()
    return Step(**call) if as_step else Task(**call)


def _spec(helper: str, spec: object, fields: dict[str, Any]) -> BuildSpec:
    if spec is not None and not isinstance(spec, BuildSpec):
        raise TypeError(
            f"argo.{helper}() takes a BuildSpec, or its fields as keywords (images=[...], context=...); "
            f"got {type(spec).__name__} {spec!r}: write argo.{helper}(BuildSpec({spec!r}, ...)) or "
            f"argo.{helper}(images=[{spec!r}], ...)"
        )
    if spec is not None and fields:
        raise TypeError(f"give a BuildSpec or its fields, not both (got {', '.join(sorted(fields))})")
    return spec if spec is not None else BuildSpec(**fields)


def buildkit_build(spec: BuildSpec | None = None, /, *, name: str | None = None, inline: bool = False,
                   cluster_scope: bool = False, workspace_pvc: str | None = None,
                   kind: Literal["task", "step"] | None = None, **fields: Any) -> Node:  # fmt: skip
    """Build ``spec`` (or ``BuildSpec(**fields)``) with rootless BuildKit (template ``buildkit-build-v1``).

    ``name``: the task's (step's) name; by default ``buildkit-build``, then ``buildkit-build-2``, … for
    further builds in the same DAG or Steps. ``inline``: embed the template instead of ``templateRef``;
    ``cluster_scope``: reference the ClusterWorkflowTemplate; ``kind``: force a Task or a Step.
    """
    return node(BUILDKIT_BUILD, _spec("buildkit_build", spec, fields), name=name, inline=inline, cluster_scope=cluster_scope,
                workspace_pvc=workspace_pvc, kind=kind)  # fmt: skip


def kaniko_warm(spec: BuildSpec | None = None, /, *, name: str | None = None, inline: bool = False,
                cluster_scope: bool = False, workspace_pvc: str | None = None, cache_pvc: str | None = None,
                kind: Literal["task", "step"] | None = None, **fields: Any) -> Node:  # fmt: skip
    """Fill the kaniko cache volume with ``warm_images`` (or the Dockerfile's base images) (``kaniko-warm-v1``).

    Named ``kaniko-warm`` (``kaniko-warm-2``, … when taken) unless ``name`` is given; see :func:`buildkit_build`.
    """
    return node(KANIKO_WARM, _spec("kaniko_warm", spec, fields), name=name, inline=inline, cluster_scope=cluster_scope,
                workspace_pvc=workspace_pvc, cache_pvc=cache_pvc, kind=kind)  # fmt: skip


def kaniko_build(spec: BuildSpec | None = None, /, *, name: str | None = None, inline: bool = False,
                 cluster_scope: bool = False, workspace_pvc: str | None = None, cache_pvc: str | None = None,
                 kind: Literal["task", "step"] | None = None, **fields: Any) -> Node:  # fmt: skip
    """Build ``spec`` with the kaniko executor and its registry cache (``kaniko-build-v1``).

    Named ``kaniko-build`` (``kaniko-build-2``, … when taken) unless ``name`` is given; see :func:`buildkit_build`.
    """
    return node(KANIKO_BUILD, _spec("kaniko_build", spec, fields), name=name, inline=inline, cluster_scope=cluster_scope,
                workspace_pvc=workspace_pvc, cache_pvc=cache_pvc, kind=kind)  # fmt: skip


def buildah_build(spec: BuildSpec | None = None, /, *, name: str | None = None, inline: bool = False,
                  cluster_scope: bool = False, workspace_pvc: str | None = None,
                  kind: Literal["task", "step"] | None = None, **fields: Any) -> Node:  # fmt: skip
    """Build ``spec`` with buildah and its registry cache (``buildah-build-v1``).

    Named ``buildah-build`` (``buildah-build-2``, … when taken) unless ``name`` is given; see :func:`buildkit_build`.
    """
    return node(BUILDAH_BUILD, _spec("buildah_build", spec, fields), name=name, inline=inline, cluster_scope=cluster_scope,
                workspace_pvc=workspace_pvc, kind=kind)  # fmt: skip


BUILD_TEMPLATES: dict[Engine, BuildTemplate] = {"buildkit": BUILDKIT_BUILD, "kaniko": KANIKO_BUILD, "buildah": BUILDAH_BUILD}


def workflow(
    specs: BuildSpec | Sequence[BuildSpec],
    engine: Engine = "buildkit",
    *,
    inline: bool = False,
    cluster_scope: bool = False,
    name: str | None = None,
    generate_name: str = "cachebuild-",
    namespace: str | None = None,
    service_account: str | None = None,
    workspace_size: str = DEFAULT_WORKSPACE_SIZE,
    kaniko_cache_size: str = DEFAULT_KANIKO_CACHE_SIZE,
) -> Workflow:
    """A complete, submittable Workflow building every spec, in parallel, with one shared template.

    A spec builds from the PVC ``workspace_pvc`` names; only a git context may leave it out (the builder
    fetches the context; the template's workspace mount gets a claim the Workflow creates, ``workspace``,
    of ``workspace_size``). A kaniko spec without ``kaniko_cache_pvc`` gets the Workflow's ``kaniko-cache``
    claim; one that names ``warm_images`` gets a ``kaniko-warm`` task before its build. Given a
    sequence, an invalid spec's error is named ``specs[i].<field>``.
    """
    many = not isinstance(specs, BuildSpec)
    items = list(specs) if not isinstance(specs, BuildSpec) else [specs]
    if not items:
        raise SpecError("specs", [], "at least one build spec is required")
    if engine not in BUILD_TEMPLATES:
        raise SpecError("engine", engine, f"must be one of {', '.join(BUILD_TEMPLATES)}")
    check_batch(items, engine)
    build = BUILD_TEMPLATES[engine]
    for i, spec in enumerate(items):
        try:
            check_workspace(spec)
        except SpecError as err:
            raise err.renamed(f"specs[{i}].{err.field}") if many else err from None
    claims = []
    if any(s.workspace_pvc is None for s in items):
        claims.append(volume_claim(WORKSPACE_CLAIM, workspace_size, field="workspace_size"))
    if build.uses_cache_pvc and any(s.kaniko_cache_pvc is None for s in items):
        claims.append(volume_claim(KANIKO_CACHE_CLAIM, kaniko_cache_size, field="kaniko_cache_size"))
    with (
        Workflow(
            api_version="argoproj.io/v1alpha1",
            kind="Workflow",
            name=name,
            generate_name=None if name else generate_name,
            namespace=namespace,
            entrypoint=ENTRYPOINT,
            service_account_name=service_account,
            volume_claim_templates=claims or None,
            labels={"app.kubernetes.io/managed-by": "cachebuild"},
        ) as w,
        DAG(name=ENTRYPOINT),
    ):
        for i, spec in enumerate(items):
            suffix = f"-{i}" if len(items) > 1 else ""
            try:
                warm = None
                if build is KANIKO_BUILD and spec.warm_images:
                    warm = node(KANIKO_WARM, spec, name=f"warm{suffix}", inline=inline, cluster_scope=cluster_scope, kind="task")
                task = node(build, spec, name=f"build{suffix}", inline=inline, cluster_scope=cluster_scope, kind="task")
                if warm is not None:
                    warm >> task  # type: ignore[operator]
            except SpecError as err:
                raise err.renamed(f"specs[{i}].{err.field}") if many else err from None
    return w


def template_submission(spec: BuildSpec, engine: Engine = "buildkit") -> tuple[str, dict[str, str]]:
    """The installed WorkflowTemplate that builds ``spec`` with ``engine`` and its parameters.

    For ``POST /api/v1/workflows/{ns}/submit``: a WorkflowTemplate cannot create volume claims for
    a submission, so the spec must name an existing ``workspace_pvc`` (and, for kaniko, ``kaniko_cache_pvc``).
    """
    if engine not in BUILD_TEMPLATES:
        raise SpecError("engine", engine, f"must be one of {', '.join(BUILD_TEMPLATES)}")
    template = BUILD_TEMPLATES[engine]
    if spec.workspace_pvc is None:
        raise SpecError("workspace_pvc", None, "running an installed template needs an existing PVC with the build context")
    if template.uses_cache_pvc and spec.kaniko_cache_pvc is None:
        raise SpecError("kaniko_cache_pvc", None, "running the installed kaniko template needs an existing cache PVC")
    spec.check_engine(engine)
    return template.name, arguments(template, spec)
