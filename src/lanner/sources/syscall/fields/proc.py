"""proc.* and thread.* fields: the process and thread that generated the event."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lanner.engine.fields import ArgKind, FieldType

from ..event import Event
from ..state.threads import ThreadInfo
from ._util import field
from .anyof import AnyOf

S = FieldType.STRING
N = FieldType.NUMBER
B = FieldType.BOOL

CAP_NAMES = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
]


def caps_text(mask: int) -> str:
    """Capability bit mask as space-separated CAP_* names."""
    return " ".join(name for i, name in enumerate(CAP_NAMES) if mask >> i & 1)


def main_thread(t: ThreadInfo) -> ThreadInfo:
    """The process's main thread."""
    tab = t.table
    return tab.main_thread(t) if tab is not None else t


def parent(t: ThreadInfo) -> ThreadInfo | None:
    """The parent process's main thread."""
    tab = t.table
    return tab.parent(t) if tab is not None else None


def _lineage(t: ThreadInfo) -> list[ThreadInfo]:
    tab = t.table
    if tab is None:
        return [t]
    return [tab.main_thread(t), *tab.ancestors(t)]  # [0] is the process itself


def cmdline(t: ThreadInfo) -> str:
    """comm followed by the arguments."""
    return f"{t.comm} {' '.join(t.args)}" if t.args else t.comm


def _t(getter: Callable[[ThreadInfo], Any]) -> Callable[[Event, Any], Any]:
    def extract(e: Event, a: Any) -> Any:
        t = e.thread
        return None if t is None else getter(t)

    return extract


def _tp(getter: Callable[[ThreadInfo], Any]) -> Callable[[Event, Any], Any]:
    def extract(e: Event, a: Any) -> Any:
        t = e.thread
        if t is None:
            return None
        p = parent(t)
        return None if p is None else getter(p)

    return extract


def _ta(getter: Callable[[ThreadInfo], Any]) -> Callable[[Event, Any], Any]:
    """proc.aX[N]: N=0 is the process itself; no index: any ancestor."""

    def extract(e: Event, a: Any) -> Any:
        t = e.thread
        if t is None:
            return None
        chain = _lineage(t)
        if a is None:
            vals = [getter(x) for x in chain[1:]]
            return AnyOf(vals) if vals else None
        if a < len(chain):
            return getter(chain[a])
        return None

    return extract


def _env(e: Event, a: Any) -> Any:
    t = e.thread
    if t is None:
        return None
    env = main_thread(t).env or t.env
    if a is None:
        return " ".join(env)
    prefix = f"{a}="
    for item in env:
        if item.startswith(prefix):
            return item[len(prefix) :]
    return None


def _duration(t: ThreadInfo, e: Event) -> int | None:
    return e.ts - t.clone_ts if t.clone_ts else None


def _exe_ctime_since_start(e: Event) -> int | None:
    t = e.thread
    if t is None:
        return None
    mt = main_thread(t)
    if not mt.clone_ts or not mt.exe_ino_ctime:
        return None
    return mt.exe_ino_ctime - mt.clone_ts


def _eldest_with(t: ThreadInfo, attr: str) -> ThreadInfo:
    """The eldest ancestor sharing ``attr`` (sid, vpgid) with ``t``'s process, walking up
    the parents like libsinsp does for proc.sname and proc.vpgid.name."""
    mt = main_thread(t)
    value = getattr(mt, attr)
    leader = mt
    tab = t.table
    if tab is not None:
        for anc in tab.ancestors(mt):
            if getattr(anc, attr) != value:
                break
            leader = anc
    return leader


def _vpgid_leader(t: ThreadInfo) -> Any:
    return _eldest_with(t, "vpgid")


def _proc_tid(e: Event, a: Any) -> int:
    return e.tid


def _tmain(getter: Callable[[ThreadInfo], Any]) -> Callable[[Event, Any], Any]:
    def extract(e: Event, a: Any) -> Any:
        t = e.thread
        return None if t is None else getter(main_thread(t))

    return extract


