"""Syscall actions that start processes: shells under server names, stand-in tools,
decoded payloads, programs run from /tmp and from memory.

Rules that recognise a tool by its name and arguments (a scanner, ``iptables -F``...)
are triggered by a *stand-in*: a symlink with the tool's name to ``true``, so the
process the kernel starts is named like the tool and does nothing.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from lanner.services.generate.action import (
    Action,
    ActionFn,
    Outcome,
    RunContext,
    action,
    token,
)
from lanner.services.generate.sandbox import (
    copy_exe,
    named,
    python,
    run,
    temp_file,
    tool,
    workdir,
)

EXEC = ("execve",)


def _standin(ctx: RunContext, name: str, *args: str) -> Outcome:
    """Run ``true`` under the name ``name`` with ``args`` and the marker."""
    out = Outcome(token())
    with workdir(out) as d:
        run(out, [named(d, name, tool("true")), *args, out.marker], ctx.timeout, check=True)
    return out


# fork() and exec(), as servers do (not vfork: the child-first event order of vfork
# leaves Lanner's state engine without the parent now and then)
SPAWN_SCRIPT = """\
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def _spawn_as(ctx: RunContext, parent: str, argv: list[str]) -> Outcome:
    """A process named ``parent`` (Python) runs ``argv`` and reaps it."""
    out = Outcome(token())
    with workdir(out) as d:
        exe = named(d, parent, python())
        run(out, [exe, "-c", SPAWN_SCRIPT, *argv, out.marker], ctx.timeout, check=True)
    return out


def shell_from_server(ctx: RunContext) -> Outcome:
    """A process named ``node`` (a server runtime) starts ``sh -c``."""
    return _spawn_as(ctx, "node", [tool("sh"), "-c", ": $0"])


def database_child(ctx: RunContext) -> Outcome:
    """A process named ``postgres`` starts ``echo``, not one of a database's helpers."""
    return _spawn_as(ctx, "postgres", [tool("echo")])


def encoded_payload(ctx: RunContext) -> Outcome:
    """``sh -c 'echo dHJ1ZQo= | base64 -d | sh'`` (the payload is ``true``)."""
    out = Outcome(token())
    script = f"echo dHJ1ZQo= | base64 -d | sh # {out.marker}"
    run(out, [tool("sh"), "-c", script], ctx.timeout, check=True)
    return out


def touch_timestamp(ctx: RunContext) -> Outcome:
    """``touch -d 2001-01-01`` on a private file."""
    out = Outcome(token())
    with workdir(out) as d, temp_file(out, d / out.marker) as f:
        run(out, [tool("touch"), "-d", "2001-01-01", f], ctx.timeout, check=True)
    return out


def data_destruction(ctx: RunContext) -> Outcome:
    """``shred -u`` a private file."""
    out = Outcome(token())
    with workdir(out) as d, temp_file(out, d / out.marker, b"x" * 4096) as f:
        run(out, [tool("shred"), "-u", f], ctx.timeout, check=True)
    return out


def exec_from_tmp(ctx: RunContext) -> Outcome:
    """Copy ``true`` into a new directory below /tmp, run it, remove it."""
    out = Outcome(token())
    d = Path(tempfile.mkdtemp(prefix=out.marker + "-", dir="/tmp"))
    out.add("paths", str(d))
    try:
        run(out, [copy_exe(d, "true", tool("true"))], ctx.timeout, check=True)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    return out


MEMFD_SCRIPT = """\
import os, sys
fd = os.memfd_create("lanner-gen", 0)
with open(sys.argv[1], "rb") as f:
    os.write(fd, f.read())
os.execv(f"/proc/self/fd/{fd}", ["true", sys.argv[2]])
"""


def memfd_exec(ctx: RunContext) -> Outcome:
    """Copy ``true`` into a memfd and execute it from there (nothing on disk)."""
    out = Outcome(token())
    run(out, [python(), "-c", MEMFD_SCRIPT, tool("true"), out.marker], ctx.timeout, check=True)
    return out


def netcat_exec(ctx: RunContext) -> Outcome:
    """Stand-in ``nc -e /bin/sh`` (``true`` named nc: nothing connects or runs)."""
    return _standin(ctx, "nc", "-e", "/bin/sh", "127.0.0.1", "4444")


def scanner_launched(ctx: RunContext) -> Outcome:
    """Stand-in ``nmap -sn 127.0.0.1``."""
    return _standin(ctx, "nmap", "-sn", "127.0.0.1")


def user_management(ctx: RunContext) -> Outcome:
    """Stand-in ``useradd`` (no user is created)."""
    return _standin(ctx, "useradd", "--no-create-home")


def security_tool_disabled(ctx: RunContext) -> Outcome:
    """Stand-in ``setenforce 0`` (SELinux is not touched)."""
    return _standin(ctx, "setenforce", "0")


def firewall_flushed(ctx: RunContext) -> Outcome:
    """Stand-in ``iptables -F`` (no rule is flushed)."""
    return _standin(ctx, "iptables", "-F")


def miner_launched(ctx: RunContext) -> Outcome:
    """Stand-in ``xmrig --url stratum+tcp://127.0.0.1:3333``."""
    return _standin(ctx, "xmrig", "--url", "stratum+tcp://127.0.0.1:3333")


def _a(name: str, rule: str, fn: ActionFn, needs: tuple[str, ...] = EXEC) -> Action:
    return action(name, rule, fn, needs=needs)


ACTIONS: list[Action] = [
    _a("shell_from_server", "Shell spawned by a server process", shell_from_server),
    _a("database_child", "Unexpected child of a database server", database_child),
    _a("netcat_exec", "Netcat with command execution", netcat_exec),
    _a("exec_from_tmp", "Execution from a temporary directory", exec_from_tmp),
    _a("memfd_exec", "Fileless execution from memfd", memfd_exec),
    _a("scanner_launched", "Network scanning tool launched", scanner_launched),
    _a("user_management", "User account management", user_management),
    _a("encoded_payload", "Encoded payload decoded in a shell pipeline", encoded_payload),
    _a("security_tool_disabled", "Security tool disabled", security_tool_disabled),
    _a("firewall_flushed", "Firewall rules flushed", firewall_flushed),
    _a("touch_timestamp", "Timestamp of a file changed by touch", touch_timestamp),
    _a("data_destruction", "Bulk data destruction tool", data_destruction),
    _a("miner_launched", "Crypto miner launched", miner_launched),
]
