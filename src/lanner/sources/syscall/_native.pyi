"""Types of the syscall source's C core (native/*.c), for mypy: what the module exports.

The records' object-valued attributes are slots the C code fills; their types here are
the ones the Python layers give them (state/threads.py, state/fds.py, event.py).
"""

from collections.abc import Callable, Sequence
from typing import Any

class EventRecord:
    """One event of a capture or the ring (native/events.c): header, parameter bytes and
    the state the engine attached."""

    num: int
    ts: int
    tid: int
    type: int
    nparams: int
    cpu: int
    dump_flags: int
    offset: int
    thread: Any
    table: Any
    enter: Any
    fd: int | None
    fdinfo: Any
    _buf: bytes
    _off: int
    _end: int
    _large: bool
    _lens: Any
    _vals: Any
    _raws: Any
    def __new__(
        cls,
        num: int,
        ts: int,
        tid: int,
        etype: int,
        nparams: int,
        buf: bytes,
        off: int,
        end: int,
        large: bool = ...,
        cpu: int = ...,
        dump_flags: int = ...,
        offset: int = ...,
    ) -> EventRecord: ...
    def _raw_at(self, index: int) -> bytes | None: ...
    def int_param(self, index: int) -> int | None: ...
    def int_value(self, index: int) -> int | None: ...

class FdRecord:
    """One fd (native/records.c): libsinsp's fdinfo."""

    fd: int
    type: int
    l4proto: int
    sock_l4: int
    role: int
    name: str
    open_flags: int
    dev: int
    ino: int
    cip: Any
    cport: Any
    sip: Any
    sport: Any
    name_changed_at: int
    unix_source: int
    unix_dest: int
    def __new__(cls, fd: int, ftype: int, name: str = ...) -> FdRecord: ...
    def copy(self, fd: int | None = ...) -> FdRecord: ...

class FdTableRecord:
    """A process's fd table: fd -> FdRecord."""

    fds: dict[int, Any]
    def __new__(cls) -> FdTableRecord: ...

class ThreadRecord:
    """One thread (native/records.c): libsinsp's threadinfo."""

    tid: int
    pid: int
    ptid: int
    dead: bool
    sid: int
    vpgid: int
    comm: str
    exe: str
    exepath: str
    args: list[str]
    env: list[str]
    cwd: str
    fdlimit: int
    flags: int
    uid: int
    gid: int
    loginuid: int
    vtid: int
    vpid: int
    cgroups: list[tuple[str, str]]
    container_id: str
    root: str
    tty: int
    cap_inheritable: int
    cap_permitted: int
    cap_effective: int
    exe_writable: bool
    exe_upper_layer: bool
    exe_from_memfd: bool
    exe_ino: int
    exe_ino_ctime: int
    exe_ino_mtime: int
    clone_ts: int
    pidns_init_start_ts: int
    fdtable: Any
    last_enter: Any
    table: Any
    @property
    def is_main(self) -> bool: ...
    def __new__(cls, tid: int, pid: int, ptid: int) -> ThreadRecord: ...

class StateCore:
    """The state engine (native/engine.c: dispatch and fd handlers; net.c, proc.c)."""

    _remove_tid: Any
    _remove_fd: Any
    _pending: bool
    fds_dropped: int
    def _bind(
        self,
        threads: dict[int, Any],
        table: Any,
        specs: bytes,
        helpers: tuple[Any, ...],
        fdinfo_cls: type,
        arg_fn: Callable[[Any, str], object],
        op_names: tuple[str, ...],
        max_fds: int,
    ) -> None: ...
    def process(self, evt: EventRecord) -> None: ...

class CandidateFilter:
    """The rules' candidate conditions as a C program (native/candidates_py.c)."""

    def __init__(self, atoms: Sequence[Any], codes: dict[Any, Any]) -> None: ...
    @property
    def natoms(self) -> int: ...
    @property
    def nkeys(self) -> int: ...
    def accepts(self, key: int, values: dict[int, Any]) -> bool: ...

class CandidateEvents:
    """A CandidateFilter applied to event records (native/candidate_events.c)."""

    def __init__(
        self,
        filter: CandidateFilter,
        types: bytes,
        flags_index: bytes,
        typechars: bytes,
        null_typechars: bytes,
        l4names: tuple[Any, ...],
        fallbacks: tuple[Any, ...],
        key_of: Callable[[Any], Any],
    ) -> None: ...
    @property
    def reads(self) -> tuple[int, int]: ...
    def accepts(self, event: object) -> bool: ...
    def value(self, event: EventRecord, field_id: int) -> tuple[str, Any]: ...

def candidate_field_names() -> tuple[str, ...]: ...
def walk(
    buf: bytes,
    pos: int,
    base: int,
    types: bytes,
    hint: bytearray,
    num: int,
    event_cls: type,
) -> tuple[list[Any], int, int, int]: ...
def replay(
    buf: bytes,
    pos: int,
    base: int,
    types: bytes,
    hint: bytearray,
    num: int,
    event_cls: type,
    state: StateCore,
    wanted: bytes,
    codes: bytes,
    accept: CandidateEvents | None,
) -> tuple[Any, int, int, int, int]: ...
def ring_take(
    consumer: Any, producer: Any, page: int, size: int, max_bytes: int
) -> tuple[bytes, int]: ...
def ring_next(
    buf: bytes,
    pos: int,
    num: int,
    event_cls: type,
    state: StateCore | None,
    wanted: bytes,
    codes: bytes,
    filter: CandidateEvents | None,
    ts_offset: int,
    tail: bool,
) -> tuple[Any, int, int, int, int, int]: ...
def resolve_path(base: str, name: str) -> str: ...
def set_int_formats(formats: tuple[Any, ...], decode_int: Callable[..., Any]) -> None: ...
def set_record_classes(fdtable_cls: type) -> None: ...
