"""A multi-valued field result compared with libsinsp's "any of" semantics."""

from __future__ import annotations

from typing import Any


class AnyOf(tuple):  # type: ignore[type-arg]
    """Values of a field that stands for several things at once (``proc.aname``, ``fd.ip``).

    libsinsp compares such fields element-wise: ``=`` holds when any element equals the
    constant, ``!=`` when none does. ``==``/``!=`` implement exactly that, so the engine's
    scalar comparisons work unchanged; ``in`` and network matches need the engine to
    iterate (``any(x in s for x in value)``) when it sees an AnyOf.
    """

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return any(x == other for x in self)

    def __ne__(self, other: object) -> bool:
        return all(x != other for x in self)

    def __hash__(self) -> int:
        return tuple.__hash__(self)

    @property
    def version(self) -> Any:
        """Placeholder so address matchers that read ``.version`` fail soft."""
        return None

    def __str__(self) -> str:
        return " ".join(str(x) for x in self)
