"""The syscall source as the rule engine sees it: spec, fields, and filters vs sysdig."""

from __future__ import annotations

import io

import pytest
import yaml
from syscall_testutil import capture, sysdig_lines

from lanner.engine.engine import Engine
from lanner.engine.fields import FieldType
from lanner.sources.syscall import read_capture, syscall_source


def test_source_spec() -> None:
    spec = syscall_source()
    assert spec.name == "syscall"
    assert spec.event_type_field == "evt.type"
    assert {"open", "openat", "execve", "connect", "procexit"} <= spec.event_types
    assert "mprotect" in spec.event_types  # generic events are named after their syscall
    for name in ("proc.name", "fd.name", "user.name", "evt.type", "proc.aname", "fd.sip"):
        assert name in spec.fields
    f, arg = spec.fields.resolve("evt.arg.name")  # type: ignore[misc]
    assert f.name == "evt.arg" and arg == "name"
    assert spec.fields.resolve("fd.sip")[0].type is FieldType.IPADDR  # type: ignore[index]
    assert spec.fields.resolve("fd.snet")[0].type is FieldType.IPNET  # type: ignore[index]


def test_every_field_has_a_description() -> None:
    for f in syscall_source().fields:
        assert f.desc, f.name


def _anyof_capture() -> bytes:
    """systemd > sshd > bash > curl; curl connects 10.0.0.1:40000 -> 93.184.216.34:443."""
    from syscall_testutil import block, event, ipv4_tuple, proc_v1, section_header

    from lanner.sources.syscall import event_table as et

    procs = block(
        0x202,
        proc_v1(1, 1, 0, "systemd", "/sbin/init", [], "/")
        + proc_v1(50, 50, 1, "sshd", "/usr/sbin/sshd", [], "/")
        + proc_v1(100, 100, 50, "bash", "/bin/bash", [], "/root/")
        + proc_v1(200, 200, 100, "curl", "/usr/bin/curl", [], "/root/"),
    )
    tup = ipv4_tuple("10.0.0.1", 40000, "93.184.216.34", 443)
    return (
        section_header()
        + procs
        + event(et.PPME_SOCKET_SOCKET_X, 200, 1, fd=4, domain=2, type=1, proto=0)
        + event(et.PPME_SOCKET_CONNECT_E, 200, 2, fd=4)
        + event(et.PPME_SOCKET_CONNECT_X, 200, 3, res=0, fd=4, tuple=tup)
    )


def _matches(condition: str) -> bool:
    """Whether the rule engine matches ``condition`` on the connect exit event."""
    engine = Engine([syscall_source()])
    rule = {"rule": "r", "desc": "d", "condition": condition, "output": "x", "priority": "INFO"}
    outcome = engine.load_rules(contents=[("t.yaml", yaml.safe_dump([rule]))])
    assert outcome.successful, [r.as_text(True) for r in outcome.results]
    *_, connect_x = read_capture(io.BytesIO(_anyof_capture()))
    return bool(engine.process(connect_x, "syscall"))


def test_any_of_fields_hold_several_values() -> None:
    spec = syscall_source()
    names = ("proc.aname", "fd.ip", "fd.port")
    getters = {n: spec.fields.resolve(n)[0].bind(None) for n in names}  # type: ignore[index]
    *_, e = read_capture(io.BytesIO(_anyof_capture()))
    assert list(getters["proc.aname"](e)) == ["bash", "sshd", "systemd"]
    assert [str(ip) for ip in getters["fd.ip"](e)] == ["10.0.0.1", "93.184.216.34"]
    assert list(getters["fd.port"](e)) == [40000, 443]


# libsinsp: proc.aname (compare_full_aname) holds when the check holds for any ancestor,
# != included; fd.ip/fd.port/fd.net (compare_ip/compare_port/compare_net) hold when either
# end matches, but != only when neither end equals.
ANY_OF_CHECKS = [
    ("proc.aname = sshd", True),
    ("proc.aname = systemd", True),
    ("proc.aname = curl", False),  # the process itself is not its own ancestor
    ("proc.aname != sshd", True),  # bash and systemd are not sshd
    ("proc.aname != zsh", True),
    ("proc.aname in (login, sshd)", True),
    ("proc.aname in (login, zsh)", False),
    ("not proc.aname in (sshd)", False),
    ("proc.aname[1] = bash", True),
    ("proc.aname[1] != bash", False),
    ("fd.ip = 10.0.0.1", True),
    ("fd.ip = 93.184.216.34", True),
    ("fd.ip = 10.0.0.2", False),
    ("fd.ip != 10.0.0.1", False),  # one end is 10.0.0.1
    ("fd.ip != 93.184.216.34", False),
    ("fd.ip != 0.0.0.0", True),
    ("fd.ip in (1.1.1.1, 93.184.216.34)", True),
    ("fd.ip in (1.1.1.1, 8.8.8.8)", False),
    ("fd.port = 443", True),
    ("fd.port = 40000", True),
    ("fd.port = 80", False),
    ("fd.port != 443", False),
    ("fd.port != 80", True),
    ("fd.port in (80, 443)", True),
    ("fd.port in (80, 8080)", False),
    ("fd.port < 1024", True),
    ("fd.net = 10.0.0.0/8", True),
    ("fd.net = 93.184.216.0/24", True),
    ("fd.net = 192.168.0.0/16", False),
    ("fd.net != 10.0.0.0/8", False),  # the client end is in 10/8
    ("fd.net != 127.0.0.0/8", True),
    ("fd.net in (192.168.0.0/16, 10.0.0.0/8)", True),
    ("fd.net in (192.168.0.0/16, 172.16.0.0/12)", False),
]


