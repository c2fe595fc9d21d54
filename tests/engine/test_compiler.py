"""Compiled conditions evaluated on dict events: every operator, by field type.

Reference for the semantics: libsinsp ``sinsp_filter_check::compare_rhs`` / ``flt_compare``
(a field without a value makes every check false; ``not`` of such a check is true).
"""

from __future__ import annotations

from ipaddress import ip_address
from typing import Any

import pytest
from engine_testutil import compile_condition, matches, typed_source

from lanner.engine.compiler import ConditionCompiler
from lanner.engine.parser import parse_condition
from lanner.exceptions import CompileError, ConditionSyntaxError

BASH = {
    "proc.name": "bash",
    "proc.pname": "sshd",
    "proc.cmdline": "bash -c 'cat /etc/shadow'",
    "fd.name": "/etc/shadow",
    "proc.pid": 42,
    "proc.ppid": 7,
    "fd.sport": 443,
    "evt.is_open_write": True,
    "fd.sip": ip_address("10.1.2.3"),
    "fd.net": ip_address("192.168.1.20"),
    "evt.buffer": b"\x7fELF\x02\x01hello world",
    "proc.args": ["-c", "cat", "/etc/shadow"],
    "proc.fds": [0, 1, 2],
    "fd.ips": [ip_address("10.0.0.1"), ip_address("fe80::1")],
    "proc.aname": ["bash", "sshd", "systemd"],
    "k8s.pod.label": {"app": "web", "app.kubernetes.io/name": "shop"},
    "jevt.value": {"/a/b": "deep"},
}


def compile_error(condition: str) -> CompileError:
    with pytest.raises(CompileError) as info:
        compile_condition(condition)
    return info.value


# -- string operators ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("proc.name = bash", True),
        ("proc.name == bash", True),
        ("proc.name = Bash", False),
        ("proc.name != bash", False),
        ("proc.name != zsh", True),
        ("fd.name contains shad", True),
        ("fd.name contains SHAD", False),
        ("fd.name icontains SHAD", True),
        ("fd.name startswith /etc/", True),
        ("fd.name startswith /usr", False),
        ("fd.name endswith shadow", True),
        ("fd.name endswith shado", False),
        ("fd.name glob /etc/*", True),
        ("fd.name glob /*", True),  # '*' also crosses '/'
        ("fd.name glob /etc/shado?", True),
        ("fd.name glob /etc/[rs]hadow", True),
        ("fd.name glob /ETC/*", False),
        ("fd.name iglob /ETC/SHAD*", True),
        ("fd.name glob shadow", False),
        ('fd.name regex "/etc/s.*"', True),
        ('fd.name regex "shadow"', False),  # anchored on both ends, like RE2 ANCHOR_BOTH
        ('fd.name regex "^/etc/(passwd|shadow)$"', True),
        ("proc.name in (zsh, bash)", True),
        ("proc.name in (zsh, sh)", False),
        ("proc.name intersects (bash)", True),
        ("fd.name pmatch (/etc)", True),
        ("fd.name pmatch (/etc/)", True),
        ("fd.name pmatch (/et)", False),
        ("fd.name pmatch (/usr, /etc/shadow)", True),
        ("fd.name pmatch (/)", True),
        ("fd.name exists", True),
        ('proc.cmdline contains "cat /etc"', True),
        ("proc.cmdline contains 'cat /etc/shadow'", True),
        ("evt.buffer bcontains 68656c6c6f", True),
        ("evt.buffer bcontains 68656c6c6f21", False),
        ("evt.buffer bstartswith 7f454c46", True),
        ("evt.buffer bstartswith 454c46", False),
        ("proc.name bcontains 6173", True),  # 'as'
        ("proc.name bstartswith 6261", True),  # 'ba'
    ],
)
def test_string_operators(condition: str, expected: bool) -> None:
    assert matches(condition, BASH) is expected


def test_pmatch_is_a_path_prefix_not_a_string_prefix() -> None:
    pred = compile_condition("fd.name pmatch (/usr/lib, /opt)")
    assert pred({"fd.name": "/usr/lib/x.so"})
    assert pred({"fd.name": "/usr/lib"})
    assert pred({"fd.name": "/opt"})
    assert not pred({"fd.name": "/usr/libexec/x"})
    assert not pred({"fd.name": "/optional"})
    assert not pred({"fd.name": "/usr"})


