"""The condition parser: Falco's grammar, precedence, values, and errors with positions.

Reference: falcosecurity/libs ``userspace/libsinsp/filter/parser.cpp`` and ``escaping.cpp``.
"""

from __future__ import annotations

import pytest

from lanner.engine import ast
from lanner.engine.parser import parse_condition, unescape
from lanner.exceptions import ConditionSyntaxError


def check(text: str) -> ast.BinaryCheck:
    node = parse_condition(text)
    assert isinstance(node, ast.BinaryCheck), node
    return node


def syntax_error(text: str) -> ConditionSyntaxError:
    with pytest.raises(ConditionSyntaxError) as info:
        parse_condition(text)
    return info.value


def shape(node: ast.Expr) -> object:
    """A compact structural view of a tree: macros by name, checks as tuples."""
    if isinstance(node, ast.Identifier):
        return node.name
    if isinstance(node, ast.And):
        return ("and", *[shape(c) for c in node.children])
    if isinstance(node, ast.Or):
        return ("or", *[shape(c) for c in node.children])
    if isinstance(node, ast.Not):
        return ("not", shape(node.child))
    if isinstance(node, ast.UnaryCheck):
        return (node.left.text(), node.op)
    if isinstance(node, ast.BinaryCheck):
        right = node.right
        if isinstance(right, ast.Value):
            rv: object = right.value
        elif isinstance(right, ast.ListValue):
            rv = tuple(right.values)
        else:
            rv = right.text()  # type: ignore[union-attr]
        return (node.left.text(), node.op, rv)
    raise AssertionError(node)


# -- operators ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "op", "value"),
    [
        ("proc.name = bash", "=", "bash"),
        ("proc.name == bash", "==", "bash"),
        ("proc.name != bash", "!=", "bash"),
        ("proc.pid < 10", "<", "10"),
        ("proc.pid <= 10", "<=", "10"),
        ("proc.pid > 10", ">", "10"),
        ("proc.pid >= 10", ">=", "10"),
        ("fd.name contains /etc", "contains", "/etc"),
        ("fd.name icontains /ETC", "icontains", "/ETC"),
        ("evt.buffer bcontains 0a0b", "bcontains", "0a0b"),
        ("fd.name startswith /etc", "startswith", "/etc"),
        ("evt.buffer bstartswith 7f454c46", "bstartswith", "7f454c46"),
        ("fd.name endswith .conf", "endswith", ".conf"),
        ("fd.name glob /etc/*.conf", "glob", "/etc/*.conf"),
        ("fd.name iglob /ETC/*", "iglob", "/ETC/*"),
        ('fd.name regex "^/etc/[a-z]+$"', "regex", "^/etc/[a-z]+$"),
    ],
)
def test_binary_operator_with_value(text: str, op: str, value: str) -> None:
    node = check(text)
    assert node.op == op
    assert isinstance(node.left, ast.FieldRef)
    assert isinstance(node.right, ast.Value)
    assert node.right.value == value


@pytest.mark.parametrize("op", ["in", "intersects", "pmatch"])
def test_list_operators(op: str) -> None:
    node = check(f"fd.name {op} (/etc, /usr/bin)")
    assert node.op == op
    assert isinstance(node.right, ast.ListValue)
    assert node.right.values == ["/etc", "/usr/bin"]


def test_list_operator_with_identifier_right_side() -> None:
    # a bare identifier after a list operator is a (not yet substituted) list name
    node = check("proc.name in shell_binaries")
    assert isinstance(node.right, ast.Value)
    assert node.right.value == "shell_binaries"


def test_exists_is_unary() -> None:
    node = parse_condition("fd.name exists")
    assert isinstance(node, ast.UnaryCheck)
    assert node.op == "exists"
    assert node.left.text() == "fd.name"


def test_operators_without_blanks_around_symbols() -> None:
    assert shape(parse_condition("proc.name=bash")) == ("proc.name", "=", "bash")
    assert shape(parse_condition("proc.pid<=1")) == ("proc.pid", "<=", "1")
    assert shape(parse_condition("proc.pid>=1")) == ("proc.pid", ">=", "1")
    assert shape(parse_condition("proc.name!=x")) == ("proc.name", "!=", "x")


def test_word_operator_needs_a_blank_after_it() -> None:
    err = syntax_error('fd.name contains"x"')
    assert err.message.startswith("expected a valid check operator: one of 'exists', '<=', '<'")
    assert "'contains'" in err.message and "'pmatch'" in err.message
    assert (err.pos.line, err.pos.col) == (1, 9)


