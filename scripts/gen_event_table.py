#!/usr/bin/env python3
"""Generate ``src/lanner/sources/syscall/event_table.py`` from the shared event table JSON.

Usage: ``python scripts/gen_event_table.py [EVENT_TABLE_JSON] [OUTPUT_PY]``

The JSON (``../shared/reference/event_table.json``) is an extract of falcosecurity/libs
``driver/event_table.c`` and ``driver/ppm_events_public.h``. The syscall-code names below
(``ppm_syscall_code``, used by the generic ``syscall`` events' ``ID`` parameter) come from
the same header; they are numbers-to-names facts, written out here because the JSON lacks
them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_JSON = ROOT.parent / "shared" / "reference" / "event_table.json"
DEFAULT_OUT = ROOT / "src" / "lanner" / "sources" / "syscall" / "event_table.py"

# ppm_syscall_code, in code order starting at 0 (PPM_SC_UNKNOWN) up to 400; the numbering
# is stable across driver versions (new codes are appended). 382 is unassigned (na_1).
_SYSCALL_CODE_TEXT = """
unknown restart_syscall exit read write open close creat link unlink chdir time mknod chmod
stat lseek getpid mount ptrace alarm fstat pause utime access sync kill rename mkdir rmdir
dup pipe times brk acct ioctl fcntl setpgid umask chroot ustat dup2 getppid getpgrp setsid
sethostname setrlimit getrusage gettimeofday settimeofday symlink lstat readlink uselib
swapon reboot mmap munmap truncate ftruncate fchmod getpriority setpriority statfs fstatfs
syslog setitimer getitimer uname vhangup wait4 swapoff sysinfo fsync setdomainname adjtimex
mprotect init_module delete_module quotactl getpgid fchdir sysfs personality getdents
select flock msync readv writev getsid fdatasync mlock munlock mlockall munlockall
sched_setparam sched_getparam sched_setscheduler sched_getscheduler sched_yield
sched_get_priority_max sched_get_priority_min sched_rr_get_interval nanosleep mremap poll
prctl rt_sigaction rt_sigprocmask rt_sigpending rt_sigtimedwait rt_sigqueueinfo
rt_sigsuspend getcwd capget capset sendfile getrlimit lchown getuid getgid geteuid getegid
setreuid setregid getgroups setgroups fchown setresuid getresuid setresgid getresgid chown
setuid setgid setfsuid setfsgid pivot_root mincore madvise gettid setxattr lsetxattr
fsetxattr getxattr lgetxattr fgetxattr listxattr llistxattr flistxattr removexattr
lremovexattr fremovexattr tkill futex sched_setaffinity sched_getaffinity set_thread_area
get_thread_area io_setup io_destroy io_getevents io_submit io_cancel exit_group
epoll_create epoll_ctl epoll_wait remap_file_pages set_tid_address timer_create
timer_settime timer_gettime timer_getoverrun timer_delete clock_settime clock_gettime
clock_getres clock_nanosleep tgkill utimes mq_open mq_unlink mq_timedsend mq_timedreceive
mq_notify mq_getsetattr kexec_load waitid add_key request_key keyctl ioprio_set ioprio_get
inotify_init inotify_add_watch inotify_rm_watch openat mkdirat mknodat fchownat futimesat
unlinkat renameat linkat symlinkat readlinkat fchmodat faccessat pselect6 ppoll unshare
set_robust_list get_robust_list splice tee vmsplice getcpu epoll_pwait utimensat signalfd
timerfd_create eventfd timerfd_settime timerfd_gettime signalfd4 eventfd2 epoll_create1
dup3 pipe2 inotify_init1 preadv pwritev rt_tgsigqueueinfo perf_event_open fanotify_init
prlimit64 clock_adjtime syncfs setns getdents64 socket bind connect listen accept
getsockname getpeername socketpair sendto recvfrom shutdown setsockopt getsockopt sendmsg
sendmmsg recvmsg recvmmsg accept4 semop semget semctl msgsnd msgrcv msgget msgctl shmdt
shmget shmctl statfs64 fstatfs64 fstatat64 sendfile64 ugetrlimit bdflush sigprocmask ipc
socketcall stat64 lstat64 fstat64 fcntl64 mmap2 _newselect sgetmask ssetmask sigpending
olduname umount signal nice stime _llseek waitpid pread64 pwrite64 arch_prctl shmat
sigreturn fallocate newfstatat process_vm_readv process_vm_writev fork vfork setuid32
getuid32 setgid32 geteuid32 getgid32 setresuid32 setresgid32 getresuid32 getresgid32
finit_module bpf seccomp sigaltstack getrandom fadvise64 renameat2 userfaultfd openat2 umount2
execve execveat copy_file_range clone clone3 open_by_handle_at io_uring_setup io_uring_enter
io_uring_register mlock2 getegid32 fsconfig fspick fsmount fsopen open_tree move_mount
mount_setattr memfd_create memfd_secret ioperm kexec_file_load pidfd_getfd pidfd_open
pidfd_send_signal pkey_alloc pkey_mprotect pkey_free landlock_create_ruleset quotactl_fd
landlock_restrict_self landlock_add_rule epoll_pwait2 migrate_pages move_pages preadv2
pwritev2 kcmp sched_setattr mbind epoll_ctl_old lookup_dcookie modify_ldt statx set_mempolicy
io_pgetevents set_mempolicy_home_node semtimedop get_kernel_syms readahead futex_waitv getpmsg
name_to_handle_at process_mrelease nfsservctl epoll_wait_old rseq create_module na_1
sched_getattr faccessat2 _sysctl query_module get_mempolicy sync_file_range process_madvise
membarrier iopl close_range fanotify_mark recv send sched_process_exit sched_switch
page_fault_user page_fault_kernel signal_deliver
"""
SYSCALL_CODE_NAMES = tuple(_SYSCALL_CODE_TEXT.split())

# Lanner's bit assignment for the EF_* names found in the JSON (upstream order).
EVENT_FLAG_BITS = [
    "EF_CREATES_FD",
    "EF_DESTROYS_FD",
    "EF_USES_FD",
    "EF_READS_FROM_FD",
    "EF_WRITES_TO_FD",
    "EF_MODIFIES_STATE",
    "EF_UNUSED",
    "EF_WAITS",
    "EF_SKIPPARSERESET",
    "EF_OLD_VERSION",
    "EF_DROP_SIMPLE_CONS",
    "EF_LARGE_PAYLOAD",
    "EF_CONVERTER_MANAGED",
]

# ppm_event_category values (ppm_events_public.h).
CATEGORY_VALUES = {
    "EC_UNKNOWN": 0,
    "EC_OTHER": 1,
    "EC_FILE": 2,
    "EC_NET": 3,
    "EC_IPC": 4,
    "EC_MEMORY": 5,
    "EC_PROCESS": 6,
    "EC_SLEEP": 7,
    "EC_SYSTEM": 8,
    "EC_SIGNAL": 9,
    "EC_USER": 10,
    "EC_TIME": 11,
    "EC_PROCESSING": 12,
    "EC_IO_READ": 32,
    "EC_IO_WRITE": 33,
    "EC_IO_OTHER": 34,
    "EC_WAIT": 64,
    "EC_SCHEDULER": 128,
    "EC_INTERNAL": 256,
    "EC_SYSCALL": 512,
    "EC_TRACEPOINT": 1024,
    "EC_PLUGIN": 2048,
    "EC_METAEVENT": 4096,
    "EC_ITER": 8192,
}
CLASS_NAMES = {
    "EC_UNKNOWN": "unknown",
    "EC_OTHER": "other",
    "EC_FILE": "file",
    "EC_NET": "net",
    "EC_IPC": "IPC",
    "EC_MEMORY": "memory",
    "EC_PROCESS": "process",
    "EC_SLEEP": "sleep",
    "EC_SYSTEM": "system",
    "EC_SIGNAL": "signal",
    "EC_USER": "user",
    "EC_TIME": "time",
    "EC_PROCESSING": "processing",
    "EC_IO_READ": "IO_read",
    "EC_IO_WRITE": "IO_write",
    "EC_IO_OTHER": "IO_other",
    "EC_WAIT": "wait",
    "EC_SCHEDULER": "scheduler",
    "EC_INTERNAL": "internal",
}
SOURCE_BITS = {"EC_SYSCALL", "EC_TRACEPOINT", "EC_PLUGIN", "EC_METAEVENT", "EC_ITER"}


def render(table: dict) -> str:
    """Return the Python source of the generated module."""
    pt = {v: int(k) for k, v in table["param_types"].items()}
    pf = {v: int(k) for k, v in table["print_formats"].items()}
    events = sorted(table["events"], key=lambda e: e["id"])
    if [e["id"] for e in events] != list(range(len(events))):
        raise SystemExit("event ids are not contiguous from 0")
    out: list[str] = []
    w = out.append
    w('"""The driver event table: ids, names, directions, categories, flags and parameters.')
    w("")
    w("GENERATED by scripts/gen_event_table.py from ../shared/reference/event_table.json")
    w(f"({table['source']}).")
    w('Do not edit by hand; re-run the script."""')
    w("")
    w("# ruff: noqa: E501")
    w("from __future__ import annotations")
    w("")
    w("# Parameter types (PT_*)")
    for name, code in sorted(pt.items(), key=lambda kv: kv[1]):
        w(f"{name} = {code}")
    w("")
    w("# Print formats (PF_*)")
    for name, code in sorted(pf.items(), key=lambda kv: kv[1]):
        w(f"{name} = {code}")
    w("")
    w("# Event flags (EF_*), Lanner's bit assignment")
    w("EF_NONE = 0")
    for i, name in enumerate(EVENT_FLAG_BITS):
        w(f"{name} = 1 << {i}")
    w("")
    w("# Event categories (EC_*)")
    for name, value in CATEGORY_VALUES.items():
        w(f"{name} = {value}")
    w("")
    w("PT_NAMES: dict[int, str] = {")
    for name, code in sorted(pt.items(), key=lambda kv: kv[1]):
        w(f"    {code}: {name!r},")
    w("}")
    w("")
    w(f"EVENT_COUNT = {len(events)}")
    w("")
    w("# Event id constants (PPME_*)")
    for e in events:
        w(f"{e['enum']} = {e['id']}")
    w("")
    names = tuple(e["name"] for e in events)
    w(f"EVENT_NAMES: tuple[str, ...] = {names!r}")
    w('"""Event id -> type name (evt.type)."""')
    w("")
    dirs = tuple(">" if e["dir"] == "enter" else "<" for e in events)
    w(f"EVENT_DIRS: tuple[str, ...] = {dirs!r}")
    w('"""Event id -> direction, ``>`` for enter and ``<`` for exit."""')
    w("")
    flags = []
    for e in events:
        bits = 0
        for f in e["flags"]:
            if f in ("EF_NONE",):
                continue
            if f not in EVENT_FLAG_BITS:
                raise SystemExit(f"unknown flag {f}")
            bits |= 1 << EVENT_FLAG_BITS.index(f)
        flags.append(bits)
    w(f"EVENT_FLAGS: tuple[int, ...] = {tuple(flags)!r}")
    w('"""Event id -> EF_* bit mask."""')
    w("")
    cats = []
    classes = []
    for e in events:
        parts = [p.strip() for p in e["category"].split("|")]
        value = 0
        klass = "unknown"
        for p in parts:
            value |= CATEGORY_VALUES[p]
            if p not in SOURCE_BITS:
                klass = CLASS_NAMES[p]
        cats.append(value)
        classes.append(klass)
    w(f"EVENT_CATEGORIES: tuple[int, ...] = {tuple(cats)!r}")
    w('"""Event id -> EC_* category bits."""')
    w("")
    w(f"EVENT_CATEGORY_NAMES: tuple[str, ...] = {tuple(classes)!r}")
    w('"""Event id -> category name as evt.category prints it."""')
    w("")
    w("EVENT_PARAMS: tuple[tuple[tuple[str, int, int], ...], ...] = (")
    for e in events:
        params = tuple((p["name"], pt[p["type"]], pf[p["fmt"]]) for p in e["params"])
        w(f"    {params!r},  # {e['id']} {e['enum']}")
    w(")")
    w('"""Event id -> ((param name, PT_* type, PF_* format), ...)."""')
    w("")
    w(f"SYSCALL_CODE_NAMES: tuple[str, ...] = {tuple(SYSCALL_CODE_NAMES)!r}")
    w('"""ppm_syscall_code -> syscall name, for the generic ``syscall`` events\' ID param."""')
    w("")
    return "\n".join(out)


def main(argv: list[str]) -> int:
    """Generate the module; arguments: [json path] [output path]."""
    src = Path(argv[1]) if len(argv) > 1 else DEFAULT_JSON
    dst = Path(argv[2]) if len(argv) > 2 else DEFAULT_OUT
    table = json.loads(src.read_text())
    dst.write_text(render(table))
    print(f"wrote {dst} ({len(table['events'])} events)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
