"""``workflows/README.md``: the user documentation of the Argo templates, rendered from their definitions.

Parameter, output and volume tables come from the rendered templates (:func:`template_dict`); the
examples are built with :func:`~cachebuild.argo.compose.arguments`, so they name exactly the
parameters the templates declare. Every YAML example must validate strictly and the Hera snippet
must run (``tests/test_docs.py``).
"""

from __future__ import annotations

from typing import Any

from cachebuild.argo.compose import arguments
from cachebuild.argo.templates import (
    BUILDAH_BUILD,
    BUILDKIT_BUILD,
    CACHE_MOUNTS_PARAM,
    KANIKO_BUILD,
    KANIKO_WARM,
    MAIN_CONTAINER,
    RESOURCE_PARAMS,
    TEMPLATES,
    BuildTemplate,
    catalog_annotations,
    template_dict,
)
from cachebuild.builders import buildah, buildkit, kaniko
from cachebuild.markdown import cell, code, default_cell, fenced, table
from cachebuild.spec import BuildSpec

_IMAGE = "registry.example.com/team/app:1.0"
_SECRET = "registry-credentials"  # noqa: S105 (a Secret name)
_WORKSPACE_PVC = "app-source"
_CACHE_PVC = "kaniko-cache"
_APPARMOR_ANNOTATION = f"container.apparmor.security.beta.kubernetes.io/{MAIN_CONTAINER}"

POD_SECURITY_WHY: dict[str, str] = {
    BUILDKIT_BUILD.task: (
        f"Rootless BuildKit runs as uid/gid {buildkit.RUN_AS} (`runAsNonRoot`) and never sets `privileged: true`, "
        "but it creates user namespaces and mounts, which the default seccomp and AppArmor profiles block: the "
        "container sets `seccompProfile` and `appArmorProfile` to `Unconfined` (with "
        f"the launcher passes buildkitd `{buildkit.ROOTLESS_FLAG}` when it runs as a user other than root, and an "
        f"emptyDir holds its state at `{buildkit.STATE_DIR}`), "
        "and the `baseline` level forbids Unconfined profiles. So the namespace needs the Pod Security level "
        "`privileged` (the level, not a privileged container)."
    ),
    KANIKO_WARM.task: (
        "The kaniko warmer runs as root inside its container (the kaniko image's user) to write the cache volume; "
        "no privileged container, no added capabilities, default seccomp and AppArmor profiles. `restricted` "
        "forbids root."
    ),
    KANIKO_BUILD.task: (
        "The kaniko executor runs as root inside its container and unpacks the image's filesystem there; no "
        "privileged container, no added capabilities, default seccomp and AppArmor profiles. `restricted` forbids "
        "root."
    ),
    BUILDAH_BUILD.task: (
        "buildah runs as root inside its container with `--isolation chroot` and the `vfs` storage driver (an "
        "emptyDir at `/var/lib/containers`), so it needs no privileged container and no user namespaces. "
        "`restricted` forbids root. `RUN` instructions mount `/proc` and `/sys` inside the chroot; a container "
        "runtime whose default seccomp profile or capability set refuses those mounts makes `RUN` fail with "
        "`operation not permitted`, and then the container needs `SYS_ADMIN` (Pod Security `privileged`). This has "
        "not been verified on every runtime."
    ),
}


def _spec(t: BuildTemplate) -> BuildSpec:
    """The spec every example of ``t`` builds: existing PVCs, a credentials Secret, a registry cache."""
    return BuildSpec(
        _IMAGE,
        context="app",
        cache_repo="registry.example.com/team/app/cache",
        build_args={"VERSION": "1.0"},
        docker_config_secret=_SECRET,
        workspace_pvc=_WORKSPACE_PVC,
        kaniko_cache_pvc=_CACHE_PVC if t.uses_cache_pvc else None,
        warm_images=("docker.io/library/golang:1.23",) if t.engine == "kaniko" else (),
    )


def _call(t: BuildTemplate, name: str, *, cluster_scope: bool = False, depends: str | None = None) -> dict[str, Any]:
    """A DAG task calling ``t`` by ``templateRef`` with the example spec's arguments."""
    ref: dict[str, Any] = {"name": t.name, "template": t.name}
    if cluster_scope:
        ref["clusterScope"] = True
    task: dict[str, Any] = {"name": name, "templateRef": ref}
    if depends:
        task["depends"] = depends
    params = arguments(t, _spec(t))
    task["arguments"] = {"parameters": [{"name": k, "value": v} for k, v in params.items()]}
    return task


def _workflow(generate_name: str, tasks: list[dict[str, Any]], extra: list[dict[str, Any]]) -> dict[str, Any]:
    main = {"name": "main", "dag": {"tasks": tasks}}
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": generate_name},
        "spec": {"entrypoint": "main", "templates": [main, *extra]},
    }


