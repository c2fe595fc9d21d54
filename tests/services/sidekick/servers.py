"""Real servers from Debian packages, started on loopback for one test and torn down after."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from helpers import missing, require_tool

from .helpers import Process, free_port, wait_port, wait_until


def need(binary: str, package: str) -> str:
    """The binary's path; the test fails when the Debian package is not installed."""
    return require_tool(binary, package)


@contextmanager
def nats_server(tmp: Path, port: int | None = None) -> Iterator[tuple[Process, int]]:
    """nats-server on 127.0.0.1 with JetStream stored under `tmp` (kept across restarts)."""
    port = port or free_port()
    args = [need("nats-server", "nats-server"), "-a", "127.0.0.1", "-p", str(port)]
    args += ["-js", "-sd", str(tmp / "jetstream")]
    proc = Process(args, log=tmp / f"nats-{port}.log")
    try:
        wait_port(port, proc)
        yield proc, port
    finally:
        proc.stop()


@contextmanager
def redis_server(tmp: Path) -> Iterator[int]:
    """redis-server on 127.0.0.1 without persistence."""
    port = free_port()
    args = [need("redis-server", "redis-server"), "--port", str(port), "--bind", "127.0.0.1"]
    args += ["--save", "", "--appendonly", "no", "--dir", str(tmp)]
    proc = Process(args, log=tmp / "redis.log")
    try:
        wait_port(port, proc)
        yield port
    finally:
        proc.stop()


@contextmanager
def alertmanager(tmp: Path) -> Iterator[str]:
    """prometheus-alertmanager with a no-op receiver; yields its base URL."""
    binary = need("prometheus-alertmanager", "prometheus-alertmanager")
    port = free_port()
    conf = tmp / "alertmanager.yml"
    conf.write_text("route:\n  receiver: sink\nreceivers:\n  - name: sink\n")
    args = [binary, f"--config.file={conf}", f"--storage.path={tmp / 'am-data'}"]
    args += [f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="]
    proc = Process(args, log=tmp / "alertmanager.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_port(port, proc)
        wait_until(lambda: httpx.get(url + "/-/ready").status_code == 200, 30, "alertmanager")
        yield url
    finally:
        proc.stop()


@contextmanager
def prometheus(tmp: Path, target_port: int, token: str) -> Iterator[str]:
    """prometheus scraping 127.0.0.1:target_port/metrics every second with a bearer token."""
    binary = need("prometheus", "prometheus")
    port = free_port()
    conf = tmp / "prometheus.yml"
    conf.write_text(
        "global:\n  scrape_interval: 1s\n"
        "scrape_configs:\n  - job_name: sidekick\n"
        f"    authorization:\n      credentials: {token}\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{target_port}']\n"
    )
    args = [binary, f"--config.file={conf}", f"--storage.tsdb.path={tmp / 'prom-data'}"]
    args += [f"--web.listen-address=127.0.0.1:{port}"]
    proc = Process(args, log=tmp / "prometheus.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_port(port, proc)
        wait_until(lambda: httpx.get(url + "/-/ready").status_code == 200, 30, "prometheus")
        yield url
    finally:
        proc.stop()


@contextmanager
def rsyslog(tmp: Path) -> Iterator[tuple[int, int, Path]]:
    """rsyslogd (foreground) with TCP and UDP inputs writing one line per message to a file."""
    binary = need("rsyslogd", "rsyslog")
    tcp, udp = free_port(), free_port()
    out = tmp / "syslog.out"
    work = tmp / "rsyslog-work"
    work.mkdir()
    conf = tmp / "rsyslog.conf"
    conf.write_text(
        f'global(workDirectory="{work}")\n'
        'module(load="imtcp")\nmodule(load="imudp")\n'
        f'input(type="imtcp" address="127.0.0.1" port="{tcp}")\n'
        f'input(type="imudp" address="127.0.0.1" port="{udp}")\n'
        'template(name="fields" type="string" '
        'string="%pri%|%hostname%|%app-name%|%msgid%|%msg%\\n")\n'
        f'*.* action(type="omfile" file="{out}" template="fields")\n'
    )
    proc = Process(
        [binary, "-n", "-f", str(conf), "-i", str(tmp / "rsyslog.pid")], log=tmp / "rsyslog.log"
    )
    try:
        wait_port(tcp, proc)
        yield tcp, udp, out
    finally:
        proc.stop()


@contextmanager
def influxdb(tmp: Path) -> Iterator[str]:
    """influxd 1.x with database `falco`; yields its base URL."""
    binary = need("influxd", "influxdb")
    port, rpc = free_port(), free_port()
    conf = tmp / "influxdb.conf"
    conf.write_text(
        f'reporting-disabled = true\nbind-address = "127.0.0.1:{rpc}"\n'
        f'[meta]\n  dir = "{tmp / "influx-meta"}"\n'
        f'[data]\n  dir = "{tmp / "influx-data"}"\n  wal-dir = "{tmp / "influx-wal"}"\n'
        f'[http]\n  bind-address = "127.0.0.1:{port}"\n  log-enabled = false\n'
        "[monitor]\n  store-enabled = false\n"
    )
    proc = Process([binary, "-config", str(conf)], log=tmp / "influxdb.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_port(port, proc)
        wait_until(lambda: httpx.get(url + "/ping").status_code == 204, 30, "influxd")
        httpx.post(url + "/query", data={"q": "CREATE DATABASE falco"}).raise_for_status()
        yield url
    finally:
        proc.stop()


@contextmanager
def postgresql(tmp: Path) -> Iterator[str]:
    """A throw-away PostgreSQL cluster (initdb + pg_ctl); yields a connection URL.

    PostgreSQL refuses to run as root, so as root it runs as the `postgres` user."""
    import glob
    import os
    import pwd
    import subprocess
    import tempfile

    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not bins:
        missing("PostgreSQL server binaries", "postgresql")
    pg_bin = Path(bins[-1])
    root = Path(tempfile.mkdtemp(prefix="sidekick-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(root, pw.pw_uid, pw.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", free_port()
    try:
        subprocess.run(
            [*prefix, str(pg_bin / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"],
            check=True,
            capture_output=True,
        )
        opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            [
                *prefix,
                str(pg_bin / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                opts,
                "-l",
                str(root / "log"),
                "-w",
                "start",
            ],
            check=True,
            capture_output=True,
        )
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(
                [*prefix, str(pg_bin / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                capture_output=True,
                check=False,
            )
        shutil.rmtree(root, ignore_errors=True)
