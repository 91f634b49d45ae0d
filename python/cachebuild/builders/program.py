"""A builder's command line written once, as data, and run two ways.

A builder module describes its argv as a :class:`Program`: literal elements, elements made from
one value (``"--destination={image}"``), one element per list item, optional flags, and branches
on whether a value is set. The same program is

* **evaluated** in Python with the values of a :class:`~cachebuild.spec.BuildSpec` (the local
  engine, the exact-argv tests), and
* **compiled** to a constant POSIX ``sh`` launcher for Argo and Tekton, which reads every value
  from an environment variable ``CB_<KEY>`` (list values: one item a line) and quotes each
  expansion, so a value is always exactly one argv element or part of one and never shell code.

The Argo and Tekton wrappers therefore never spell a builder flag: they set ``CB_*`` variables to
their own placeholders (``{{inputs.parameters.image}}``, ``$(params.IMAGE)``) and run the script.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

Value = str | tuple[str, ...]
Values = Mapping[str, Value]

_FIELD = re.compile(r"\{([a-z_]+)\}")


def env_name(key: str) -> str:
    """The environment variable the launcher reads ``key`` from."""
    return f"CB_{key.upper()}"


@dataclass(frozen=True)
class Lit:
    """Constant argv elements."""

    elements: tuple[str, ...]

    def __init__(self, *elements: str) -> None:
        object.__setattr__(self, "elements", elements)


@dataclass(frozen=True)
class Arg:
    """Elements formatted from scalar values, e.g. ``Arg("--target={target}", optional=True)``.

    ``optional``: left out when the first value named in the forms is empty.
    """

    forms: tuple[str, ...]
    optional: bool = False

    def __init__(self, *forms: str, optional: bool = False) -> None:
        object.__setattr__(self, "forms", forms)
        object.__setattr__(self, "optional", optional)


@dataclass(frozen=True)
class Each:
    """For each item of list value ``key``, the forms with ``{item}`` set to it."""

    key: str
    forms: tuple[str, ...]

    def __init__(self, key: str, *forms: str) -> None:
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "forms", forms)


@dataclass(frozen=True)
class Join:
    """List value ``key`` joined by ``sep`` into ``{joined}``; left out when the list is empty."""

    key: str
    forms: tuple[str, ...]
    sep: str = ","

    def __init__(self, key: str, *forms: str, sep: str = ",") -> None:
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "forms", forms)
        object.__setattr__(self, "sep", sep)


@dataclass(frozen=True)
class When:
    """``then`` when scalar ``key`` is set, else ``otherwise``.

    Set means non-empty; with ``is_true`` the value ``true``; with ``is_file`` a path to an existing file.
    """

    key: str
    then: tuple[Item, ...]
    otherwise: tuple[Item, ...] = ()
    is_true: bool = False
    is_file: bool = False


Item = Lit | Arg | Each | Join | When


@dataclass(frozen=True)
class Command:
    """One process: its argv items; with ``repeat``, one process per item of that list value."""

    items: tuple[Item, ...]
    repeat: str | None = None


@dataclass(frozen=True)
class Derive:
    """A value computed from another before the commands run (see :data:`TRANSFORMS`)."""

    key: str
    source: str
    transform: str


@dataclass(frozen=True)
class Program:
    """What a builder runs: derived values, then commands in order, then ``finish`` (constant sh)."""

    name: str
    commands: tuple[Command, ...]
    derive: tuple[Derive, ...] = ()
    paths: tuple[str, ...] = ()
    """Scalar keys holding paths that must stay inside their root (no ``..``, not absolute)."""
    required: tuple[str, ...] = ()
    """Keys that must not be empty."""
    outputs: tuple[str, ...] = ()
    """Keys holding files the builder writes; their folders are made first."""
    url_result: bool = True
    """Write the first of ``images`` to ``$CB_URL_FILE`` when that is set (the IMAGE_URL result)."""
    finish: str = ""
    """Constant sh run after the commands (e.g. to turn a metadata file into a digest result)."""

    def value_keys(self) -> set[str]:
        """Every value key the program reads."""
        found: set[str] = set()

        def walk(items: Sequence[Item]) -> None:
            for item in items:
                if isinstance(item, (Arg, Lit)):
                    for form in getattr(item, "forms", ()):
                        found.update(_FIELD.findall(form))
                elif isinstance(item, (Each, Join)):
                    found.add(item.key)
                    found.update(k for form in item.forms for k in _FIELD.findall(form))
                elif isinstance(item, When):
                    found.add(item.key)
                    walk(item.then)
                    walk(item.otherwise)

        for command in self.commands:
            walk(command.items)
            if command.repeat:
                found.add(command.repeat)
        derived = {d.key for d in self.derive}
        found |= {d.source for d in self.derive} | set(self.required) | set(self.paths) | set(self.outputs)
        if self.url_result:
            found |= {"images", "url_file"}
        found -= derived | {"item", "joined"}
        return found


# -- transforms: one Python and one sh implementation each, tested against each other --------
# A git context is written the Docker way, https://host/repo.git#ref:subdir, in the same value
# as a workspace path; these split it. Each sh fragment reads $cb_src and sets $cb_v.
def _git_url(context: str) -> str:
    return context.split("#", 1)[0] if "://" in context else ""


def _git_fragment(context: str) -> str:
    return context.split("#", 1)[1] if "://" in context and "#" in context else ""


def _context_path(context: str) -> str:
    return _git_fragment(context).partition(":")[2] if "://" in context else context


def _kaniko_git_ref(ref: str) -> str:
    if ref == "":
        return ""
    if ref.startswith("refs/"):
        return "#" + ref
    if re.fullmatch(r"[0-9a-f]{40}", ref):
        return "##" + ref  # kaniko: git://repo#<branch>#<commit>; no branch = the default branch
    return "#refs/heads/" + ref


_SH_GIT_FRAGMENT = 'case "$cb_src" in *://*\\#*) cb_v="${cb_src#*\\#}" ;; *) cb_v="" ;; esac'
_HEX40 = "[0-9a-f]" * 40
TRANSFORMS: dict[str, tuple[Callable[[str], str], str]] = {
    "git_url": (_git_url, 'case "$cb_src" in *://*) cb_v="${cb_src%%\\#*}" ;; *) cb_v="" ;; esac'),
    "git_ref": (
        lambda c: _git_fragment(c).partition(":")[0],
        _SH_GIT_FRAGMENT + '; cb_v="${cb_v%%:*}"',
    ),
    "context_path": (
        _context_path,
        'case "$cb_src" in *://*) '
        + _SH_GIT_FRAGMENT.replace("cb_src", "cb_src")
        + '; case "$cb_v" in *:*) cb_v="${cb_v#*:}" ;; *) cb_v="" ;; esac ;; *) cb_v="$cb_src" ;; esac',
    ),
    "strip_scheme": (lambda url: url.split("://", 1)[1] if "://" in url else url, 'cb_v="${cb_src#*://}"'),
    "kaniko_git_ref": (
        _kaniko_git_ref,
        'case "$cb_src" in "") cb_v="" ;; refs/*) cb_v="#$cb_src" ;; '
        + _HEX40
        + ') cb_v="##$cb_src" ;; *) cb_v="#refs/heads/$cb_src" ;; esac',
    ),
}


# -- Python evaluation ---------------------------------------------------------------------
def _scalar(values: Values, key: str) -> str:
    value = values.get(key, "")
    if isinstance(value, tuple):
        raise TypeError(f"{key} is a list, used as a scalar")
    return value


def _list(values: Values, key: str) -> tuple[str, ...]:
    value = values.get(key, ())
    if isinstance(value, str):
        return tuple(line for line in value.split("\n") if line)
    return tuple(v for v in value if v)


def _format(form: str, values: Values, extra: Mapping[str, str]) -> str:
    return _FIELD.sub(lambda m: extra[m[1]] if m[1] in extra else _scalar(values, m[1]), form)


def _eval_items(items: Sequence[Item], values: Values) -> list[str]:
    argv: list[str] = []
    for item in items:
        if isinstance(item, Lit):
            argv.extend(item.elements)
        elif isinstance(item, Arg):
            first = _FIELD.findall("".join(item.forms))
            if item.optional and first and not _scalar(values, first[0]):
                continue
            argv.extend(_format(f, values, {}) for f in item.forms)
        elif isinstance(item, Each):
            for entry in _list(values, item.key):
                argv.extend(_format(f, values, {"item": entry}) for f in item.forms)
        elif isinstance(item, Join):
            entries = _list(values, item.key)
            if entries:
                argv.extend(_format(f, values, {"joined": item.sep.join(entries)}) for f in item.forms)
        elif isinstance(item, When):
            value = values.get(item.key, "")
            if item.is_file:
                chosen = isinstance(value, str) and value != "" and os.path.isfile(value)
            else:
                chosen = value == "true" if item.is_true else bool(value)
            argv.extend(_eval_items(item.then if chosen else item.otherwise, values))
    return argv


def evaluate(program: Program, values: Values) -> list[list[str]]:
    """The argv of each command of ``program`` for these values."""
    merged: dict[str, Value] = dict(values)
    for d in program.derive:
        merged[d.key] = TRANSFORMS[d.transform][0](_scalar(merged, d.source))
    argvs = []
    for command in program.commands:
        if command.repeat is None:
            argvs.append(_eval_items(command.items, merged))
        else:
            for entry in _list(merged, command.repeat):
                argvs.append(_eval_items(command.items, {**merged, command.repeat: entry}))
    return argvs


# -- sh compilation ------------------------------------------------------------------------
def _dq(text: str) -> str:
    """``text`` as the inside of a double-quoted sh word, with ``{key}`` fields expanded."""
    out = []
    pos = 0
    for m in _FIELD.finditer(text):
        out.append(_escape_dq(text[pos : m.start()]))
        key = m[1]
        out.append("${cb_item}" if key == "item" else "${cb_joined}" if key == "joined" else "${" + env_name(key) + "}")
        pos = m.end()
    out.append(_escape_dq(text[pos:]))
    return "".join(out)


def _escape_dq(text: str) -> str:
    return re.sub(r'([\\"$`])', r"\\\1", text)


def _append(forms: Sequence[str]) -> str:
    return 'set -- "$@" ' + " ".join(f'"{_dq(f)}"' for f in forms)


def _sh_items(items: Sequence[Item], indent: str) -> list[str]:
    lines: list[str] = []
    for item in items:
        if isinstance(item, Lit):
            lines.append(indent + 'set -- "$@" ' + " ".join(f'"{_escape_dq(e)}"' for e in item.elements))
        elif isinstance(item, Arg):
            first = _FIELD.findall("".join(item.forms))
            if item.optional and first:
                lines.append(f'{indent}if [ -n "${{{env_name(first[0])}}}" ]; then {_append(item.forms)}; fi')
            else:
                lines.append(indent + _append(item.forms))
        elif isinstance(item, Each):
            lines.append(f"{indent}set -f; IFS=$cb_nl")
            lines.append(f"{indent}for cb_item in ${{{env_name(item.key)}}}; do {_append(item.forms)}; done")
            lines.append(f"{indent}unset IFS; set +f")
        elif isinstance(item, Join):
            sep = _escape_dq(item.sep)
            lines.append(f'{indent}cb_joined=""; set -f; IFS=$cb_nl')
            lines.append(
                f'{indent}for cb_item in ${{{env_name(item.key)}}}; do cb_joined="${{cb_joined:+$cb_joined{sep}}}$cb_item"; done'
            )
            lines.append(f"{indent}unset IFS; set +f")
            lines.append(f'{indent}if [ -n "$cb_joined" ]; then {_append(item.forms)}; fi')
        elif isinstance(item, When):
            var = env_name(item.key)
            test = f'[ -n "${{{var}}}" ]'
            if item.is_true:
                test = f'[ "${{{var}}}" = true ]'
            elif item.is_file:
                test = f'[ -f "${{{var}}}" ]'
            lines.append(f"{indent}if {test}; then")
            lines.extend(_sh_items(item.then, indent + "  ") or [indent + "  :"])
            if item.otherwise:
                lines.append(f"{indent}else")
                lines.extend(_sh_items(item.otherwise, indent + "  "))
            lines.append(f"{indent}fi")
    return lines


def compile_sh(program: Program) -> str:
    """The constant launcher script for ``program``: reads ``CB_*`` variables, runs the commands.

    It holds no value of any build, so it is safe to ship in a Task or WorkflowTemplate as is.
    """
    lines = [
        f"# cachebuild {program.name} launcher: every value comes from a CB_* environment variable,",
        "# lists one item a line; each expansion is quoted, so a value is never shell code.",
        "set -eu",
        "cb_nl='",
        "'",
    ]
    lines += [f': "${{{env_name(k)}:=}}"' for k in sorted(program.value_keys())]
    for key in program.required:
        lines.append(f'[ -n "${{{env_name(key)}}}" ] || {{ echo "cachebuild: {_label(key)} is required" >&2; exit 2; }}')
    for d in program.derive:
        lines.append(f'cb_src="${{{env_name(d.source)}}}"; {TRANSFORMS[d.transform][1]}; {env_name(d.key)}="$cb_v"')
    for key in program.paths:
        var = env_name(key)
        lines.append(
            f'case "/${{{var}}}/" in */../* | //?*) echo "cachebuild: {_label(key)} must be a relative path '
            f"without '..' (got '${{{var}}}')\" >&2; exit 2 ;; esac"
        )
    for key in program.outputs:
        lines.append(f'mkdir -p -- "${{{env_name(key)}%/*}}"')
    for command in program.commands:
        body = ["set --", *_sh_items(command.items, ""), 'echo "cachebuild: running $1 $2" >&2', '"$@"']
        if command.repeat is None:
            lines.extend(body)
        else:
            var = env_name(command.repeat)
            lines.append(f"cb_list=${var}; set -f; IFS=$cb_nl; set -- ${var}; unset IFS; set +f")
            lines.append(f'for {var} in "$@"; do')
            lines.extend("  " + line for line in body)
            lines.append("done")
            lines.append(f"{var}=$cb_list")
    if program.finish:
        lines.append(program.finish.strip())
    if program.url_result:
        lines.append('if [ -n "${CB_URL_FILE}" ]; then printf \'%s\' "${CB_IMAGES%%$cb_nl*}" > "${CB_URL_FILE}"; fi')
    return "\n".join(lines) + "\n"


def _label(key: str) -> str:
    return key.replace("_", "-")


def placeholder_env(program: Program, placeholder: Callable[[str], str | None]) -> dict[str, str]:
    """``CB_*`` environment for a template: each key the wrapper gives a placeholder (or constant) for."""
    env = {}
    for key in sorted(program.value_keys()):
        value = placeholder(key)
        if value is not None:
            env[env_name(key)] = value
    return env


def placeholder_argv(program: Program, placeholder: Callable[[str], str | None]) -> list[list[str]]:
    """The argv of each command with template placeholders in place of values (for docs and checks)."""
    return evaluate(program, {k: v for k in program.value_keys() if (v := placeholder(k)) is not None})
