"""Markdown pieces shared by the rendered READMEs (``tasks/*/*/README.md``, ``workflows/README.md``).

Only text layout lives here; what a README says comes from the Task or template it documents.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from cachebuild.yamltext import GENERATED_NOTE

GENERATED_HEADER = f"<!-- {GENERATED_NOTE} -->\n"
"""The first line of every Markdown file ``cachebuild render`` writes (invisible when shown)."""


def cell(text: str) -> str:
    """``text`` as one table cell: pipes escaped, newlines as spaces."""
    return text.replace("|", "\\|").replace("\n", " ")


def code(text: str) -> str:
    """Inline code (a value with a backtick gets a double-backtick fence)."""
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def default_cell(default: str | list[str] | None) -> str:
    """A parameter's default as a table cell: ``(required)``, ``[]``, ``""`` or the value in code."""
    if default is None:
        return "(required)"
    if isinstance(default, list):
        return code("[" + ", ".join(default) + "]")
    return code(default) if default else '`""`'


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """A table's lines; cells are written as given (use :func:`cell` / :func:`code` on them)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def fenced(language: str, text: str) -> list[str]:
    """A fenced code block's lines."""
    return [f"```{language}", text.rstrip("\n"), "```"]
