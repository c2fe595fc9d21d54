"""A source's field table refuses a field name defined twice (before, the later definition
silently replaced the earlier one: container.name was defined twice in the syscall
source), and every real source builds its table without a duplicate."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from lanner import DuplicateFieldError, FieldTable, LannerError, SourceSpec
from lanner.sources.cloudtrail import cloudtrail_source
from lanner.sources.json_source.source import json_source
from lanner.sources.k8s_audit import k8s_audit_source
from lanner.sources.memory import dict_field
from lanner.sources.syscall import syscall_source


def test_a_name_defined_twice_is_refused_naming_both_definitions() -> None:
    table = FieldTable("demo")
    table.add(dict_field("proc.name"))
    with pytest.raises(DuplicateFieldError) as info:
        table.extend([dict_field("proc.pid"), dict_field("proc.name")])
    message = str(info.value)
    assert message.startswith("demo source: field proc.name is defined twice (")
    assert message.count("lanner.sources.memory.") == 2  # both definitions are located
    assert isinstance(info.value, LannerError)
    # the first definition stays; fields before the duplicate were added
    assert set(table.fields) == {"proc.name", "proc.pid"}


def test_replacing_a_field_is_said_explicitly() -> None:
    table = FieldTable("demo")
    first = dict_field("proc.name")
    table.add(first)
    second = dict_field("proc.name")
    table.replace(second)
    assert table.fields["proc.name"] is second
    with pytest.raises(KeyError, match=r"no field proc\.nope to replace"):
        table.replace(dict_field("proc.nope"))


@pytest.mark.parametrize(
    "build",
    [syscall_source, k8s_audit_source, cloudtrail_source, json_source],
    ids=["syscall", "k8s_audit", "aws_cloudtrail", "json"],
)
def test_every_real_source_defines_each_field_once(build: Callable[[], SourceSpec]) -> None:
    spec = build()
    assert len(list(spec.fields)) > 10
    assert len({f.name for f in spec.fields}) == len(list(spec.fields))


def test_container_name_is_the_metadata_field() -> None:
    field = syscall_source().fields.fields["container.name"]
    assert field.desc == "container name"
    assert field.extract.__module__ == "lanner.sources.syscall.containers.fields"
