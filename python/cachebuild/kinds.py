"""The rules every value of a build is checked by, written once and rendered twice.

Each :class:`Kind` is a POSIX extended regular expression that Python's :mod:`re` reads the same
way (no ``\\w``, no ``(?:``, no backslash inside brackets), plus a message saying what a value must
be. :class:`~cachebuild.spec.BuildSpec` checks Python input with :meth:`Kind.matches`; the
launchers the templates ship (:func:`~cachebuild.builders.program.compile_sh`) check the same
pattern with ``grep -Ex`` before any builder starts. So a value an installed template accepts is
exactly a value ``BuildSpec`` accepts, and none becomes an extra option (``--insecure`` as an
image), a CSV key (``x,push=false`` as a cache repository) or a second list item (a comma in a
platform): the grammars leave no room for them.

Sources: the reference grammar of distribution/reference (``reference.go``), Docker's tag
grammar, Go's ``time.ParseDuration``, Kubernetes object names.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field

# -- distribution/reference ----------------------------------------------------------------
_ALNUM = "[a-z0-9]+"
_SEPARATOR = "([._]|__|-+)"
_PATH_COMPONENT = f"{_ALNUM}({_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = "([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = f"({_DOMAIN_COMPONENT}(\\.{_DOMAIN_COMPONENT})*|\\[[0-9A-Fa-f:.]+\\])"
REGISTRY_PATTERN = f"{_HOST}(:[0-9]+)?"
_NAME = f"({REGISTRY_PATTERN}/)?{_PATH_COMPONENT}(/{_PATH_COMPONENT})*"
TAG_PATTERN = "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = "[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
NAME_MAX = 255
"""distribution/reference ``NameTotalLengthMax``: the name (without tag and digest) at most this long."""

# -- paths: relative, no '..' component, no leading '-', no ',' (buildah splits --file on commas) --
_SEGMENT = "(\\.|\\.\\.[^/,]+|\\.[^./,][^/,]*|[^./,][^/,]*)"
_FIRST_SEGMENT = "(\\.|\\.\\.[^/,]+|\\.[^./,][^/,]*|[^./,-][^/,]*)"
_PATH = f"{_FIRST_SEGMENT}(/{_SEGMENT}?)*"

# -- git contexts, Docker's syntax https://host/repo.git#ref:subdir ----------------------------
_GIT_REF = "[A-Za-z0-9_]([A-Za-z0-9_-]|[./][A-Za-z0-9_-])*"
_GIT_URL = "https?://[A-Za-z0-9.-]+(:[0-9]+)?/[A-Za-z0-9._~/%+-]+"


@dataclass(frozen=True)
class Kind:
    """One rule: ``pattern`` (an ERE the whole value must match) or ``choose`` (glob → kind).

    ``choose`` picks the first kind whose shell glob matches the value (``*://*`` → a git context),
    as the sh ``case`` does. ``name_max`` applies :data:`NAME_MAX` to the value without its tag and
    digest (image references).
    """

    name: str
    message: str
    pattern: str = ""
    choose: tuple[tuple[str, Kind], ...] = ()
    name_max: bool = False
    _compiled: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.pattern:
            object.__setattr__(self, "_compiled", re.compile(self.pattern))

    def resolve(self, value: str) -> Kind:
        """The kind that applies to ``value`` (itself unless it chooses by a glob)."""
        for glob, kind in self.choose:
            if fnmatch.fnmatchcase(value, glob):
                return kind.resolve(value)
        return self

    def matches(self, value: str) -> bool:
        """Whether ``value`` (one line) follows the rule."""
        kind = self.resolve(value)
        if kind._compiled is None or not kind._compiled.fullmatch(value):
            return False
        return not kind.name_max or len(reference_name(value)) <= NAME_MAX

    def reason(self, value: str) -> str:
        """What ``value`` should have been (the message of the kind that applies to it)."""
        return self.resolve(value).message


def reference_name(text: str) -> str:
    """``text`` without ``@digest`` and without a ``:tag`` after the last ``/`` (as the sh does)."""
    name = text.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return name[: len(name) - len(last)] + last.split(":", 1)[0]


IMAGE = Kind(
    "image",
    "must be an image reference such as registry.example.com/team/app:1.0 (lower-case repository, no spaces)",
    f"{_NAME}(:{TAG_PATTERN})?(@{_DIGEST})?",
    name_max=True,
)
DESTINATION = Kind(
    "destination",
    "must be an image reference with a tag, such as registry.example.com/team/app:1.0 (lower-case repository, "
    "no digest, no spaces)",
    f"{_NAME}(:{TAG_PATTERN})?",
    name_max=True,
)
REPOSITORY = Kind(
    "repository",
    "must be a repository without a tag, such as registry.example.com/team/app/cache (lower-case, no spaces)",
    _NAME,
    name_max=True,
)
REGISTRY = Kind("registry", "must be a registry host[:port], such as registry.example.com:5000", REGISTRY_PATTERN)
TAG = Kind("tag", "a tag is 1 to 128 of [A-Za-z0-9_.-] and must not start with '.' or '-'", TAG_PATTERN)
PATH = Kind(
    "path",
    "must be a relative path without '..', not starting with '-' and without ','",
    _PATH,
)
GIT_CONTEXT = Kind(
    "git context",
    "a git context must be an http(s) URL such as https://host/org/repo.git#ref:subdir (ref: letters, digits, "
    "'_', '-', single '.' or '/' between them; subdir: a relative path without '..')",
    f"{_GIT_URL}(#({_GIT_REF})?(:{_PATH})?)?",
)
CONTEXT = Kind("context", PATH.message, choose=(("*://*", GIT_CONTEXT), ("*", PATH)))
BOOLEAN = Kind("boolean", "must be true or false", "(true|false)")
COMPRESSION = Kind("compression", "must be gzip or zstd", "(gzip|zstd)")
COMPRESSION_LEVEL = Kind("compression level", "must be a level from 0 to 22 (gzip: 0 to 9)", "([0-9]|1[0-9]|2[0-2])")
BRANCH = Kind(
    "branch",
    "must name a branch: the tag made of it keeps [A-Za-z0-9_.-] (others become '-') and cannot start with '.' or "
    "'-', so it needs a letter, digit or '_'",
    ".*[A-Za-z0-9_].*",
)
CACHE_MODE = Kind("cache mode", "must be min or max", "(min|max)")
DURATION = Kind("duration", "must be a Go duration such as 168h or 30m", "([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+")
STAGE = Kind("stage", "a stage name starts with a letter, then letters, digits, '_', '.' or '-'", "[A-Za-z][A-Za-z0-9_.-]*")
PLATFORM = Kind("platform", "must be os/arch[/variant], e.g. linux/arm64", "[a-z0-9_]+/[a-z0-9_]+(/[a-z0-9_.]+)?")
BUILD_ARG = Kind(
    "build arg",
    "must be KEY=VALUE with a KEY of letters, digits or '_' that does not start with a digit",
    "[A-Za-z_][A-Za-z0-9_]*=.*",
)
LABEL = Kind(
    "label",
    "must be KEY=VALUE with a KEY of letters, digits, '.', '_', '/' or '-' that starts with a letter or digit",
    "[A-Za-z0-9][A-Za-z0-9._/-]*=.*",
)
ARRAY_MARKER = "--cachebuild-array="
"""Marks where each array param starts in a Tekton step's args (:mod:`cachebuild.tekton.script`)."""


def _not_starting_with(prefix: str) -> str:
    """An ERE for any text that does not start with ``prefix`` (ERE has no lookahead; ``prefix`` has no
    character special to ERE): a shorter start of it, or a start of it then another character."""
    assert re.fullmatch(r"[A-Za-z0-9=-]+", prefix)
    shorter = [prefix[:i] for i in range(1, len(prefix))]
    other = [prefix[:i] + f"[^{prefix[i]}].*" for i in range(len(prefix))]
    return "(" + "|".join(shorter + other) + ")?"


ARGUMENT = Kind(
    "argument",
    f"must not start with {ARRAY_MARKER}, which marks the array params in a Tekton step",
    _not_starting_with(ARRAY_MARKER),
)
"""``extra_args``: any text (one argv element an item); the one way to add builder flags."""

VALUE_KINDS: dict[str, Kind] = {
    "images": DESTINATION,
    "context": CONTEXT,
    "dockerfile": PATH,
    "cache": BOOLEAN,
    "no_cache": BOOLEAN,
    "cache_repo": REPOSITORY,
    "cache_tag": TAG,
    "cache_mode": CACHE_MODE,
    "cache_ttl": DURATION,
    "cache_from": DESTINATION,
    "cache_to": DESTINATION,
    "cache_read_only": BOOLEAN,
    "cache_branch": BRANCH,
    "cache_compression": COMPRESSION,
    "cache_compression_level": COMPRESSION_LEVEL,
    "cache_oci_mediatypes": BOOLEAN,
    "cache_image_manifest": BOOLEAN,
    "build_args": BUILD_ARG,
    "target": STAGE,
    "platforms": PLATFORM,
    "labels": LABEL,
    "warm_images": IMAGE,
    "insecure_registries": REGISTRY,
    "extra_args": ARGUMENT,
}
"""The kind of each value a build spec gives a builder program (:func:`cachebuild.builders.spec_values`);
a program may name another for a key (:attr:`~cachebuild.builders.program.Program.kinds`: buildah's cache
refs are repositories)."""


def branch_tag(branch: str) -> str:
    """The cache tag of a branch: bytes outside ``[A-Za-z0-9_.-]`` become ``-``, no leading ``.`` or ``-``,
    at most 128 (Docker's tag grammar). The launchers do the same with ``LC_ALL=C tr``, ``sed`` and ``cut``."""
    safe = bytes(c if chr(c) in _TAG_CHARS else ord("-") for c in branch.encode())
    return safe.decode("ascii").lstrip(".-")[:128]


_TAG_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
OPTIONAL_KEYS = frozenset(
    {"cache_repo", "cache_ttl", "target", "cache_to", "cache_branch", "cache_compression", "cache_compression_level"}
)
"""Single values that may be empty (unset); every other single value must follow its rule."""
LIST_KEYS = frozenset(
    {"images", "cache_from", "build_args", "platforms", "labels", "warm_images", "insecure_registries", "extra_args"}
)
"""Values that are lists (one item a line in a launcher's ``CB_*`` variable)."""
