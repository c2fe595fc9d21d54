"""Helpers shared by the engine tests: typed dict sources, compiling and loading rules."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from typing import Any

from lanner.engine.compiler import ConditionCompiler
from lanner.engine.diagnostics import Diagnostic, LoadResult
from lanner.engine.fields import ArgKind, FieldType, SourceSpec
from lanner.engine.loader import LoadOutcome, RulesLoader
from lanner.engine.parser import parse_condition
from lanner.sources.memory import dict_field, dict_source

SYSCALL_TYPES = ("open", "openat", "execve", "connect", "close", "read", "write")


def typed_source(name: str = "syscall", event_types: Iterable[str] = ()) -> SourceSpec:
    """A dict source with one field of every type, list fields and argument fields."""
    fields = [
        dict_field("proc.name"),
        dict_field("proc.cmdline"),
        dict_field("proc.pname"),
        dict_field("fd.name"),
        dict_field("fd.directory"),
        dict_field("user.name"),
        dict_field("proc.pid", FieldType.NUMBER),
        dict_field("proc.ppid", FieldType.NUMBER),
        dict_field("fd.num", FieldType.NUMBER),
        dict_field("fd.sport", FieldType.PORT),
        dict_field("evt.is_open_write", FieldType.BOOL),
        dict_field("fd.sip", FieldType.IPADDR),
        dict_field("fd.net", FieldType.IPNET),
        dict_field("evt.buffer", FieldType.BYTES),
        dict_field("proc.args", is_list=True),
        dict_field("proc.fds", FieldType.NUMBER, is_list=True),
        dict_field("fd.ips", FieldType.IPADDR, is_list=True),
        dict_field("proc.aname", arg=ArgKind.INDEX),
        dict_field("k8s.pod.label", arg=ArgKind.KEY),
        dict_field("jevt.value", arg=ArgKind.KEY),
        dict_field("ka.verb"),
        dict_field("ka.user.name"),
    ]
    return dict_source(name, fields, event_types=event_types)


def compile_condition(condition: str, source: SourceSpec | None = None) -> Any:
    """Parse and compile a macro-free condition into a predicate."""
    src = source or typed_source()
    compiler = ConditionCompiler(src.fields, src.event_type_field, src.event_types)
    return compiler.compile(parse_condition(condition))


def matches(condition: str, event: dict[str, Any], source: SourceSpec | None = None) -> bool:
    """Whether ``condition`` holds for ``event``."""
    return compile_condition(condition, source)(event)


def load(
    *contents: str,
    sources: Iterable[SourceSpec] | None = None,
    names: Iterable[str] | None = None,
) -> LoadOutcome:
    """Load rules given as YAML strings (dedented), one file name per content."""
    srcs = list(sources) if sources is not None else [typed_source()]
    loader = RulesLoader(srcs)
    file_names = list(names) if names is not None else []
    for i, text in enumerate(contents):
        name = file_names[i] if i < len(file_names) else f"rules{i or ''}.yaml"
        loader.add_content(name, textwrap.dedent(text))
    return loader.compile()


def all_diags(outcome: LoadOutcome) -> list[Diagnostic]:
    """Every error and warning of every file."""
    out: list[Diagnostic] = []
    for r in outcome.results:
        out.extend(r.errors)
        out.extend(r.warnings)
    return out


def codes(outcome: LoadOutcome) -> list[str]:
    """Codes of every diagnostic, errors first per file."""
    return [d.code.name for d in all_diags(outcome)]


def errors(outcome: LoadOutcome) -> list[Diagnostic]:
    """Every error of every file."""
    return [d for r in outcome.results for d in r.errors]


def warnings(outcome: LoadOutcome) -> list[Diagnostic]:
    """Every warning of every file."""
    return [d for r in outcome.results for d in r.warnings]


def result_named(outcome: LoadOutcome, name: str) -> LoadResult:
    """The load result of one file."""
    for r in outcome.results:
        if r.name == name:
            return r
    raise KeyError(name)
