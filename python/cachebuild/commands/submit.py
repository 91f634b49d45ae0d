"""``cachebuild submit``: create the builds on Argo or Tekton, print the name, optionally wait.

Exit codes: 0 succeeded (or submitted, without ``--wait``), 1 the build failed, the control plane
refused, or it cannot be reached (refused connection, unknown name, TLS failure: said at once, not
retried), 2 bad input (nothing is sent), 3 timed out. Tokens and credentials are never printed.
With ``--output json`` an error is also printed on stdout as ``{"error": {...}, "submitted": [...]}``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import Any, TextIO

from cachebuild.commands import EXIT_FAILED, EXIT_OK, EXIT_TIMEOUT, EXIT_USAGE
from cachebuild.commands import workflow as workflow_command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    workflow_command.add_cluster_arguments(
        parser,
        namespace_help="the namespace to create the builds in (default: argo with --on argo; with --on tekton the "
        "kubeconfig context's namespace, else default)",
    )
    argo = parser.add_argument_group("argo connection (--on argo)")
    argo.add_argument("--argo-server", metavar="URL", help="the Argo Server's URL, e.g. https://argo.example.com:2746")
    argo.add_argument("--token", help="bearer token (default: $ARGO_TOKEN); prefer the variable, it stays out of ps")
    argo.add_argument("--insecure-skip-verify", action="store_true", help="do not verify the server's TLS certificate")
    argo.add_argument("--ca-bundle", metavar="FILE", help="verify the server's TLS certificate with this CA bundle")
    argo.add_argument(
        "--from-template",
        action="store_true",
        help="run the installed WorkflowTemplate (one Workflow per image) instead of creating a Workflow",
    )
    kube = parser.add_argument_group("tekton connection (--on tekton)")
    kube.add_argument("--kubeconfig", metavar="FILE", help="kubeconfig (default: $KUBECONFIG or ~/.kube/config)")
    kube.add_argument("--kube-context", metavar="NAME", help="kubeconfig context (default: its current-context)")
    kube.add_argument("--in-cluster", action="store_true", help="use the pod's service account")
    run = parser.add_argument_group("waiting")
    run.add_argument("--wait", action="store_true", help="wait for the builds and print their digests")
    run.add_argument(
        "--timeout",
        type=float,
        default=3600,
        metavar="SECONDS",
        help="give up waiting after this (default 3600; a create retries at most 300 s or this)",
    )
    run.add_argument("--poll-interval", type=float, default=2.0, metavar="SECONDS", help=argparse.SUPPRESS)
    run.add_argument("--output", choices=("text", "json"), default="text", help="json: the result as JSON on stdout")


ONLY_ON = {
    **workflow_command.ONLY_ON,
    "argo_server": "argo",
    "token": "argo",
    "insecure_skip_verify": "argo",
    "ca_bundle": "argo",
    "from_template": "argo",
    "kubeconfig": "tekton",
    "kube_context": "tekton",
    "in_cluster": "tekton",
}


def check_options(args: argparse.Namespace) -> None:
    """Options that do not apply together (on top of ``cachebuild workflow``'s): each is an error naming it."""
    from cachebuild.errors import SpecError

    workflow_command.check_options(args, ONLY_ON)
    pairs = [
        ("ca_bundle", "insecure_skip_verify", "--ca-bundle verifies the certificate, --insecure-skip-verify does not"),
        ("in_cluster", "kubeconfig", "--in-cluster uses the pod's service account, not a kubeconfig"),
        ("in_cluster", "kube_context", "--in-cluster uses the pod's service account, not a kubeconfig context"),
    ]
    for first, second, why in pairs:
        if getattr(args, first) and getattr(args, second):
            raise SpecError("--" + second.replace("_", "-"), None, f"does not go with --{first.replace('_', '-')}: {why}")
    if args.from_template:
        for dest, why in (
            ("inline", "the installed template runs; nothing is embedded"),
            ("workspace_size", "an installed template makes no claims: name --workspace-pvc"),
            ("kaniko_cache_size", "an installed template makes no claims: name --kaniko-cache-pvc"),
        ):
            if getattr(args, dest):
                value = getattr(args, dest)
                raise SpecError(
                    "--" + dest.replace("_", "-"), None if value is True else value, f"does not apply with --from-template: {why}"
                )
    if args.argo_server and args.argo_server.startswith("http://"):
        for dest in ("ca_bundle", "insecure_skip_verify"):
            if getattr(args, dest):
                value = getattr(args, dest)
                raise SpecError(
                    "--" + dest.replace("_", "-"), None if value is True else value, "is about TLS: the --argo-server is http://"
                )


class ProgressPrinter:
    """Each build's phase and the elapsed time: one live line on a terminal, a line per change otherwise.

    :meth:`notice` prints a line of its own (a retry) without breaking the live line.
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.live = stream.isatty()
        self._last = ""
        self._shown = ""

    def __call__(self, status: Any, elapsed: float) -> None:
        steps = ", ".join(f"{s.step}: {s.phase or 'waiting'}" for s in status.images)
        text = f"{status.name}: {status.phase or 'submitted'}" + (f" ({steps})" if steps else "")
        if self.live:
            self._shown = f"[{elapsed:6.0f}s] {text}"
            self.stream.write(f"\r\x1b[2K{self._shown}")
            if status.done:
                self.stream.write("\n")
                self._shown = ""
        elif text != self._last:
            self.stream.write(f"[{elapsed:6.0f}s] {text}\n")
        self.stream.flush()
        self._last = text

    def notice(self, text: str) -> None:
        if self.live and self._shown:
            self.stream.write(f"\r\x1b[2K{text}\n{self._shown}")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def _retry_notice(printer: ProgressPrinter) -> Callable[[str], None]:
    return lambda text: printer.notice(f"retrying: {text}")


def _argo_builds(args: argparse.Namespace, on_retry: Callable[[str], None]) -> list[Any]:
    from cachebuild.commands.spec_args import specs_from_args, translate
    from cachebuild.errors import SpecError
    from cachebuild.submit import ArgoClient, Retry, submit_argo_templates
    from cachebuild.submit.builds import CREATE_DEADLINE

    if not args.argo_server:
        raise SpecError("--argo-server", None, "is required with --on argo (the Argo Server's URL)")
    check_options(args)
    token = args.token or os.environ.get("ARGO_TOKEN")
    verify: bool | str = False if args.insecure_skip_verify else (args.ca_bundle or True)
    try:
        client = ArgoClient(args.argo_server, token=token, namespace=args.namespace or "argo", verify=verify)
    except SpecError as err:
        raise err.renamed("--argo-server") from None
    deadline = min(args.timeout, CREATE_DEADLINE)
    if args.from_template:
        try:
            specs = specs_from_args(args)
            return submit_argo_templates(
                client,
                specs,
                args.engine,
                cluster_scope=args.cluster_scope,
                create_deadline=deadline,
                on_retry=on_retry,
                service_account=args.service_account,
                generate_name=args.generate_name,
            )
        except SpecError as err:
            raise translate(err, args) from None
    return [client.create(workflow_command.manifest(args), retry=Retry.within(deadline, on_retry=on_retry))]


def _tekton_builds(args: argparse.Namespace, on_retry: Callable[[str], None]) -> list[Any]:
    from cachebuild.errors import SpecError
    from cachebuild.submit import Retry, TektonClient
    from cachebuild.submit.builds import CREATE_DEADLINE

    check_options(args)
    manifest = workflow_command.manifest(args)  # bad input first, before reading any kubeconfig
    try:
        client = TektonClient(
            kubeconfig=args.kubeconfig, context=args.kube_context, namespace=args.namespace, in_cluster=args.in_cluster
        )
    except SpecError as err:
        raise err.renamed("--kubeconfig") from None
    return [client.create(manifest, retry=Retry.within(min(args.timeout, CREATE_DEADLINE), on_retry=on_retry))]


def run(args: argparse.Namespace) -> int:
    from cachebuild.errors import SpecError
    from cachebuild.submit import BuildTimeout, SubmitError, Unreachable

    out, err = sys.stdout, sys.stderr
    as_json = args.output == "json"
    printer = ProgressPrinter(err)
    submitted: list[str] = []

    def fail(code: int, message: str, **extra: Any) -> int:
        """The error on stderr; with ``--output json`` also as a JSON object on stdout."""
        print(f"cachebuild: {'' if code == EXIT_TIMEOUT else 'error: '}{message}", file=err)
        if as_json:
            json.dump({"error": {"message": message, "exitCode": code, **extra}, "submitted": submitted}, out)
            out.write("\n")
        return code

    try:
        builds = _argo_builds(args, _retry_notice(printer)) if args.on == "argo" else _tekton_builds(args, _retry_notice(printer))
    except SpecError as exc:
        return fail(EXIT_USAGE, str(exc), field=exc.field)
    except BuildTimeout as exc:
        return fail(EXIT_TIMEOUT, str(exc))
    except Unreachable as exc:
        return fail(EXIT_FAILED, str(exc), address=exc.address)
    except SubmitError as exc:
        return fail(EXIT_USAGE if exc.status in (400, 422) else EXIT_FAILED, str(exc), status=exc.status)
    for build in builds:
        submitted.append(build.name)
        print(f"submitted {build.name}", file=err if as_json else out, flush=True)
    if not args.wait:
        if as_json:
            json.dump({"submitted": submitted}, out)
            out.write("\n")
        return EXIT_OK
    results, code = [], EXIT_OK
    for build in builds:
        try:
            result = build.wait(
                args.timeout, poll_interval=args.poll_interval, on_progress=printer, on_retry=_retry_notice(printer)
            )
        except BuildTimeout as exc:
            return fail(EXIT_TIMEOUT, str(exc))
        except SubmitError as exc:
            return fail(EXIT_FAILED, str(exc), status=exc.status)
        results.append(result)
        if not result.succeeded:
            code = EXIT_FAILED
    if as_json:
        json.dump([r.to_dict() for r in results], out, indent=2)
        out.write("\n")
        return code
    for result in results:
        for image in result.images:
            if image.digest:
                print(f"{image.url}@{image.digest}", file=out)
                if image.cache_hits:
                    print(f"{image.url}: cache hits {image.cache_hits} (steps taken from a cache / steps)", file=err)
        if not result.succeeded:
            failed = result.failed_step
            where = f" in {failed.step}: {failed.message}" if failed else ""
            print(f"cachebuild: {result.name} {result.phase}{where}{' — ' + result.message if result.message else ''}", file=err)
        else:
            took = f" in {result.duration:.0f}s" if result.duration is not None else ""
            print(f"{result.name} succeeded{took}", file=err)
    return code
