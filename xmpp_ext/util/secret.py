"""A password that never shows itself in output, logs or tracebacks."""

from __future__ import annotations


class Secret:
    """Wraps a password; ``str``/``repr`` print a mask, ``reveal()`` gives the value.

    Keeping the value behind one explicit call makes every place that hands
    it on (slixmpp, a child's environment) easy to find and review.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("a Secret wraps a str")
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


class MaskedText(str):
    """A revealed password on its way into a child's environment: a ``str`` to everything that uses it,
    but its ``repr`` is a mask.

    A mapping holding it (``environment_for()``'s) then hides it wherever it is shown by repr: pytest's
    assertion messages and ``--showlocals``, a logged dict, a debugger.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "'********'"
