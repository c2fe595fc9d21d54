"""Fields that stand for several values (any_of) and fields that are lists without an index."""

from __future__ import annotations

import ipaddress
from typing import Any

from lanner.engine.engine import Engine
from lanner.engine.fields import ArgKind, Field, FieldTable, FieldType, SourceSpec


def _engine(condition: str) -> Engine:
    table = FieldTable("s")
    table.add(
        Field("proc.aname", FieldType.STRING, "", _aname, arg=ArgKind.INDEX, any_of=True),
        Field("fd.net", FieldType.IPNET, "", _ips, any_of=True, any_of_ne_all=True),
        Field("fd.ip", FieldType.IPADDR, "", _ips, any_of=True, any_of_ne_all=True),
        Field(
            "fd.port",
            FieldType.PORT,
            "",
            lambda e, a: tuple(e["ports"]),
            any_of=True,
            any_of_ne_all=True,
        ),
        Field("m.src", FieldType.STRING, "", _mounts, arg=ArgKind.KEY, list_without_arg=True),
    )
    engine = Engine([SourceSpec("s", table)], hostname="h")
    outcome = engine.load_rules(
        contents=[
            (
                "r.yaml",
                f"""
- rule: R
  desc: d
  condition: {condition}
  output: x
  priority: INFO
  source: s
""",
            )
        ]
    )
    assert outcome.successful, [r.as_text(True) for r in outcome.results]
    return engine


def _aname(e: dict[str, Any], a: Any) -> Any:
    return e["an"][a] if a is not None else tuple(e["an"][1:])


def _ips(e: dict[str, Any], a: Any) -> Any:
    return tuple(ipaddress.ip_address(x) for x in e["ips"])


def _mounts(e: dict[str, Any], a: Any) -> Any:
    return list(e["m"]) if a is None else e["m"][int(a)]


EV = {
    "an": ["bash", "sshd", "systemd"],
    "ips": ["192.168.1.5", "10.1.2.3"],
    "ports": [41000, 22],
    "m": ["/proc", "/srv"],
}


def _fires(condition: str, event: dict[str, Any] = EV) -> bool:
    return bool(_engine(condition).process(event, "s"))


def test_any_ancestor_matches_each_operator() -> None:
    assert _fires("proc.aname = sshd")
    assert _fires("proc.aname in (login, sshd)")
    assert _fires("proc.aname startswith sys")
    assert not _fires("proc.aname = bash")  # self is not an ancestor here
    assert _fires("proc.aname[0] = bash")  # with an index: one value, as before
    # libsinsp semantics: != holds when some ancestor differs
    assert _fires("proc.aname != sshd")
    assert not _fires("proc.aname != sshd", {**EV, "an": ["bash", "sshd"]})  # the only one
    assert not _fires("not proc.aname in (sshd)")
    assert not _fires("proc.aname in (login, zsh)")


def test_any_end_of_a_connection() -> None:
    assert _fires("fd.net = 10.0.0.0/8")
    assert _fires("fd.net in (172.16.0.0/12, 10.0.0.0/8)")
    assert not _fires("fd.net = 172.16.0.0/12")
    assert _fires("fd.port = 22")
    assert _fires("fd.port < 1024")
    assert not _fires("fd.port in (80, 443)")
    assert _fires("fd.port in (22, 443)")
    assert _fires("fd.ip = 10.1.2.3")
    assert _fires("fd.ip in (8.8.8.8, 192.168.1.5)")
    assert not _fires("fd.ip = 8.8.8.8")


def test_not_equal_on_connection_ends_needs_both() -> None:
    # libsinsp's compare_ip/compare_port/compare_net: != holds only when neither end equals
    assert not _fires("fd.port != 22")
    assert _fires("fd.port != 80")
    assert not _fires("fd.ip != 10.1.2.3")
    assert _fires("fd.ip != 0.0.0.0")
    assert not _fires("fd.net != 10.0.0.0/8")
    assert _fires("fd.net != 127.0.0.0/8")
    assert not _fires("fd.ip != 10.0.0.0/8")  # an address field against a network
    # other operators stay any-of
    assert _fires("fd.port > 1024")
    assert _fires("fd.port < 1024")


def test_transformer_applies_to_each_value() -> None:
    upper = {**EV, "an": ["bash", "SSHD"]}
    assert _fires("tolower(proc.aname) = sshd", upper)


def test_list_without_index_scalar_with_index() -> None:
    assert _fires("m.src intersects (/proc, /etc)")
    assert not _fires("m.src in (/proc)")  # in: every item must be listed
    assert _fires("m.src[1] = /srv")
    assert _fires("m.src[0] startswith /pro")