# -- numbers, booleans, ports ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("proc.pid = 42", True),
        ("proc.pid = 0x2a", True),
        ("proc.pid = 0X2A", True),
        ("proc.pid != 42", False),
        ("proc.pid < 43", True),
        ("proc.pid <= 42", True),
        ("proc.pid > 42", False),
        ("proc.pid >= 42", True),
        ("proc.pid > -1", True),
        ("proc.pid in (1, 42, 100)", True),
        ("proc.pid in (1, 0x2a)", True),
        ("proc.pid in (1, 2)", False),
        ("proc.pid intersects (42)", True),
        ("fd.sport = 443", True),
        ("fd.sport in (80, 443)", True),
        ("fd.sport > 1024", False),
        ("evt.is_open_write = true", True),
        ("evt.is_open_write = false", False),
        ("evt.is_open_write != false", True),
        ("evt.is_open_write in (true)", True),
    ],
)
def test_numeric_and_bool_operators(condition: str, expected: bool) -> None:
    assert matches(condition, BASH) is expected


def test_number_compares_as_number_not_text() -> None:
    pred = compile_condition("proc.pid > 9")
    assert pred({"proc.pid": 10})  # as text "10" < "9"
    assert not pred({"proc.pid": 9})


# -- IP addresses and networks -------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "value", "expected"),
    [
        ("fd.sip = 10.1.2.3", "10.1.2.3", True),
        ("fd.sip = 10.1.2.4", "10.1.2.3", False),
        ("fd.sip != 10.1.2.4", "10.1.2.3", True),
        ("fd.sip in (10.0.0.0/8)", "10.1.2.3", True),
        ("fd.sip in (10.0.0.0/8)", "11.1.2.3", False),
        ("fd.sip in (127.0.0.1, 192.168.0.0/16, 10.1.2.3)", "10.1.2.3", True),
        ("fd.sip in (::1, fe80::/10)", "fe80::abcd", True),
        ("fd.sip in (::1)", "::1", True),
        ("fd.sip = ::1", "::1", True),
        ("fd.sip in (0.0.0.0/0)", "::1", False),  # an IPv6 address is in no IPv4 network
        ("fd.net = 192.168.0.0/16", "192.168.1.20", True),
        ("fd.net = 192.168.2.0/24", "192.168.1.20", False),
        ("fd.net != 192.168.2.0/24", "192.168.1.20", True),
        ("fd.net in (10.0.0.0/8, 192.168.1.0/24)", "192.168.1.20", True),
        ("fd.net = 192.168.1.20", "192.168.1.20", True),
        ("fd.net = 2001:db8::/32", "2001:db8::5", True),
    ],
)
def test_ip_operators(condition: str, value: str, expected: bool) -> None:
    field = condition.split()[0]
    assert matches(condition, {field: ip_address(value)}) is expected


def test_invalid_ip_constant_is_a_compile_error() -> None:
    err = compile_error("fd.sip = 10.0.0.300")
    assert "10.0.0.300" in err.message
    err = compile_error("fd.net = nonsense/8")
    assert "nonsense/8" in err.message


def test_typed_dict_fields_read_strings_as_their_type() -> None:
    # JSON events carry addresses, numbers and booleans as text
    event = {
        "fd.sip": "10.1.2.3",
        "fd.net": "192.168.1.20",
        "proc.pid": "42",
        "fd.sport": "0x1bb",
        "evt.is_open_write": "true",
        "evt.buffer": "hello",
        "fd.ips": ["10.0.0.1", "not an ip"],
        "proc.fds": ["0", "1"],
    }
    for condition in [
        "fd.sip = 10.1.2.3",
        "fd.sip in (10.0.0.0/8)",
        "fd.net = 192.168.0.0/16",
        "proc.pid > 9",
        "proc.pid = 42",
        "fd.sport = 443",
        "evt.is_open_write = true",
        "evt.buffer bcontains 656c6c",
        "fd.ips in (10.0.0.0/8)",
        "proc.fds in (0, 1, 2)",
    ]:
        assert matches(condition, event), condition
    bad = {"fd.sip": "nope", "proc.pid": "many", "evt.is_open_write": "yes"}
    for condition in ["fd.sip exists", "proc.pid exists", "evt.is_open_write exists"]:
        assert not matches(condition, bad), condition  # not a value of the type: none


