"""Names of the bits of flags parameters (the driver's PPM_* encodings).

Values from falcosecurity/libs ``driver/ppm_events_public.h``; which table applies to a
parameter is chosen by event and parameter name, the way ``driver/event_table.c`` points
each flags parameter at its ``ppm_name_value`` table.
"""

from __future__ import annotations

FlagTable = tuple[tuple[str, int], ...]

# Composite values come before their parts so O_RDWR wins over O_RDONLY|O_WRONLY.
OPEN_FLAGS: FlagTable = (
    ("O_RDWR", 3),
    ("O_RDONLY", 1 << 0),
    ("O_WRONLY", 1 << 1),
    ("O_CREAT", 1 << 2),
    ("O_APPEND", 1 << 3),
    ("O_DSYNC", 1 << 4),
    ("O_EXCL", 1 << 5),
    ("O_NONBLOCK", 1 << 6),
    ("O_SYNC", 1 << 7),
    ("O_TRUNC", 1 << 8),
    ("O_DIRECT", 1 << 9),
    ("O_DIRECTORY", 1 << 10),
    ("O_LARGEFILE", 1 << 11),
    ("O_CLOEXEC", 1 << 12),
    ("O_TMPFILE", 1 << 13),
    ("O_F_CREATED", 1 << 14),
    ("FD_UPPER_LAYER", 1 << 15),
    ("FD_LOWER_LAYER", 1 << 16),
)
PPM_O_RDONLY = 1 << 0
PPM_O_WRONLY = 1 << 1
PPM_O_CREAT = 1 << 2
PPM_O_TRUNC = 1 << 8
PPM_O_DIRECTORY = 1 << 10
PPM_O_TMPFILE = 1 << 13
PPM_O_F_CREATED = 1 << 14

CLONE_FLAGS: FlagTable = (
    ("CLONE_FILES", 1 << 0),
    ("CLONE_FS", 1 << 1),
    ("CLONE_IO", 1 << 2),
    ("CLONE_NEWIPC", 1 << 3),
    ("CLONE_NEWNET", 1 << 4),
    ("CLONE_NEWNS", 1 << 5),
    ("CLONE_NEWPID", 1 << 6),
    ("CLONE_NEWUTS", 1 << 7),
    ("CLONE_PARENT", 1 << 8),
    ("CLONE_PARENT_SETTID", 1 << 9),
    ("CLONE_PTRACE", 1 << 10),
    ("CLONE_SIGHAND", 1 << 11),
    ("CLONE_SYSVSEM", 1 << 12),
    ("CLONE_THREAD", 1 << 13),
    ("CLONE_UNTRACED", 1 << 14),
    ("CLONE_VM", 1 << 15),
    ("CLONE_INVERTED", 1 << 16),
    ("NAME_CHANGED", 1 << 17),
    ("CLOSED", 1 << 18),
    ("CLONE_NEWUSER", 1 << 20),
    ("CLONE_CHILD_CLEARTID", 1 << 23),
    ("CLONE_CHILD_SETTID", 1 << 24),
    ("CLONE_SETTLS", 1 << 25),
    ("CLONE_STOPPED", 1 << 26),
    ("CLONE_VFORK", 1 << 27),
    ("CLONE_NEWCGROUP", 1 << 28),
    ("CHILD_IN_PIDNS", 1 << 29),
    ("IS_MAIN_THREAD", 1 << 30),
)
PPM_CL_CLONE_FILES = 1 << 0
PPM_CL_CLONE_THREAD = 1 << 13
PPM_CL_CLONE_VFORK = 1 << 27
PPM_CL_CHILD_IN_PIDNS = 1 << 29

MODE_FLAGS: FlagTable = (
    ("S_IXOTH", 1 << 0),
    ("S_IWOTH", 1 << 1),
    ("S_IROTH", 1 << 2),
    ("S_IXGRP", 1 << 3),
    ("S_IWGRP", 1 << 4),
    ("S_IRGRP", 1 << 5),
    ("S_IXUSR", 1 << 6),
    ("S_IWUSR", 1 << 7),
    ("S_IRUSR", 1 << 8),
    ("S_ISVTX", 1 << 9),
    ("S_ISGID", 1 << 10),
    ("S_ISUID", 1 << 11),
)

PROT_FLAGS: FlagTable = (
    ("PROT_READ", 1 << 0),
    ("PROT_WRITE", 1 << 1),
    ("PROT_EXEC", 1 << 2),
    ("PROT_SEM", 1 << 3),
    ("PROT_GROWSDOWN", 1 << 4),
    ("PROT_GROWSUP", 1 << 5),
    ("PROT_SAO", 1 << 6),
)

