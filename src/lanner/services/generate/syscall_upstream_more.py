"""Syscall actions for rules of the upstream falco-incubating_rules.yaml and
falco-sandbox_rules.yaml that no other action proves. Each is safe: new files named
after the run's marker (never an existing one), removed again; stand-ins named like the
tools that run ``true``; private network namespaces; privileges dropped in a child; the
marker in a command line or path, so the alert names it."""

from __future__ import annotations

import os
from pathlib import Path

from lanner.exceptions import ActionError
from lanner.services.generate.action import Action, ActionFn, Outcome, RunContext, action, token
from lanner.services.generate.container_context import container
from lanner.services.generate.sandbox import (
    copy_exe,
    created_dirs,
    named,
    python,
    run,
    tool,
    workdir,
)
from lanner.services.generate.syscall_process import SPAWN_SCRIPT

# argv: paths... Creates each path new (O_EXCL, mode 0600, empty), reads it back, then
# removes them all. A path ending in "/" is made and removed as a directory.
CREATE_READ_SCRIPT = """\
import os, sys
made = []
try:
    for p in sys.argv[1:]:
        if p.endswith("/"):
            os.mkdir(p, 0o700)
        else:
            os.close(os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            open(p, "rb").close()
        made.append(p)
finally:
    for p in reversed(made):
        os.rmdir(p) if p.endswith("/") else os.unlink(p)
"""

# argv: path. Opens it read-only (the file must exist), reads nothing.
OPEN_READ_SCRIPT = """\
import sys
open(sys.argv[1], "rb").close()
"""

# Becomes uid/gid 1 (daemon), then calls setuid(1) again as that user.
SETUID_SCRIPT = """\
import os, sys
pid = os.fork()
if pid == 0:
    os.setgroups([])
    os.setgid(1)
    os.setuid(1)
    os.setuid(1)
    os._exit(0)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""

# As nobody: userfaultfd(UFFD_USER_MODE_ONLY); the fd (if granted) is closed at once.
USERFAULTFD_SCRIPT = """\
import ctypes, os, sys
pid = os.fork()
if pid == 0:
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.syscall(323, 1)
    if fd >= 0:
        os.close(fd)
    os._exit(0)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""

# A child drops CAP_SYS_ADMIN from its bounding set (for itself and its descendants
# only), execs Python again (so the exec reports the reduced capabilities), which calls
# unshare(CLONE_NEWUSER): a new, empty user namespace for this short-lived process only
# (or EPERM where the host forbids it).
UNSHARE_SCRIPT = """\
import ctypes, os, sys
pid = os.fork()
if pid == 0:
    if ctypes.CDLL(None, use_errno=True).prctl(24, 21, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
        os._exit(3)
    inner = "import ctypes; ctypes.CDLL(None, use_errno=True).unshare(0x10000000)"
    os.execv(sys.executable, [sys.executable, "-I", "-S", "-c", inner, *sys.argv[1:]])
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""

# In a new network namespace: 198.18.0.10 on lo; a UDP datagram to it on port 9999.
UDP_SCRIPT = """\
import socket, subprocess, sys
ip_tool, marker = sys.argv[1:3]
subprocess.run([ip_tool, "link", "set", "lo", "up"], check=True)
subprocess.run([ip_tool, "addr", "add", "198.18.0.10/32", "dev", "lo"], check=True)
srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
srv.bind(("198.18.0.10", 9999))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect(("198.18.0.10", 9999))
s.send(marker.encode())
srv.settimeout(5)
if srv.recv(100) != marker.encode():
    sys.exit("the datagram did not arrive")
"""

# Starts argv[1:] as a session leader with the pseudo-terminal on stdin as its
# controlling terminal.
ON_TTY_SCRIPT = """\
import fcntl, os, sys, termios
os.setsid()
fcntl.ioctl(0, termios.TIOCSCTTY, 0)
os.execv(sys.argv[1], sys.argv[1:])
"""

# A container entrypoint (named runc): starts argv[1:] in a new session (no terminal).
ENTRYPOINT_SCRIPT = """\
import os, sys
pid = os.fork()
if pid == 0:
    os.setsid()
    os.execv(sys.argv[1], sys.argv[1:])
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def _python_run(ctx: RunContext, out: Outcome, script: str, *args: str, name: str = "") -> None:
    """Run ``script`` with ``args`` (the marker last) under Python, named ``name``."""
    with workdir(out) as d:
        exe = str(named(d, name, python())) if name else python()
        run(out, [exe, "-c", script, *args, out.marker], ctx.timeout, check=True)


