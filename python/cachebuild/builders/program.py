"""A builder's command line written once, as data, and run two ways.

A builder module describes what it runs as a :class:`Program`: commands made of literal elements,
elements made from one value (``"--destination={image}"``), one element per list item, optional
flags and branches on values; the environment a command needs (:class:`EnvSet`); small files it
writes first (:class:`File`, e.g. a daemon's registry configuration); and values derived from
others (:class:`Derive`). The same program is

* **evaluated** in Python with the values of a :class:`~cachebuild.spec.BuildSpec` (the local
  engine, the exact-argv tests), and
* **compiled** to a constant POSIX ``sh`` launcher for Argo and Tekton, which reads every value
  from an environment variable ``CB_<KEY>`` (list values: one item a line), checks each against
  its :mod:`~cachebuild.kinds` rule before anything runs, and quotes every expansion, so a value is
  always exactly one argv element or part of one and never shell code, an extra option or a CSV key.

The Argo and Tekton wrappers therefore never spell a builder flag: they set ``CB_*`` variables to
their own placeholders (``{{inputs.parameters.image}}``, ``$(params.IMAGE)``) and run the script.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from cachebuild import dockerfile, kinds
from cachebuild import report as cache_report

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
    """``then`` when value ``key`` is set, else ``otherwise``.

    Set means non-empty; with ``is_true`` the value ``true``; with ``is_file`` a path to an existing
    file; with ``equals`` exactly that text.
    """

    key: str
    then: tuple[Item, ...]
    otherwise: tuple[Item, ...] = ()
    is_true: bool = False
    is_file: bool = False
    equals: str | None = None


Item = Lit | Arg | Each | Join | When


@dataclass(frozen=True)
class EnvSet:
    """An environment variable a command runs with: the elements of ``items`` joined by spaces.

    When they are empty the variable keeps whatever value the image gave it.
    """

    name: str
    items: tuple[Item, ...]


@dataclass(frozen=True)
class Fallback:
    """When a command fails and its output holds ``pattern``: print ``warning`` (``{key}`` fields
    expanded), set value ``key`` to ``value`` and run the command again, once.

    For a failure that must not fail the build, e.g. buildah's cache export (``failed pushing cache
    to``): the second run builds from the layers the first left and pushes without the cache.
    """

    pattern: str
    key: str
    value: str
    warning: str


@dataclass(frozen=True)
class Command:
    """One process: its argv items; with ``repeat``, one process per item of that list value.

    ``when``: runs only when that value is ``true``; ``env``: variables it runs with; ``log``: the
    value holding a file its output (stdout and stderr) is also written to, for parsing afterwards;
    ``fallback``: see :class:`Fallback` (needs ``log``).
    """

    items: tuple[Item, ...]
    repeat: str | None = None
    when: str | None = None
    env: tuple[EnvSet, ...] = ()
    log: str | None = None
    fallback: Fallback | None = None


@dataclass(frozen=True)
class File:
    """A file the program writes before its commands, at the path in value ``key``.

    Each element of ``lines`` is one line; nothing is written when there are none.
    """

    key: str
    lines: tuple[Item, ...]


@dataclass(frozen=True)
class Transform:
    """A derived value, computed in Python and in sh (the sh reads ``$cb_src`` and sets ``$cb_v``).

    ``python(source, values)`` gets the source value and every value. The sh may read the ``CB_*``
    variables of ``uses`` and name an input in an error as ``@name:KEY@`` (replaced by the
    parameter's name when compiled).
    """

    python: Callable[[str, Values], Value]
    sh: str
    uses: tuple[str, ...] = ()


@dataclass(frozen=True)
class Derive:
    """Value ``key`` computed from value ``source`` (``""``: none) by ``transform`` before the commands run."""

    key: str
    source: str
    transform: Transform


@dataclass(frozen=True)
class CacheReport:
    """After the commands, what the cache did (:mod:`cachebuild.report`): parsed from the stamped log
    in value ``log`` by ``builder``'s parser, ``CACHE_HITS`` written to the file in ``hits_file`` and
    the JSON report to the one in ``report_file``. Skipped where the image has no awk."""

    builder: str
    log: str = "build_log"
    hits_file: str = "cache_hits_file"
    report_file: str = "cache_report_file"


@dataclass(frozen=True)
class Program:
    """What a builder runs: derived values, files, then commands in order, then ``finish`` (constant sh)."""

    name: str
    commands: tuple[Command, ...]
    derive: tuple[Derive, ...] = ()
    files: tuple[File, ...] = ()
    required: tuple[str, ...] = ()
    """Keys that must not be empty."""
    kinds: Mapping[str, kinds.Kind] = field(default_factory=dict)
    """The rule of a value where this builder needs another than :data:`cachebuild.kinds.VALUE_KINDS`'."""
    one_item: Mapping[str, str] = field(default_factory=dict)
    """List keys the builder takes at most one item of → why (``BuildSpec.check_engine`` says the same)."""
    outputs: tuple[str, ...] = ()
    """Keys holding files the builder writes; their folders are made first."""
    url_result: bool = True
    """Write the first of ``images`` to ``$CB_URL_FILE`` when that is set (the IMAGE_URL result)."""
    finish: str = ""
    """Constant sh run after the commands (e.g. to turn a metadata file into a digest result)."""
    report: CacheReport | None = None

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
            for env in command.env:
                walk(env.items)
            found.update(k for k in (command.repeat, command.when, command.log) if k)
            if command.fallback:
                found.update(_FIELD.findall(command.fallback.warning))
        for file in self.files:
            found.add(file.key)
            walk(file.lines)
        for d in self.derive:
            found.add(d.source)
            found.update(d.transform.uses)
        found |= set(self.required) | set(self.outputs)
        if self.report:
            found |= {self.report.log, self.report.hits_file, self.report.report_file}
        if self.url_result:
            found |= {"images", "url_file"}
        found -= {d.key for d in self.derive} | {"item", "joined", ""}
        return found


# -- transforms: one Python and one sh implementation each, tested against each other --------
# A git context is written the Docker way, https://host/repo.git#ref:subdir, in the same value
# as a workspace path; these split it.
def _git_url(context: str, _: Values) -> str:
    return context.split("#", 1)[0] if "://" in context else ""


def _git_fragment(context: str) -> str:
    return context.split("#", 1)[1] if "://" in context and "#" in context else ""


def _context_path(context: str, _: Values) -> str:
    return _git_fragment(context).partition(":")[2] if "://" in context else context


def _kaniko_git_ref(ref: str, _: Values) -> str:
    if ref == "":
        return ""
    if ref.startswith("refs/"):
        return "#" + ref
    if re.fullmatch(r"[0-9a-f]{40}", ref):
        return "##" + ref  # kaniko: git://repo#<branch>#<commit>; no branch = the default branch
    return "#refs/heads/" + ref


def _default_cache_repo(cache_repo: str, values: Values) -> str:
    """``cache_repo``, else ``<repository of the first image>/cache`` (kaniko's own default)."""
    if cache_repo:
        return cache_repo
    images = values.get("images", ())
    first = images.split("\n", 1)[0] if isinstance(images, str) else (images[0] if images else "")
    return kinds.reference_name(first) + "/cache" if first else ""


def _several(items: str, _: Values) -> str:
    return "true" if len([line for line in items.split("\n") if line]) > 1 else "false"


def _current_uid(_: str, values: Values) -> str:
    uid = values.get("uid", "")
    return uid if isinstance(uid, str) and uid else str(os.geteuid())


# The first of these an image has is the start of the CA bundle, so trusting a private CA keeps
# the public ones (Debian/Alpine, Fedora, the kaniko image).
SYSTEM_CA_BUNDLES = (
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/kaniko/ssl/certs/ca-certificates.crt",
    "/etc/ssl/cert.pem",
)


def _ca_files(folder: str) -> list[str]:
    if not folder or not os.path.isdir(folder):
        return []
    names = sorted(n for n in os.listdir(folder) if n.endswith((".crt", ".pem")) and not n.startswith("."))
    return [os.path.join(folder, n) for n in names if os.path.isfile(os.path.join(folder, n))]


def _ca_bundle(folder: str, values: Values) -> str:
    """Write the system bundle and every ``*.crt``/``*.pem`` of ``folder`` into ``ca_bundle``; its path, or ""."""
    found = _ca_files(folder)
    target = values.get("ca_bundle", "")
    if not found or not isinstance(target, str) or not target:
        return ""
    system = next((p for p in SYSTEM_CA_BUNDLES if os.path.isfile(p)), None)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "wb") as out:
        for path in ([system] if system else []) + found:
            with open(path, "rb") as part:
                out.write(part.read() + b"\n")  # a newline after each, as the sh's echo
    return target


