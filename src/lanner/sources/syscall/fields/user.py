"""user.* and group.* fields: the credentials of the thread that generated the event."""

from __future__ import annotations

from typing import Any

from lanner.engine.fields import FieldType

from ..event import Event
from ..state.users import UserTable
from ._util import field

S = FieldType.STRING
N = FieldType.NUMBER


def _users(e: Event) -> UserTable | None:
    t = e.thread
    tab = t.table if t is not None else None
    return tab.users if tab is not None else None


def _user(e: Event, uid_attr: str = "uid") -> Any:
    t = e.thread
    if t is None:
        return None
    uid = getattr(t, uid_attr)
    if uid is None:
        return None
    tab = _users(e)
    return tab.user(uid) if tab is not None else None


def _uid(e: Event, a: Any) -> Any:
    t = e.thread
    return None if t is None else t.uid


def _loginuid(e: Event, a: Any) -> Any:
    t = e.thread
    if t is None or t.loginuid is None:
        return None
    v = t.loginuid
    return -1 if v == 0xFFFFFFFF else v


def _name(e: Event, a: Any) -> Any:
    t = e.thread
    if t is None or t.uid is None:
        return None
    u = _user(e)
    if u is not None:
        return u.name
    return "root" if t.uid == 0 else "<NA>"


def _loginname(e: Event, a: Any) -> Any:
    t = e.thread
    if t is None or t.loginuid is None or t.loginuid == 0xFFFFFFFF:
        return None
    u = _user(e, "loginuid")
    if u is not None:
        return u.name
    return "root" if t.loginuid == 0 else "<NA>"


def _gid(e: Event, a: Any) -> Any:
    t = e.thread
    return None if t is None else t.gid


def _group(e: Event, a: Any) -> Any:
    t = e.thread
    if t is None or t.gid is None:
        return None
    tab = _users(e)
    g = tab.group(t.gid) if tab is not None else None
    if g is not None:
        return g.name
    return "root" if t.gid == 0 else "<NA>"


FIELDS = [
    field("user.uid", N, "user id", _uid),
    field("user.name", S, "user name", _name),
    field(
        "user.homedir",
        S,
        "home directory of the user",
        lambda e, a: getattr(_user(e), "homedir", None),
    ),
    field("user.shell", S, "shell of the user", lambda e, a: getattr(_user(e), "shell", None)),
    field("user.loginuid", N, "audit login uid (-1 when unset)", _loginuid),
    field("user.loginname", S, "name of the audit login user", _loginname),
    field("group.gid", N, "group id", _gid),
    field("group.name", S, "group name", _group),
]
