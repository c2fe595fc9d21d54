"""fs.path.* fields: the filesystem paths a syscall names, resolved to absolute paths.

After libsinsp's ``sinsp_filtercheck_fspath``: single-path calls (open, mkdir, unlink,
chmod...) set ``fs.path.name``; two-path calls (rename, link, symlink) set
``fs.path.source`` and ``fs.path.target``. Relative paths are resolved against the dirfd
argument or the process's working directory; the ``*raw`` variants keep them as passed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lanner.engine.fields import FieldType

from ..event import Event
from ..state.parser import AT_FDCWD, resolve_path
from ._util import field

S = FieldType.STRING

# event name -> (path param, dirfd param or None)
_NAME = {
    "mkdir": ("path", None),
    "mkdirat": ("path", "dirfd"),
    "rmdir": ("path", None),
    "unlink": ("path", None),
    "unlinkat": ("name", "dirfd"),
    "open": ("name", None),
    "creat": ("name", None),
    "openat": ("name", "dirfd"),
    "openat2": ("name", "dirfd"),
    "chmod": ("filename", None),
    "fchmodat": ("filename", "dirfd"),
}
# event name -> ((source param, its dirfd), (target param, its dirfd))
_PAIR = {
    "rename": (("oldpath", None), ("newpath", None)),
    "renameat": (("oldpath", "olddirfd"), ("newpath", "newdirfd")),
    "renameat2": (("oldpath", "olddirfd"), ("newpath", "newdirfd")),
    "link": (("oldpath", None), ("newpath", None)),
    "linkat": (("oldpath", "olddir"), ("newpath", "newdir")),
    "symlink": (("target", None), ("linkpath", None)),
    "symlinkat": (("target", None), ("linkpath", "linkdirfd")),
}


def _path(e: Event, spec: tuple[str, str | None] | None, raw: bool) -> str | None:
    if spec is None or not e.is_exit:
        return None
    pname, dname = spec
    value = e.earg(pname)
    if not isinstance(value, str):
        return None
    if raw or value.startswith("/"):
        return value if raw else resolve_path("", value)
    t = e.thread
    if t is None:
        return value
    dirfd = e.earg(dname) if dname else None
    if dirfd is None or dirfd == AT_FDCWD:
        tab = t.table
        base = (tab.main_thread(t) if tab is not None else t).cwd
    else:
        d = t.fdtable.fds.get(int(dirfd))
        base = d.name if d is not None else ""
    return resolve_path(base, value)


def _name(raw: bool) -> Callable[[Event, Any], Any]:
    def extract(e: Event, a: Any) -> Any:
        return _path(e, _NAME.get(e.name), raw)

    return extract


def _pair(which: int, raw: bool) -> Callable[[Event, Any], Any]:
    def extract(e: Event, a: Any) -> Any:
        spec = _PAIR.get(e.name)
        return _path(e, spec[which] if spec else None, raw)

    return extract


FIELDS = [
    field("fs.path.name", S, "path the syscall operates on (absolute)", _name(False)),
    field("fs.path.nameraw", S, "path the syscall operates on, as passed", _name(True)),
    field("fs.path.source", S, "source path of rename/link/symlink (absolute)", _pair(0, False)),
    field("fs.path.sourceraw", S, "source path of rename/link/symlink, as passed", _pair(0, True)),
    field("fs.path.target", S, "target path of rename/link/symlink (absolute)", _pair(1, False)),
    field("fs.path.targetraw", S, "target path of rename/link/symlink, as passed", _pair(1, True)),
]
