"""Output templates, alert text and JSON, hostname, and the end-of-run summary.

References: falcosecurity/falco ``userspace/engine/formats.cpp`` (alert JSON: nlohmann's
sorted keys, time as RFC 3339 UTC ns, evt.time in output_fields) and the stats summary.
"""

from __future__ import annotations

import time
from ipaddress import ip_address
from typing import Any

import orjson
import pytest
from engine_testutil import SYSCALL_TYPES, load, typed_source, warnings

from lanner.engine.alert import Alert, JsonOptions, default_hostname, format_time, json_time
from lanner.engine.compiler import ConditionCompiler
from lanner.engine.diagnostics import WarningCode
from lanner.engine.engine import Engine
from lanner.engine.formatter import compile_template
from lanner.engine.priority import Priority
from lanner.exceptions import FormatError

TS = 1_700_000_000_123_456_789  # 2023-11-14T22:13:20.123456789Z
EVENT = {
    "evt.type": "open",
    "evt.time": TS,
    "proc.name": "bash",
    "proc.pid": 42,
    "proc.args": ["-c", "id"],
    "proc.aname": ["bash", "sshd"],
    "k8s.pod.label": {"app": "web"},
    "evt.is_open_write": True,
    "fd.sip": ip_address("10.0.0.1"),
    "evt.buffer": b"hi",
}


def render(template: str, event: dict[str, Any] = EVENT) -> tuple[str, dict[str, Any]]:
    src = typed_source()
    return compile_template(template, ConditionCompiler(src.fields)).render(event)


# -- templates -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "text"),
    [
        ("shell %proc.name", "shell bash"),
        ("x=%(proc.name)y", "x=bashy"),
        ("%(  proc.name  )!", "bash!"),
        ("pid=%proc.pid.", "pid=42."),
        ("end %proc.name...", "end bash..."),
        ("(%proc.name)", "(bash)"),
        ("%proc.name,%proc.pid;", "bash,42;"),
        ("%proc.aname[1] %k8s.pod.label[app]", "sshd web"),
        ("file=%fd.name", "file=<NA>"),
        ("%k8s.pod.label[tier]", "<NA>"),
        ("args=%proc.args", "args=(-c,id)"),
        ("w=%evt.is_open_write ip=%fd.sip buf=%evt.buffer", "w=true ip=10.0.0.1 buf=hi"),
        ("%tolower(proc.name) %toupper(proc.name)", "bash BASH"),
        ("literal only", "literal only"),
        ("trailing %", "trailing %"),
        ("", ""),
    ],
)
def test_template_text(template: str, text: str) -> None:
    assert render(template)[0] == text


def test_template_fields_for_json() -> None:
    text, fields = render("%proc.name %fd.name %proc.pid %proc.args %fd.sip %proc.name")
    assert text == "bash <NA> 42 (-c,id) 10.0.0.1 bash"
    assert fields == {
        "proc.name": "bash",
        "fd.name": None,
        "proc.pid": 42,
        "proc.args": ["-c", "id"],
        "fd.sip": "10.0.0.1",
    }


def test_template_field_names_in_order_without_duplicates() -> None:
    src = typed_source()
    tpl = compile_template(
        "%proc.name %(fd.name) %proc.name %proc.aname[0]", ConditionCompiler(src.fields)
    )
    assert tpl.field_names == ["proc.name", "fd.name", "proc.aname[0]"]


def test_unknown_field_in_template() -> None:
    src = typed_source()
    with pytest.raises(FormatError, match=r"invalid formatting token nope\.field"):
        compile_template("x %nope.field", ConditionCompiler(src.fields))
    with pytest.raises(FormatError, match="invalid formatting token"):
        compile_template("x %(proc.name", ConditionCompiler(src.fields))


def test_broken_extractor_renders_na() -> None:
    src = typed_source()

    def boom(event: Any, arg: Any) -> Any:
        raise RuntimeError("x")

    field = src.fields.fields["proc.name"]
    src.fields.replace(type(field)(field.name, field.type, field.desc, boom))
    text, fields = compile_template("n=%proc.name", ConditionCompiler(src.fields)).render({})
    assert (text, fields) == ("n=<NA>", {"proc.name": None})


