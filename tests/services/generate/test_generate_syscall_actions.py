"""Syscall actions really do their behaviour and leave the host as it was: files created
and removed, connections made, children reaped, sensitive files untouched."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from lanner.exceptions import ActionError
from lanner.services.generate import sandbox
from lanner.services.generate.action import Action, Outcome, RunContext
from lanner.services.generate.registry import select

SYSCALL_ACTIONS = select(source="syscall")
WATCHED = [
    Path(p)
    for p in (
        *("/etc", "/dev", "/var/log", "/tmp", "/usr/local/bin", "/root", "/boot"),
        *("/usr/bin", "/var/lib", "/etc/apt", "/root/.ssh", "/host"),
    )
]
MARKER = re.compile(r"^lanner-gen-[0-9a-f]{10}$")


def leftovers() -> list[str]:
    """Entries named by the generator in the places actions write to."""
    found = []
    for d in [*WATCHED, sandbox.work_base(), Path("/run/secrets")]:
        try:
            found += [str(p) for p in d.iterdir() if "lanner-gen-" in p.name]
        except OSError:
            continue
    return found


def sensitive_state() -> dict[str, object]:
    """What must never change: /etc/shadow's inode data, ld.so.preload, /boot, /run/secrets."""
    sh = os.stat("/etc/shadow")
    preload = Path("/etc/ld.so.preload")
    mounts = Path("/proc/self/mounts").read_text()
    return {
        "mounts": [m for m in mounts.splitlines() if "lanner-gen" in m or "overlay" in m],
        "shadow": (sh.st_ino, sh.st_nlink, stat.S_IMODE(sh.st_mode), sh.st_size, sh.st_mtime_ns),
        "preload": preload.read_bytes() if preload.exists() else None,
        "boot": Path("/boot").exists(),
        "secrets": Path("/run/secrets").exists(),
        "made": [Path(p).exists() for p in ("/root/.ssh", "/etc/apt", "/host")],
        "cgroups": [
            p.exists() for p in (Path("/sys/fs/cgroup/cpu/docker"), Path("/sys/fs/cgroup/docker"))
        ],
    }


@pytest.fixture(autouse=True)
def private_base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Work directories in a test directory (not below /tmp: see sandbox.work_base)."""
    base = Path.home() / ".cache" / "lanner-generate-tests"
    base.mkdir(parents=True, exist_ok=True)
    old = os.environ.get("LANNER_GENERATE_DIR")
    os.environ["LANNER_GENERATE_DIR"] = str(base)
    yield
    if old is None:
        os.environ.pop("LANNER_GENERATE_DIR", None)
    else:
        os.environ["LANNER_GENERATE_DIR"] = old
    assert not any(base.iterdir()), list(base.iterdir())
    base.rmdir()


@pytest.mark.parametrize("action", SYSCALL_ACTIONS, ids=[a.name for a in SYSCALL_ACTIONS])
def test_action_runs_and_cleans_up(action: Action) -> None:
    reason = action.unavailable()
    if reason:
        pytest.skip(f"{action.name}: {reason}")
    before = sensitive_state()
    assert not leftovers()
    out = action.run(RunContext(timeout=15))
    assert MARKER.match(out.marker)
    for path in out.effects.get("paths", []):
        assert not os.path.lexists(path), f"{path} left behind"
    for pid in out.effects.get("pids", []):
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # already reaped: no child of ours by that pid
    assert not leftovers()
    assert sensitive_state() == before
    assert out.effects.get("paths") or out.effects.get("pids"), "the action did nothing visible"


def net(name: str) -> Outcome:
    (action,) = [a for a in SYSCALL_ACTIONS if a.name == name]
    if action.unavailable():
        pytest.skip(str(action.unavailable()))
    return action.run(RunContext())


def test_reverse_shell_really_sends_over_a_socket() -> None:
    out = net("reverse_shell")
    assert out.effects["connections"] == [out.marker + "\n"]


@pytest.mark.parametrize(
    ("name", "address"),
    [
        ("system_binary_connects", "198.18.0.10"),
        ("disallowed_destination", "203.0.113.66"),
        ("ssh_nonstandard_port", "198.18.0.10"),
    ],
)
def test_netns_connection_reaches_a_non_loopback_address(name: str, address: str) -> None:
    out = net(name)
    (report,) = out.effects["connections"]
    assert report == {"received": out.marker, "peer": address, "connector_exit": 0}
    # the address only ever existed in the private namespace
    assert address not in Path("/proc/net/fib_trie").read_text()


def test_temp_file_exists_inside_and_is_removed_after(tmp_path: Path) -> None:
    out = Outcome("lanner-gen-0000000000")
    target = tmp_path / "f"
    with sandbox.temp_file(out, target, b"data") as f:
        assert f.read_bytes() == b"data"
    assert not target.exists() and out.effects["paths"] == [str(target)]


def test_temp_file_refuses_an_existing_path(tmp_path: Path) -> None:
    target = tmp_path / "precious"
    target.write_text("keep")
    with pytest.raises(ActionError), sandbox.temp_file(Outcome("m"), target):
        pass
    assert target.read_text() == "keep"


def test_created_dirs_removes_only_what_it_made(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    out = Outcome("m")
    with sandbox.created_dirs(out, tmp_path / "a" / "b" / "c") as d:
        assert d.is_dir()
    assert (tmp_path / "a").is_dir() and not (tmp_path / "a" / "b").exists()


def test_named_standin_runs_under_the_tool_name(tmp_path: Path) -> None:
    link = sandbox.named(tmp_path, "iptables", sandbox.python())
    out = Outcome("m")
    r = sandbox.run(
        out,
        [link, "-c", "print(open('/proc/self/comm').read().strip())"],
        stdout=subprocess.PIPE,
    )
    assert r.returncode == 0 and r.stdout == b"iptables\n"


def test_run_kills_and_reaps_on_timeout() -> None:
    out = Outcome("m")
    with pytest.raises(ActionError, match="did not finish"):
        sandbox.run(out, [sandbox.tool("sleep"), "30"], timeout=0.3)
    with pytest.raises(ChildProcessError):
        os.waitpid(out.effects["pids"][0], os.WNOHANG)


def test_container_context_puts_the_child_in_a_docker_like_cgroup(tmp_path: Path) -> None:
    from lanner.services.generate.container_context import container, container_id

    if os.geteuid() != 0:
        pytest.skip("creating a cgroup needs root")
    out = Outcome("lanner-gen-1234567890")
    with container(out) as prefix:
        r = sandbox.run(
            out, [*prefix, "-", sandbox.tool("cat"), "/proc/self/cgroup"], stdout=subprocess.PIPE
        )
        group = Path(out.effects["paths"][0])
        assert group.is_dir()
    assert f"/docker/{container_id(out.marker)}" in r.stdout.decode()
    assert not group.exists()
    assert out.effects["container_id"] == container_id(out.marker)[:12]


def test_interactive_shell_really_has_a_terminal() -> None:
    out = net("container_interactive_shell")
    assert out.marker in out.effects["terminal_output"]


def test_docker_socket_connection_is_accepted() -> None:
    out = net("container_docker_socket")
    assert out.effects["connections"] == [True]
