"""Which syscalls the probe captures, their x86_64 numbers, and the kernel-side selection."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

# event type name (as rules write evt.type) -> x86_64 syscall number; the probe has a
# handler for each of these (lanner_probe.bpf.c, map `handlers`).
SYSCALL_NR: dict[str, int] = {
    "open": 2,
    "close": 3,
    "pipe": 22,
    "dup": 32,
    "dup2": 33,
    "socket": 41,
    "connect": 42,
    "sendto": 44,
    "recvfrom": 45,
    "sendmsg": 46,
    "recvmsg": 47,
    "accept": 43,
    "bind": 49,
    "listen": 50,
    "socketpair": 53,
    "clone": 56,
    "fork": 57,
    "vfork": 58,
    "execve": 59,
    "fcntl": 72,
    "chdir": 80,
    "fchdir": 81,
    "rename": 82,
    "mkdir": 83,
    "rmdir": 84,
    "creat": 85,
    "link": 86,
    "unlink": 87,
    "symlink": 88,
    "chmod": 90,
    "fchmod": 91,
    "ptrace": 101,
    "mount": 165,
    "umount2": 166,
    "setuid": 105,
    "setgid": 106,
    "setreuid": 113,
    "setregid": 114,
    "setresuid": 117,
    "setresgid": 119,
    "init_module": 175,
    "unshare": 272,
    "openat": 257,
    "mkdirat": 258,
    "unlinkat": 263,
    "renameat": 264,
    "linkat": 265,
    "timerfd_create": 283,
    "signalfd4": 289,
    "eventfd2": 290,
    "epoll_create1": 291,
    "inotify_init1": 294,
    "symlinkat": 266,
    "fchmodat": 268,
    "accept4": 288,
    "dup3": 292,
    "pipe2": 293,
    "finit_module": 313,
    "setns": 308,
    "renameat2": 316,
    "memfd_create": 319,
    "bpf": 321,
    "userfaultfd": 323,
    "execveat": 322,
    "pidfd_open": 434,
    "clone3": 435,
    "openat2": 437,
}

# Outcome bits of the kernel-side selection (the values of the probe's `interesting` map).
OK = 1
"""Emit the call's exit when it returned >= 0."""
FAIL = 2
"""Emit the call's exit when it returned < 0."""
INPROGRESS = 4
"""Emit the call's exit when it returned -EINPROGRESS (FAIL includes it)."""
ANY = OK | FAIL

STATE_OUTCOMES: dict[str, int] = {"connect": INPROGRESS}
"""What the state engine needs of a base syscall beyond its successes: a non-blocking
connect returns EINPROGRESS and its socket gets its addresses then. Every other state
update comes from a call that succeeded."""

SUPPORTED: frozenset[str] = frozenset(SYSCALL_NR) | {"procexit"}
"""Every event type the probe can produce."""

BASE_EVENT_TYPES: frozenset[str] = frozenset(
    {
        # processes: the thread table (Falco's base syscalls)
        "clone",
        "clone3",
        "fork",
        "vfork",
        "execve",
        "execveat",
        "procexit",
        "chdir",
        "fchdir",
        "setuid",
        "setgid",
        "setreuid",
        "setregid",
        "setresuid",
        "setresgid",
        # fds: the fd tables
        "open",
        "openat",
        "openat2",
        "creat",
        "close",
        "socket",
        "connect",
        "accept",
        "accept4",
        "bind",
        "dup",
        "dup2",
        "dup3",
        "fcntl",  # F_DUPFD / F_DUPFD_CLOEXEC only (filtered in the kernel)
        "pipe",
        "pipe2",
        "memfd_create",
        "socketpair",
        "eventfd2",
        "epoll_create1",
        "inotify_init1",
        "timerfd_create",
        "signalfd4",
        "pidfd_open",
    }
)
"""What the state engine needs whatever the rules ask for."""


def select(
    event_types: Iterable[str] | None,
    base: bool = True,
    outcomes: Mapping[str, int] | None = None,
) -> tuple[dict[int, int], set[str]]:
    """Which exits of which syscalls to emit for ``event_types`` (None: all), plus the names
    not supported: ``{syscall number: outcome bits}`` (:data:`OK`, :data:`FAIL`,
    :data:`INPROGRESS`).

    ``outcomes``: what the rules need of each type (``filters.rule_outcomes``); a type
    missing from it, or ``outcomes=None``, gets every outcome. ``base`` adds
    :data:`BASE_EVENT_TYPES` (their successes, and what :data:`STATE_OUTCOMES` adds) so
    thread and fd state stay right.
    """
    wanted = set(SUPPORTED) if event_types is None else set(event_types)
    masks: dict[str, int] = {}
    for name in wanted:
        masks[name] = ANY if outcomes is None or event_types is None else outcomes.get(name, ANY)
    if base:
        for name in BASE_EVENT_TYPES:
            masks[name] = masks.get(name, 0) | OK | STATE_OUTCOMES.get(name, 0)
    unsupported = {n for n in masks if n not in SUPPORTED}
    return {SYSCALL_NR[n]: m for n, m in masks.items() if n in SYSCALL_NR and m}, unsupported