MMAP_FLAGS: FlagTable = (
    ("MAP_SHARED", 1 << 0),
    ("MAP_PRIVATE", 1 << 1),
    ("MAP_FIXED", 1 << 2),
    ("MAP_ANONYMOUS", 1 << 3),
    ("MAP_32BIT", 1 << 4),
    ("MAP_RENAME", 1 << 5),
    ("MAP_NORESERVE", 1 << 6),
    ("MAP_POPULATE", 1 << 7),
    ("MAP_NONBLOCK", 1 << 8),
    ("MAP_GROWSDOWN", 1 << 9),
    ("MAP_DENYWRITE", 1 << 10),
    ("MAP_EXECUTABLE", 1 << 11),
    ("MAP_INHERIT", 1 << 12),
    ("MAP_FILE", 1 << 13),
    ("MAP_LOCKED", 1 << 14),
)

# Enumerations (the whole value names one thing)
ACCESS_MODES = {0: "F_OK", 1: "X_OK", 2: "W_OK", 4: "R_OK"}
SOCKET_FAMILIES = {
    0: "AF_UNSPEC",
    1: "AF_LOCAL",
    2: "AF_INET",
    10: "AF_INET6",
    16: "AF_NETLINK",
    17: "AF_PACKET",
}

_OPEN_EVENTS = frozenset({"open", "openat", "openat2", "creat", "open_by_handle_at"})
_CLONE_EVENTS = frozenset({"clone", "clone3", "fork", "vfork"})
_EXEC_EVENTS = frozenset({"execve", "execveat"})

# execve/execveat exit "flags": facts about the executable (driver's PPM_EXE_* bits)
EXE_FLAGS: FlagTable = (
    ("EXE_WRITABLE", 1 << 0),
    ("EXE_UPPER_LAYER", 1 << 1),
    ("EXE_FROM_MEMFD", 1 << 2),
    ("EXE_LOWER_LAYER", 1 << 3),
)


def table_for(event_name: str, param_name: str, ptype: int) -> FlagTable | None:
    """The flag table of a parameter, or None when Lanner does not name its bits."""
    if param_name == "flags" and event_name in _OPEN_EVENTS:
        return OPEN_FLAGS
    if param_name == "flags" and event_name in _CLONE_EVENTS:
        return CLONE_FLAGS
    if param_name == "flags" and event_name in _EXEC_EVENTS:
        return EXE_FLAGS
    if param_name == "mode" and ptype == 42:  # PT_MODE
        return MODE_FLAGS
    if param_name == "prot":
        return PROT_FLAGS
    if param_name == "flags" and event_name in ("mmap", "mmap2"):
        return MMAP_FLAGS
    return None


_FCNTL_NAMES = [
    "UNKNOWN",
    "F_DUPFD",
    "F_GETFD",
    "F_SETFD",
    "F_GETFL",
    "F_SETFL",
    "F_GETLK",
    "-",
    "F_SETLK",
    "F_SETLKW",
    "F_SETOWN",
    "-",
    "F_GETOWN",
    "F_SETSIG",
    "-",
    "F_GETSIG",
    "-",
    "F_GETLK64",
    "F_SETLK64",
    "F_SETLKW64",
    "-",
    "F_SETOWN_EX",
    "F_GETOWN_EX",
    "F_SETLEASE",
    "F_GETLEASE",
    "F_CANCELLK",
    "F_DUPFD_CLOEXEC",
    "F_NOTIFY",
    "F_SETPIPE_SZ",
    "F_GETPIPE_SZ",
    "F_OFD_GETLK",
    "F_OFD_SETLK",
    "F_OFD_SETLKW",
]
FCNTL_CMDS = {i: n for i, n in enumerate(_FCNTL_NAMES) if n != "-"}
PPM_FCNTL_F_DUPFD = 1
PPM_FCNTL_F_DUPFD_CLOEXEC = 26

_PTRACE_NAMES = [
    "PTRACE_UNKNOWN",
    "PTRACE_TRACEME",
    "PTRACE_PEEKTEXT",
    "PTRACE_PEEKDATA",
    "PTRACE_PEEKUSR",
    "PTRACE_POKETEXT",
    "PTRACE_POKEDATA",
    "PTRACE_POKEUSR",
    "PTRACE_CONT",
    "PTRACE_KILL",
    "PTRACE_SINGLESTEP",
    "PTRACE_ATTACH",
    "PTRACE_DETACH",
    "PTRACE_SYSCALL",
    "PTRACE_SETOPTIONS",
    "PTRACE_GETEVENTMSG",
    "PTRACE_GETSIGINFO",
    "PTRACE_SETSIGINFO",
    "PTRACE_GETREGSET",
    "PTRACE_SETREGSET",
    "PTRACE_SEIZE",
    "PTRACE_INTERRUPT",
    "PTRACE_LISTEN",
    "PTRACE_PEEKSIGINFO",
    "PTRACE_GETSIGMASK",
    "PTRACE_SETSIGMASK",
    "PTRACE_GETREGS",
    "PTRACE_SETREGS",
    "PTRACE_GETFPREGS",
    "PTRACE_SETFPREGS",
    "PTRACE_GETFPXREGS",
    "PTRACE_SETFPXREGS",
    "PTRACE_OLDSETOPTIONS",
    "PTRACE_GET_THREAD_AREA",
    "PTRACE_SET_THREAD_AREA",
    "PTRACE_ARCH_PRCTL",
    "PTRACE_SYSEMU",
    "PTRACE_SYSEMU_SINGLESTEP",
    "PTRACE_SINGLEBLOCK",
]
PTRACE_REQUESTS = dict(enumerate(_PTRACE_NAMES))