def namespaced_example() -> dict[str, Any]:
    """A caller Workflow: buildkit-build-v1 by templateRef, then a task that reads its outputs."""
    show = {
        "name": "show-image",
        "inputs": {"parameters": [{"name": "url"}, {"name": "digest"}]},
        "container": {
            "image": "docker.io/library/busybox:1.36",
            "command": ["echo"],
            "args": ["built {{inputs.parameters.url}}@{{inputs.parameters.digest}}"],
        },
    }
    use = {
        "name": "show-image",
        "depends": "build",
        "template": "show-image",
        "arguments": {
            "parameters": [
                {"name": "url", "value": "{{tasks.build.outputs.parameters.image-url}}"},
                {"name": "digest", "value": "{{tasks.build.outputs.parameters.image-digest}}"},
            ]
        },
    }
    return _workflow("build-app-", [_call(BUILDKIT_BUILD, "build"), use], [show])


def cluster_scope_example() -> dict[str, Any]:
    """A caller Workflow: kaniko-warm-v1 then kaniko-build-v1 from the ClusterWorkflowTemplates."""
    tasks = [
        _call(KANIKO_WARM, "warm", cluster_scope=True),
        _call(KANIKO_BUILD, "build", cluster_scope=True, depends="warm"),
    ]
    return _workflow("build-app-kaniko-", tasks, [])


HERA_EXAMPLE = f'''\
from hera.workflows import DAG, Workflow

from cachebuild import BuildSpec, argo

spec = BuildSpec(
    "{_IMAGE}",
    context="app",
    warm_images=["docker.io/library/golang:1.23"],
    workspace_pvc="{_WORKSPACE_PVC}",
    kaniko_cache_pvc="{_CACHE_PVC}",
    docker_config_secret="{_SECRET}",
)

with Workflow(generate_name="build-app-", entrypoint="main") as w:
    with DAG(name="main"):
        argo.kaniko_warm(spec) >> argo.kaniko_build(spec)  # templateRef to the installed templates
        # argo.kaniko_build(spec, inline=True) embeds the template instead;
        # cluster_scope=True references the ClusterWorkflowTemplates.

print(w.to_yaml())
'''

SPECS_FILE = """\
- image: registry.example.com/team/api:1.0
  context: services/api
- image: [registry.example.com/team/web:1.0, registry.example.com/team/web:latest]
  context: services/web
  build-args: {NODE_VERSION: "22"}
"""


def _yaml(manifest: dict[str, Any]) -> list[str]:
    from cachebuild.yamltext import dump_yaml

    return fenced("yaml", dump_yaml(manifest, header=False))


def _param_table(template: dict[str, Any]) -> list[str]:
    rows = [
        [code(p["name"]), default_cell(p.get("default")), cell(p.get("description", ""))]
        for p in template["inputs"]["parameters"]
    ]
    return table(["name", "default", "description"], rows)


def _outputs(template: dict[str, Any]) -> list[str]:
    outputs = template.get("outputs", {}).get("parameters", [])
    if not outputs:
        return ["None (the warmer only fills the cache volume)."]
    rows = [[code(p["name"]), code(p["valueFrom"]["path"]), cell(p.get("description", ""))] for p in outputs]
    lines = table(["output parameter", "read from", "description"], rows)
    lines += [
        "",
        'Each has the default `""`, so a caller that reads it never breaks on a missing file. Read them as '
        "`{{tasks.NAME.outputs.parameters.image-digest}}` (DAG) or `{{steps.NAME.outputs.parameters.image-digest}}` "
        "(Steps).",
    ]
    return lines


def _volumes(template: dict[str, Any]) -> list[str]:
    """The volumes a caller provides (by parameter) and those the template makes itself."""
    mounts = {m["name"]: m for m in template["container"]["volumeMounts"]}
    provided, internal = [], []
    for volume in template["volumes"]:
        mount = mounts[volume["name"]]
        where = f"mounted at `{mount['mountPath']}`{' read-only' if mount.get('readOnly') else ''}"
        if "persistentVolumeClaim" in volume:
            param = volume["persistentVolumeClaim"]["claimName"].removeprefix("{{inputs.parameters.").removesuffix("}}")
            provided.append(f"- a PersistentVolumeClaim named by `{param}`, {where} (required)")
        elif "projected" in volume:
            first = volume["projected"]["sources"][0]
            source = (first.get("secret") or first["configMap"])["name"]
            param = source.removeprefix("{{inputs.parameters.").removesuffix("}}")
            if "configMap" in first:
                provided.append(
                    f"- a ConfigMap or a Secret named by `{param}` holding CA certificates (`*.crt`, `*.pem`), {where} (optional)"
                )
            else:
                provided.append(
                    f"- a Secret named by `{param}`, {where} as `config.json` (optional: either kind of Secret, see Notes)"
                )
        elif "emptyDir" in volume:
            internal.append(f"`{mount['mountPath']}`")
    lines = ["The caller provides:", "", *provided]
    if internal:
        lines += ["", f"The template makes its own emptyDirs for {', '.join(internal)}."]
    return lines


