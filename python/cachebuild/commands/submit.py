"""``cachebuild submit``: create the builds on Argo or Tekton, print the name, optionally wait.

Exit codes: 0 succeeded (or submitted, without ``--wait``), 1 the build failed or the control plane
refused, 2 bad input, 3 timed out. Tokens and credentials are never printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, TextIO

from cachebuild.commands import workflow as workflow_command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    workflow_command.add_arguments(parser)
    argo = parser.add_argument_group("argo connection")
    argo.add_argument("--argo-server", metavar="URL", help="Argo Server address, e.g. https://argo.example.com:2746")
    argo.add_argument("--token", help="bearer token (default: $ARGO_TOKEN); prefer the variable, it stays out of ps")
    argo.add_argument("--insecure-skip-verify", action="store_true", help="do not verify the server's TLS certificate")
    argo.add_argument("--ca-bundle", metavar="FILE", help="verify the server's TLS certificate with this CA bundle")
    argo.add_argument(
        "--from-template",
        action="store_true",
        help="run the installed WorkflowTemplate (one Workflow per image) instead of creating a Workflow",
    )
    kube = parser.add_argument_group("tekton connection")
    kube.add_argument("--kubeconfig", metavar="FILE", help="kubeconfig (default: $KUBECONFIG or ~/.kube/config)")
    kube.add_argument("--kube-context", metavar="NAME", help="kubeconfig context")
    kube.add_argument("--in-cluster", action="store_true", help="use the pod's service account")
    run = parser.add_argument_group("waiting")
    run.add_argument("--wait", action="store_true", help="wait for the builds and print their digests")
    run.add_argument("--timeout", type=float, default=3600, metavar="SECONDS", help="give up waiting after this (default 3600)")
    run.add_argument("--poll-interval", type=float, default=2.0, metavar="SECONDS", help=argparse.SUPPRESS)
    run.add_argument("--output", choices=("text", "json"), default="text", help="json: the result as JSON on stdout")


class ProgressPrinter:
    """Each build's phase and the elapsed time: one live line on a terminal, a line per change otherwise."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.live = stream.isatty()
        self._last = ""

    def __call__(self, status: Any, elapsed: float) -> None:
        steps = ", ".join(f"{s.step}: {s.phase or 'waiting'}" for s in status.images)
        text = f"{status.name}: {status.phase or 'submitted'}" + (f" ({steps})" if steps else "")
        if self.live:
            self.stream.write(f"\r\x1b[2K[{elapsed:6.0f}s] {text}")
            if status.done:
                self.stream.write("\n")
        elif text != self._last:
            self.stream.write(f"[{elapsed:6.0f}s] {text}\n")
        self.stream.flush()
        self._last = text


def _argo_builds(args: argparse.Namespace) -> list[Any]:
    from cachebuild.submit import ArgoClient, Retry, SubmitError

    if not args.argo_server:
        raise SubmitError("--argo-server is required with --on argo", status=2)
    token = args.token or os.environ.get("ARGO_TOKEN")
    verify: bool | str = False if args.insecure_skip_verify else (args.ca_bundle or True)
    client = ArgoClient(args.argo_server, token=token, namespace=args.namespace or "argo", verify=verify)
    deadline = min(args.timeout, 300)
    if args.from_template:
        from cachebuild.commands.spec_args import specs_from_args, translate
        from cachebuild.errors import SpecError
        from cachebuild.submit import submit_argo_templates

        try:
            return submit_argo_templates(
                client, specs_from_args(args), args.engine, cluster_scope=args.cluster_scope, create_deadline=deadline
            )
        except SpecError as err:
            raise translate(err, args) from None
    return [client.create(workflow_command.manifest(args), retry=Retry.within(deadline))]


def _tekton_builds(args: argparse.Namespace) -> list[Any]:
    from cachebuild.submit import Retry, TektonClient

    client = TektonClient(
        kubeconfig=args.kubeconfig, context=args.kube_context, namespace=args.namespace, in_cluster=args.in_cluster
    )
    return [client.create(workflow_command.manifest(args), retry=Retry.within(min(args.timeout, 300)))]


def run(args: argparse.Namespace) -> int:
    from cachebuild.submit import BuildTimeout, SubmitError

    out, err = sys.stdout, sys.stderr
    try:
        builds = _argo_builds(args) if args.on == "argo" else _tekton_builds(args)
    except BuildTimeout as exc:
        print(f"cachebuild: {exc}", file=err)
        return 3
    except SubmitError as exc:
        print(f"cachebuild: error: {exc}", file=err)
        return 2 if exc.status in (2, 400, 422) else 1
    for build in builds:
        print(f"submitted {build.name}", file=err if args.output == "json" else out, flush=True)
    if not args.wait:
        if args.output == "json":
            json.dump({"submitted": [b.name for b in builds]}, out)
            out.write("\n")
        return 0
    results, code = [], 0
    for build in builds:
        try:
            result = build.wait(args.timeout, poll_interval=args.poll_interval, on_progress=ProgressPrinter(err))
        except BuildTimeout as exc:
            print(f"cachebuild: {exc}", file=err)
            return 3
        except SubmitError as exc:
            print(f"cachebuild: error: {exc}", file=err)
            return 1
        results.append(result)
        if not result.succeeded:
            code = 1
    if args.output == "json":
        json.dump([r.to_dict() for r in results], out, indent=2)
        out.write("\n")
        return code
    for result in results:
        for image in result.images:
            if image.digest:
                print(f"{image.url}@{image.digest}", file=out)
        if not result.succeeded:
            failed = result.failed_step
            where = f" in {failed.step}: {failed.message}" if failed else ""
            print(f"cachebuild: {result.name} {result.phase}{where}{' — ' + result.message if result.message else ''}", file=err)
        else:
            took = f" in {result.duration:.0f}s" if result.duration is not None else ""
            print(f"{result.name} succeeded{took}", file=err)
    return code