def test_operator_check_position_is_the_left_operand() -> None:
    node = check("  proc.name = bash")
    assert node.left.pos.col == 3
    assert isinstance(node.right, ast.Value)
    assert node.right.pos.col == 15


# -- precedence ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a or b and c", ("or", "a", ("and", "b", "c"))),
        ("a and b or c", ("or", ("and", "a", "b"), "c")),
        ("a and b and c", ("and", "a", "b", "c")),
        ("a or b or c", ("or", "a", "b", "c")),
        ("not a and b", ("and", ("not", "a"), "b")),
        ("not a or b", ("or", ("not", "a"), "b")),
        ("a and not b", ("and", "a", ("not", "b"))),
        ("not not a", "a"),
        ("not not not a", ("not", "a")),
        ("not(a)", ("not", "a")),
        ("not (a or b)", ("not", ("or", "a", "b"))),
        ("not(a or b) and c", ("and", ("not", ("or", "a", "b")), "c")),
        ("(a or b) and c", ("and", ("or", "a", "b"), "c")),
        ("a and (b or c)", ("and", "a", ("or", "b", "c"))),
        ("a and(b or c)", ("and", "a", ("or", "b", "c"))),
        ("a or(b and c)", ("or", "a", ("and", "b", "c"))),
        ("((a))", "a"),
        ("( a )", "a"),
        ("a\nand\tb", ("and", "a", "b")),
        ("not fd.name exists", ("not", ("fd.name", "exists"))),
        ("notx", "notx"),
        ("andy or orc", ("or", "andy", "orc")),
    ],
)
def test_precedence_and_grouping(text: str, expected: object) -> None:
    assert shape(parse_condition(text)) == expected


def test_precedence_with_checks() -> None:
    tree = parse_condition("proc.name = a or proc.name = b and not fd.name exists")
    assert shape(tree) == (
        "or",
        ("proc.name", "=", "a"),
        ("and", ("proc.name", "=", "b"), ("not", ("fd.name", "exists"))),
    )


def test_missing_blank_after_and_or() -> None:
    err = syntax_error("a andb")
    assert err.message == "expected blank or '(' after 'and'"
    assert err.pos.col == 6
    err = syntax_error("a orb")
    assert err.message == "expected blank or '(' after 'or'"
    assert err.pos.col == 5


# -- values ------------------------------------------------------------------------------


def test_list_items_bare_quoted_and_numbers() -> None:
    node = check("""proc.name in (a, "b c", 'd e', 1, /usr/bin/x, "")""")
    assert isinstance(node.right, ast.ListValue)
    assert node.right.values == ["a", "b c", "d e", "1", "/usr/bin/x", ""]


def test_list_with_blanks_and_newlines() -> None:
    node = check("proc.name in (\n  a ,\n  b\n)")
    assert isinstance(node.right, ast.ListValue)
    assert node.right.values == ["a", "b"]


def test_empty_list() -> None:
    node = check("proc.name in ()")
    assert isinstance(node.right, ast.ListValue)
    assert node.right.values == []
    node = check("proc.name in ( )")
    assert isinstance(node.right, ast.ListValue)
    assert node.right.values == []


def test_list_trailing_comma_is_an_error() -> None:
    err = syntax_error("proc.name in (a,)")
    assert err.message == "expected a string value"
    assert err.pos.col == 17


def test_list_missing_comma_is_an_error() -> None:
    err = syntax_error("proc.name in (a b)")
    assert err.message == "expected a ')' token"
    assert err.pos.col == 17


@pytest.mark.parametrize(
    ("quoted", "value"),
    [
        ('"a\\"b"', 'a"b'),
        ("'it\\'s'", "it's"),
        ('"tab\\there"', "tab\there"),
        ('"nl\\nx"', "nl\nx"),
        ('"cr\\r\\b\\f"', "cr\r\b\f"),
        ('"back\\\\slash"', "back\\slash"),
        ('"sl\\/ash"', "sl/ash"),
        ('"legacy\\ space"', "legacy\\space"),
        ("'a\"b'", 'a"b'),
        ('"a\'b"', "a'b"),
        ('"héllo wörld"', "héllo wörld"),
    ],
)
def test_quoted_string_escapes(quoted: str, value: str) -> None:
    node = check(f"proc.name = {quoted}")
    assert isinstance(node.right, ast.Value)
    assert node.right.value == value


def test_unsupported_escape_is_an_error() -> None:
    err = syntax_error('proc.name = "a\\xb"')
    assert err.message == "unsupported string escape sequence: \\x"
    with pytest.raises(ValueError, match="unsupported string escape sequence"):
        unescape('"\\q"')