@pytest.mark.parametrize(("condition", "want"), ANY_OF_CHECKS)
def test_any_of_fields_through_the_engine(condition: str, want: bool) -> None:
    assert _matches(condition) is want


def test_evt_arg_rendering() -> None:
    spec = syscall_source()

    def get(name: str):  # type: ignore[no-untyped-def]
        f, arg = spec.fields.resolve(name)  # type: ignore[misc]
        return f.bind(arg)

    fields = ["evt.arg.fd", "evt.arg.flags", "evt.arg.name", "evt.rawarg.fd"]
    getters = [get(n) for n in fields]
    getters.append(spec.fields.fields["evt.arg"].bind("0"))  # evt.arg[0]
    rows = {}
    for e in read_capture(capture("curl_google.scap")):
        if e.num in (219, 980):
            rows[e.num] = [g(e) for g in getters]
    assert rows[219] == [
        "<f>/etc/ld.so.cache",
        "O_RDONLY|O_CLOEXEC",
        "/etc/ld.so.cache",
        3,
        "<f>/etc/ld.so.cache",
    ]
    assert rows[980][0] == "ENOENT"  # a failed open's fd is an errno


FILTERS = [
    ("curl_google.scap", "evt.type=open and evt.dir=< and fd.name contains /etc"),
    ("curl_google.scap", "fd.typechar=6 and evt.dir=<"),
    ("curl_google.scap", "proc.name=curl and evt.type=connect"),
    ("curl_google.scap", "evt.type=open and evt.failed=true"),
    ("curl_google.scap", "fd.sport=53"),
    ("curl_google.scap", "proc.pname=bash"),
    ("curl_google.scap", "fd.directory=/etc and evt.is_open_read=true"),
    ("curl_google.scap", "fd.l4proto=udp and evt.type in (sendto, recvfrom)"),
    ("curl_google.scap", "evt.res=ENOENT"),
    ("single_ipv6_conn.scap", "fd.sip=2001:db8::3 and fd.sport=1234"),
    ("single_ipv6_conn.scap", "evt.type=accept and fd.cport>1024"),
    ("test_ipv6_client.scap", "fd.cip=::1 and evt.dir=>"),
    ("sample.scap", "evt.type=switch and thread.tid=0"),
]


@pytest.mark.parametrize(("name", "condition"), FILTERS)
def test_filter_matches_sysdig(name: str, condition: str) -> None:
    engine = Engine([syscall_source()])
    rule = {"rule": "r", "desc": "d", "condition": condition, "output": "x", "priority": "INFO"}
    outcome = engine.load_rules(contents=[("t.yaml", yaml.safe_dump([rule]))])
    assert outcome.successful
    ours = [e.num for e in read_capture(capture(name)) if engine.process(e, "syscall")]
    theirs = [int(n) for n in sysdig_lines(name, "%evt.num", condition)]
    if name == "sample.scap":
        # sysdig numbers only the event types it knows (see syscall_testutil)
        assert len(ours) == len(theirs) > 0
    else:
        assert ours == theirs
        assert ours


def test_fs_path_fields() -> None:
    from syscall_testutil import block, event, proc_v1, section_header

    from lanner.sources.syscall import event_table as et

    rename = {"olddirfd": 5, "oldpath": "a", "newdirfd": -100, "newpath": "b"}
    link = {"target": "/etc/passwd", "linkdirfd": -100, "linkpath": "l"}
    data = (
        section_header()
        + block(0x202, proc_v1(10, 10, 1, "sh", "/bin/sh", [], "/home/u/"))
        + event(et.PPME_SYSCALL_MKDIRAT_X, 10, 1, res=0, dirfd=-100, path="new/../d")
        + event(et.PPME_SYSCALL_OPENAT_2_X, 10, 2, fd=5, dirfd=-100, name="/tmp", flags=1 << 10)
        + event(et.PPME_SYSCALL_RENAMEAT_X, 10, 3, res=0, **rename)
        + event(et.PPME_SYSCALL_SYMLINKAT_X, 10, 4, res=0, **link)
    )
    spec = syscall_source()
    names = ["fs.path.name", "fs.path.nameraw", "fs.path.source", "fs.path.target"]
    getters = [spec.fields.resolve(n)[0].bind(None) for n in names]  # type: ignore[index]
    rows = [[g(e) for g in getters] for e in read_capture(io.BytesIO(data))]
    assert rows[0] == ["/home/u/d", "new/../d", None, None]
    assert rows[1][0] == "/tmp"
    assert rows[2] == [None, None, "/tmp/a", "/home/u/b"]
    assert rows[3][2:] == ["/etc/passwd", "/home/u/l"]


def test_enum_and_flag_arguments_render_names() -> None:
    from syscall_testutil import event, section_header

    from lanner.sources.syscall import event_table as et

    data = (
        section_header()
        + event(et.PPME_SYSCALL_PTRACE_E, 7, 1, request=20, pid=9)
        + event(et.PPME_SYSCALL_BPF_2_E, 7, 2, cmd=5)
        + event(et.PPME_SOCKET_SOCKET_E, 7, 3, domain=17, type=3, proto=0)
        + event(et.PPME_SYSCALL_CHMOD_X, 7, 4, res=0, filename="/x", mode=0o4755)
    )
    arg = syscall_source().fields.fields["evt.arg"]
    want = ["request", "cmd", "domain", "mode"]
    got = [arg.bind(w)(e) for w, e in zip(want, read_capture(io.BytesIO(data)), strict=True)]
    assert got[0] == "PTRACE_SEIZE"
    assert got[1] == "BPF_PROG_LOAD"
    assert got[2] == "AF_PACKET"
    assert "S_ISUID" in got[3] and "S_IXUSR" in got[3]
