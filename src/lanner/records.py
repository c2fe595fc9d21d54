"""Record classes that cost nothing to define: dataclass behaviour without its code generation.

``@dataclass`` writes each class's ``__init__``, ``__repr__`` and ``__eq__`` (and, frozen,
``__hash__``, ``__setattr__``, ``__delattr__``) as source text and compiles every one with
``exec`` when its module is imported: 0.2-0.6 ms a class here, tens of ms of every ``lanner
run``'s start-up for the classes it imports. A :class:`Record` subclass names its fields in
``__slots__`` and, in order, ``__match_args__``, and writes an ``__init__`` that takes them
in that order; it gets the repr and the equality a dataclass would give it, and copies and
pickles through that ``__init__``. :class:`FrozenRecord` adds a dataclass's
frozen behaviour: assignment raises ``dataclasses.FrozenInstanceError`` and equal records
hash alike. Use them for classes on the start-up path; ``@dataclass`` stays the simple choice
elsewhere (and where ``dataclasses.replace``, ``fields`` or ``asdict`` is used).

This module imports nothing of Lanner: every layer can use it.
"""

from __future__ import annotations

from typing import Any, ClassVar


class Record:
    """A record: fields in ``__match_args__``, a dataclass's repr and equality."""

    __slots__ = ()
    __match_args__: ClassVar[tuple[str, ...]] = ()

    def _values(self) -> tuple[Any, ...]:
        return tuple([getattr(self, name) for name in self.__match_args__])

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__match_args__)
        return f"{type(self).__qualname__}({fields})"

    def __reduce__(self) -> tuple[type[Record], tuple[Any, ...]]:
        return type(self), self._values()

    def __eq__(self, other: object) -> bool:  # no __hash__: unhashable, as a dataclass
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Record)
        return self._values() == other._values()


class FrozenRecord(Record):
    """A record whose fields cannot change after ``__init__``; equal records hash alike.

    ``__init__`` sets the fields with ``object.__setattr__(self, name, value)``.
    """

    __slots__ = ()

    def __setattr__(self, name: str, value: Any) -> None:
        from dataclasses import FrozenInstanceError

        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        from dataclasses import FrozenInstanceError

        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __hash__(self) -> int:
        return hash(self._values())