def _new_paths(ctx: RunContext, out: Outcome, *paths: str) -> None:
    """Create, read and remove ``paths`` (which must not exist) from a Python child."""
    for p in paths:
        if os.path.lexists(p.rstrip("/")):
            raise ActionError(f"{p} already exists; refusing to touch it")
        out.add("paths", p)
    run(out, [python(), "-c", CREATE_READ_SCRIPT, *paths], ctx.timeout, check=True)


def ssh_authorized_keys_file(ctx: RunContext) -> Outcome:
    """Create, read and remove ``/root/.ssh/<marker>.authorized_keys`` (sshd reads only
    ``authorized_keys``; /root/.ssh is made, and removed, when missing)."""
    out = Outcome(token())
    with created_dirs(out, Path("/root/.ssh")) as ssh:
        _new_paths(ctx, out, f"{ssh}/{out.marker}.authorized_keys")
    return out


def bin_dir_entries(ctx: RunContext) -> Outcome:
    """Make and remove the directory ``/usr/bin/<marker>.d/``, then create and remove the
    empty, non-executable file ``/usr/bin/<marker>``."""
    out = Outcome(token())
    _new_paths(ctx, out, f"/usr/bin/{out.marker}.d/")
    _new_paths(ctx, out, f"/usr/bin/{out.marker}")
    return out


def rpm_database_lookalike(ctx: RunContext) -> Outcome:
    """Create and remove ``/var/lib/rpm-<marker>`` (beside, not in, the rpm database)."""
    out = Outcome(token())
    _new_paths(ctx, out, f"/var/lib/rpm-{out.marker}")
    return out


def package_repository_file(ctx: RunContext) -> Outcome:
    """Create and remove ``/etc/apt/<marker>/sources.list`` (apt reads no subdirectory
    there; /etc/apt is made, and removed, when missing)."""
    out = Outcome(token())
    with created_dirs(out, Path("/etc/apt")) as apt:
        _new_paths(ctx, out, f"{apt}/{out.marker}/", f"{apt}/{out.marker}/sources.list")
    return out


def _env_standin(ctx: RunContext, name: str, env: dict[str, str], *args: str) -> Outcome:
    out = Outcome(token())
    with workdir(out) as d:
        exe = named(d, name, tool("true"))
        argv = [str(exe), *args, out.marker]
        run(out, argv, ctx.timeout, check=True, env={**os.environ, **env})
    return out


def curl_with_http_proxy(ctx: RunContext) -> Outcome:
    """Stand-in ``curl`` run with ``HTTP_PROXY=http://127.0.0.1:9`` in its environment."""
    return _env_standin(ctx, "curl", {"HTTP_PROXY": "http://127.0.0.1:9"})


def glibc_tunables_env(ctx: RunContext) -> Outcome:
    """``true`` run with ``GLIBC_TUNABLES=glibc.malloc.arena_max=1`` (a harmless tunable)."""
    out = Outcome(token())
    env = {**os.environ, "GLIBC_TUNABLES": "glibc.malloc.arena_max=1"}
    run(out, [tool("true"), out.marker], ctx.timeout, check=True, env=env)
    return out


def sshd_reads_liblzma(ctx: RunContext) -> Outcome:
    """A process named ``sshd`` opens a private, empty file named ``liblzma.so.5.6.1``."""
    out = Outcome(token())
    with workdir(out) as d:
        lib = d / "liblzma.so.5.6.1"
        lib.write_bytes(b"")
        sshd = named(d, "sshd", python())
        run(out, [str(sshd), "-c", OPEN_READ_SCRIPT, str(lib), out.marker], ctx.timeout, check=True)
    return out