def _template_section(t: BuildTemplate) -> list[str]:
    template = template_dict(t)
    level = catalog_annotations(t)["cachebuild.dev/pod-security"]
    files = f"`workflows/{t.task}.yaml` (WorkflowTemplate) and `workflows/{t.task}-cluster.yaml` (ClusterWorkflowTemplate)"
    return [
        f"## {t.name}",
        "",
        t.description,
        "",
        f"Template `{t.name}` in {files}.",
        "",
        f"**Pod Security: `{level}`.** {POD_SECURITY_WHY[t.task]}",
        "",
        "### Input parameters",
        "",
        *_param_table(template),
        "",
        "### Remote cache",
        "",
        CACHE_NOTES.get(t.engine, "") if t.task != "kaniko-warm" else "None: it fills the kaniko cache volume.",
        "",
        "### Cache mounts",
        "",
        _cache_mounts(t),
        "",
        "### Outputs",
        "",
        *_outputs(template),
        "",
        "### Volumes",
        "",
        *_volumes(template),
        "",
    ]


CACHE_NOTES = {"buildkit": buildkit.CACHE_NOTES, "kaniko": kaniko.CACHE_NOTES, "buildah": buildah.CACHE_NOTES}
CACHE_MOUNT_NOTES = {
    "buildkit": buildkit.CACHE_MOUNT_NOTES,
    "kaniko": kaniko.CACHE_MOUNT_NOTES,
    "buildah": buildah.CACHE_MOUNT_NOTES,
}


def _cache_mounts(t: BuildTemplate) -> str:
    if t.task == "kaniko-warm":
        return "None: the warmer runs no Dockerfile step."
    if t.cache_mounts is None:
        return CACHE_MOUNT_NOTES[t.engine]
    return (
        f"`RUN --mount=type=cache` directories last one build (an emptyDir) unless `{CACHE_MOUNTS_PARAM}` names a "
        "PersistentVolumeClaim that keeps them (`podSpecPatch` puts the claim in the emptyDir's place; it may be "
        f"the workspace claim). {CACHE_MOUNT_NOTES[t.engine]}"
    )


def _resource_params() -> str:
    return ", ".join(f"`{name}` ({default})" for name, _, _, default in RESOURCE_PARAMS)