# -- alerts ----------------------------------------------------------------------------

RULES = """
- rule: Shell spawned
  desc: a shell
  condition: evt.type = open and proc.name = bash
  output: "Shell spawned (proc=%proc.name pid=%proc.pid file=%fd.name)"
  priority: WARNING
  tags: [shell, mitre_execution, container]
"""


def engine(**kw: Any) -> Engine:
    eng = Engine([typed_source(event_types=SYSCALL_TYPES)], hostname="myhost", **kw)
    out = eng.load_rules(contents=[("rules.yaml", RULES)])
    assert out.successful
    return eng


def the_alert(**kw: Any) -> Alert:
    (alert,) = engine(**kw).process(EVENT, "syscall")
    return alert


def test_alert_text_line() -> None:
    alert = the_alert()
    assert alert.message == "Shell spawned (proc=bash pid=42 file=<NA>)"
    local = time.strftime("%H:%M:%S", time.localtime(TS // 1_000_000_000))
    assert alert.output == f"{local}.123456789: Warning Shell spawned (proc=bash pid=42 file=<NA>)"


def test_alert_text_line_iso8601() -> None:
    alert = the_alert(iso8601=True)
    assert alert.output == (
        "2023-11-14T22:13:20.123456789+0000: Warning Shell spawned (proc=bash pid=42 file=<NA>)"
    )


def test_time_helpers() -> None:
    assert json_time(TS) == "2023-11-14T22:13:20.123456789Z"
    assert json_time(5) == "1970-01-01T00:00:00.000000005Z"
    assert format_time(TS, iso8601=True) == "2023-11-14T22:13:20.123456789+0000"
    assert format_time(TS).endswith(".123456789")
    assert len(format_time(TS)) == len("HH:MM:SS.nnnnnnnnn")


def test_alert_json_keys_and_values() -> None:
    alert = the_alert()
    doc = orjson.loads(alert.to_json())
    assert list(doc) == [
        "hostname",
        "output",
        "output_fields",
        "priority",
        "rule",
        "source",
        "tags",
        "time",
    ]
    assert doc["hostname"] == "myhost"
    assert doc["output"] == alert.output
    assert doc["priority"] == "Warning"
    assert doc["rule"] == "Shell spawned"
    assert doc["source"] == "syscall"
    assert doc["tags"] == ["container", "mitre_execution", "shell"]
    assert doc["time"] == "2023-11-14T22:13:20.123456789Z"
    assert doc["output_fields"] == {
        "evt.time": TS,
        "fd.name": None,
        "proc.name": "bash",
        "proc.pid": 42,
    }
    assert list(doc["output_fields"]) == sorted(doc["output_fields"])


def test_alert_json_iso8601_output_fields() -> None:
    doc = the_alert(iso8601=True).as_dict()
    # libsinsp's JSON formatter gives the time fields as the event time in ns
    # (sinsp_filter_check_gen_event::extract_as_js), whatever their text form
    assert doc["output_fields"]["evt.time.iso8601"] == 1700000000123456789
    assert "evt.time" not in doc["output_fields"]


@pytest.mark.parametrize(
    ("opts", "keys"),
    [
        (
            JsonOptions(include_output=False),
            ["hostname", "output_fields", "priority", "rule", "source", "tags", "time"],
        ),
        (
            JsonOptions(include_tags=False),
            ["hostname", "output", "output_fields", "priority", "rule", "source", "time"],
        ),
        (
            JsonOptions(include_output_fields=False),
            ["hostname", "output", "priority", "rule", "source", "tags", "time"],
        ),
        (
            JsonOptions(include_message=True),
            [
                "hostname",
                "message",
                "output",
                "output_fields",
                "priority",
                "rule",
                "source",
                "tags",
                "time",
            ],
        ),
        (
            JsonOptions(include_output=False, include_tags=False, include_output_fields=False),
            ["hostname", "priority", "rule", "source", "time"],
        ),
    ],
)
def test_json_include_switches(opts: JsonOptions, keys: list[str]) -> None:
    doc = orjson.loads(the_alert().to_json(opts))
    assert list(doc) == keys
    if "message" in doc:
        assert doc["message"] == "Shell spawned (proc=bash pid=42 file=<NA>)"


def test_json_is_one_line() -> None:
    assert b"\n" not in the_alert().to_json()


def test_event_without_time_uses_now() -> None:
    eng = engine()
    before = time.time_ns()
    (alert,) = eng.process({k: v for k, v in EVENT.items() if k != "evt.time"}, "syscall")
    assert before <= alert.time_ns <= time.time_ns()


# -- hostname --------------------------------------------------------------------------


def test_hostname_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    monkeypatch.delenv("FALCO_HOSTNAME", raising=False)
    monkeypatch.delenv("LANNER_HOSTNAME", raising=False)
    assert default_hostname() == socket.gethostname()
    monkeypatch.setenv("LANNER_HOSTNAME", "lanner-node")
    assert default_hostname() == "lanner-node"
    monkeypatch.setenv("FALCO_HOSTNAME", "falco-node")
    assert default_hostname() == "falco-node"  # Falco's variable wins
    monkeypatch.setenv("FALCO_HOSTNAME", "")
    assert default_hostname() == "lanner-node"  # an empty value is ignored
    eng = Engine([typed_source(event_types=SYSCALL_TYPES)])
    eng.load_rules(contents=[("rules.yaml", RULES)])
    (alert,) = eng.process(EVENT, "syscall")
    assert alert.as_dict()["hostname"] == "lanner-node"


# -- summary ---------------------------------------------------------------------------


def test_summary_format() -> None:
    eng = Engine([typed_source(event_types=SYSCALL_TYPES)], hostname="h")
    eng.ruleset.match_all = True
    rules = "".join(
        f"- rule: {name}\n  desc: d\n  condition: proc.name = {proc}\n  output: o\n"
        f"  priority: {prio}\n"
        for name, proc, prio in [
            ("Zeta rule", "a", "INFO"),
            ("Alpha rule", "a", "CRITICAL"),
            ("Never", "zzz", "ERROR"),
            ("Beta rule", "b", "warning"),
        ]
    )
    assert eng.load_rules(contents=[("r.yaml", rules)]).successful
    for name in ["a", "b", "a", "c"]:
        eng.process({"evt.type": "open", "proc.name": name}, "syscall")
    assert eng.summary() == (
        "Events detected: 5\n"
        "Rule counts by severity:\n"
        "   CRITICAL: 2\n"
        "   WARNING: 1\n"
        "   INFO: 2\n"
        "Triggered rules by rule name:\n"
        "   Zeta rule: 2\n"
        "   Alpha rule: 2\n"
        "   Beta rule: 1\n"
    )


def test_summary_with_nothing_detected() -> None:
    eng = engine()
    assert eng.summary() == (
        "Events detected: 0\nRule counts by severity:\nTriggered rules by rule name:\n"
    )


def test_priority_labels() -> None:
    assert Priority.INFORMATIONAL.label == "Informational"
    assert Priority.INFORMATIONAL.short_label == "Info"
    assert Priority.WARNING.short_label == "Warning"


def test_container_info_is_dropped_with_a_deprecation_warning() -> None:
    out = load(
        "- rule: r\n  desc: d\n  condition: proc.name = x\n"
        "  output: shell %proc.name %container.info\n  priority: info\n"
    )
    (w,) = warnings(out)
    assert w.code is WarningCode.LOAD_DEPRECATED_ITEM
    assert w.message.startswith("%container.info is deprecated")
    r = out.ruleset.get("r")
    assert r is not None and r.output == "shell %proc.name"
    assert r.template.render({"proc.name": "x"})[0] == "shell x"