def udp_from_system_binary(ctx: RunContext) -> Outcome:
    """A program named ``tee`` sends a UDP datagram to 198.18.0.10:9999 in a private
    network namespace (where that address is its own)."""
    out = Outcome(token())
    with workdir(out) as d:
        tee = named(d, "tee", python())
        argv = [tool("unshare"), "--net", str(tee), "-c", UDP_SCRIPT, tool("ip"), out.marker]
        run(out, argv, ctx.timeout, check=True)
    return out


def setuid_as_daemon(ctx: RunContext) -> Outcome:
    """A child becomes user ``daemon`` (uid 1) and calls setuid(1) again."""
    out = Outcome(token())
    _python_run(ctx, out, SETUID_SCRIPT)
    return out


def userfaultfd_as_nobody(ctx: RunContext) -> Outcome:
    """A child, as ``nobody``, asks for a userfaultfd (user-mode faults only); closed."""
    out = Outcome(token())
    _python_run(ctx, out, USERFAULTFD_SCRIPT)
    return out


def sudo_shell_escape(ctx: RunContext) -> Outcome:
    """Stand-in ``sudo -s <marker>\\`` (an argument ending in a backslash)."""
    out = Outcome(token())
    with workdir(out) as d:
        exe = named(d, "sudo", tool("true"))
        run(out, [str(exe), "-s", out.marker + "\\"], ctx.timeout, check=True)
    return out


def pkexec_without_args(ctx: RunContext) -> Outcome:
    """Stand-in ``pkexec`` (a copy of ``true``) with no argument; the marker is in its
    path (a copy, not a link: the rule shows the resolved executable path)."""
    out = Outcome(token())
    with workdir(out) as d:
        run(out, [str(copy_exe(d, "pkexec", tool("true")))], ctx.timeout, check=True)
    return out


def recon_on_terminal(ctx: RunContext) -> Outcome:
    """Stand-in ``whoami`` as a session leader on a pseudo-terminal."""
    out = Outcome(token())
    master, slave = os.openpty()
    try:
        with workdir(out) as d:
            exe = named(d, "whoami", tool("true"))
            argv = [python(), "-c", ON_TTY_SCRIPT, str(exe), out.marker]
            run(out, argv, ctx.timeout, check=True, stdin=slave, stdout=slave, stderr=slave)
    finally:
        os.close(slave)
        os.close(master)
    return out


def _web_server_child(ctx: RunContext, standin: str, argv: list[str]) -> Outcome:
    """A process named ``nginx`` starts ``argv`` (after the stand-in ``standin``, a
    link to ``true``, when given) and the marker."""
    out = Outcome(token())
    with workdir(out) as d:
        nginx = named(d, "nginx", python())
        head = [str(named(d, standin, tool("true")))] if standin else []
        argv = [str(nginx), "-c", SPAWN_SCRIPT, *head, *argv, out.marker]
        run(out, argv, ctx.timeout, check=True)
    return out


def web_server_recon_child(ctx: RunContext) -> Outcome:
    """A process named ``nginx`` starts stand-in ``whoami``."""
    return _web_server_child(ctx, "whoami", [])


def web_server_reverse_shell(ctx: RunContext) -> Outcome:
    """A process named ``nginx`` starts ``sh -c ': /dev/tcp/127.0.0.1/9'``: the text of a
    reverse shell, given to the no-op ``:`` (nothing connects)."""
    return _web_server_child(ctx, "", [tool("sh"), "-c", ": /dev/tcp/127.0.0.1/9 $0"])


# --- in a container context --------------------------------------------------------


def _in_container(
    ctx: RunContext, out: Outcome, argv: list[str], *, privileged: bool = False
) -> None:
    with container(out, privileged=privileged) as prefix:
        run(out, [*prefix, "-", *argv], ctx.timeout, check=True)


def _container_standin(ctx: RunContext, name: str, *args: str, privileged: bool = False) -> Outcome:
    out = Outcome(token())
    with workdir(out) as d:
        exe = str(named(d, name, tool("true")))
        _in_container(ctx, out, [exe, *args, out.marker], privileged=privileged)
    return out


def container_rsync(ctx: RunContext) -> Outcome:
    """Stand-in ``rsync -a`` in a container."""
    return _container_standin(ctx, "rsync", "-a")


def container_wget(ctx: RunContext) -> Outcome:
    """Stand-in ``wget -q`` in a container."""
    return _container_standin(ctx, "wget", "-q")


