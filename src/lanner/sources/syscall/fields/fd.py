"""fd.* fields: the file descriptor an event operates on (file, socket, pipe...)."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable
from typing import Any

from lanner.engine.fields import ArgKind, FieldType

from .. import event_table as et
from ..event import Event
from ..params import SockTuple
from ..render import tuple_text
from ..scap import metadata as md
from ..state.fds import L4_NAMES, ROLE_NONE, TYPENAMES, FdInfo
from ..state.parser import AT_FDCWD, resolve_path
from ._util import field
from .anyof import AnyOf

S = FieldType.STRING
N = FieldType.NUMBER
B = FieldType.BOOL
IP = FieldType.IPADDR
NET = FieldType.IPNET
PORT = FieldType.PORT

_HAS_FD = tuple(bool(f & (et.EF_USES_FD | et.EF_CREATES_FD)) for f in et.EVENT_FLAGS)
_NULL_TYPECHAR = {
    "open": "f",
    "openat": "f",
    "openat2": "f",
    "creat": "f",
    "socket": "4",
    "accept": "4",
    "accept4": "4",
    "pipe": "p",
    "pipe2": "p",
    "eventfd": "e",
    "eventfd2": "e",
    "signalfd": "s",
    "signalfd4": "s",
    "timerfd_create": "t",
    "inotify_init": "i",
    "inotify_init1": "i",
}
_IP_SOCK = (md.FD_IPV4_SOCK, md.FD_IPV6_SOCK)
_SERV_SOCK = (md.FD_IPV4_SERVSOCK, md.FD_IPV6_SERVSOCK)


@functools.lru_cache(maxsize=4096)
def _addr(s: str | None) -> Any:
    # addresses repeat from event to event: parse each once (the objects are immutable)
    if not s:
        return None
    try:
        return ipaddress.ip_address(s)
    except ValueError:
        return None


def _creator_name(e: Event) -> str | None:
    """fd.name of an exit event that should have created an fd but has none (failed call)."""
    if not e.is_exit:
        return None
    name = et.EVENT_NAMES[e.type]
    if name in ("open", "creat", "accept", "accept4"):
        v = e.param(1) if e.nparams > 1 else None
        if isinstance(v, SockTuple):
            return tuple_text(v)
        return str(v) if v is not None else ""
    if name == "connect":
        v = e.param(1) if e.nparams > 1 else None
        return tuple_text(v) if isinstance(v, SockTuple) else ""
    if name in ("openat", "openat2"):
        fname = e.earg("name")
        dirfd = e.earg("dirfd")
        if not isinstance(fname, str):
            return None
        t = e.thread
        base = ""
        if t is not None:
            if dirfd is None or dirfd == AT_FDCWD:
                tab = t.table
                base = (tab.main_thread(t) if tab is not None else t).cwd
            else:
                d = t.fdtable.fds.get(dirfd)
                base = d.name if d is not None else ""
        return resolve_path(base, fname)
    if name == "open_by_handle_at":
        v = e.earg("path")
        return str(v) if v is not None else ""
    return ""


def _fd(getter: Callable[[FdInfo, Event], Any]) -> Callable[[Event, Any], Any]:
    def extract(e: Event, a: Any) -> Any:
        info = e.fdinfo
        if info is None or e.thread is None:
            return None
        return getter(info, e)

    return extract


def _fd_num(e: Event, a: Any) -> Any:
    if e.thread is None or not _HAS_FD[e.type]:
        return None
    return e.fd


def _name(e: Event, a: Any) -> str | None:
    if e.thread is None or not _HAS_FD[e.type]:
        return None
    info = e.fdinfo
    if info is None:
        return _creator_name(e)
    if et.EVENT_NAMES[e.type] == "connect" and e.is_exit and (e.res or 0) < 0:
        return _creator_name(e)
    return info.name


_RAW_PATH_EXITS = frozenset(
    i
    for i, n in enumerate(et.EVENT_NAMES)
    if n in ("open", "openat", "openat2", "creat") and et.EVENT_DIRS[i] == "<"
)


def _nameraw(e: Event, a: Any) -> str | None:
    """libsinsp's fd.nameraw: an open's path as the process passed it (not made absolute
    nor normalised, so ``../`` stays visible); other events give fd.name."""
    if e.type in _RAW_PATH_EXITS and e.thread is not None:
        v = e.earg("name")
        if isinstance(v, str):
            return v
    return _name(e, a)


def _typechar(e: Event, a: Any) -> str | None:
    if e.thread is None or not _HAS_FD[e.type]:
        return None
    info = e.fdinfo
    if info is None:
        return _NULL_TYPECHAR.get(et.EVENT_NAMES[e.type], "o")
    return info.typechar


def _directory(e: Event, a: Any) -> str | None:
    info = e.fdinfo
    if e.thread is None or not _HAS_FD[e.type]:
        return None
    if info is None:
        name = _creator_name(e)
        if name is None:
            return None
        return _dirname(name)
    if info.type == md.FD_DIRECTORY:
        return info.name
    if info.type not in (md.FD_FILE, md.FD_FILE_V2):
        return None
    return _dirname(info.name)


def _dirname(name: str) -> str:
    pos = name.rfind("/")
    if pos > 0:
        return name[:pos] if pos < len(name) - 1 else name
    return "/"


def _filename(e: Event, a: Any) -> str | None:
    info = e.fdinfo
    if info is None or info.type not in (md.FD_FILE, md.FD_FILE_V2):
        return None
    name = info.name
    pos = name.rfind("/")
    if pos < 0:
        return "/"
    return name[pos + 1 :] if pos < len(name) - 1 else name


def _is_local(info: FdInfo, e: Event, ip: str | None) -> bool:
    tab = e.thread.table if e.thread is not None else None
    a = _addr(ip)
    return a is not None and tab is not None and a in tab.local_ips


def _client_ip(info: FdInfo, e: Event) -> Any:
    if info.role == ROLE_NONE or info.type not in _IP_SOCK:
        return None
    return _addr(info.cip)


def _server_ip(info: FdInfo, e: Event) -> Any:
    if info.type in _SERV_SOCK:
        return _addr(info.sip)
    if info.role == ROLE_NONE or info.type not in _IP_SOCK:
        return None
    return _addr(info.sip)


def _client_port(info: FdInfo, e: Event) -> Any:
    if info.role == ROLE_NONE or info.type not in _IP_SOCK:
        return None
    return info.cport


def _server_port(info: FdInfo, e: Event) -> Any:
    if info.type in _SERV_SOCK:
        return info.sport
    if info.role == ROLE_NONE or info.type not in _IP_SOCK:
        return None
    return info.sport


def _local_remote(local: bool, port: bool) -> Callable[[FdInfo, Event], Any]:
    def get(info: FdInfo, e: Event) -> Any:
        if info.type not in _IP_SOCK or info.role == ROLE_NONE:
            return None
        client_is_local = _is_local(info, e, info.cip)
        use_client = client_is_local == local
        if port:
            return info.cport if use_client else info.sport
        return _addr(info.cip if use_client else info.sip)

    return get


def _any_ip(info: FdInfo, e: Event) -> Any:
    if info.type in _SERV_SOCK:
        return AnyOf([_addr(info.sip)])
    if info.type in _IP_SOCK and info.cip is not None:
        return AnyOf([_addr(info.cip), _addr(info.sip)])
    return None


def _any_port(info: FdInfo, e: Event) -> Any:
    if info.type in _SERV_SOCK:
        return AnyOf([info.sport])
    if info.type in _IP_SOCK and info.cport is not None:
        return AnyOf([info.cport, info.sport])
    return None


def _is_server(info: FdInfo, e: Event) -> bool:
    if info.type in _SERV_SOCK:
        return True
    if info.type in _IP_SOCK:
        return _is_local(info, e, info.sip)
    return False


def _sockfamily(info: FdInfo, e: Event) -> str | None:
    if info.type in _IP_SOCK or info.type in _SERV_SOCK:
        return "ip"
    if info.type == md.FD_UNIX_SOCK:
        return "unix"
    return None


def _l4proto(info: FdInfo, e: Event) -> str:
    return L4_NAMES.get(info.l4proto, "<NA>")


def _types(e: Event, a: Any) -> Any:
    t = e.thread
    if t is None:
        return None
    fds = t.fdtable.fds
    if a is not None:
        info = fds.get(a)
        return [info.typename] if info is not None and info.typename else []
    seen: list[str] = []
    for info in fds.values():
        tn = info.typename
        if tn and tn not in seen:
            seen.append(tn)
    return seen


def _uid(e: Event, a: Any) -> str | None:
    t = e.thread
    if t is None or e.fd is None:
        return None
    return f"{t.tid}{e.fd}"


def _container_prefixed(getter: Callable[[Event, Any], Any]) -> Callable[[Event, Any], Any]:
    def extract(e: Event, a: Any) -> Any:
        v = getter(e, a)
        if v is None or e.thread is None:
            return None
        return f"{e.thread.container_id}:{v}"

    return extract


FIELDS = [
    field("fd.num", N, "fd number", _fd_num),
    field(
        "fd.type",
        S,
        "fd type (file, directory, ipv4, ipv6, unix, pipe...)",
        _fd(lambda i, e: TYPENAMES.get(i.type)),
    ),
    field("fd.typechar", S, "fd type as one character (f, d, 4, 6, u, p...)", _typechar),
    field("fd.name", S, "fd full name: a path, or cip:cport->sip:sport for sockets", _name),
    field("fd.nameraw", S, "fd name as the process passed it", _nameraw),
    field("fd.directory", S, "directory of the file or the directory itself", _directory),
    field("fd.filename", S, "file name without the directory", _filename),
    field(
        "fd.ip",
        IP,
        "either end's IP address (matches if either does; != if neither is equal)",
        _fd(_any_ip),
        any_of=True,
        any_of_ne_all=True,
    ),
    field("fd.cip", IP, "client IP address", _fd(_client_ip)),
    field("fd.sip", IP, "server IP address", _fd(_server_ip)),
    field("fd.lip", IP, "local IP address", _fd(_local_remote(True, False))),
    field("fd.rip", IP, "remote IP address", _fd(_local_remote(False, False))),
    field(
        "fd.port",
        PORT,
        "either end's port (matches if either does; != if neither is equal)",
        _fd(_any_port),
        any_of=True,
        any_of_ne_all=True,
    ),
    field("fd.cport", PORT, "client port", _fd(_client_port)),
    field("fd.sport", PORT, "server port", _fd(_server_port)),
    field("fd.lport", PORT, "local port", _fd(_local_remote(True, True))),
    field("fd.rport", PORT, "remote port", _fd(_local_remote(False, True))),
    field("fd.l4proto", S, "IP protocol (tcp, udp, icmp, raw)", _fd(_l4proto)),
    field("fd.sockfamily", S, "socket family: ip or unix", _fd(_sockfamily)),
    field("fd.is_server", B, "true when the process is the server end", _fd(_is_server)),
    field(
        "fd.net",
        NET,
        "either end's address, compared against networks (!= if neither is in it)",
        _fd(_any_ip),
        any_of=True,
        any_of_ne_all=True,
    ),
    field("fd.cnet", NET, "client address, compared against networks", _fd(_client_ip)),
    field("fd.snet", NET, "server address, compared against networks", _fd(_server_ip)),
    field(
        "fd.lnet", NET, "local address, compared against networks", _fd(_local_remote(True, False))
    ),
    field(
        "fd.rnet",
        NET,
        "remote address, compared against networks",
        _fd(_local_remote(False, False)),
    ),
    field(
        "fd.connected",
        B,
        "true for connected sockets",
        _fd(lambda i, e: i.type in _IP_SOCK and i.role != ROLE_NONE),
    ),
    field(
        "fd.name_changed",
        B,
        "true when the event changed the fd's name",
        _fd(lambda i, e: i.name_changed_at == e.num),
    ),
    field("fd.dev", N, "device number of the file", _fd(lambda i, e: i.dev)),
    field("fd.dev.major", N, "major device number", _fd(lambda i, e: i.dev >> 20)),
    field("fd.dev.minor", N, "minor device number", _fd(lambda i, e: i.dev & 0xFFFFF)),
    field("fd.ino", N, "inode number", _fd(lambda i, e: i.ino)),
    field("fd.uid", S, "unique id of the fd: tid and fd number", _uid),
    field("fd.containername", S, "container id and fd name", _container_prefixed(_name)),
    field(
        "fd.containerdirectory", S, "container id and directory", _container_prefixed(_directory)
    ),
    field(
        "fd.types",
        S,
        "types of the process's open fds; fd.types[N] for fd N",
        _types,
        arg=ArgKind.INDEX,
        is_list=True,
    ),
    field("fd.sip.name", S, "server host name (not resolved: always empty)", lambda e, a: None),
    field("fd.cip.name", S, "client host name (not resolved: always empty)", lambda e, a: None),
    field("fd.lip.name", S, "local host name (not resolved: always empty)", lambda e, a: None),
    field("fd.rip.name", S, "remote host name (not resolved: always empty)", lambda e, a: None),
]