BPF_CMDS = dict(
    enumerate(
        [
            "BPF_MAP_CREATE",
            "BPF_MAP_LOOKUP_ELEM",
            "BPF_MAP_UPDATE_ELEM",
            "BPF_MAP_DELETE_ELEM",
            "BPF_MAP_GET_NEXT_KEY",
            "BPF_PROG_LOAD",
            "BPF_OBJ_PIN",
            "BPF_OBJ_GET",
            "BPF_PROG_ATTACH",
            "BPF_PROG_DETACH",
        ]
    )
)

RLIMIT_RESOURCES = dict(
    enumerate(
        [
            "RLIMIT_CPU",
            "RLIMIT_FSIZE",
            "RLIMIT_DATA",
            "RLIMIT_STACK",
            "RLIMIT_CORE",
            "RLIMIT_RSS",
            "RLIMIT_NPROC",
            "RLIMIT_NOFILE",
            "RLIMIT_MEMLOCK",
            "RLIMIT_AS",
            "RLIMIT_LOCKS",
            "RLIMIT_SIGPENDING",
            "RLIMIT_MSGQUEUE",
            "RLIMIT_NICE",
            "RLIMIT_RTPRIO",
            "RLIMIT_RTTIME",
        ]
    )
)
RLIMIT_RESOURCES[255] = "RLIMIT_UNKNOWN"

FUTEX_OPS = dict(
    enumerate(
        [
            "FUTEX_WAIT",
            "FUTEX_WAKE",
            "FUTEX_FD",
            "FUTEX_REQUEUE",
            "FUTEX_CMP_REQUEUE",
            "FUTEX_WAKE_OP",
            "FUTEX_LOCK_PI",
            "FUTEX_UNLOCK_PI",
            "FUTEX_TRYLOCK_PI",
            "FUTEX_WAIT_BITSET",
            "FUTEX_WAKE_BITSET",
            "FUTEX_WAIT_REQUEUE_PI",
            "FUTEX_CMP_REQUEUE_PI",
        ]
    )
)


def futex_op_name(value: int) -> str:
    """``FUTEX_PRIVATE_FLAG|FUTEX_WAKE``-style text of a futex operation."""
    parts = []
    if value & 256:
        parts.append("FUTEX_CLOCK_REALTIME")
    if value & 128:
        parts.append("FUTEX_PRIVATE_FLAG")
    if value & 127:  # FUTEX_WAIT is 0 and, like every zero value, is not named
        op = FUTEX_OPS.get(value & 127)
        if op:
            parts.append(op)
    return "|".join(parts)


# (event names, parameter name) -> value names, for enumerated parameters
_ENUMS: dict[tuple[str, str], dict[int, str]] = {
    ("fcntl", "cmd"): FCNTL_CMDS,
    ("ptrace", "request"): PTRACE_REQUESTS,
    ("bpf", "cmd"): BPF_CMDS,
    ("socket", "domain"): SOCKET_FAMILIES,
    ("socketpair", "domain"): SOCKET_FAMILIES,
    ("getrlimit", "resource"): RLIMIT_RESOURCES,
    ("setrlimit", "resource"): RLIMIT_RESOURCES,
    ("prlimit", "resource"): RLIMIT_RESOURCES,
}
ENUM_PARAMS = frozenset(p for _e, p in _ENUMS) | {"mode", "prot", "op"}


def enum_name(event_name: str, param_name: str, value: int) -> str | None:
    """Name of an enumerated parameter value (socket family, access mode...), if known."""
    table = _ENUMS.get((event_name, param_name))
    if table is not None:
        return table.get(value)
    if event_name == "futex" and param_name == "op":
        return futex_op_name(value) or None
    if param_name == "prot" and value == 0:
        return "PROT_NONE"
    if param_name == "mode" and event_name in ("access", "faccessat", "faccessat2"):
        if value in ACCESS_MODES:
            return ACCESS_MODES[value]
        return "|".join(n for bit, n in ACCESS_MODES.items() if bit and value & bit) or None
    return None


def render(table: FlagTable, value: int) -> tuple[str, ...]:
    """Names of the flags set in ``value`` (composites first, each bit named once)."""
    out = []
    covered = 0
    for name, bits in table:
        if bits and value & bits == bits and covered & bits != bits:
            out.append(name)
            covered |= bits
    return tuple(out)


def flag_names(event_name: str, param_name: str, ptype: int, value: int) -> tuple[str, ...]:
    """Names of the flags set in a parameter value; empty when the table is unknown."""
    table = table_for(event_name, param_name, ptype)
    if table and value:
        return render(table, value)
    name = enum_name(event_name, param_name, value)
    return (name,) if name else ()
