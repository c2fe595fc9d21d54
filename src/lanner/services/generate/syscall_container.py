"""Syscall actions for the container rules, run in a runtime-less container context
(:mod:`lanner.services.generate.container_context`): shells, stand-in tools, a packet
socket, a Docker-socket connection, setns, and outbound connections in a private network
namespace."""

from __future__ import annotations

import os
import select
import socket
import subprocess
import threading

from lanner.exceptions import ActionError
from lanner.services.generate.action import (
    Action,
    ActionFn,
    Outcome,
    RunContext,
    action,
    token,
)
from lanner.services.generate.container_context import container
from lanner.services.generate.sandbox import named, python, run, tool, workdir
from lanner.services.generate.syscall_network import connect_in_netns

PACKET_SCRIPT = """\
import socket
socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0).close()
"""

UNIX_CONNECT_SCRIPT = """\
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.close()
"""

# setns() into the namespace the process is already in: succeeds, changes nothing.
SETNS_SCRIPT = """\
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
fd = os.open("/proc/self/ns/net", os.O_RDONLY)
if libc.setns(fd, 0) != 0:
    sys.exit("setns: errno %d" % ctypes.get_errno())
"""


# Under `unshare --mount --propagation private`: an overlay mount seen by this mount
# namespace only; a copy of `true` written through it (so in the upper layer) is run
# from a child that joined the container cgroup. The mount ends with the namespace.
DRIFT_SCRIPT = """\
import os, shutil, subprocess, sys
mount, work, true_path, procs, marker = sys.argv[1:6]
lower, upper, wd, merged = (os.path.join(work, n) for n in ("lower", "upper", "work", "merged"))
for d in (lower, upper, wd, merged):
    os.mkdir(d)
opts = f"lowerdir={lower},upperdir={upper},workdir={wd}"
subprocess.run([mount, "-t", "overlay", "overlay", "-o", opts, merged], check=True)
exe = os.path.join(merged, "drifted")
shutil.copyfile(true_path, exe)
os.chmod(exe, 0o700)
pid = os.fork()
if pid == 0:
    with open(procs, "w") as f:
        f.write(str(os.getpid()))
    os.execv(exe, ["drifted", marker])
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""


# Under `unshare --mount --propagation private`: a child that joined the container
# cgroup runs `mount -t tmpfs` on a private directory; only this namespace sees it.
MOUNT_SCRIPT = """\
import os, sys
mount, target, procs, marker = sys.argv[1:5]
pid = os.fork()
if pid == 0:
    with open(procs, "w") as f:
        f.write(str(os.getpid()))
    os.execv(mount, ["mount", "-t", "tmpfs", "-o", "size=64k", marker, target])
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def _in_container(ctx: RunContext, argv: list[str], out: Outcome | None = None) -> Outcome:
    """Run ``argv`` (which mentions the marker) inside a fresh container context."""
    out = out or Outcome(token())
    with container(out) as prefix:
        run(out, [*prefix, "-", *argv], ctx.timeout, check=True)
    return out


def _standin(ctx: RunContext, name: str, *args: str) -> Outcome:
    out = Outcome(token())
    with workdir(out) as d:
        _in_container(ctx, [str(named(d, name, tool("true"))), *args, out.marker], out)
    return out