_SH_GIT_FRAGMENT = 'case "$cb_src" in *://*\\#*) cb_v="${cb_src#*\\#}" ;; *) cb_v="" ;; esac'
_HEX40 = "[0-9a-f]" * 40
_SH_CA_BUNDLE = (
    'cb_v=""\n'
    'if [ -n "$cb_src" ] && [ -d "$cb_src" ]; then\n'
    '  for cb_f in "$cb_src"/*.crt "$cb_src"/*.pem; do\n'
    '    [ -f "$cb_f" ] || continue\n'
    '    if [ -z "$cb_v" ]; then\n'
    '      cb_v="$CB_CA_BUNDLE"; mkdir -p -- "${cb_v%/*}"; : > "$cb_v"\n'
    f"      for cb_s in {' '.join(SYSTEM_CA_BUNDLES)}; do\n"
    '        if [ -f "$cb_s" ]; then cat -- "$cb_s" >> "$cb_v"; echo >> "$cb_v"; break; fi\n'
    "      done\n"
    "    fi\n"
    '    cat -- "$cb_f" >> "$cb_v"; echo >> "$cb_v"\n'
    "  done\n"
    "fi"
)
# Warnings, not values: the cache-busters of the workspace's Dockerfile on stderr (the local engine
# warns from Python itself). A git context has no Dockerfile here yet; an image without awk warns of none.
_SH_CACHE_BUSTERS = (
    'cb_v=""; cb_df="$CB_WORKSPACE/$CB_CONTEXT_PATH/$cb_src"\n'
    'if [ -z "$CB_GIT_URL" ] && [ -f "$cb_df" ] && command -v awk >/dev/null 2>&1; then\n'
    "  awk -v prefix='cachebuild: warning: Dockerfile ' "
    + " ".join(f"'{a}'" for a in dockerfile.cache_busters_awk_args())  # no single quote in them (tested)
    + f" '{dockerfile.CACHE_BUSTERS_AWK}' \"$cb_df\" >&2 || :\n"
    "fi"
)
TRANSFORMS: dict[str, Transform] = {
    "git_url": Transform(_git_url, 'case "$cb_src" in *://*) cb_v="${cb_src%%\\#*}" ;; *) cb_v="" ;; esac'),
    "git_ref": Transform(
        lambda c, _: _git_fragment(c).partition(":")[0],
        _SH_GIT_FRAGMENT + '; cb_v="${cb_v%%:*}"',
    ),
    "context_path": Transform(
        _context_path,
        'case "$cb_src" in *://*) '
        + _SH_GIT_FRAGMENT
        + '; case "$cb_v" in *:*) cb_v="${cb_v#*:}" ;; *) cb_v="" ;; esac ;; *) cb_v="$cb_src" ;; esac',
    ),
    "strip_scheme": Transform(lambda url, _: url.split("://", 1)[1] if "://" in url else url, 'cb_v="${cb_src#*://}"'),
    "kaniko_git_ref": Transform(
        _kaniko_git_ref,
        'case "$cb_src" in "") cb_v="" ;; refs/*) cb_v="#$cb_src" ;; '
        + _HEX40
        + ') cb_v="##$cb_src" ;; *) cb_v="#refs/heads/$cb_src" ;; esac',
    ),
    "default_cache_repo": Transform(
        _default_cache_repo,
        'cb_v="$cb_src"; if [ -z "$cb_v" ] && [ -n "$CB_IMAGES" ]; then cb_v="${CB_IMAGES%%"$cb_nl"*}"; cb_v="${cb_v%%@*}"; '
        'cb_last="${cb_v##*/}"; cb_v="${cb_v%"$cb_last"}${cb_last%%:*}/cache"; fi',
        uses=("images",),
    ),
    "several": Transform(
        _several,
        'set -f; IFS=$cb_nl; set -- $cb_src; unset IFS; set +f; [ "$#" -gt 1 ] && cb_v=true || cb_v=false',
    ),
    "current_uid": Transform(_current_uid, "cb_v=`id -u`"),
    "branch_tag": Transform(
        lambda branch, _: kinds.branch_tag(branch),
        'cb_v=""; if [ -n "$cb_src" ]; then '
        "cb_v=`printf '%s' \"$cb_src\" | LC_ALL=C tr -c 'A-Za-z0-9_.-' '-' | sed 's/^[.-]*//' | cut -c1-128`; fi",
    ),
    "or_cache_repository": Transform(
        lambda value, values: value or str(values.get("cache_repository", "")),
        'cb_v="${cb_src:-$CB_CACHE_REPOSITORY}"',
        uses=("cache_repository",),
    ),
    "negate": Transform(lambda v, _: "false" if v == "true" else "true", '[ "$cb_src" = true ] && cb_v=false || cb_v=true'),
    "dirname": Transform(
        lambda v, _: v.rsplit("/", 1)[0] if "/" in v else "", 'case "$cb_src" in */*) cb_v="${cb_src%/*}" ;; *) cb_v="" ;; esac'
    ),
    "nonempty": Transform(lambda v, _: "true" if v else "false", '[ -n "$cb_src" ] && cb_v=true || cb_v=false'),
    "ca_bundle": Transform(_ca_bundle, _SH_CA_BUNDLE, uses=("ca_bundle",)),
    "cache_busters": Transform(lambda _dockerfile, _: "", _SH_CACHE_BUSTERS, uses=("workspace", "context_path", "git_url")),
}
"""The transforms every builder may use; a builder module may define its own."""


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