def readme() -> str:
    """The text of ``workflows/README.md``."""
    names = ", ".join(f"`{t.name}`" for t in TEMPLATES)
    lines = [
        "# cachebuild Argo Workflows templates",
        "",
        f"Four reusable build templates for Argo Workflows ({names}), each as a `WorkflowTemplate` "
        "(`<task>.yaml`) and a `ClusterWorkflowTemplate` (`<task>-cluster.yaml`). Template names carry the major "
        "version: a `-v2` will not change what `-v1` does. Every template declares the volumes it mounts itself "
        "(claim and Secret names are parameters), so it works when called by `templateRef` from any Workflow.",
        "",
        "Generated by `cachebuild render` from `python/cachebuild/argo/`; do not edit by hand "
        "(`cachebuild render --check` fails on a stale or edited file).",
        "",
        "## Install",
        "",
        "From a clone of cachebuild, into the namespace your Workflows run in (the ClusterWorkflowTemplates "
        "need cluster-wide rights):",
        "",
        *fenced("sh", "kubectl apply -k workflows/ -n ci"),
        "",
        "or one at a time with the Argo CLI:",
        "",
        *fenced(
            "sh",
            "argo template create -n ci workflows/kaniko-build.yaml\n"
            "argo cluster-template create workflows/kaniko-build-cluster.yaml",
        ),
        "",
        "Run one template alone (each is its own entrypoint):",
        "",
        *fenced(
            "sh",
            "argo submit -n ci --from workflowtemplate/buildkit-build-v1 \\\n"
            "  -p image=registry.example.com/team/app:1.0 -p cache-repo=registry.example.com/team/app/cache \\\n"
            "  -p workspace-pvc=app-source -p context=app",
        ),
        "",
        "## Calling a template from your Workflow",
        "",
        "By `templateRef` to the namespaced WorkflowTemplate; a second task reads the outputs:",
        "",
        *_yaml(namespaced_example()),
        "",
        "From the ClusterWorkflowTemplates (`clusterScope: true`): warm kaniko's base-image cache, then build:",
        "",
        *_yaml(cluster_scope_example()),
        "",
        "Lists (`image`, `build-args`, `platforms`, `labels`, `warm-images`, `extra-args`) are one item a line; "
        "each item becomes exactly one argument of the builder, never shell code.",
        "",
        "## From Python (Hera)",
        "",
        "`argo.buildkit_build`, `argo.kaniko_warm`, `argo.kaniko_build` and `argo.buildah_build` take a `BuildSpec` "
        "(or its fields as keyword arguments) and return a Hera Task inside a `DAG` (a Step inside `Steps`). Each "
        "is named after its template, `buildkit-build`, and a second one in the same DAG `buildkit-build-2` (and so "
        "on) unless `name=` names it. A spec whose context is a path needs `workspace_pvc`; one with a git context "
        "and none gets an empty `workspace` claim added to the Workflow (a kaniko build without `kaniko_cache_pvc` a "
        "`kaniko-cache` claim):",
        "",
        *fenced("python", HERA_EXAMPLE),
        "",
        '`argo.workflow(specs, "kaniko")` makes a complete Workflow for one or many specs (volume claims included).',
        "",
        "## From the command line",
        "",
        "`cachebuild workflow` prints a complete Workflow (by `templateRef`; `--inline` embeds the templates for a "
        "cluster where nothing is installed; `--cluster-scope` uses the ClusterWorkflowTemplates):",
        "",
        *fenced(
            "sh",
            "cachebuild workflow --engine kaniko --image registry.example.com/team/app:1.0 --context app \\\n"
            f"  --workspace-pvc {_WORKSPACE_PVC} --warm-image docker.io/library/golang:1.23 \\\n"
            "  --docker-config-secret registry-credentials | argo submit -n ci -\n"
            f"cachebuild workflow --specs builds.yaml --workspace-pvc {_WORKSPACE_PVC} \\\n"
            "  --docker-config-secret registry-credentials | argo submit -n ci -",
        ),
        "",
        "with `builds.yaml` a list of build specs (the flags' names; the flags are defaults for every item):",
        "",
        *fenced("yaml", SPECS_FILE),
        "",
        "`--workspace-pvc` names the PersistentVolumeClaim that holds the build context; a context that is a "
        "path needs it (the command refuses to print a Workflow that would build from an empty volume). A git "
        "context (`https://host/repo.git#ref:subdir`) is fetched by the builder: without `--workspace-pvc` the "
        "Workflow creates an empty ReadWriteOnce claim for the templates' workspace mount (`--workspace-size`). "
        "Without `--kaniko-cache-pvc` a kaniko Workflow creates its cache claim (`--kaniko-cache-size`).",
        "",
    ]
    for t in TEMPLATES:
        lines += _template_section(t)
    lines += [
        "## Notes",
        "",
        "- **Credentials are optional.** `docker-config-secret` defaults to `cachebuild-docker-config`; when no "
        "such Secret exists the credentials volume is empty and the builder pushes anonymously. Both kinds of "
        "Secret work: `kubernetes.io/dockerconfigjson` (key `.dockerconfigjson`) and a generic Secret with key "
        "`config.json`; either is mounted read-only as `config.json` and never reaches a parameter, argument or "
        "log.",
        "- **Shared ReadWriteOnce claims.** Parallel builds that share a ReadWriteOnce workspace claim (or kaniko "
        "cache claim) must run on one node: a pod on another node cannot attach the volume and waits. Keep them "
        "together (`nodeSelector` or affinity on the Workflow), or use a ReadWriteMany claim to spread builds "
        "across nodes.",
        f"- **Resources** are set through `podSpecPatch` from the parameters {_resource_params()}: override them "
        "as arguments (`-p memory-limit=8Gi`). Kubernetes quantities in `container.resources` cannot hold a "
        "`{{inputs.parameters.…}}` placeholder, which is why they are a patch.",
        f"- **AppArmor on older clusters.** `securityContext.appArmorProfile` exists from Kubernetes 1.30; an older "
        f"API server drops it. `buildkit-build-v1` therefore also sets the pod annotation "
        f"`{_APPARMOR_ANNOTATION}: unconfined` (Argo always names the template's container `{MAIN_CONTAINER}`), "
        "which older clusters honour; on 1.30 and later both say the same, and the API server may warn that the "
        "annotation is deprecated. Nodes without AppArmor ignore both.",
        "- **Git contexts** (`https://host/repo.git#ref:subdir`) are fetched by the builder, but `workspace-pvc` is "
        "still required (it is mounted either way): `argo.workflow`, `cachebuild workflow` and the Hera helpers "
        "inside a `Workflow` add an empty `workspace` claim for it when the spec names none. A context that is a "
        "path is only ever built from a `workspace_pvc` (`--workspace-pvc`) the caller names.",
        "- kaniko builds one platform a run; BuildKit and buildah take several (`platforms`).",
        "",
        "The Tekton Tasks are documented in `tasks/<name>/0.1/README.md`.",
        "",
    ]
    return "\n".join(lines)