# -- missing values --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "condition",
    [
        "proc.name = bash",
        "proc.name != bash",
        "proc.name contains a",
        "proc.name icontains a",
        "proc.name startswith a",
        "proc.name endswith a",
        "proc.name glob *",
        "proc.name iglob *",
        'proc.name regex ".*"',
        "proc.name in (a, b)",
        "proc.name intersects (a, b)",
        "proc.name pmatch (/)",
        "proc.name bcontains 61",
        "proc.name bstartswith 61",
        "proc.pid = 1",
        "proc.pid != 1",
        "proc.pid < 1",
        "proc.pid >= 0",
        "evt.is_open_write = true",
        "evt.is_open_write != true",
        "fd.sip = 10.0.0.1",
        "fd.sip != 10.0.0.1",
        "fd.sip in (0.0.0.0/0)",
        "fd.net = 0.0.0.0/0",
        "fd.net != 10.0.0.0/8",
        "evt.buffer contains a",
        "proc.args in (a)",
        "proc.args intersects (a)",
        "proc.aname[1] = sshd",
        "k8s.pod.label[app] = web",
        "tolower(proc.name) = bash",
        "len(proc.name) = 0",
        "proc.name = val(proc.pname)",
        "proc.name exists",
    ],
)
def test_missing_field_makes_every_check_false_and_its_negation_true(condition: str) -> None:
    assert matches(condition, {}) is False
    assert matches(f"not {condition}", {}) is True
    assert matches(f"not ({condition})", {}) is True


def test_missing_value_inside_and_or() -> None:
    pred = compile_condition("proc.name = bash or fd.name = /etc/shadow")
    assert pred({"fd.name": "/etc/shadow"})
    assert not pred({})
    pred = compile_condition("proc.name != bash and fd.name exists")
    assert not pred({"fd.name": "/x"})
    assert pred({"fd.name": "/x", "proc.name": "sh"})


def test_exists() -> None:
    pred = compile_condition("k8s.pod.label[app] exists")
    assert pred({"k8s.pod.label": {"app": ""}})
    assert not pred({"k8s.pod.label": {"tier": "db"}})
    assert not pred({})
    assert compile_condition("proc.args exists")({"proc.args": ["x"]})


# -- lists -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "args", "expected"),
    [
        ("proc.args in (a, b, c)", ["a", "c"], True),
        ("proc.args in (a, b, c)", ["a", "d"], False),  # in: every value in the set
        ("proc.args in (a, b, c)", ["a", "a"], True),
        ("proc.args intersects (x, c)", ["a", "c"], True),  # intersects: any value
        ("proc.args intersects (x, y)", ["a", "c"], False),
        ("proc.args intersects (a)", [], False),
        ("len(proc.args) = 2", ["a", "c"], True),
        ("len(proc.args) > 2", ["a", "c"], False),
        ("tolower(proc.args) intersects (abc)", ["ABC", "D"], True),
        ("toupper(proc.args) in (ABC, D)", ["abc", "d"], True),
    ],
)
def test_list_fields(condition: str, args: list[str], expected: bool) -> None:
    assert matches(condition, {"proc.args": args}) is expected


def test_numeric_and_ip_list_fields() -> None:
    assert matches("proc.fds in (0, 1, 2, 3)", BASH)
    assert not matches("proc.fds in (0, 1)", BASH)
    assert matches("proc.fds intersects (2, 9)", BASH)
    assert matches("fd.ips intersects (10.0.0.0/8)", BASH)
    assert not matches("fd.ips in (10.0.0.0/8)", BASH)
    assert matches("fd.ips in (10.0.0.0/8, fe80::/10)", BASH)


@pytest.mark.parametrize("op", ["=", "!=", "contains", "startswith", "glob"])
def test_list_field_rejects_scalar_operators(op: str) -> None:
    err = compile_error(f"proc.args {op} a")
    assert "proc.args" in err.message
    assert "only supports operators 'exists', 'in' and 'intersects'" in err.message


def test_operator_that_does_not_take_a_list() -> None:
    with pytest.raises(ConditionSyntaxError, match="expected a string value"):
        compile_condition("proc.name = (a, b)")


# -- field arguments -------------------------------------------------------------------------


def test_field_arguments() -> None:
    assert matches("proc.aname[0] = bash", BASH)
    assert matches("proc.aname[2] = systemd", BASH)
    assert not matches("proc.aname[3] = systemd", BASH)
    assert matches("k8s.pod.label[app] = web", BASH)
    assert matches('k8s.pod.label["app.kubernetes.io/name"] = shop', BASH)
    assert not matches("k8s.pod.label[tier] = web", BASH)
    assert matches("jevt.value[/a/b] = deep", BASH)


