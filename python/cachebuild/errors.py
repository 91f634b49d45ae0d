"""The one exception type for bad user input."""

from __future__ import annotations


class SpecError(ValueError):
    """Invalid user input: names the field, quotes the value and says what is wrong.

    ``field`` is the spec field as a Python user spells it (``images[1]``, ``cache_repo``,
    ``build_args['HTTP PROXY']``); front ends (the CLI, ``--specs`` files) translate it to their
    own spelling with :meth:`renamed`. A ``value`` of ``None`` means nothing was given: the message
    then quotes nothing.
    """

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{field}: {reason}" + ("" if value is None else f" (got {value!r})"))

    def renamed(self, field: str) -> SpecError:
        """The same error under another field name (e.g. a CLI flag)."""
        return SpecError(field, self.value, self.reason)