def _on_terminal(ctx: RunContext, out: Outcome, inner: list[str]) -> Outcome:
    """Run ``inner`` in a fresh container context with a pseudo-terminal as its
    controlling terminal; it must print the marker on the terminal."""
    master, slave = os.openpty()
    try:
        with container(out) as prefix:
            argv = [*prefix, "tty", *inner]
            proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave)
            out.add("pids", proc.pid)
            os.close(slave)
            slave = -1
            seen = b""
            try:
                while out.marker.encode() not in seen:
                    ready, _, _ = select.select([master], [], [], ctx.timeout)
                    if not ready:
                        break
                    try:
                        chunk = os.read(master, 4096)
                    except OSError:  # EIO: the terminal's last user is gone
                        break
                    if not chunk:
                        break
                    seen += chunk
            finally:
                try:
                    proc.wait(ctx.timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if out.marker.encode() not in seen:
                raise ActionError(f"the shell on the terminal did not answer: {seen[-200:]!r}")
            out.effects["terminal_output"] = seen.decode(errors="replace")
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
    return out


def interactive_shell(ctx: RunContext) -> Outcome:
    """``sh`` with a pseudo-terminal as its controlling terminal, in a container."""
    out = Outcome(token())
    return _on_terminal(ctx, out, [tool("sh"), "-c", f"echo {out.marker}"])


# The container's init, named `runc` as a runtime's is: forks the shell (which keeps the
# terminal) and waits for it, so the shell's parent is `runc` (Falco's container_entrypoint).
RUNC_INIT = """import os, sys
sh, marker = sys.argv[1:3]
pid = os.fork()
if pid == 0:
    os.execv(sh, ["sh", "-c", "echo " + marker])
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def terminal_shell_entrypoint(ctx: RunContext) -> Outcome:
    """``sh`` on a terminal started by the container's init (named ``runc``), as
    ``kubectl exec -it``/``docker exec -it`` does: the training lab's first alert."""
    out = Outcome(token())
    with workdir(out) as d:
        runc = named(d, "runc", python())
        _on_terminal(ctx, out, [str(runc), "-c", RUNC_INIT, tool("sh"), out.marker])
    return out


def netcat_remote_code_execution(ctx: RunContext) -> Outcome:
    """Stand-in ``nc -e /bin/sh 127.0.0.1 4444`` in a container (``true`` under nc's
    name: nothing connects, nothing listens): the training lab's second alert."""
    return _standin(ctx, "nc", "-e", "/bin/sh", "127.0.0.1", "4444")


def noninteractive_shell(ctx: RunContext) -> Outcome:
    """``sh -c`` without a terminal, started by a program (not a runtime), in a container."""
    out = Outcome(token())
    return _in_container(ctx, [tool("sh"), "-c", f": {out.marker}"], out)


def package_manager(ctx: RunContext) -> Outcome:
    """Stand-in ``apt-get install`` in a container."""
    return _standin(ctx, "apt-get", "install", "-y", "nmap")


def privilege_change(ctx: RunContext) -> Outcome:
    """Stand-in ``sudo -i`` in a container."""
    return _standin(ctx, "sudo", "-i")


def kernel_module_tool(ctx: RunContext) -> Outcome:
    """Stand-in ``modprobe`` in a container (no module is loaded)."""
    return _standin(ctx, "modprobe", "dummy")


def debugfs(ctx: RunContext) -> Outcome:
    """Stand-in ``debugfs`` in a container (no device is opened)."""
    return _standin(ctx, "debugfs", "-R", "ls")


def packet_socket(ctx: RunContext) -> Outcome:
    """Open and close an AF_PACKET raw socket in a container (nothing is read)."""
    out = Outcome(token())
    return _in_container(ctx, [python(), "-c", PACKET_SCRIPT + f"# {out.marker}\n"], out)


def docker_socket(ctx: RunContext) -> Outcome:
    """Connect, from a container, to a private Unix socket named ``docker.sock``."""
    out = Outcome(token())
    with workdir(out) as d:
        path = d / "docker.sock"
        srv = socket.socket(socket.AF_UNIX)
        srv.bind(str(path))
        srv.listen(1)
        srv.settimeout(ctx.timeout)
        accepted: list[bool] = []

        def serve() -> None:
            try:
                conn, _ = srv.accept()
                conn.close()
                accepted.append(True)
            except OSError:
                pass

        t = threading.Thread(target=serve, daemon=True)
        t.start()
        try:
            _in_container(ctx, [python(), "-c", UNIX_CONNECT_SCRIPT, str(path)], out)
            t.join(ctx.timeout)
        finally:
            srv.close()
        out.effects["connections"] = accepted
        if not accepted:
            raise ActionError("the docker.sock listener saw no connection")
    return out


def setns_in_container(ctx: RunContext) -> Outcome:
    """setns() into its own network namespace (a no-op), from a container."""
    out = Outcome(token())
    with workdir(out) as d:
        exe = named(d, "lanner-setns", python())
        _in_container(ctx, [str(exe), "-c", SETNS_SCRIPT + f"# {out.marker}\n"], out)
    return out


def container_drift(ctx: RunContext) -> Outcome:
    """Run, in a container, a copy of ``true`` written to an overlayfs upper layer (a
    private mount namespace's overlay over an empty private directory)."""
    out = Outcome(token())
    with workdir(out) as d, container(out) as prefix:
        procs = prefix[-1]
        argv = [tool("unshare"), "--mount", "--propagation", "private", python(), "-c"]
        argv += [DRIFT_SCRIPT, tool("mount"), str(d), tool("true"), procs, out.marker]
        run(out, argv, ctx.timeout, check=True)
    return out


def mount_in_container(ctx: RunContext) -> Outcome:
    """``mount -t tmpfs`` on a private directory, in a container, in a private mount
    namespace (the host's mount table never changes)."""
    out = Outcome(token())
    with workdir(out) as d, container(out) as prefix:
        argv = [tool("unshare"), "--mount", "--propagation", "private", python(), "-c"]
        argv += [MOUNT_SCRIPT, tool("mount"), str(d), prefix[-1], out.marker]
        run(out, argv, ctx.timeout, check=True)
    return out


def metadata_from_container(ctx: RunContext) -> Outcome:
    """Connect from a container to 169.254.169.254:80 inside a private network namespace."""
    out = Outcome(token())
    with container(out) as prefix:
        connect_in_netns(ctx, out, "curl", "169.254.169.254", 80, [*prefix, "-"])
    return out


def mining_port_from_container(ctx: RunContext) -> Outcome:
    """Connect from a container to 198.18.0.10:3333 (a mining pool port), privately."""
    out = Outcome(token())
    with container(out) as prefix:
        connect_in_netns(ctx, out, "lanner-miner", "198.18.0.10", 3333, [*prefix, "-"])
    return out


def _a(name: str, rule: str, fn: ActionFn, needs: tuple[str, ...]) -> Action:
    return action(name, rule, fn, root=True, needs=needs)


EXEC = ("execve",)

ACTIONS: list[Action] = [
    _a("container_interactive_shell", "Interactive shell in container", interactive_shell, EXEC),
    action(
        "container_terminal_shell",
        "Terminal shell in container",
        terminal_shell_entrypoint,
        root=True,
        needs=EXEC,
        ruleset="falco",
    ),
    action(
        "container_netcat_rce",
        "Netcat Remote Code Execution in Container",
        netcat_remote_code_execution,
        root=True,
        needs=EXEC,
        ruleset="falco",
    ),
    _a(
        "container_noninteractive_shell",
        "Non-interactive shell in container",
        noninteractive_shell,
        EXEC,
    ),
    _a("container_package_manager", "Package manager in container", package_manager, EXEC),
    _a(
        "container_privilege_change",
        "Privilege change tool in container",
        privilege_change,
        EXEC,
    ),
    _a(
        "container_kernel_module_tool",
        "Kernel module tool in container",
        kernel_module_tool,
        EXEC,
    ),
    _a("container_debugfs", "Debugfs started in container", debugfs, EXEC),
    _a("container_packet_socket", "Packet socket created in container", packet_socket, ("socket",)),
    _a("container_docker_socket", "Docker socket used from container", docker_socket, ("connect",)),
    _a("container_drift", "Container drift", container_drift, EXEC),
    _a("container_mount", "Mount in container", mount_in_container, ("mount",)),
    _a("container_setns", "Namespace change in container", setns_in_container, ("setns",)),
    _a(
        "container_metadata_service",
        "Cloud metadata service contacted from container",
        metadata_from_container,
        ("connect",),
    ),
    _a(
        "container_mining_pool_port",
        "Connection to a crypto-mining pool",
        mining_port_from_container,
        ("connect",),
    ),
]
