"""Issue 18: no field value can make rendering an alert raise (fuzzed).

Hostile values (bytes that are not UTF-8 decoded with ``surrogateescape``, lone
surrogates, control characters, integers beyond 64 bits, NaN, huge strings, nested lists,
raw bytes, addresses...) go through every renderer an alert passes: the text output line
with a field of every type and transformers, ``output_fields`` in JSON with every
``json_include_*`` switch, ``append_output``'s extra text and extra fields, and the
outputs' text and JSON messages. Then the same with the real syscall source: a capture
whose process names, arguments, working directory and paths are fuzzed bytes, read by
the real reader and state engine, every syscall field rendered.

Nothing may raise; every text is valid UTF-8; every JSON line parses.
"""

from __future__ import annotations

import io
import ipaddress
import itertools
import json
import math
import sys
from pathlib import Path
from typing import Any

import orjson
from engine_testutil import SYSCALL_TYPES, errors, typed_source
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lanner.app.outputs.manager import OutputManager
from lanner.engine.alert import Alert, JsonOptions
from lanner.engine.append_output import OutputAppend
from lanner.engine.compiler import ConditionCompiler
from lanner.engine.engine import Engine
from lanner.engine.formatter import compile_template, to_json_value, to_text

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sources" / "syscall"))
from syscall_testutil import block, event, proc_v1, section_header

from lanner.sources.syscall import event_table as et
from lanner.sources.syscall import read_capture, syscall_source

# -- hostile values ------------------------------------------------------------------------

surrogates = st.integers(0xD800, 0xDFFF).map(chr)
controls = st.sampled_from([chr(c) for c in [*range(32), *range(127, 160)]])
any_char = st.one_of(st.characters(exclude_categories=()), surrogates, controls)
texts = st.one_of(  # the huge one is drawn rarely: one_of prefers its first branches
    st.text(any_char, max_size=40),
    st.binary(max_size=40).map(lambda b: b.decode("utf-8", "surrogateescape")),
    st.integers(1, 5_000).map(lambda n: "\udcff\x00\u2028" * n),  # huge
)
scalars = st.one_of(
    texts,
    st.binary(max_size=40),
    st.binary(max_size=40).map(bytearray),
    st.integers(),
    st.integers(2**63, 2**200),
    st.integers(-(2**200), -(2**63) - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.ip_addresses(),
    st.ip_addresses().map(lambda a: ipaddress.ip_network(a)),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.frozensets(st.one_of(texts, st.integers()), max_size=4),
    ),
    max_leaves=8,
)

# -- every field type of the engine, through a rule, append_output and the outputs ---------

FIELDS = [
    "proc.name",
    "proc.cmdline",
    "proc.pname",
    "fd.name",
    "user.name",
    "proc.pid",
    "fd.sport",
    "evt.is_open_write",
    "fd.sip",
    "fd.net",
    "evt.buffer",
    "proc.args",
    "proc.fds",
    "fd.ips",
    "ka.verb",
]
OUTPUT = (
    "all %proc.name %proc.cmdline %proc.pname %fd.name %user.name %proc.pid %fd.sport "
    "%evt.is_open_write %fd.sip %fd.net %evt.buffer %proc.args %proc.fds %fd.ips "
    "%proc.aname[2] %k8s.pod.label[app] %jevt.value[/a/b] %(ka.verb) "
    "%tolower(proc.name) %toupper(fd.name) %basename(fd.name) %b64(evt.buffer) "
    "%len(proc.cmdline) %len(proc.args)"
)
RULES = f"""
- rule: every field
  desc: d
  condition: evt.type = open
  output: "{OUTPUT}"
  priority: WARNING
  tags: [fuzz]
"""
APPEND = [
    OutputAppend(
        tags=frozenset({"fuzz"}),
        extra_output="extra=%proc.cmdline %evt.buffer",
        extra_fields=("fd.name", "proc.args", ("cmd", "%proc.cmdline %fd.sip %proc.fds")),
    )
]
ALL_JSON_OPTIONS = [JsonOptions(*flags) for flags in itertools.product((True, False), repeat=4)]


def make_engine() -> Engine:
    engine = Engine([typed_source(event_types=SYSCALL_TYPES)], append_output=APPEND)
    outcome = engine.load_rules(contents=[("fuzz.yaml", RULES)])
    assert outcome.successful, [e.describe() for e in errors(outcome)]
    return engine


ENGINE = make_engine()
(RULE,) = list(ENGINE.ruleset)
MANAGERS = [OutputManager([], json_output=False)] + [
    OutputManager([], json_output=True, json_opts=o) for o in ALL_JSON_OPTIONS
]


def assert_utf8_text(text: str) -> None:
    text.encode("utf-8")  # strict: a lone surrogate raises


def assert_json_line(line: bytes) -> dict[str, Any]:
    line.decode("utf-8")
    doc = json.loads(line)  # the standard library's parser, not the encoder's
    assert isinstance(doc, dict)
    return doc


