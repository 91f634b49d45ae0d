"""The constant sh a Task step runs before the builder's launcher (generic: the same for every builder).

Tekton cannot put an array param into ``env``
(https://tekton.dev/docs/pipelines/tasks/#substituting-array-parameters: ``$(params.X[*])`` only
in ``args``/``command``), and the launcher (:func:`~cachebuild.builders.program.compile_sh`) reads
lists from ``CB_*`` variables one item a line. So the step's ``args`` carry every array param after
a marker element (``--cachebuild-array=BUILD_ARGS``, then ``$(params.BUILD_ARGS[*])``, …), and
:func:`arrays_sh` moves each item into its ``CB_*`` variable. Items are only ever expanded in
double quotes, so each stays one literal value; an item holding a newline (it would become two)
or a marker (it would shift the lists) stops the step with an error naming the param.

:func:`credentials_sh` links whichever key the ``dockerconfig`` workspace holds
(``config.json`` of a generic Secret, ``.dockerconfigjson`` of a ``kubernetes.io/dockerconfigjson``
Secret) to where the builder reads it; nothing is printed or copied.
"""

from __future__ import annotations

from collections.abc import Sequence

from cachebuild import kinds
from cachebuild.builders.program import env_name

ARRAY_MARKER = kinds.ARRAY_MARKER
DOCKERCONFIG_BOUND_ENV = "CB_DOCKERCONFIG_BOUND"
DOCKERCONFIG_PATH_ENV = "CB_DOCKERCONFIG_PATH"
CREDENTIALS_LINK_ENV = "CB_CREDENTIALS_LINK"
"""Where the builder reads ``config.json``: a constant per Task, set in the step's ``env``."""
CREDENTIAL_KEYS = ("config.json", ".dockerconfigjson")

_NL = "cb_nl='\n'"


def _fail(message: str) -> str:
    return f'{{ echo "cachebuild: {message}" >&2; exit 2; }}'


def _fail_item(reason: str) -> str:
    """Stop at an item of the array param being read: ``cachebuild: PARAM: REASON (got 'ITEM')``."""
    return f"""{{ printf "cachebuild: %s: {reason} (got '%s')\\n" "${{cb_culprit:-args}}" "$cb_arg" >&2; exit 2; }}"""


def array_args(arrays: Sequence[tuple[str, str]]) -> list[str]:
    """The step's ``args``: each array param (name, program key) after its marker."""
    args: list[str] = []
    for param, _ in arrays:
        args += [ARRAY_MARKER + param, f"$(params.{param}[*])"]
    return args


def arrays_sh(arrays: Sequence[tuple[str, str]]) -> str:
    """Move the items of ``args`` (see :func:`array_args`) into ``CB_<KEY>``, one a line."""
    if not arrays:
        return ""
    lines = [
        "# Array params arrive as args, each after its marker; every item becomes one line of its CB_* variable.",
        f'cb_array=""; cb_before=""; cb_marker={ARRAY_MARKER}',
        'for cb_arg in "$@"; do',
        '  case "$cb_array:$cb_arg" in',
    ]
    previous = ""
    for param, key in arrays:
        lines.append(
            f'    "{previous}:{ARRAY_MARKER}{param}") cb_before=$cb_array; cb_array={param}; {env_name(key)}=""; continue ;;'
        )
        previous = param
    lines += [
        "  esac",
        # The marker of the array being read, again: an item of it, or of the array before it (which
        # switched early), was that marker; the args cannot tell which.
        "  cb_culprit=$cb_array",
        '  case "$cb_arg" in "$cb_marker$cb_array") cb_culprit="${cb_before:+$cb_before or }$cb_array" ;; esac',
        '  case "$cb_arg" in',
        f"    {ARRAY_MARKER}*) " + _fail_item(f"an item must not start with {ARRAY_MARKER}") + " ;;",
        '    *"$cb_nl"*) ' + _fail_item("an item must not contain a newline") + " ;;",
        '    "") ' + _fail_item("an item must not be empty") + " ;;",
        "  esac",
        '  case "$cb_array" in',
    ]
    for param, key in arrays:
        var = env_name(key)
        lines.append(f'    {param}) {var}="${var}$cb_arg$cb_nl" ;;')
    lines += [
        "    *) " + _fail("unexpected argument before the array params") + " ;;",
        "  esac",
        "done",
        f'[ "$cb_array" = {arrays[-1][0]} ] || ' + _fail("the step's args lack the array params"),
        "set --",
    ]
    return "\n".join(lines) + "\n"


def credentials_sh(auth_file_key: str | None) -> str:
    """Link the ``dockerconfig`` workspace's credentials file to ``$CB_CREDENTIALS_LINK``.

    ``auth_file_key``: the program key of a flag naming the file (buildah ``--authfile``), set
    to the link only when credentials are there.
    """
    found = "\n".join(
        f'  {"if" if i == 0 else "elif"} [ -f "${{{DOCKERCONFIG_PATH_ENV}:-}}/{key}" ]; '
        f'then cb_auth="${DOCKERCONFIG_PATH_ENV}/{key}"'
        for i, key in enumerate(CREDENTIAL_KEYS)
    )
    lines = [
        "# Registry credentials: whichever key the dockerconfig workspace holds, linked (never printed).",
        f'if [ "${{{DOCKERCONFIG_BOUND_ENV}:-false}}" = true ]; then',
        found,
        "  else " + _fail(f"the dockerconfig workspace holds neither {' nor '.join(CREDENTIAL_KEYS)}"),
        "  fi",
        f'  mkdir -p -- "${{{CREDENTIALS_LINK_ENV}%/*}}"',
        f'  ln -sf -- "$cb_auth" "${CREDENTIALS_LINK_ENV}"',
    ]
    if auth_file_key:
        lines.append(f'  {env_name(auth_file_key)}="${CREDENTIALS_LINK_ENV}"')
    lines.append("fi")
    return "\n".join(lines) + "\n"


def prelude(arrays: Sequence[tuple[str, str]], auth_file_key: str | None) -> str:
    """Everything a step runs before the launcher: constant text, no value of any build.

    The launcher then checks every value by its rule (:func:`~cachebuild.builders.program.compile_sh`).
    """
    head = "# cachebuild Tekton step: values come only from env and args, never from this text.\nset -eu\n" + _NL + "\n"
    return head + arrays_sh(arrays) + credentials_sh(auth_file_key)
