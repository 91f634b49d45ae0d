"""``cachebuild workflow``: print an Argo Workflow (``--on argo``) or a Tekton PipelineRun (``--on tekton``).

The output goes to stdout as YAML, ready for ``argo submit -`` or ``kubectl create -f -``.
Invalid input prints the field-named error, exits 2 and prints nothing to stdout.

The options for a control plane live here too (``cachebuild submit`` shares them): :mod:`cachebuild.argo`
and :mod:`cachebuild.tekton` are libraries and hold no argparse code. An option that does not apply to
the control plane, the engine or the mode chosen is an error naming it (:func:`check_options`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from cachebuild.commands.spec_args import add_spec_arguments, check_engine_flags, specs_from_args, translate
from cachebuild.errors import SpecError
from cachebuild.spec import ENGINES, LOCAL_ONLY, BuildSpec

# cachebuild.argo imports hera; these defaults are repeated here so `--help` stays fast (a test checks they agree).
DEFAULT_WORKSPACE_SIZE = "1Gi"
DEFAULT_KANIKO_CACHE_SIZE = "5Gi"
DEFAULT_GENERATE_NAME = "cachebuild-"

# argo.workflow() keyword → the flag that sets it, for field-named errors.
_ARGO_FLAGS = {"workspace_size": "--workspace-size", "kaniko_cache_size": "--kaniko-cache-size"}

ONLY_ON: dict[str, str] = {
    "cluster_scope": "argo",
    "workspace_size": "argo",
    "kaniko_cache_size": "argo",
    "tekton_ref": "tekton",
    "tekton_git_url": "tekton",
    "tekton_git_revision": "tekton",
}
"""Option (its ``dest``) → the only control plane that reads it; ``cachebuild submit`` adds its connections."""

_PLANE = {"argo": "an Argo", "tekton": "a Tekton"}

Warn = Callable[[str], None]


def _warn_stderr(text: str) -> None:
    print(f"cachebuild: warning: {text}", file=sys.stderr)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_cluster_arguments(
        parser, namespace_help="metadata.namespace of the printed object (default: none; argo and kubectl choose)"
    )


def add_cluster_arguments(parser: argparse.ArgumentParser, *, namespace_help: str) -> None:
    """The options of ``workflow`` and ``submit``: the control plane, the engine, the spec flags."""
    parser.add_argument("--on", choices=("argo", "tekton"), default="argo", help="the control plane (default argo)")
    parser.add_argument("--engine", choices=ENGINES, default="buildkit", help="the builder (default buildkit)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--ref",
        dest="inline",
        action="store_false",
        help="reference what is installed: the (Cluster)WorkflowTemplates, or the Tasks (default)",
    )
    mode.add_argument("--inline", dest="inline", action="store_true", help="embed the template/Task definitions")
    parser.set_defaults(inline=False)
    parser.add_argument("--namespace", help=namespace_help)
    parser.add_argument("--generate-name", metavar="PREFIX", help=f"metadata.generateName (default {DEFAULT_GENERATE_NAME})")
    parser.add_argument(
        "--service-account", metavar="NAME", help="the ServiceAccount the builds run as (default: the namespace's default)"
    )
    parser.add_argument("--tekton-service-account", dest="service_account", help=argparse.SUPPRESS)  # its 0.1 name
    add_argo_arguments(parser.add_argument_group("argo (--on argo)"))
    add_tekton_arguments(parser.add_argument_group("tekton (--on tekton)"))
    add_spec_arguments(parser, omit=LOCAL_ONLY)


def add_argo_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--cluster-scope", action="store_true", help="reference the ClusterWorkflowTemplates instead of the namespaced ones"
    )
    group.add_argument(
        "--workspace-size",
        metavar="QTY",
        help=f"size of the empty workspace claim a git context without --workspace-pvc gets (default {DEFAULT_WORKSPACE_SIZE})",
    )
    group.add_argument(
        "--kaniko-cache-size",
        metavar="QTY",
        help=f"kaniko: size of the cache claim made without --kaniko-cache-pvc (default {DEFAULT_KANIKO_CACHE_SIZE})",
    )


def add_tekton_arguments(group: argparse._ArgumentGroup) -> None:
    from cachebuild.tekton.pipelines import DEFAULT_GIT_REVISION, DEFAULT_GIT_URL

    group.add_argument(
        "--tekton-ref",
        choices=("installed", "git"),
        help="how --ref names the Tasks: installed (taskRef by name, as kubectl apply installs them; the default) "
        "or git (the git resolver: --tekton-git-url, --tekton-git-revision)",
    )
    group.add_argument(
        "--tekton-git-url",
        metavar="URL",
        help=f"git resolver: your clone or fork of cachebuild, which holds tasks/ (default {DEFAULT_GIT_URL}, a "
        "placeholder); implies --tekton-ref git",
    )
    group.add_argument(
        "--tekton-git-revision",
        metavar="REV",
        help=f"git resolver: the revision (default {DEFAULT_GIT_REVISION}); implies --tekton-ref git",
    )


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def _given(args: argparse.Namespace, dest: str) -> bool:
    return getattr(args, dest, None) not in (None, False)


def _shown(args: argparse.Namespace, dest: str) -> object:
    value = getattr(args, dest, None)
    return None if value is True else value


def check_options(args: argparse.Namespace, only_on: dict[str, str] = ONLY_ON) -> None:
    """Options that do not apply to ``--on``, ``--engine`` or ``--inline``: each is an error naming it."""
    for dest, plane in only_on.items():
        if _given(args, dest) and args.on != plane:
            raise SpecError(_flag(dest), _shown(args, dest), f"{_PLANE[plane]} option: it does not apply to --on {args.on}")
    if args.inline and args.cluster_scope:
        raise SpecError("--cluster-scope", None, "references installed ClusterWorkflowTemplates: --inline references none")
    for dest in ("tekton_ref", "tekton_git_url", "tekton_git_revision"):
        if args.inline and _given(args, dest):
            raise SpecError(_flag(dest), _shown(args, dest), "says how to reference installed Tasks: --inline embeds them")
    if args.tekton_ref == "installed":
        for dest in ("tekton_git_url", "tekton_git_revision"):
            if _given(args, dest):
                raise SpecError(_flag(dest), _shown(args, dest), "is for --tekton-ref git, not --tekton-ref installed")
    if args.kaniko_cache_size is not None and args.engine != "kaniko":
        raise SpecError(
            "--kaniko-cache-size", args.kaniko_cache_size, f"only the kaniko engine has a cache claim, not {args.engine}"
        )
    check_engine_flags(args, args.engine)


def _check_claim_sizes(args: argparse.Namespace, specs: list[BuildSpec]) -> None:
    """A claim size for a claim no build needs would be ignored."""
    if args.workspace_size is not None and all(s.workspace_pvc is not None or s.git is None for s in specs):
        raise SpecError(
            "--workspace-size",
            args.workspace_size,
            "no workspace claim is made: only a git context without --workspace-pvc gets one",
        )
    if args.kaniko_cache_size is not None and all(s.kaniko_cache_pvc is not None for s in specs):
        raise SpecError(
            "--kaniko-cache-size", args.kaniko_cache_size, "no cache claim is made: every build names --kaniko-cache-pvc"
        )


def argo_manifest(args: argparse.Namespace, specs: list[BuildSpec]) -> dict[str, Any]:
    """The Workflow as a mapping; invalid input raises :class:`~cachebuild.errors.SpecError` naming the flag."""
    from cachebuild.argo import workflow

    _check_claim_sizes(args, specs)
    try:
        w = workflow(
            specs,
            args.engine,
            inline=args.inline,
            cluster_scope=args.cluster_scope,
            generate_name=args.generate_name or DEFAULT_GENERATE_NAME,
            namespace=args.namespace,
            service_account=args.service_account,
            workspace_size=args.workspace_size or DEFAULT_WORKSPACE_SIZE,
            kaniko_cache_size=args.kaniko_cache_size or DEFAULT_KANIKO_CACHE_SIZE,
        )
    except SpecError as err:
        raise translate(err, args, extra=_ARGO_FLAGS) from None
    return w.to_dict()  # type: ignore[no-any-return]


def task_origin(args: argparse.Namespace, warn: Warn = _warn_stderr) -> Any:
    """Where the PipelineRun's Tasks come from: embedded, installed (by name) or the git resolver."""
    from cachebuild.tekton.pipelines import DEFAULT_GIT_REVISION, DEFAULT_GIT_URL, TaskOrigin

    if args.inline:
        return TaskOrigin("inline")
    if args.tekton_ref == "git" or (args.tekton_ref is None and (args.tekton_git_url or args.tekton_git_revision)):
        url = args.tekton_git_url or DEFAULT_GIT_URL
        if url == DEFAULT_GIT_URL:
            warn(
                f"the git resolver URL {DEFAULT_GIT_URL} is a placeholder, not a repository that holds the Tasks: "
                "give your clone or fork of cachebuild with --tekton-git-url URL (or reference installed Tasks: "
                "--tekton-ref installed)"
            )
        return TaskOrigin("git", url, args.tekton_git_revision or DEFAULT_GIT_REVISION)
    return TaskOrigin("name")