FIELDS = [
    field("proc.pid", N, "id of the process", _t(lambda t: t.pid)),
    field("proc.exe", S, "first command-line argument (argv[0])", _t(lambda t: t.exe)),
    field("proc.name", S, "process name (comm)", _t(lambda t: t.comm)),
    field("proc.args", S, "command-line arguments", _t(lambda t: " ".join(t.args))),
    field(
        "proc.env",
        S,
        "environment; proc.env[NAME] for one variable",
        _env,
        arg=ArgKind.KEY,
        cost=10,
    ),
    field("proc.cmdline", S, "name and arguments", _t(cmdline)),
    field(
        "proc.exeline",
        S,
        "exe and arguments",
        _t(lambda t: f"{t.exe} {' '.join(t.args)}"),
    ),
    field("proc.cmdnargs", N, "number of arguments", _t(lambda t: len(t.args))),
    field(
        "proc.cmdlenargs",
        N,
        "total length of the arguments",
        _t(lambda t: sum(len(a) for a in t.args) + max(len(t.args) - 1, 0)),
    ),
    field("proc.exepath", S, "full path of the executable", _t(lambda t: t.exepath)),
    field("proc.cwd", S, "current working directory", _tmain(lambda t: t.cwd)),
    field("proc.ppid", N, "id of the parent process", _tmain(lambda t: t.ptid)),
    field("proc.pname", S, "name of the parent", _tp(lambda t: t.comm)),
    field("proc.pcmdline", S, "command line of the parent", _tp(cmdline)),
    field("proc.pexe", S, "argv[0] of the parent", _tp(lambda t: t.exe)),
    field("proc.pexepath", S, "executable path of the parent", _tp(lambda t: t.exepath)),
    field(
        "proc.aname",
        S,
        "name of an ancestor: [0] self, [1] parent...; no index: any ancestor",
        _ta(lambda t: t.comm),
        arg=ArgKind.INDEX,
        any_of=True,
    ),
    field(
        "proc.apid",
        N,
        "pid of an ancestor: [0] self, [1] parent...; no index: any ancestor",
        _ta(lambda t: t.pid),
        arg=ArgKind.INDEX,
        any_of=True,
    ),
    field(
        "proc.aexe",
        S,
        "argv[0] of an ancestor; no index: any ancestor",
        _ta(lambda t: t.exe),
        arg=ArgKind.INDEX,
        any_of=True,
    ),
    field(
        "proc.aexepath",
        S,
        "executable path of an ancestor; no index: any ancestor",
        _ta(lambda t: t.exepath),
        arg=ArgKind.INDEX,
        any_of=True,
    ),
    field(
        "proc.acmdline",
        S,
        "command line of an ancestor; no index: any ancestor",
        _ta(cmdline),
        arg=ArgKind.INDEX,
        any_of=True,
    ),
    field("proc.tty", N, "controlling terminal (0 if none)", _t(lambda t: t.tty)),
    field("proc.sid", N, "session id", _t(lambda t: t.sid)),
    field(
        "proc.sname",
        S,
        "name of the session leader",
        _t(lambda t: _eldest_with(t, "sid").comm),
    ),
    field(
        "proc.is_sid_leader",
        B,
        "true when the process leads its session",
        _t(lambda t: t.sid == t.pid),
    ),
    field("proc.vpgid", N, "process group id (in its pid namespace)", _t(lambda t: t.vpgid)),
    field(
        "proc.vpgid.name",
        S,
        "name of the process group leader",
        _t(lambda t: getattr(_vpgid_leader(t), "comm", None)),
    ),
    field(
        "proc.vpgid.exe",
        S,
        "argv[0] of the process group leader",
        _t(lambda t: getattr(_vpgid_leader(t), "exe", None)),
    ),
    field(
        "proc.is_vpgid_leader",
        B,
        "true when the process leads its process group",
        _t(lambda t: t.vpid == t.vpgid if t.vpgid >= 0 else None),
    ),
    field(
        "proc.vpid",
        N,
        "pid in the process's pid namespace",
        _t(lambda t: t.vpid if t.vpid >= 0 else None),
    ),
    field(
        "proc.pvpid",
        N,
        "parent's pid in its pid namespace",
        _tp(lambda t: t.vpid if t.vpid >= 0 else None),
    ),
    field("proc.loginuid", N, "audit login uid", _t(lambda t: t.loginuid)),
    field(
        "proc.duration",
        N,
        "ns since the process started",
        lambda e, a: None if e.thread is None else _duration(e.thread, e),
    ),
    field(
        "proc.ppid.duration",
        N,
        "ns since the parent started",
        lambda e, a: _ppid_duration(e),
    ),
    field(
        "proc.start_ts",
        N,
        "start time of the process (ns since epoch)",
        _tmain(lambda t: t.clone_ts or None),
    ),
    field(
        "proc.is_exe_writable",
        B,
        "executable is writable by the user",
        _t(lambda t: t.exe_writable),
    ),
    field(
        "proc.is_exe_upper_layer",
        B,
        "executable lives in an overlayfs upper layer",
        _t(lambda t: t.exe_upper_layer),
    ),
    field(
        "proc.is_exe_from_memfd",
        B,
        "executable was loaded from a memfd",
        _t(lambda t: t.exe_from_memfd),
    ),
    field("proc.exe_ino", N, "inode of the executable", _t(lambda t: t.exe_ino)),
    field(
        "proc.exe_ino.ctime", N, "ctime of the executable's inode", _t(lambda t: t.exe_ino_ctime)
    ),
    field(
        "proc.exe_ino.mtime", N, "mtime of the executable's inode", _t(lambda t: t.exe_ino_mtime)
    ),
    field(
        "proc.exe_ino.ctime_duration_proc_start",
        N,
        "ns between the executable's ctime and the process start",
        lambda e, a: _exe_ctime_since_start(e),
    ),
    field(
        "proc.fdopencount",
        N,
        "number of open fds",
        _tmain(lambda t: len(t.fdtable)),
    ),
    field(
        "proc.nthreads",
        N,
        "live threads of the process, the main thread included",
        _t(lambda t: _nthreads(t)),
    ),
    field("thread.tid", N, "id of the thread", _proc_tid, simple=lambda e: e.tid),
    field("thread.ismain", B, "true for the process's main thread", _t(lambda t: t.tid == t.pid)),
    field(
        "thread.vtid",
        N,
        "tid in the thread's pid namespace",
        _t(lambda t: t.vtid if t.vtid >= 0 else None),
    ),
    field(
        "thread.cap_permitted",
        S,
        "permitted capabilities",
        _t(lambda t: caps_text(t.cap_permitted)),
    ),
    field(
        "thread.cap_effective",
        S,
        "effective capabilities",
        _t(lambda t: caps_text(t.cap_effective)),
    ),
    field(
        "thread.cap_inheritable",
        S,
        "inheritable capabilities",
        _t(lambda t: caps_text(t.cap_inheritable)),
    ),
]


def _nthreads(t: ThreadInfo) -> int:
    # exiting threads still count on their own procexit (removed before the next event)
    tab = t.table
    if tab is None:
        return 1
    pid = t.pid
    return sum(1 for o in tab.threads.values() if o.pid == pid)


def _ppid_duration(e: Event) -> int | None:
    t = e.thread
    if t is None:
        return None
    p = parent(t)
    return None if p is None else _duration(p, e)
