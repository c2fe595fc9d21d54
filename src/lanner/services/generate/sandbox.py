"""Safe scaffolding for syscall actions: private work directories, named stand-ins, reaped
children, files that are always removed again."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from lanner.exceptions import ActionError
from lanner.services.generate.action import Outcome


def work_base() -> Path:
    """Where private work directories go: ``$LANNER_GENERATE_DIR``, else
    ``~/.cache/lanner-generate``.

    Not /tmp: an executable run from /tmp raises *Execution from a temporary directory*,
    which (with ``rule_matching: first``) would hide the rule an action is about. Writes
    below ``/root/.cache/`` are not *Write below root home* either.
    """
    env = os.environ.get("LANNER_GENERATE_DIR")
    base = Path(env) if env else Path.home() / ".cache" / "lanner-generate"
    base.mkdir(parents=True, exist_ok=True, mode=0o700)
    return base


@contextlib.contextmanager
def workdir(outcome: Outcome, base: Path | None = None) -> Iterator[Path]:
    """A fresh private directory (mode 0700), removed with everything in it afterwards."""
    path = Path(tempfile.mkdtemp(prefix=outcome.marker + "-", dir=base or work_base()))
    outcome.add("paths", str(path))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def temp_file(outcome: Outcome, path: Path, data: bytes = b"") -> Iterator[Path]:
    """Create ``path`` (which must not exist), remove it afterwards."""
    if path.exists() or path.is_symlink():
        raise ActionError(f"{path} already exists; refusing to touch it")
    outcome.add("paths", str(path))
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


@contextlib.contextmanager
def created_dirs(outcome: Outcome, path: Path) -> Iterator[Path]:
    """Make ``path`` and its missing parents; remove the ones made here afterwards."""
    made: list[Path] = []
    for parent in [*reversed(path.parents), path]:
        if not parent.exists():
            parent.mkdir(mode=0o700)
            made.append(parent)
            outcome.add("paths", str(parent))
    try:
        yield path
    finally:
        for p in reversed(made):
            shutil.rmtree(p, ignore_errors=True)


def tool(name: str) -> str:
    """The full path of a program on PATH (also /usr/sbin, /sbin), or ActionError."""
    found = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if not found:
        raise ActionError(f"'{name}' is not installed")
    return found


def python() -> str:
    """The real Python interpreter binary (symlinks resolved), for named stand-ins."""
    return os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)


def named(directory: Path, name: str, target: str) -> Path:
    """A symlink ``directory/name`` to ``target``.

    Executing it gives the process the name ``name`` (the kernel names a process after
    the path it was executed by), which is what the rules match on, while the program
    that runs is ``target`` (``true``, Python...): a harmless stand-in.
    """
    link = directory / name
    link.symlink_to(target)
    return link


def copy_exe(directory: Path, name: str, source: str) -> Path:
    """A real copy of the executable ``source`` as ``directory/name`` (mode 0700)."""
    dest = directory / name
    shutil.copyfile(source, dest)
    dest.chmod(0o700)
    return dest


def run(
    outcome: Outcome,
    argv: Sequence[str | os.PathLike[str]],
    timeout: float = 10.0,
    *,
    check: bool = False,
    **popen_kw: object,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``argv`` (no shell), wait for it and reap it; its pid is recorded."""
    popen_kw.setdefault("stdin", subprocess.DEVNULL)
    popen_kw.setdefault("stdout", subprocess.DEVNULL)
    popen_kw.setdefault("stderr", subprocess.PIPE)
    proc = subprocess.Popen([os.fspath(a) for a in argv], **popen_kw)  # type: ignore[call-overload]
    outcome.add("pids", proc.pid)
    try:
        data, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise ActionError(f"{argv[0]} did not finish within {timeout:g}s") from None
    if check and proc.returncode != 0:
        text = (err or b"").decode(errors="replace").strip()[-300:]
        raise ActionError(f"{os.fspath(argv[0])} exited with {proc.returncode}: {text}")
    return subprocess.CompletedProcess(list(argv), proc.returncode, data, err)
