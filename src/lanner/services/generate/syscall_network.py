"""Syscall actions on the network: reverse-shell redirection and a bind shell on loopback,
and outbound connections to non-loopback addresses inside a private network namespace.

The rules about outbound connections ignore loopback (127.0.0.0/8, ::1), and the
disallowed destinations are documentation addresses. So those actions run in a new
network namespace (``unshare --net``, root) whose only interface is ``lo`` carrying the
destination address: the connection is real, and nothing leaves the host.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from lanner.exceptions import ActionError
from lanner.services.generate.action import Action, Outcome, RunContext, token
from lanner.services.generate.sandbox import named, python, run, tool, workdir

CONNECT_SCRIPT = """\
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
s.sendall(sys.argv[3].encode())
s.close()
"""

LISTEN_SCRIPT = """\
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(1)
s.close()
"""

# Runs as root inside the new network namespace: lo up with the destination address, a
# listener there, the connector started and reaped; prints what the listener received.
NETNS_SCRIPT = """\
import json, socket, subprocess, sys
ip_tool, address, port, connector, marker = sys.argv[1:6]
connector = json.loads(connector)
subprocess.run([ip_tool, "link", "set", "lo", "up"], check=True)
subprocess.run([ip_tool, "addr", "add", address + "/32", "dev", "lo"], check=True)
srv = socket.socket()
srv.bind((address, int(port)))
srv.listen(1)
srv.settimeout(10)
child = subprocess.Popen([*connector, address, port, marker])
try:
    conn, peer = srv.accept()
    conn.settimeout(10)
    data = b""
    while chunk := conn.recv(4096):
        data += chunk
    conn.close()
    code = child.wait(10)
finally:
    srv.close()
    if child.poll() is None:
        child.kill()
        child.wait()
print(json.dumps({"received": data.decode(), "peer": peer[0], "connector_exit": code}))
"""


@dataclass
class LoopbackListener:
    """A TCP listener on 127.0.0.1 that accepts connections on a thread and keeps what
    each one sent."""

    received: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(10)
        self.port: int = self.sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(10)
            data = b""
            try:
                while chunk := conn.recv(4096):
                    data += chunk
            except OSError:
                pass
            self.received.append(data)

    def close(self) -> list[bytes]:
        """Wait for the connection, stop listening; what was received."""
        self._thread.join(10)
        self.sock.close()
        return self.received


def reverse_shell(ctx: RunContext) -> Outcome:
    """``bash -c 'echo MARKER >/dev/tcp/127.0.0.1/PORT'``: bash dup2()s a socket onto stdout."""
    out = Outcome(token())
    listener = LoopbackListener()
    try:
        script = f"echo {out.marker} >/dev/tcp/127.0.0.1/{listener.port}"
        run(out, [tool("bash"), "-c", script], ctx.timeout, check=True)
    finally:
        got = listener.close()
    out.effects["connections"] = [g.decode(errors="replace") for g in got]
    return out


def shell_listening(ctx: RunContext) -> Outcome:
    """A program named ``nc`` (Python) listens on 127.0.0.1 and closes."""
    out = Outcome(token())
    with workdir(out) as d:
        nc = named(d, "nc", python())
        run(out, [nc, "-c", LISTEN_SCRIPT + f"# {out.marker}\n"], ctx.timeout, check=True)
    return out


def _netns_action(name: str, address: str, port: int) -> Callable[[RunContext], Outcome]:
    """An action connecting from ``name`` to ``address:port`` in a new network namespace."""

    def act(ctx: RunContext) -> Outcome:
        out = Outcome(token())
        connect_in_netns(ctx, out, name, address, port)
        return out

    return act


def connect_in_netns(
    ctx: RunContext,
    out: Outcome,
    name: str,
    address: str,
    port: int,
    prefix: list[str] | None = None,
) -> None:
    """From a program called ``name`` (run by the argv ``prefix`` when given), connect to
    ``address:port`` in a new network namespace, and check the listener got the marker."""
    report = _connect_in_netns(ctx, out, name, address, port, prefix or [])
    if report.get("received") != out.marker:
        raise ActionError(f"the listener in the namespace got {report!r}")
    out.effects["connections"] = [report]


def _connect_in_netns(
    ctx: RunContext, out: Outcome, name: str, address: str, port: int, prefix: list[str]
) -> dict[str, object]:
    """Run :data:`NETNS_SCRIPT` under ``unshare --net``; its report."""
    with workdir(out) as d:
        connector = [*prefix, str(named(d, name, python())), "-c"]
        connector.append(CONNECT_SCRIPT + f"# {out.marker}\n")
        argv = [
            tool("unshare"),
            "--net",
            python(),
            "-c",
            NETNS_SCRIPT,
            tool("ip"),
            address,
            str(port),
            json.dumps(connector),
            out.marker,
        ]
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        out.add("pids", proc.pid)
        try:
            stdout, stderr = proc.communicate(timeout=ctx.timeout + 10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise ActionError("the network namespace helper timed out") from None
    if proc.returncode != 0:
        raise ActionError(f"network namespace helper failed: {stderr.decode()[-300:]}")
    result: dict[str, object] = json.loads(stdout)
    return result


ACTIONS: list[Action] = [
    Action(
        "reverse_shell",
        "Reverse shell redirection",
        "bash -c 'echo MARKER >/dev/tcp/127.0.0.1/PORT': bash dup2()s a socket onto stdout",
        False,
        reverse_shell,
        needs=("dup2", "connect"),
    ),
    Action(
        "shell_listening",
        "Shell listening on a network port",
        "A program named nc (Python) listens on 127.0.0.1 and closes",
        False,
        shell_listening,
        needs=("listen",),
    ),
    Action(
        "system_binary_connects",
        "System binary makes outbound connection",
        "A program named cat connects to 198.18.0.10:8080 in a private network namespace",
        True,
        _netns_action("cat", "198.18.0.10", 8080),
        needs=("connect",),
    ),
    Action(
        "disallowed_destination",
        "Outbound connection to a disallowed destination",
        "Connect to 203.0.113.66:8080 (disallowed_outbound_ips) in a private network namespace",
        True,
        _netns_action("lanner-connect", "203.0.113.66", 8080),
        needs=("connect",),
    ),
    Action(
        "ssh_nonstandard_port",
        "SSH connection to a non-standard port",
        "A program named ssh connects to 198.18.0.10:2222 in a private network namespace",
        True,
        _netns_action("ssh", "198.18.0.10", 2222),
        needs=("connect",),
    ),
]
