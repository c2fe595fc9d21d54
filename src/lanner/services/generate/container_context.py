"""A container context without a container runtime: a cgroup whose path looks like a
Docker container's (``.../docker/<64 hex>``), which a child process joins before it execs.

Lanner (as Falco) takes ``container.id`` from a process's cgroup path, so the child's
events carry a container id while nothing else about it changes: no namespaces. Its name,
image and labels come from the generator's runtime endpoint when it serves
(:mod:`.runtime_endpoint`, a simulated container, labelled so); otherwise they are
empty. The cgroup is removed once the child is reaped.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lanner.exceptions import ActionError
from lanner.services.generate.action import Outcome
from lanner.services.generate.runtime_endpoint import active_endpoint
from lanner.services.generate.sandbox import python

V1_CPU = Path("/sys/fs/cgroup/cpu")
V2_ROOT = Path("/sys/fs/cgroup")

# argv: cgroup.procs path, "tty" or "-", program, args... Joins the cgroup, takes the
# terminal on stdin as controlling terminal when asked, then becomes the program.
JOIN_SCRIPT = """\
import os, sys
with open(sys.argv[1], "w") as f:
    f.write(str(os.getpid()))
if sys.argv[2] == "tty":
    import fcntl, termios
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
os.execv(sys.argv[3], sys.argv[3:])
"""


def cgroup_root() -> Path:
    """The hierarchy to create the cgroup in: cgroup v1 ``cpu``, else the v2 root."""
    if (V1_CPU / "cgroup.procs").exists():
        return V1_CPU
    if (V2_ROOT / "cgroup.controllers").exists():
        return V2_ROOT
    raise ActionError("no writable cgroup hierarchy (/sys/fs/cgroup/cpu or cgroup v2)")


def container_id(marker: str) -> str:
    """The 64-hex id of the run's container (derived from its marker)."""
    return hashlib.sha256(marker.encode()).hexdigest()


@contextlib.contextmanager
def container(
    out: Outcome, *, privileged: bool = False, mounts: list[dict[str, Any]] | None = None
) -> Iterator[list[str]]:
    """Create the cgroup; yields the argv prefix that runs a program inside it (append
    ``"-"`` or ``"tty"``, then the program's argv). Removed afterwards (children must
    have been reaped by then). ``privileged`` and ``mounts`` are what the runtime
    endpoint reports (nothing is mounted)."""
    root = cgroup_root()
    parent = root / "docker"
    made_parent = not parent.exists()
    group = parent / container_id(out.marker)
    try:
        group.mkdir(parents=True)
    except OSError as exc:
        raise ActionError(f"cannot create the cgroup {group}: {exc}") from None
    out.add("paths", str(group))
    out.effects["container_id"] = container_id(out.marker)[:12]
    endpoint = active_endpoint()
    if endpoint is not None:  # metadata for lanner run: a simulated container, said so
        doc = endpoint.register(
            container_id(out.marker), out.marker, privileged=privileged, mounts=mounts
        )
        out.effects["simulated_container"] = doc["Name"].lstrip("/")
    try:
        yield [python(), "-c", JOIN_SCRIPT, str(group / "cgroup.procs")]
    finally:
        with contextlib.suppress(OSError):
            group.rmdir()
        if made_parent:
            with contextlib.suppress(OSError):
                parent.rmdir()