def test_field_argument_errors() -> None:
    assert "numeric argument" in compile_error("proc.aname[x] = bash").message
    assert "does not accept an argument" in compile_error("proc.name[1] = bash").message


# -- transformers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "event", "expected"),
    [
        ("tolower(proc.name) = bash", {"proc.name": "BaSh"}, True),
        ("toupper(proc.name) = BASH", {"proc.name": "BaSh"}, True),
        ("toupper(proc.name) = bash", {"proc.name": "BaSh"}, False),
        ("b64(proc.name) = hello", {"proc.name": "aGVsbG8="}, True),
        ("b64(proc.name) exists", {"proc.name": "not base64!"}, False),
        ("basename(fd.name) = shadow", {"fd.name": "/etc/shadow"}, True),
        ("basename(fd.name) = etc", {"fd.name": "/etc/shadow"}, False),
        ("len(proc.name) = 4", {"proc.name": "bash"}, True),
        ("len(proc.name) > 4", {"proc.name": "bash"}, False),
        ("len(evt.buffer) = 3", {"evt.buffer": b"abc"}, True),
        ("toupper(tolower(proc.name)) = BASH", {"proc.name": "BaSh"}, True),
        ("len(basename(fd.name)) = 6", {"fd.name": "/etc/shadow"}, True),
        ("tolower(proc.name) in (bash, zsh)", {"proc.name": "ZSH"}, True),
        ("tolower(fd.name) pmatch (/etc)", {"fd.name": "/ETC/x"}, True),
        ("tolower(proc.name) contains as", {"proc.name": "BASH"}, True),
    ],
)
def test_transformers(condition: str, event: dict[str, Any], expected: bool) -> None:
    assert matches(condition, event) is expected


@pytest.mark.parametrize(
    "condition",
    ["tolower(proc.pid) = 1", "toupper(evt.is_open_write) = X", "basename(fd.sip) = x"],
)
def test_transformer_type_errors(condition: str) -> None:
    err = compile_error(condition)
    assert "cannot be applied" in err.message


# -- field-to-field comparisons --------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "event", "expected"),
    [
        ("proc.name = val(proc.pname)", {"proc.name": "a", "proc.pname": "a"}, True),
        ("proc.name = val(proc.pname)", {"proc.name": "a", "proc.pname": "b"}, False),
        ("proc.name != val(proc.pname)", {"proc.name": "a", "proc.pname": "b"}, True),
        ("proc.name != val(proc.pname)", {"proc.name": "a"}, False),
        ("proc.pid > val(proc.ppid)", {"proc.pid": 10, "proc.ppid": 9}, True),
        ("proc.pid <= val(proc.ppid)", {"proc.pid": 10, "proc.ppid": 9}, False),
        ("proc.pid = val(fd.sport)", {"proc.pid": 80, "fd.sport": 80}, True),
        ("fd.name startswith val(fd.directory)", {"fd.name": "/a/b", "fd.directory": "/a"}, True),
        ("fd.name endswith val(proc.name)", {"fd.name": "/bin/sh", "proc.name": "sh"}, True),
        ("fd.name contains val(proc.name)", {"fd.name": "/bin/shx", "proc.name": "sh"}, True),
        ("proc.name = tolower(proc.pname)", {"proc.name": "a", "proc.pname": "A"}, True),
        ("tolower(proc.name) = tolower(proc.pname)", {"proc.name": "A", "proc.pname": "a"}, True),
        ("proc.name in val(proc.args)", {"proc.name": "a", "proc.args": ["b", "a"]}, True),
        ("proc.name in val(proc.args)", {"proc.name": "c", "proc.args": ["b", "a"]}, False),
    ],
)
def test_field_to_field(condition: str, event: dict[str, Any], expected: bool) -> None:
    assert matches(condition, event) is expected


def test_field_to_field_type_mismatch_is_a_compile_error() -> None:
    err = compile_error("proc.name = val(proc.pid)")
    assert "proc.name" in err.message and "proc.pid" in err.message
    assert "regex" in compile_error("proc.name regex val(proc.pname)").message  # not a str op
    assert (
        "doesn't support right-hand side fields"
        in compile_error("proc.name pmatch val(proc.pname)").message
    )


# -- compile-time errors ---------------------------------------------------------------------


def test_unknown_field() -> None:
    err = compile_error("proc.nope = x")
    assert "nonexistent field" in err.message
    assert "proc.nope" in err.message
    assert (err.pos.line, err.pos.col) == (1, 1)