def container_kubectl(ctx: RunContext) -> Outcome:
    """Stand-in ``kubectl get pods`` in a container."""
    return _container_standin(ctx, "kubectl", "get", "pods")


def container_base64_decode(ctx: RunContext) -> Outcome:
    """Stand-in ``base64 -d`` in a container."""
    return _container_standin(ctx, "base64", "-d")


def privileged_container_mount(ctx: RunContext) -> Outcome:
    """Stand-in ``mount -t tmpfs`` in a container the runtime endpoint reports as
    privileged (nothing is mounted)."""
    return _container_standin(ctx, "mount", "-t", "tmpfs", "none", privileged=True)


def container_reads_environ(ctx: RunContext) -> Outcome:
    """In a container, Python opens its own ``/proc/self/environ``."""
    out = Outcome(token())
    _in_container(ctx, out, [python(), "-c", OPEN_READ_SCRIPT, "/proc/self/environ", out.marker])
    return out


def container_tar_from_entrypoint(ctx: RunContext) -> Outcome:
    """In a container, stand-in ``tar`` (Python) started by the entrypoint (named
    ``runc``), with no terminal, opens a private, empty file."""
    out = Outcome(token())
    with workdir(out) as d:
        data = d / out.marker
        data.write_bytes(b"")
        runc = str(named(d, "runc", python()))
        tar = str(named(d, "tar", python()))
        tar_argv = [tar, "-I", "-S", "-c", OPEN_READ_SCRIPT, str(data)]  # few imports
        argv = [runc, "-c", ENTRYPOINT_SCRIPT, *tar_argv]
        _in_container(ctx, out, argv)
    return out


def container_npm_network_tool(ctx: RunContext) -> Outcome:
    """In a container, a process named ``npm`` starts stand-in ``nc -z 127.0.0.1 9``."""
    out = Outcome(token())
    with workdir(out) as d:
        npm = str(named(d, "npm", python()))
        nc = str(named(d, "nc", tool("true")))
        argv = [npm, "-c", SPAWN_SCRIPT, nc, "-z", "127.0.0.1", "9", out.marker]
        _in_container(ctx, out, argv)
    return out


def container_disk_device_name(ctx: RunContext) -> Outcome:
    """In a container, create, read and remove the regular file ``/dev/sd-<marker>`` (a
    disk's name; no device is opened)."""
    out = Outcome(token())
    path = f"/dev/sd-{out.marker}"
    if os.path.lexists(path):
        raise ActionError(f"{path} already exists; refusing to touch it")
    out.add("paths", path)
    _in_container(ctx, out, [python(), "-c", CREATE_READ_SCRIPT, path])
    return out


def container_host_path(ctx: RunContext) -> Outcome:
    """In a container, create, read and remove ``/host/<marker>/file`` (the directories
    are made for this, and removed)."""
    out = Outcome(token())
    with created_dirs(out, Path("/host") / out.marker) as d:
        _in_container(ctx, out, [python(), "-c", CREATE_READ_SCRIPT, str(d / "file")])
    return out


def container_unshare_without_caps(ctx: RunContext) -> Outcome:
    """In a container, a child without CAP_SYS_ADMIN (dropped from its bounding set, then
    exec) calls unshare(CLONE_NEWUSER)."""
    out = Outcome(token())
    _in_container(ctx, out, [python(), "-c", UNSHARE_SCRIPT, out.marker])
    return out


# A sensitive mount as the runtime endpoint reports it (nothing is mounted).
PROC_MOUNT = {"Source": "/proc", "Destination": "/host/proc", "Mode": "", "RW": False}


def privileged_container_started(ctx: RunContext) -> Outcome:
    """A container's first process (pid 1 of a new pid namespace, as root) starts; the
    runtime endpoint reports it privileged, with the host's /proc mounted."""
    out = Outcome(token())
    with workdir(out) as d, container(out, privileged=True, mounts=[PROC_MOUNT]) as prefix:
        exe = str(named(d, "entrypoint", tool("true")))
        argv = [tool("unshare"), "--pid", "--fork", *prefix, "-", exe, out.marker]
        run(out, argv, ctx.timeout, check=True)
    return out


