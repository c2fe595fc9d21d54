"""Syscall actions on files: writes in protected places, credential reads, links, chmod.

Every file is created with a unique name (the run's marker), in a private work
directory where possible, and removed again; nothing that exists is modified.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from pathlib import Path

from lanner.exceptions import ActionError
from lanner.services.generate.action import (
    Action,
    ActionFn,
    Outcome,
    RunContext,
    action,
    token,
)
from lanner.services.generate.sandbox import created_dirs, named, run, temp_file, tool, workdir

SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")

# Serialises actions that may create or remove a shared path (/etc/ld.so.preload, /boot,
# the service account directory), so concurrent runs (bench) never leave one behind.
_SHARED = threading.Lock()


def _write_new(outcome: Outcome, path: Path) -> None:
    """Open a new file for writing (O_CREAT|O_EXCL), write a line, remove it."""
    with temp_file(outcome, path, b"written by lanner generate\n"):
        pass


def write_below_etc(ctx: RunContext) -> Outcome:
    """Create and remove /etc/<marker>."""
    out = Outcome(token())
    _write_new(out, Path("/etc") / out.marker)
    return out


def write_below_binary_dir(ctx: RunContext) -> Outcome:
    """Create and remove a non-executable /usr/local/bin/<marker> (or /usr/bin)."""
    out = Outcome(token())
    directory = Path("/usr/local/bin") if Path("/usr/local/bin").is_dir() else Path("/usr/bin")
    _write_new(out, directory / out.marker)
    return out


def write_below_root_home(ctx: RunContext) -> Outcome:
    """Create and remove /root/<marker>."""
    out = Outcome(token())
    _write_new(out, Path("/root") / out.marker)
    return out


def write_below_boot(ctx: RunContext) -> Outcome:
    """Create and remove /boot/<marker> (/boot is made, and removed, when missing)."""
    out = Outcome(token())
    with _SHARED, created_dirs(out, Path("/boot")) as boot:
        _write_new(out, boot / out.marker)
    return out


def shell_startup_modified(ctx: RunContext) -> Outcome:
    """Write a .bashrc in a private work directory."""
    out = Outcome(token())
    with workdir(out) as d:
        _write_new(out, d / ".bashrc")
    return out


def systemd_unit_created(ctx: RunContext) -> Outcome:
    """Write <marker>.service below a private ``.config/systemd/user/`` (never loaded)."""
    out = Outcome(token())
    with workdir(out) as d:
        units = d / ".config" / "systemd" / "user"
        units.mkdir(parents=True)
        _write_new(out, units / f"{out.marker}.service")
    return out


def cron_job_created(ctx: RunContext) -> Outcome:
    """Run a stand-in named ``crontab`` (a link to ``true``) with a crontab file argument."""
    out = Outcome(token())
    with workdir(out) as d, temp_file(out, d / f"{out.marker}.cron", b"# nothing\n") as tab:
        run(out, [named(d, "crontab", tool("true")), tab], ctx.timeout, check=True)
    return out


def ld_preload_configured(ctx: RunContext) -> Outcome:
    """Open /etc/ld.so.preload for appending without writing a byte.

    A shell named ``ldconfig`` (one of the allowed /etc writers, so *Write below etc*
    does not take the event first) runs ``: >> /etc/ld.so.preload``: an existing file is
    left as it is; a file created by this is empty (preloads nothing) and removed.
    """
    with _SHARED:
        return _ld_preload(ctx)


def _ld_preload(ctx: RunContext) -> Outcome:
    out = Outcome(token())
    preload = Path("/etc/ld.so.preload")
    existed = preload.exists()
    if not existed:
        out.add("paths", str(preload))
    try:
        with workdir(out) as d:
            script = f": >> {preload} # {out.marker}"
            run(out, [named(d, "ldconfig", tool("sh")), "-c", script], ctx.timeout, check=True)
    finally:
        if not existed:
            with contextlib.suppress(FileNotFoundError):
                if preload.stat().st_size == 0:
                    preload.unlink()
    return out


def file_created_in_dev(ctx: RunContext) -> Outcome:
    """Create and remove a regular file /dev/<marker>."""
    out = Outcome(token())
    _write_new(out, Path("/dev") / out.marker)
    return out


def symlink_to_sensitive_file(ctx: RunContext) -> Outcome:
    """Make a symlink to /etc/shadow in a private work directory."""
    out = Outcome(token())
    with workdir(out) as d:
        (d / f"{out.marker}-shadow").symlink_to("/etc/shadow")
    return out


def hardlink_to_sensitive_file(ctx: RunContext) -> Outcome:
    """Hard-link /etc/shadow (same permissions, same inode) and remove the link.

    The link goes in a private work directory on /etc's filesystem, else (another
    filesystem) as /etc/<marker>.
    """
    out = Outcome(token())
    with workdir(out) as d:
        same_fs = d.stat().st_dev == Path("/etc").stat().st_dev
        link = (d if same_fs else Path("/etc")) / f"{out.marker}-shadow"
        out.add("paths", str(link))
        try:
            os.link("/etc/shadow", link)
        finally:
            with contextlib.suppress(FileNotFoundError):
                link.unlink()
    return out


def setuid_bit_set(ctx: RunContext) -> Outcome:
    """chmod u+s on an empty private file."""
    out = Outcome(token())
    with workdir(out) as d, temp_file(out, d / out.marker) as f:
        f.chmod(0o4700)
    return out


def sensitive_world_writable(ctx: RunContext) -> Outcome:
    """chmod o+w on an empty /etc/<marker> (made with mknod, not opened) and remove it."""
    out = Outcome(token())
    path = Path("/etc") / out.marker
    if path.exists():
        raise ActionError(f"{path} already exists")
    out.add("paths", str(path))
    os.mknod(path, stat.S_IFREG | 0o600)
    try:
        path.chmod(0o646)
    finally:
        path.unlink()
    return out


def shell_history_deleted(ctx: RunContext) -> Outcome:
    """Create a .bash_history in a private work directory and delete it with ``rm``."""
    out = Outcome(token())
    with workdir(out) as d:
        hist = d / ".bash_history"
        hist.write_bytes(b"ls\n")
        run(out, [tool("rm"), hist], ctx.timeout, check=True)
    return out


def log_file_cleared(ctx: RunContext) -> Outcome:
    """Truncate (O_TRUNC) a new /var/log/<marker>.log, then remove it."""
    out = Outcome(token())
    path = Path("/var/log") / f"{out.marker}.log"
    with temp_file(out, path, b"log line\n"):
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
        os.close(fd)
    return out


def hidden_file_in_tmp(ctx: RunContext) -> Outcome:
    """Create and remove /tmp/.<marker>."""
    out = Outcome(token())
    _write_new(out, Path("/tmp") / f".{out.marker}")
    return out


def release_agent_written(ctx: RunContext) -> Outcome:
    """Write a private file named ``notify_on_release`` (no cgroup is touched)."""
    out = Outcome(token())
    with workdir(out) as d:
        _write_new(out, d / "notify_on_release")
    return out


def sensitive_file_read(ctx: RunContext) -> Outcome:
    """Read /etc/shadow with ``cat`` run under the untrusted name ``lanner-reader``."""
    out = Outcome(token())
    with workdir(out) as d, temp_file(out, d / out.marker) as mark:
        reader = named(d, "lanner-reader", tool("cat"))
        run(out, [reader, "/etc/shadow", mark], ctx.timeout, check=True)
    return out


def _cat_private(ctx: RunContext, out: Outcome, rel: str) -> None:
    with workdir(out) as d:
        path = d / rel
        path.parent.mkdir(parents=True)
        with temp_file(out, path, b"not a real secret\n"):
            run(out, [tool("cat"), path], ctx.timeout, check=True)


def ssh_key_read(ctx: RunContext) -> Outcome:
    """``cat`` a dummy private key ``.ssh/id_rsa`` in a private work directory."""
    out = Outcome(token())
    _cat_private(ctx, out, ".ssh/id_rsa")
    return out


def cloud_credentials_read(ctx: RunContext) -> Outcome:
    """``cat`` a dummy ``.aws/credentials`` in a private work directory."""
    out = Outcome(token())
    _cat_private(ctx, out, ".aws/credentials")
    return out


def sa_token_read(ctx: RunContext) -> Outcome:
    """``cat`` a file below /var/run/secrets/kubernetes.io/serviceaccount/.

    In a pod that is the real token (read to /dev/null); on a host, a dummy
    ``<marker>-token`` in directories made for it and removed afterwards.
    """
    out = Outcome(token())
    with workdir(out) as d, temp_file(out, d / out.marker) as mark:
        real = SA_DIR / "token"
        if real.is_file():
            run(out, [tool("cat"), real, mark], ctx.timeout, check=True)
            return out
        with (
            _SHARED,
            created_dirs(out, SA_DIR),
            temp_file(out, SA_DIR / f"{out.marker}-token", b"dummy\n") as f,
        ):
            run(out, [tool("cat"), f], ctx.timeout, check=True)
    return out


def proc_memory_read(ctx: RunContext) -> Outcome:
    """``cat`` the /proc/<pid>/environ of a ``sleep`` child, then end and reap the child."""
    out = Outcome(token())
    import subprocess

    child = subprocess.Popen([tool("sleep"), "30"], stdin=subprocess.DEVNULL)
    out.add("pids", child.pid)
    try:
        with workdir(out) as d, temp_file(out, d / out.marker) as mark:
            run(out, [tool("cat"), f"/proc/{child.pid}/environ", mark], ctx.timeout, check=True)
    finally:
        child.kill()
        child.wait()
    return out


def credential_search(ctx: RunContext) -> Outcome:
    """``grep -ri password`` over a private (empty) work directory."""
    out = Outcome(token())
    with workdir(out) as d:
        run(out, [tool("grep"), "-ri", "password", d], ctx.timeout)
    return out


def _a(
    name: str, rule: str, fn: ActionFn, root: bool = False, needs: tuple[str, ...] = ()
) -> Action:
    return action(name, rule, fn, root=root, needs=needs)


OPEN = ("openat", "open")

ACTIONS: list[Action] = [
    _a("write_below_etc", "Write below etc", write_below_etc, True, OPEN),
    _a(
        "write_below_binary_dir",
        "Write below binary directory",
        write_below_binary_dir,
        True,
        OPEN,
    ),
    _a("write_below_root_home", "Write below root home", write_below_root_home, True, OPEN),
    _a("write_below_boot", "Write below boot", write_below_boot, True, OPEN),
    _a(
        "shell_startup_modified", "Shell startup file modified", shell_startup_modified, False, OPEN
    ),
    _a("cron_job_created", "Cron job created", cron_job_created, False, ("execve",)),
    _a("systemd_unit_created", "Systemd unit created", systemd_unit_created, False, OPEN),
    _a(
        "ld_preload_configured",
        "Dynamic linker preload configured",
        ld_preload_configured,
        True,
        OPEN,
    ),
    _a("file_created_in_dev", "Non-device file created in dev", file_created_in_dev, True, OPEN),
    _a(
        "symlink_to_sensitive_file",
        "Symlink to a sensitive file",
        symlink_to_sensitive_file,
        False,
        ("symlinkat", "symlink"),
    ),
    _a(
        "hardlink_to_sensitive_file",
        "Hardlink to a sensitive file",
        hardlink_to_sensitive_file,
        True,
        ("linkat", "link"),
    ),
    _a(
        "setuid_bit_set",
        "Set-user-id bit set on a file",
        setuid_bit_set,
        False,
        ("fchmodat", "chmod"),
    ),
    _a(
        "sensitive_world_writable",
        "Sensitive file made world writable",
        sensitive_world_writable,
        True,
        ("fchmodat", "chmod"),
    ),
    _a(
        "shell_history_deleted",
        "Shell history deleted or truncated",
        shell_history_deleted,
        False,
        ("unlinkat", "unlink"),
    ),
    _a("log_file_cleared", "Log files cleared", log_file_cleared, True, OPEN),
    _a("hidden_file_in_tmp", "Hidden file created in temporary directory", hidden_file_in_tmp),
    _a("release_agent_written", "Cgroup release agent written", release_agent_written, False, OPEN),
    _a(
        "sensitive_file_read",
        "Sensitive file read by untrusted program",
        sensitive_file_read,
        True,
        OPEN,
    ),
    _a("ssh_key_read", "SSH private key read by untrusted program", ssh_key_read, False, OPEN),
    _a(
        "cloud_credentials_read",
        "Cloud credentials read by untrusted program",
        cloud_credentials_read,
        False,
        OPEN,
    ),
    _a(
        "sa_token_read",
        "Kubernetes service account token read by shell tool",
        sa_token_read,
        not SA_DIR.is_dir(),
        OPEN,
    ),
    _a("proc_memory_read", "Process memory read through proc", proc_memory_read, False, OPEN),
    _a(
        "credential_search", "Search for credentials on disk", credential_search, False, ("execve",)
    ),
]