def check_alert(alert: Alert, manager: OutputManager) -> None:
    assert_utf8_text(alert.output)
    assert_utf8_text(alert.message)
    doc = assert_json_line(alert.to_json())
    assert set(doc["output_fields"]) >= {*FIELDS, "cmd", "evt.time"}
    message = manager.format(alert)  # what the outputs write: a text or a JSON line
    if manager.json_output:
        assert_json_line(message.line)
    else:
        message.line.decode("utf-8")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.fixed_dictionaries({name: values for name in FIELDS}), values, st.sampled_from(MANAGERS))
def test_every_field_type_renders_in_text_json_and_extra_fields(
    event_fields: dict[str, Any], other: Any, manager: OutputManager
) -> None:
    event = {
        "evt.type": "open",
        **event_fields,
        "proc.aname": other,
        "k8s.pod.label": other,
        "jevt.value": other,
    }
    alert = ENGINE.make_alert(RULE, event, "syscall")
    check_alert(alert, manager)
    # append_output's text is on the line; its fields are rendered like the template's
    assert " extra=" in alert.message
    doc = json.loads(alert.to_json())
    expected = json.loads(orjson.dumps({"v": to_json_value(event["fd.name"])}))["v"]
    assert doc["output_fields"]["fd.name"] == expected


@settings(max_examples=200, deadline=None)
@given(values)
def test_value_renderers_alone(value: Any) -> None:
    assert_utf8_text(to_text(value))
    rendered = to_json_value(value)
    line = orjson.dumps({"v": rendered})
    back = json.loads(line)["v"]
    if isinstance(value, float) and math.isnan(value):
        assert back is None  # orjson writes NaN as null
    elif isinstance(value, str) and value.isascii():
        assert back == value  # nothing changes for text that is already fine


# -- the syscall source: fuzzed bytes in a real capture, every field rendered --------------

SYSCALL = syscall_source()
SYSCALL_COMPILER = ConditionCompiler(SYSCALL.fields, SYSCALL.event_type_field, SYSCALL.event_types)
PLAIN_FIELDS = [f.name for f in SYSCALL.fields if not f.arg_required]
ARG_FIELDS = [
    "proc.aname[1]",
    "proc.aexe[1]",
    "proc.aexepath[2]",
    "evt.arg.name",
    "evt.arg.exe",
    "evt.arg.args",
    "evt.arg[0]",
    "evt.arg[2]",
    "evt.rawarg.name",
    "proc.env[HOME]",
]
TEMPLATE_FIELDS = [*PLAIN_FIELDS, *ARG_FIELDS]
SYSCALL_TEMPLATE = compile_template(" ".join(f"%{f}" for f in TEMPLATE_FIELDS), SYSCALL_COMPILER)
GETTERS = [p for p in SYSCALL_TEMPLATE.pieces if isinstance(p, tuple)]

raw = st.binary(max_size=64).filter(lambda b: b"\0" not in b)


def hostile_capture(comm: bytes, exe: bytes, args: list[bytes], cwd: bytes, path: bytes) -> bytes:
    procs = block(0x202, proc_v1(1, 1, 0, "systemd", "/sbin/init", [], "/"))
    args_raw = b"".join(a + b"\0" for a in args)
    execve = event(
        et.PPME_SYSCALL_EXECVE_19_X,
        100,
        1000,
        res=0,
        exe=exe + b"\0",
        args=args_raw,
        pid=100,
        ptid=1,
        cwd=cwd + b"\0",
        comm=comm + b"\0",
        env=b"HOME=" + path + b"\0",
        trusted_exepath=exe + b"\0",
        filename=exe + b"\0",
    )
    openat = event(
        et.PPME_SYSCALL_OPENAT_2_X, 100, 2000, fd=3, dirfd=-100, name=path + b"\0", flags=1
    )
    return section_header() + procs + execve + openat


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw, raw, st.lists(raw, max_size=4), raw, raw)
def test_syscall_fields_of_hostile_bytes_render(
    comm: bytes, exe: bytes, args: list[bytes], cwd: bytes, path: bytes
) -> None:
    events = list(read_capture(io.BytesIO(hostile_capture(comm, exe, args, cwd, path))))
    assert [e.type for e in events][-2:] == [
        et.PPME_SYSCALL_EXECVE_19_X,
        et.PPME_SYSCALL_OPENAT_2_X,
    ]
    for evt in events:
        for name, getter in GETTERS:
            try:
                value = getter(evt)
            except Exception as exc:  # every field getter must cope with any bytes
                raise AssertionError(f"{name} raised {exc!r} on {evt}") from exc
            assert_utf8_text(to_text(value))
            orjson.dumps(to_json_value(value))
        text, fields = SYSCALL_TEMPLATE.render(evt)
        assert_utf8_text(text)
        json.loads(orjson.dumps(fields))
    opened = events[-1]
    # the path is rendered, not lost: valid bytes as they are, the others as U+FFFD
    shown = dict(SYSCALL_TEMPLATE.render(opened)[1])["fd.name"]
    expected = path.decode("utf-8", "replace")
    assert shown == expected or shown.endswith(expected.lstrip("/")), (shown, expected)