def _a(name: str, rule: str, fn: ActionFn, needs: tuple[str, ...], root: bool = False) -> Action:
    return action(name, rule, fn, root=root, needs=needs, ruleset="falco")


EXEC = ("execve",)
OPEN = ("openat", "open")

ACTIONS: list[Action] = [
    _a(
        "ssh_authorized_keys_file",
        "Adding ssh keys to authorized_keys",
        ssh_authorized_keys_file,
        OPEN,
        True,
    ),
    _a("bin_dir_entries", "Write below binary dir", bin_dir_entries, OPEN, True),
    _a("rpm_database_write", "Write below rpm database", rpm_database_lookalike, OPEN, True),
    _a("package_repository_file", "Update Package Repository", package_repository_file, OPEN, True),
    _a(
        "curl_with_http_proxy",
        "Program run with disallowed http proxy env",
        curl_with_http_proxy,
        EXEC,
    ),
    _a(
        "glibc_tunables_env",
        "Potential Local Privilege Escalation via Environment Variables Misuse",
        glibc_tunables_env,
        EXEC,
    ),
    _a(
        "sshd_reads_liblzma",
        "Backdoored library loaded into SSHD (CVE-2024-3094)",
        sshd_reads_liblzma,
        OPEN,
    ),
    _a(
        "udp_from_system_binary",
        "Unexpected UDP Traffic",
        udp_from_system_binary,
        ("connect",),
        True,
    ),
    _a("setuid_as_daemon", "Non sudo setuid", setuid_as_daemon, ("setuid",), True),
    _a(
        "userfaultfd_as_nobody",
        "Unprivileged Delegation of Page Faults Handling to a Userspace Process",
        userfaultfd_as_nobody,
        ("userfaultfd",),
        True,
    ),
    _a("sudo_shell_escape", "Sudo Potential Privilege Escalation", sudo_shell_escape, EXEC),
    _a(
        "pkexec_without_args",
        "Polkit Local Privilege Escalation Vulnerability (CVE-2021-4034)",
        pkexec_without_args,
        EXEC,
    ),
    _a("recon_on_terminal", "Basic Interactive Reconnaissance", recon_on_terminal, EXEC),
    _a(
        "web_server_recon_child",
        "Web Server Spawned Suspicious Child Process",
        web_server_recon_child,
        EXEC,
    ),
    _a("web_server_reverse_shell", "Reverse Shell from Web Server", web_server_reverse_shell, EXEC),
    _a(
        "container_rsync", "Launch Remote File Copy Tools in Container", container_rsync, EXEC, True
    ),
    _a(
        "container_wget",
        "Launch Ingress Remote File Copy Tools in Container",
        container_wget,
        EXEC,
        True,
    ),
    _a(
        "container_kubectl",
        "Kubernetes Client Tool Launched in Container",
        container_kubectl,
        EXEC,
        True,
    ),
    _a(
        "container_base64_decode",
        "Decoding Payload in Container",
        container_base64_decode,
        EXEC,
        True,
    ),
    _a(
        "privileged_container_mount",
        "Mount Launched in Privileged Container",
        privileged_container_mount,
        EXEC,
        True,
    ),
    _a(
        "container_reads_environ",
        "Read environment variable from /proc files",
        container_reads_environ,
        OPEN,
        True,
    ),
    _a(
        "container_tar_from_entrypoint",
        "Exfiltrating Artifacts via Kubernetes Control Plane",
        container_tar_from_entrypoint,
        OPEN,
        True,
    ),
    _a(
        "container_npm_network_tool",
        "Network Tool Executed During NPM Package Install",
        container_npm_network_tool,
        EXEC,
        True,
    ),
    _a(
        "container_disk_device_name",
        "Privileged Container Device Access",
        container_disk_device_name,
        OPEN,
        True,
    ),
    _a(
        "container_host_path",
        "Container Access to Host Sensitive Paths",
        container_host_path,
        OPEN,
        True,
    ),
    _a(
        "container_unshare_without_caps",
        "Change namespace privileges via unshare",
        container_unshare_without_caps,
        ("unshare",),
        True,
    ),
    _a(
        "privileged_container_started",
        "Launch Privileged Container",
        privileged_container_started,
        EXEC,
        True,
    ),
]