def test_wrong_quote_escape_is_an_error() -> None:
    err = syntax_error("proc.name = 'a\\\"b'")
    assert err.message == "invalid \\\" escape in '-quoted string"
    err = syntax_error('proc.name = "a\\\'b"')
    assert err.message == "invalid \\' escape in \"-quoted string"


def test_bare_string_stops_at_delimiters() -> None:
    tree = parse_condition("proc.name=bash and fd.name=/etc/x")
    assert shape(tree) == ("and", ("proc.name", "=", "bash"), ("fd.name", "=", "/etc/x"))


@pytest.mark.parametrize("number", ["10", "0x1F", "0XfF", "-5", "+5", "1.5", "1e+3", "2.5E-2"])
def test_numbers(number: str) -> None:
    node = check(f"proc.pid > {number}")
    assert isinstance(node.right, ast.Value)
    assert node.right.value == number


def test_numeric_operator_rejects_a_word() -> None:
    err = syntax_error("proc.pid > abc")
    assert err.message.startswith(
        "expected a number value or a field with a valid transformer: 'val', 'tolower'"
    )
    assert err.pos.col == 12


# -- field arguments -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name", "arg"),
    [
        ("proc.aname[2] = sh", "proc.aname", "2"),
        ("jevt.value[/a/b] = x", "jevt.value", "/a/b"),
        ("evt.arg[fd] = 3", "evt.arg", "fd"),
        ('k8s.pod.label["app.io/name"] = web', "k8s.pod.label", "app.io/name"),
        ("k8s.pod.label['a b'] = web", "k8s.pod.label", "a b"),
        ("ka.req.pod.volumes.hostpath[/var/run/docker.sock] = true", None, "/var/run/docker.sock"),
    ],
)
def test_field_arguments(text: str, name: str | None, arg: str) -> None:
    node = check(text)
    assert isinstance(node.left, ast.FieldRef)
    if name is not None:
        assert node.left.name == name
    assert node.left.arg == arg


def test_field_name_shapes() -> None:
    assert check("a.b = 1").left.text() == "a.b"
    assert check("k8s.ns.name = x").left.text() == "k8s.ns.name"
    assert check("proc.aname[2] = x").left.text() == "proc.aname[2]"
    # a field needs at least one dot: a bare word is a macro reference
    assert isinstance(parse_condition("proc"), ast.Identifier)


def test_field_argument_errors() -> None:
    err = syntax_error("proc.aname[2 = sh")
    assert err.message == "expected a ']' token"
    assert err.pos.col == 13
    err = syntax_error("proc.aname[] = sh")
    assert err.message == "expected a valid field argument: a quoted string or a bare string"
    assert err.pos.col == 12


# -- transformers and val() ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["tolower", "toupper", "b64", "basename", "len"])
def test_transformers(name: str) -> None:
    node = check(f"{name}(proc.name) = x")
    assert isinstance(node.left, ast.Transformer)
    assert node.left.name == name
    assert isinstance(node.left.child, ast.FieldRef)
    assert node.left.child.name == "proc.name"
    assert node.left.text() == f"{name}(proc.name)"


def test_nested_transformers_and_blanks() -> None:
    node = check("toupper( tolower( basename(fd.name) ) ) = X")
    left = node.left
    assert isinstance(left, ast.Transformer) and left.name == "toupper"
    assert isinstance(left.child, ast.Transformer) and left.child.name == "tolower"
    assert isinstance(left.child.child, ast.Transformer) and left.child.child.name == "basename"
    assert left.text() == "toupper(tolower(basename(fd.name)))"


def test_transformer_with_field_argument() -> None:
    node = check("tolower(proc.aname[1]) = sh")
    assert isinstance(node.left, ast.Transformer)
    assert node.left.text() == "tolower(proc.aname[1])"


def test_len_with_numeric_operator() -> None:
    assert shape(parse_condition("len(proc.args) >= 3")) == ("len(proc.args)", ">=", "3")


def test_val_and_transformer_on_the_right() -> None:
    node = check("proc.name = val(proc.pname)")
    assert isinstance(node.right, ast.Transformer)
    assert node.right.name == "val"
    assert node.right.text() == "val(proc.pname)"
    node = check("proc.pid > val(proc.ppid)")
    assert isinstance(node.right, ast.Transformer) and node.right.name == "val"
    node = check("proc.name = tolower(proc.pname)")
    assert isinstance(node.right, ast.Transformer) and node.right.name == "tolower"
    node = check("proc.name in val(proc.args)")
    assert isinstance(node.right, ast.Transformer) and node.right.name == "val"


