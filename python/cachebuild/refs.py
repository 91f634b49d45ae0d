"""OCI distribution image references, parsed by the grammar of distribution/reference.

https://github.com/distribution/reference/blob/main/reference.go ::

    reference        := name [ ":" tag ] [ "@" digest ]
    name             := [domain '/'] remote-name
    domain           := host [':' port-number]
    path-component   := alpha-numeric [separator alpha-numeric]*
    alpha-numeric    := /[a-z0-9]+/
    separator        := /[_.]|__|[-]+/
    tag              := /[\\w][\\w.-]{0,127}/
    digest           := algorithm ":" hex   (algorithm components /[A-Za-z][A-Za-z0-9]*/ joined by [+._-])
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cachebuild import kinds
from cachebuild.errors import SpecError

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9A-Fa-f:.]+\])"
_DOMAIN_RE = re.compile(rf"{_HOST}(?::[0-9]+)?")
_PATH_RE = re.compile(rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*")
_TAG_RE = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
_DIGEST_RE = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}")
_NAME_MAX = 255


@dataclass(frozen=True)
class ImageRef:
    """A parsed image reference; ``str()`` gives back exactly what the user wrote."""

    text: str
    domain: str | None
    path: str
    tag: str | None
    digest: str | None

    @property
    def repository(self) -> str:
        """``[domain/]path``: the reference without tag or digest."""
        return f"{self.domain}/{self.path}" if self.domain else self.path

    def __str__(self) -> str:
        return self.text


def _looks_like_domain(component: str) -> bool:
    # The same rule as distribution/reference splitDockerDomain.
    return "." in component or ":" in component or component == "localhost" or component.lower() != component


def parse_image_ref(field: str, text: str) -> ImageRef:
    """Parse ``text`` or raise :class:`SpecError` naming ``field``."""
    if not isinstance(text, str):
        raise SpecError(field, text, "an image reference must be a string")
    if text == "":
        raise SpecError(field, text, "an image reference must not be empty")
    if text != text.strip() or any(c.isspace() for c in text):
        raise SpecError(field, text, "an image reference must not contain white space")
    rest, digest = text, None
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        if not _DIGEST_RE.fullmatch(digest):
            raise SpecError(field, text, "the digest must be ALGORITHM:HEX (e.g. sha256: and 64 hex digits)")
    name, tag = rest, None
    last_slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > last_slash:
        name, tag = rest[:colon], rest[colon + 1 :]
        if not _TAG_RE.fullmatch(tag):
            raise SpecError(field, text, "a tag is 1 to 128 of [A-Za-z0-9_.-] and must not start with '.' or '-'")
    if name == "":
        raise SpecError(field, text, "the repository name is missing")
    if len(name) > _NAME_MAX:
        raise SpecError(field, text, f"the repository name is longer than {_NAME_MAX} characters")
    domain: str | None = None
    path = name
    first, sep, remainder = name.partition("/")
    if sep and _looks_like_domain(first):
        domain, path = first, remainder
        if not _DOMAIN_RE.fullmatch(domain):
            raise SpecError(field, text, f"{domain!r} is not a valid registry host[:port]")
    if path.lower() != path:
        raise SpecError(field, text, "the repository path must be lower-case")
    if not _PATH_RE.fullmatch(path):
        raise SpecError(
            field, text, "the repository path must be /-separated components of [a-z0-9] joined by '.', '_', '__' or '-'"
        )
    if not kinds.IMAGE.matches(text):  # the rule the launchers check too (cachebuild.kinds)
        raise SpecError(field, text, kinds.IMAGE.message)
    return ImageRef(text=text, domain=domain, path=path, tag=tag, digest=digest)


def parse_repository(field: str, text: str) -> ImageRef:
    """A repository without tag or digest (e.g. a cache repository)."""
    ref = parse_image_ref(field, text)
    if ref.tag is not None or ref.digest is not None:
        raise SpecError(field, text, "must be a repository without a tag or digest (e.g. registry.example.com/team/app/cache)")
    return ref
