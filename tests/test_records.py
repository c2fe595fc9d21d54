"""lanner.records: the record classes behave as the dataclasses they replace."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import pytest

from lanner.engine.ast import BinaryCheck, FieldRef, Pos, Value
from lanner.engine.collector import RuleInfo
from lanner.engine.diagnostics import Location
from lanner.engine.priority import Priority
from lanner.records import FrozenRecord, Record


class Point(Record):
    """A test record."""

    __slots__ = __match_args__ = ("x", "y")

    def __init__(self, x: int, y: list[int] | None = None) -> None:
        self.x = x
        self.y = [] if y is None else y


class Mark(FrozenRecord):
    """A frozen test record."""

    __slots__ = __match_args__ = ("name", "at")

    def __init__(self, name: str, at: int = 0) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "at", at)


@dataclasses.dataclass(slots=True)
class DPoint:
    """The dataclass Point stands for."""

    x: int
    y: list[int] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True, slots=True)
class DMark:
    """The dataclass Mark stands for."""

    name: str
    at: int = 0


def test_repr_is_a_dataclass_repr() -> None:
    assert repr(Point(1, [2])) == repr(DPoint(1, [2])).replace("DPoint", "Point")
    assert repr(Mark("a")) == repr(DMark("a")).replace("DMark", "Mark")
    check = BinaryCheck(FieldRef("proc.name"), "=", Value("sh"), Pos(4, 1, 5))
    assert repr(check) == (
        "BinaryCheck(left=FieldRef(name='proc.name', arg=None, pos=Pos(idx=0, line=1, col=1)),"
        " op='=', right=Value(value='sh', pos=Pos(idx=0, line=1, col=1)),"
        " pos=Pos(idx=4, line=1, col=5))"
    )


def test_equality_by_fields_and_class() -> None:
    assert Point(1, [2]) == Point(1, [2])
    assert Point(1, [2]) != Point(1, [3])
    assert Point(1) != DPoint(1)  # another class never compares equal
    assert Point(1).__eq__((1, [])) is NotImplemented
    assert Pos(3, 1, 4) == Pos(3, 1, 4) and Pos(3, 1, 4) != Pos(3, 1, 5)


def test_mutable_records_are_unhashable_frozen_ones_hash_by_value() -> None:
    with pytest.raises(TypeError):
        hash(Point(1))
    assert hash(Mark("a", 1)) == hash(Mark("a", 1))
    assert len({Pos(1, 1, 2), Pos(1, 1, 2), Pos(2, 1, 3)}) == 2


def test_frozen_records_refuse_changes_as_a_frozen_dataclass() -> None:
    mark = Mark("a")
    with pytest.raises(dataclasses.FrozenInstanceError):
        mark.at = 2  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del mark.at  # type: ignore[misc]
    loc = Location("rule", "r", "f.yaml", 3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        loc.line = 4  # type: ignore[misc]
    assert (mark.at, loc.line) == (0, 3)


def test_copies_and_pickles_are_equal_and_independent() -> None:
    info = RuleInfo("r", "evt.type=open", "out", "desc", Priority.WARNING, (), tags={"t"})
    for clone in (copy.deepcopy(info), pickle.loads(pickle.dumps(info))):
        assert clone == info and clone is not info
        clone.tags.add("u")
        assert info.tags == {"t"}
    mark = Mark("a", 2)
    assert copy.copy(mark) == mark and pickle.loads(pickle.dumps(mark)) == mark
    assert copy.deepcopy(Pos(5, 2, 1)) == Pos(5, 2, 1)


def test_defaults_are_fresh_per_instance() -> None:
    a, b = Point(1), Point(1)
    a.y.append(1)
    assert b.y == []
    assert (
        RuleInfo("r", "c", "o", "d", Priority.NOTICE, ()).tags
        is not RuleInfo("r", "c", "o", "d", Priority.NOTICE, ()).tags
    )


def test_slots_only() -> None:
    point = Point(1)
    with pytest.raises(AttributeError):
        point.z = 3  # type: ignore[attr-defined]
    assert Point.__match_args__ == ("x", "y")
    match BinaryCheck(FieldRef("fd.name"), "contains", Value("/etc")):
        case BinaryCheck(FieldRef(name), op, Value(value)):
            assert (name, op, value) == ("fd.name", "contains", "/etc")
        case _:
            pytest.fail("the record did not match its own pattern")