def test_transformer_errors() -> None:
    err = syntax_error("tolower(x) = a")
    assert err.message.startswith("expected a field or a nested valid transformer: 'val'")
    assert err.pos.col == 9
    err = syntax_error("tolower(proc.name = a")
    assert err.message == "expected a ')' token closing the transformer"
    err = syntax_error("proc.name = val(tolower(proc.pname))")
    assert err.message == "expected a field within 'val' transformer"
    assert err.pos.col == 17


def test_val_is_not_a_left_operand() -> None:
    err = syntax_error("val(proc.name) = x")
    assert err.message == "unexpected token after 'val', expecting 'or', 'and'"
    assert err.pos.col == 4


# -- syntax errors and their positions ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message", "line", "col"),
    [
        ("", "filter input string is empty", 1, 1),
        ("   ", "expected a '(' token, a field check, or an identifier", 1, 4),
        ("1 = proc.name", "expected a '(' token, a field check, or an identifier", 1, 1),
        ("proc.name = ", "expected a string value or a field with a valid transformer", 1, 13),
        ("proc.name = bash)", "unexpected token after 'bash', expecting 'or', 'and'", 1, 17),
        ("(proc.name = bash", "expected a ')' token", 1, 18),
        ("proc.name = a and", "expected blank or '(' after 'and'", 1, 18),
        ("proc.name = a and ", "expected a '(' token, a field check, or an identifier", 1, 19),
        ("proc.name foo bar", "expected a valid check operator", 1, 11),
        ("proc.name in", "expected a list, an identifier, or a field with a valid", 1, 13),
        ("proc.name = a and\n  fd.name", "expected a valid check operator", 2, 10),
        ("a and\r\nb and )", "expected a '(' token, a field check, or an identifier", 3, 7),
    ],
)
def test_syntax_error_message_and_position(text: str, message: str, line: int, col: int) -> None:
    err = syntax_error(text)
    assert err.message.startswith(message), err.message
    assert (err.pos.line, err.pos.col) == (line, col)
    assert str(err) == err.message


def test_error_offset_is_zero_based() -> None:
    err = syntax_error("proc.name = a and\n  fd.name")
    assert err.pos.idx == len("proc.name = a and\n  fd.name")


# -- hostile inputs --------------------------------------------------------------------------


def test_deep_parentheses_fail_cleanly() -> None:
    text = "(" * 5000 + "proc.name = a" + ")" * 5000
    err = syntax_error(text)
    assert err.message == "exceeded max depth limit of 1000"


def test_deep_not_parentheses_fail_cleanly() -> None:
    text = "not(" * 5000 + "proc.name = a" + ")" * 5000
    err = syntax_error(text)
    assert err.message == "exceeded max depth limit of 1000"


def test_moderate_nesting_parses() -> None:
    text = "(" * 100 + "proc.name = a" + ")" * 100
    assert shape(parse_condition(text)) == ("proc.name", "=", "a")


def test_many_nots_are_iterative() -> None:
    assert shape(parse_condition("not " * 5000 + "a")) == "a"
    assert shape(parse_condition("not " * 5001 + "a")) == ("not", "a")


def test_long_flat_and_chain() -> None:
    text = " and ".join(f"proc.name != n{i}" for i in range(5000))
    tree = parse_condition(text)
    assert isinstance(tree, ast.And)
    assert len(tree.children) == 5000


def test_huge_list() -> None:
    items = [f"item{i}" for i in range(100_000)]
    node = check("proc.name in (" + ", ".join(items) + ")")
    assert isinstance(node.right, ast.ListValue)
    assert node.right.values == items


@pytest.mark.parametrize(
    ("text", "col"),
    [
        ('proc.name = "abc', 13),
        ("proc.name = 'abc", 13),
        ('proc.name = "abc\\"', 13),
        ("proc.name in (a, 'b)", 18),
        ('k8s.pod.label["app] = x', 15),
    ],
)
def test_unterminated_strings(text: str, col: int) -> None:
    err = syntax_error(text)
    assert "unterminated quoted string" in err.message
    assert (err.pos.line, err.pos.col) == (1, col)


def test_control_characters_do_not_crash() -> None:
    assert shape(parse_condition("proc.name = a\x00b")) == ("proc.name", "=", "a\x00b")
    err = syntax_error("\x00")
    assert err.message == "expected a '(' token, a field check, or an identifier"
