"""Syscall actions for upstream Falco rules (falco_rules.yaml) that Lanner's own actions
do not already prove: each does the behaviour safely (private files, loopback, reads of
world-readable files, stand-ins named like the tools) and carries the run's marker in a
command line, so the alert names it."""

from __future__ import annotations

import os
import shutil

from lanner.exceptions import ActionError
from lanner.services.generate.action import Action, ActionFn, Outcome, RunContext, action, token
from lanner.services.generate.container_context import container
from lanner.services.generate.sandbox import named, python, run, tool, workdir
from lanner.services.generate.syscall_network import LoopbackListener, _netns_action
from lanner.services.generate.syscall_process import SPAWN_SCRIPT

# A process that is not a shell opens /etc/passwd (world-readable) through "../../".
TRAVERSAL_SCRIPT = """\
import sys
open("/etc/../../etc/passwd", "rb").close()
"""

# Runs as `sshd`: becomes nobody, then runs the program given (a system user working
# interactively under sshd, as Falco's interactive macro sees it).
AS_NOBODY_SCRIPT = """\
import os, sys
pid = os.fork()
if pid == 0:
    os.setgid(65534)
    os.setgroups([])
    os.setuid(65534)
    os.execv(sys.argv[1], sys.argv[1:])
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""

# Connects to a loopback listener and puts the socket on stdout (dup2 onto fd 1), as a
# reverse shell redirects its streams.
REDIRECT_SCRIPT = """\
import os, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
os.dup2(s.fileno(), 1)
os.write(1, sys.argv[2].encode())
"""


def shell_from_web_server(ctx: RunContext) -> Outcome:
    """A process named ``nginx`` (a web server) starts ``sh -c``."""
    out = Outcome(token())
    with workdir(out) as d:
        exe = named(d, "nginx", python())
        argv = [str(exe), "-c", SPAWN_SCRIPT, tool("sh"), "-c", ": $0", out.marker]
        run(out, argv, ctx.timeout, check=True)
    return out


def private_key_search(ctx: RunContext) -> Outcome:
    """``grep -r 'BEGIN PRIVATE'`` over a private, empty work directory."""
    out = Outcome(token())
    with workdir(out) as d:
        run(out, [tool("grep"), "-r", "BEGIN PRIVATE", d], ctx.timeout)
    return out


def aws_credentials_search(ctx: RunContext) -> Outcome:
    """``find DIR -path '*/.aws/credentials'`` over a private, empty work directory."""
    out = Outcome(token())
    with workdir(out) as d:
        run(out, [tool("find"), d, "-path", "*/.aws/credentials"], ctx.timeout)
    return out


def directory_traversal_read(ctx: RunContext) -> Outcome:
    """Open ``/etc/../../etc/passwd`` (world-readable) for reading, from Python."""
    out = Outcome(token())
    run(out, [python(), "-c", TRAVERSAL_SCRIPT, out.marker], ctx.timeout, check=True)
    return out


def exec_from_dev_shm(ctx: RunContext) -> Outcome:
    """Copy ``true`` to ``/dev/shm/<marker>``, run it, remove it."""
    out = Outcome(token())
    path = f"/dev/shm/{out.marker}"
    shutil.copyfile(tool("true"), path)
    out.add("paths", path)
    try:
        os.chmod(path, 0o700)
        run(out, [path], ctx.timeout, check=True)
    finally:
        os.unlink(path)
    return out


def system_user_interactive(ctx: RunContext) -> Outcome:
    """Under a process named ``sshd``, user ``nobody`` runs ``true``."""
    out = Outcome(token())
    with workdir(out) as d:
        sshd = named(d, "sshd", python())
        argv = [str(sshd), "-c", AS_NOBODY_SCRIPT, tool("true"), out.marker]
        run(out, argv, ctx.timeout, check=True)
    return out


def redirect_stdout_in_container(ctx: RunContext) -> Outcome:
    """In a container, connect to a loopback listener and dup2 the socket onto stdout."""
    out = Outcome(token())
    listener = LoopbackListener()
    try:
        with container(out) as prefix:
            argv = [*prefix, "-", python(), "-c", REDIRECT_SCRIPT, str(listener.port), out.marker]
            run(out, argv, ctx.timeout, check=True)
    finally:
        got = listener.close()
    if not any(out.marker.encode() in g for g in got):
        raise ActionError(f"the listener did not get the marker: {got!r}")
    return out


def debugfs_in_privileged_container(ctx: RunContext) -> Outcome:
    """Stand-in ``debugfs`` in a container the runtime endpoint reports as privileged."""
    out = Outcome(token())
    with workdir(out) as d, container(out, privileged=True) as prefix:
        exe = named(d, "debugfs", tool("true"))
        run(out, [*prefix, "-", str(exe), "-R", "ls", out.marker], ctx.timeout, check=True)
    return out


# A server that has run for more than 5 s reads /etc/shadow (read only, nothing printed).
OLD_SERVER_SCRIPT = """\
import time
time.sleep(5.5)
open("/etc/shadow", "rb").close()
"""

# init_module with no image: the kernel refuses it (EFAULT/EINVAL); nothing is loaded.
INIT_MODULE_SCRIPT = """\
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall(175, None, ctypes.c_ulong(0), b"")
"""

# Opens a private file named release_agent for writing (no cgroup is touched).
RELEASE_AGENT_SCRIPT = """\
import sys
open(sys.argv[1], "w").close()
"""


def sensitive_read_by_old_server(ctx: RunContext) -> Outcome:
    """A process named ``nginx``, after 5.5 s of life, opens /etc/shadow read-only."""
    out = Outcome(token())
    with workdir(out) as d:
        exe = named(d, "nginx", python())
        run(out, [str(exe), "-c", OLD_SERVER_SCRIPT, out.marker], ctx.timeout + 6, check=True)
    return out


def module_injection_in_container(ctx: RunContext) -> Outcome:
    """In a container, ``init_module`` with no module image: refused by the kernel."""
    out = Outcome(token())
    with container(out) as prefix:
        argv = [*prefix, "-", python(), "-c", INIT_MODULE_SCRIPT, out.marker]
        run(out, argv, ctx.timeout, check=True)
    return out


def release_agent_in_container(ctx: RunContext) -> Outcome:
    """In a container, open a private file named ``release_agent`` for writing."""
    out = Outcome(token())
    with workdir(out) as d, container(out) as prefix:
        target = d / out.marker / "release_agent"
        target.parent.mkdir()
        argv = [*prefix, "-", python(), "-c", RELEASE_AGENT_SCRIPT, str(target)]
        run(out, argv, ctx.timeout, check=True)
        out.add("paths", str(target))
    return out


def _a(name: str, rule: str, fn: ActionFn, needs: tuple[str, ...], root: bool = False) -> Action:
    return action(name, rule, fn, root=root, needs=needs, ruleset="falco")


EXEC = ("execve",)

ACTIONS: list[Action] = [
    _a(
        "sensitive_read_by_old_server",
        "Read sensitive file trusted after startup",
        sensitive_read_by_old_server,
        ("openat", "open"),
        True,
    ),
    _a(
        "container_module_injection",
        "Linux Kernel Module Injection Detected",
        module_injection_in_container,
        ("init_module",),
        True,
    ),
    _a(
        "container_release_agent",
        "Detect release_agent File Container Escapes",
        release_agent_in_container,
        ("openat", "open"),
        True,
    ),
    _a("shell_from_web_server", "Run shell untrusted", shell_from_web_server, EXEC),
    _a("private_key_search", "Search Private Keys or Passwords", private_key_search, EXEC),
    _a("aws_credentials_search", "Find AWS Credentials", aws_credentials_search, EXEC),
    _a(
        "directory_traversal_read",
        "Directory traversal monitored file read",
        directory_traversal_read,
        ("openat", "open"),
    ),
    _a("exec_from_dev_shm", "Execution from /dev/shm", exec_from_dev_shm, EXEC),
    action(
        "ssh_to_https_port",
        "Disallowed SSH Connection Non Standard Port",
        _netns_action("ssh", "198.18.0.10", 443),
        root=True,
        needs=("connect",),
        description="A program named ssh connects to 198.18.0.10:443 in a private network "
        "namespace",
        ruleset="falco",
    ),
    _a("system_user_interactive", "System user interactive", system_user_interactive, EXEC, True),
    _a(
        "container_redirect_stdout",
        "Redirect STDOUT/STDIN to Network Connection in Container",
        redirect_stdout_in_container,
        ("dup2", "dup3", "dup"),
        True,
    ),
    _a(
        "container_privileged_debugfs",
        "Debugfs Launched in Privileged Container",
        debugfs_in_privileged_container,
        EXEC,
        True,
    ),
]
