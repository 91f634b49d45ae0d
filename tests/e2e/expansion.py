"""The kubelet's ``$(VAR)`` expansion, ported line for line from Kubernetes'
``third_party/forked/golang/expansion/expand.go`` (used for env values, command and args).

* ``$(NAME)`` becomes the value of NAME when the mapping knows it, else stays ``$(NAME)`` as written;
* ``$$`` becomes ``$`` (so ``$$(NAME)`` is the literal ``$(NAME)``);
* a ``$`` before anything else, and an unclosed ``$(``, stay as written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

_OPERATOR = "$"
_OPENER = "("
_CLOSER = ")"


def _syntax_wrap(name: str) -> str:
    return _OPERATOR + _OPENER + name + _CLOSER


def mapping_func_for(*contexts: Mapping[str, str]) -> Callable[[str], str]:
    """MappingFuncFor: the first context that defines the name wins; unknown names stay ``$(NAME)``."""

    def mapping(name: str) -> str:
        for variables in contexts:
            if name in variables:
                return variables[name]
        return _syntax_wrap(name)

    return mapping


def expand(text: str, mapping: Callable[[str], str]) -> str:
    """Expand: replace the variable references in ``text`` through ``mapping``."""
    out: list[str] = []
    checkpoint = 0
    cursor = 0
    while cursor < len(text):
        if text[cursor] == _OPERATOR and cursor + 1 < len(text):
            out.append(text[checkpoint:cursor])
            read, is_var, advance = _try_read_variable_name(text[cursor + 1 :])
            out.append(mapping(read) if is_var else read)
            cursor += advance
            checkpoint = cursor + 1
        cursor += 1
    return "".join(out) + text[checkpoint:]


def _try_read_variable_name(text: str) -> tuple[str, bool, int]:
    """tryReadVariableName: ``(what was read, whether it is a variable name, bytes consumed)``."""
    first = text[0]
    if first == _OPERATOR:  # escaped operator
        return text[0:1], False, 1
    if first == _OPENER:
        for i in range(1, len(text)):
            if text[i] == _CLOSER:
                return text[1:i], True, i + 1
        return _OPERATOR + _OPENER, False, 1  # incomplete reference
    return _OPERATOR + first, False, 1  # an operator that begins no expression