def test_unknown_field_position_inside_condition() -> None:
    err = compile_error("proc.name = x and\n  (proc.nope = y)")
    assert "nonexistent field proc.nope" in err.message
    assert (err.pos.line, err.pos.col) == (2, 4)


def test_unknown_field_in_transformer_and_val() -> None:
    assert "nonexistent field" in compile_error("tolower(proc.nope) = x").message
    assert "nonexistent field" in compile_error("proc.name = val(proc.nope)").message


@pytest.mark.parametrize(
    ("condition", "fragment"),
    [
        ("proc.pid = abc", "'abc' is not a valid number"),
        ("proc.pid in (1, two)", "'two' is not a valid number"),
        ("evt.is_open_write = yes", "'yes' is not a valid boolean"),
        ("evt.buffer bcontains zz", "'zz' is not a valid hex string"),
        ('proc.name regex "("', "invalid regular expression"),
    ],
)
def test_bad_constants(condition: str, fragment: str) -> None:
    assert fragment in compile_error(condition).message


@pytest.mark.parametrize(
    "condition",
    [
        "proc.pid contains 1",
        "proc.pid startswith 1",
        "proc.pid glob 1*",
        "proc.pid pmatch (/)",
        "evt.is_open_write > 0",
        "fd.sip contains 10",
        "fd.sip > 1",
        "fd.net startswith 10",
    ],
)
def test_operator_not_valid_for_type(condition: str) -> None:
    err = compile_error(condition)
    assert "not supported" in err.message or "needs a string field" in err.message
    assert condition.split()[0] in err.message or "pmatch" in err.message


def test_undefined_macro_reaching_the_compiler() -> None:
    err = compile_error("proc.name = a and some_macro")
    assert err.message == "Undefined macro 'some_macro' used in filter."


def test_event_type_names_are_checked_when_the_source_has_types() -> None:
    src = typed_source(event_types=("open", "execve"))
    assert compile_condition("evt.type = open", src)({"evt.type": "open"})
    with pytest.raises(CompileError, match="unknown event type nope"):
        compile_condition("evt.type in (open, nope)", src)


# -- compiled predicates ---------------------------------------------------------------------


def test_predicate_is_reusable_and_short_circuits() -> None:
    calls: list[str] = []
    src = typed_source()

    def counting(event: Any, arg: Any) -> Any:
        calls.append("x")
        return event.get("proc.cmdline")

    field = src.fields.fields["proc.cmdline"]
    src.fields.replace(type(field)(field.name, field.type, field.desc, counting))
    pred = compile_condition("proc.name = bash and proc.cmdline contains x", src)
    assert not pred({"proc.name": "zsh", "proc.cmdline": "x"})
    assert calls == []  # 'and' stops at the first false check
    assert pred({"proc.name": "bash", "proc.cmdline": "x"})
    assert calls == ["x"]
    pred = compile_condition("proc.name = bash or proc.cmdline contains x", src)
    assert pred({"proc.name": "bash"})
    assert calls == ["x"]  # 'or' stops at the first true check


def test_deeply_nested_condition_compiles() -> None:
    # deeper than the code generator inlines, shallower than the parser's limit
    text = "(" * 150 + "proc.name = bash" + ")" * 150
    text = " and ".join(["not (" * 61 + "proc.name = zsh" + ")" * 61, text])
    pred = compile_condition(text)
    assert pred({"proc.name": "bash"})
    assert not pred({"proc.name": "zsh"})


def test_long_condition_compiles() -> None:
    text = " or ".join(f"proc.name = n{i}" for i in range(3000))
    pred = compile_condition(text)
    assert pred({"proc.name": "n2999"})
    assert not pred({"proc.name": "n3000"})


def test_huge_in_list_compiles() -> None:
    items = ", ".join(f"v{i}" for i in range(100_000))
    pred = compile_condition(f"proc.name in ({items})")
    assert pred({"proc.name": "v99999"})
    assert not pred({"proc.name": "v100000"})


def test_compiler_caches_operands_but_predicates_are_independent() -> None:
    src = typed_source()
    compiler = ConditionCompiler(src.fields)
    p1 = compiler.compile(parse_condition("proc.name = a"))
    p2 = compiler.compile(parse_condition("proc.name = b"))
    assert p1({"proc.name": "a"}) and not p1({"proc.name": "b"})
    assert p2({"proc.name": "b"}) and not p2({"proc.name": "a"})