def tekton_manifest(args: argparse.Namespace, specs: list[BuildSpec], warn: Warn = _warn_stderr) -> dict[str, Any]:
    """The PipelineRun for ``specs``: Tasks installed (by name), from the git resolver, or embedded (``--inline``)."""
    from cachebuild.tekton import pipeline_run

    try:
        return pipeline_run(
            specs,
            args.engine,
            task_origin(args, warn),
            namespace=args.namespace,
            service_account=args.service_account,
            generate_name=args.generate_name or DEFAULT_GENERATE_NAME,
        )
    except SpecError as err:
        raise translate(err, args) from None


def manifest(args: argparse.Namespace, warn: Warn = _warn_stderr) -> dict[str, object]:
    """The Workflow or PipelineRun the arguments ask for (validated input only)."""
    check_options(args)
    specs = specs_from_args(args)
    return argo_manifest(args, specs) if args.on == "argo" else tekton_manifest(args, specs, warn)


def unknown_flag_hint(flag: str) -> str | None:
    """Why a flag of ``cachebuild build`` is not one of these commands'."""
    local = {
        "--workspace": "a local folder is for cachebuild build; on a cluster the context is in --workspace-pvc or git",
        "--docker-config": "a local file is for cachebuild build; on a cluster credentials come from --docker-config-secret NAME",
        "--fresh": "for cachebuild build (a new pod always starts with an empty layer store)",
        "--start-registry": "for cachebuild build",
    }
    return local.get(flag)


def run(args: argparse.Namespace) -> int:
    from cachebuild.yamltext import dump_yaml

    text = dump_yaml(manifest(args), header=False)  # raises SpecError before anything is printed
    sys.stdout.write(text)
    return 0