def _chosen(item: When, values: Values) -> bool:
    value = values.get(item.key, "")
    if item.is_file:
        return isinstance(value, str) and value != "" and os.path.isfile(value)
    if item.is_true:
        return value == "true"
    if item.equals is not None:
        return value == item.equals
    return bool(_list(values, item.key)) if isinstance(value, tuple) else value != ""


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
            argv.extend(_eval_items(item.then if _chosen(item, values) else item.otherwise, values))
    return argv


def derived(program: Program, values: Values) -> dict[str, Value]:
    """``values`` with the program's derived values added (in Python)."""
    merged: dict[str, Value] = dict(values)
    for d in program.derive:
        source = merged.get(d.source, "")
        text = "\n".join(source) if isinstance(source, tuple) else source
        merged[d.key] = d.transform.python(text, merged)
    return merged


@dataclass(frozen=True)
class Run:
    """One process a program starts: its argv and the environment variables it sets for it."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)


def runs(program: Program, values: Values) -> list[Run]:
    """Every process of ``program`` for these values, with its environment."""
    merged = derived(program, values)
    out: list[Run] = []
    for command in program.commands:
        if command.when and merged.get(command.when) != "true":
            continue
        entries = [merged] if command.repeat is None else [{**merged, command.repeat: e} for e in _list(merged, command.repeat)]
        for v in entries:
            env = {e.name: " ".join(_eval_items(e.items, v)) for e in command.env}
            out.append(Run(_eval_items(command.items, v), {k: x for k, x in env.items() if x}))
    return out


def evaluate(program: Program, values: Values) -> list[list[str]]:
    """The argv of each command of ``program`` for these values."""
    return [run.argv for run in runs(program, values)]


def files(program: Program, values: Values) -> dict[str, str]:
    """The files ``program`` writes first: path → content (none for empty ones)."""
    merged = derived(program, values)
    out = {}
    for f in program.files:
        lines = _eval_items(f.lines, merged)
        if lines:
            out[_scalar(merged, f.key)] = "".join(line + "\n" for line in lines)
    return out


# -- sh compilation ------------------------------------------------------------------------
@dataclass(frozen=True)
class Input:
    """How a template calls the value it feeds into ``CB_<KEY>``: its parameter name, and whether
    that parameter is a single value even where the program takes a list (Tekton's ``IMAGE``)."""

    name: str
    single: bool = False


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


def _test(item: When) -> str:
    var = env_name(item.key)
    if item.is_true:
        return f'[ "${{{var}}}" = true ]'
    if item.is_file:
        return f'[ -f "${{{var}}}" ]'
    if item.equals is not None:
        return f'[ "${{{var}}}" = "{_escape_dq(item.equals)}" ]'
    return f'[ -n "${{{var}}}" ]'


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
            lines.append(f"{indent}if {_test(item)}; then")
            lines.extend(_sh_items(item.then, indent + "  ") or [indent + "  :"])
            if item.otherwise:
                lines.append(f"{indent}else")
                lines.extend(_sh_items(item.otherwise, indent + "  "))
            lines.append(f"{indent}fi")
    return lines


def _sh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


# Every check prints "cachebuild: PARAM: REASON (got 'VALUE')" and exits 2 before a builder starts.
_CHECK_FUNCTIONS = r"""cb_fail() { printf "cachebuild: %s: %s (got '%s')\n" "$1" "$2" "$3" >&2; exit 2; }
cb_match() { printf '%s\n' "$1" | LC_ALL=C grep -Eqx -- "$2"; }
cb_name_ok() { cb_n="${1%%@*}"; cb_l="${cb_n##*/}"; cb_n="${cb_n%"$cb_l"}${cb_l%%:*}"; [ "${#cb_n}" -le __NAME_MAX__ ]; }
cb_text() { case "$2" in *"$cb_cr"*) cb_fail "$1" "must not contain a carriage return" "$2" ;; esac; }
if command -v awk >/dev/null 2>&1; then cb_stamp() { awk -v file="$1" '__STAMP__'; }; else cb_stamp() { tee "$1"; }; fi"""


def _kind_check(kind: kinds.Kind, var_ref: str, label: str, indent: str) -> list[str]:
    """sh lines checking the value in ``var_ref`` (a quoted expansion) against ``kind``."""
    if kind.choose:
        lines = [f"{indent}case {var_ref} in"]
        for glob, sub in kind.choose:
            lines.append(f"{indent}  {glob})")
            lines.extend(_kind_check(sub, var_ref, label, indent + "    "))
            lines.append(f"{indent}  ;;")
        lines.append(f"{indent}esac")
        return lines
    test = f"cb_match {var_ref} {_sh_quote(kind.pattern)}"
    if kind.name_max:
        test += f" && cb_name_ok {var_ref}"
    return [f"{indent}{test} || cb_fail {_sh_quote(label)} {_sh_quote(kind.message)} {var_ref}"]


def checks_sh(keys: Sequence[str], inputs: Mapping[str, Input], overrides: Mapping[str, kinds.Kind] | None = None) -> list[str]:
    """The sh that checks every input value among ``keys`` by its kind (``overrides`` first), before anything runs."""
    lines: list[str] = []
    for key in keys:
        if key not in inputs or key not in kinds.VALUE_KINDS:
            continue
        inp, var = inputs[key], env_name(key)
        kind = (overrides or {}).get(key) or kinds.VALUE_KINDS[key]
        label = _sh_quote(inp.name)
        lines.append(f'cb_text {label} "${{{var}}}"')
        if key not in kinds.LIST_KEYS or inp.single:
            lines.append(
                f'case "${{{var}}}" in *"$cb_nl"*) cb_fail {label} "must be one value, without a newline" "${{{var}}}" ;; esac'
            )
        if key in kinds.LIST_KEYS:
            lines.append(f"set -f; IFS=$cb_nl; for cb_i in ${{{var}}}; do")
            lines.extend(_kind_check(kind, '"$cb_i"', inp.name, "  "))
            lines.append("done; unset IFS; set +f")
        elif key in kinds.OPTIONAL_KEYS:
            lines.append(f'if [ -n "${{{var}}}" ]; then')
            lines.extend(_kind_check(kind, f'"${{{var}}}"', inp.name, "  "))
            lines.append("fi")
        else:
            lines.extend(_kind_check(kind, f'"${{{var}}}"', inp.name, ""))
    return lines


def compile_sh(program: Program, inputs: Mapping[str, Input] | None = None) -> str:
    """The constant launcher script for ``program``: checks and reads ``CB_*`` variables, runs the commands.

    ``inputs``: the values a template's caller sets (program key → how the template names it);
    each is checked by its kind before anything runs (default: every value that has a kind). The
    script holds no value of any build, so it is safe to ship in a Task or WorkflowTemplate as is.
    """
    if inputs is None:  # every value with a rule, named as in the program
        inputs = {k: Input(k.replace("_", "-")) for k in program.value_keys() if k in kinds.VALUE_KINDS}

    def name(key: str) -> str:
        return inputs[key].name if key in inputs else key.replace("_", "-")

    lines = [
        f"# cachebuild {program.name} launcher: every value comes from a CB_* environment variable,",
        "# lists one item a line; each is checked by its rule and each expansion is quoted, so a value",
        "# is never shell code, an extra option or a CSV key.",
        "set -eu",
        "cb_nl='",
        "'",
        # Backticks, not $(...): Tekton and the kubelet look for $(...) substitutions in a step's command.
        "cb_cr=`printf '\\r'`",
        _CHECK_FUNCTIONS.replace("__NAME_MAX__", str(kinds.NAME_MAX)).replace("__STAMP__", cache_report.STAMP_AWK),
    ]
    lines += [f': "${{{env_name(k)}:=}}"' for k in sorted(program.value_keys())]
    for key in program.required:
        lines.append(f'[ -n "${{{env_name(key)}}}" ] || cb_fail {_sh_quote(name(key))} "is required" ""')
    lines += checks_sh(sorted(program.value_keys()), inputs, program.kinds)
    for key, reason in program.one_item.items():
        var = env_name(key)
        lines.append(
            f'case "${{{var}}}" in ?*"$cb_nl"?*) cb_fail {_sh_quote(name(key))} {_sh_quote(reason)} "${{{var}}}" ;; esac'
        )
    for key in program.outputs:
        lines.append(f'mkdir -p -- "${{{env_name(key)}%/*}}"')
    for d in program.derive:
        sh = re.sub(r"@name:([a-z_]+)@", lambda m: name(m[1]), d.transform.sh)
        lines.append(f'cb_src="${{{env_name(d.source)}}}"' if d.source else 'cb_src=""')
        lines.append(sh)
        lines.append(f'{env_name(d.key)}="$cb_v"')
    for f in program.files:
        var = env_name(f.key)
        lines += ["set --", *_sh_items(f.lines, "")]
        lines.append(f'if [ "$#" -gt 0 ]; then mkdir -p -- "${{{var}%/*}}"; printf \'%s\\n\' "$@" > "${{{var}}}"; fi')
    for n, command in enumerate(program.commands):
        # The environment is computed first, then set only for the command (in a subshell).
        run: list[str] = []
        exports = []
        for i, env in enumerate(command.env):
            run += ["set --", *_sh_items(env.items, ""), f'cb_env{i}="$*"']
            exports.append(f'if [ -n "$cb_env{i}" ]; then {env.name}=$cb_env{i}; export {env.name}; fi; ')
        run += ["set --", *_sh_items(command.items, ""), 'echo "cachebuild: running $1 $2" >&2']
        run.append(f'({"".join(exports)}exec "$@")' if exports else '"$@"')
        if command.log is None:
            body = run
        else:
            # The command in a function (its own "$@"), its output also in the log; POSIX sh has no
            # pipefail, so its status goes through a file.
            log = "${" + env_name(command.log) + "}"
            lines += [f"cb_run{n}() {{", *("  " + line for line in run), "}"]
            status = f'echo "$cb_s" > "{log}.status"; }}'
            body = [f'{{ cb_run{n} 2>&1 && cb_s=0 || cb_s=$?; {status} | cb_stamp "{log}"', f'cb_s=`cat "{log}.status"`']
            if command.fallback is not None:
                again = command.fallback
                body += [
                    f'if [ "$cb_s" != 0 ] && grep -q {_sh_quote(again.pattern)} "{log}"; then',
                    f'  echo "{_dq(again.warning)}" >&2',
                    f"  {env_name(again.key)}={_sh_quote(again.value)}",
                    f'  {{ cb_run{n} 2>&1 && cb_s=0 || cb_s=$?; {status} | cb_stamp "{log}"',
                    f'  cb_s=`cat "{log}.status"`',
                    "fi",
                ]
            body.append('[ "$cb_s" = 0 ] || exit "$cb_s"')
        if command.repeat is not None:
            var = env_name(command.repeat)
            loop = [f"cb_list=${var}; set -f; IFS=$cb_nl; set -- ${var}; unset IFS; set +f", f'for {var} in "$@"; do']
            body = [*loop, *("  " + line for line in body), "done", f"{var}=$cb_list"]
        if command.when is not None:
            body = [f'if [ "${{{env_name(command.when)}}}" = true ]; then', *("  " + line for line in body), "fi"]
        lines.extend(body)
    if program.report is not None:
        lines += _report_sh(program.report)
    if program.finish:
        lines.append(program.finish.strip())
    if program.url_result:
        lines.append('if [ -n "${CB_URL_FILE}" ]; then printf \'%s\' "${CB_IMAGES%%$cb_nl*}" > "${CB_URL_FILE}"; fi')
    return "\n".join(lines) + "\n"


def _report_sh(report: CacheReport) -> list[str]:
    log, hits, out = (env_name(k) for k in (report.log, report.hits_file, report.report_file))
    return [
        f'if [ -n "${{{hits}}}" ] && command -v awk >/dev/null 2>&1 && [ -f "${{{log}}}" ]; then',
        f'  LC_ALL=C awk {_sh_quote(cache_report.AWK_PARSERS[report.builder])} "${{{log}}}" |',
        f'    LC_ALL=C awk -v builder={report.builder} -v hits="${{{hits}}}" -v json="${{{out}}}" \\',
        f"      {_sh_quote(cache_report.RENDER_AWK)}",
        f'  echo "cachebuild: cache hits `cat "${{{hits}}}"` (steps taken from a cache / steps)" >&2',
        "fi",
    ]


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
