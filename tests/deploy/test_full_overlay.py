"""The full overlay's UI on PostgreSQL: a PostgreSQL server from Debian's package set up as
the StatefulSet's image would from its env (user, database, password), and two `lanner ui`
replicas started with the patched Deployment's arguments and environment (the database URL
expanded from $(LANNER_UI_DB_PASSWORD) as the kubelet does): what one stores the other
serves."""

from __future__ import annotations

import os
import pwd
import re
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from helpers import missing

from .helpers import Service, container, env_of, find, free_port, rendered, wait_until

PASSWORD = "0123456789abcdef0123456789abcdef"
TOKEN = "ui-admin-token-full"


def _pg_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


def _as_postgres(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


@pytest.fixture(scope="module")
def postgres() -> Iterator[tuple[int, dict[str, str]]]:
    """(port, the StatefulSet's env) of a server set up as the postgres image does."""
    pg = _pg_bin()
    if pg is None:
        missing("PostgreSQL server binaries", "postgresql")
    env = env_of(container(find(rendered("overlays/full"), "StatefulSet", "lanner-postgres")))
    root = Path(tempfile.mkdtemp(prefix="lanner-deploy-pg-"))
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
    data, port = root / "data", free_port()
    initdb = [str(pg / "initdb"), "-D", str(data), "-U", "postgres", "-E", "UTF8"]
    # TCP logins need the password, as in the image
    initdb += ["--auth-local=trust", "--auth-host=scram-sha-256"]
    subprocess.run(_as_postgres(initdb), check=True, capture_output=True, timeout=120)
    opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    ctl = [str(pg / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(root / "log"), "-w"]
    subprocess.run(_as_postgres([*ctl, "start"]), check=True, capture_output=True, timeout=120)
    try:
        user, db = env["POSTGRES_USER"], env["POSTGRES_DB"]
        psql = [str(pg / "psql"), "-h", str(root), "-p", str(port), "-U", "postgres", "-q"]
        for sql in (
            f"CREATE ROLE {user} LOGIN PASSWORD '{PASSWORD}'",
            f"CREATE DATABASE {db} OWNER {user}",
        ):
            subprocess.run(_as_postgres([*psql, "-c", sql]), check=True, capture_output=True)
        yield port, env
    finally:
        subprocess.run(
            _as_postgres([str(pg / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
            timeout=60,
        )
        subprocess.run(["rm", "-rf", str(root)], check=False)


def _kubelet_env(c: dict, secrets: dict[str, str]) -> dict[str, str]:
    """The container's env as the kubelet builds it: Secret values, then $(VAR) references
    to variables defined earlier in the list."""
    out: dict[str, str] = {}
    for item in c["env"]:
        ref = (item.get("valueFrom") or {}).get("secretKeyRef")
        if ref:
            if ref["key"] not in secrets:
                assert ref.get("optional"), ref
                continue
            out[item["name"]] = secrets[ref["key"]]
        else:
            out[item["name"]] = re.sub(
                r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                lambda m: out.get(m.group(1), m.group(0)),
                item["value"],
            )
    return out


@pytest.mark.servers
def test_two_ui_replicas_share_the_postgresql_history(postgres: tuple[int, dict]) -> None:
    port, _ = postgres
    deploy = find(rendered("overlays/full"), "Deployment", "lanner-ui")
    assert deploy["spec"]["replicas"] == 2
    c = container(deploy)
    env = _kubelet_env(c, {"password": PASSWORD, "ui-token": TOKEN})
    host = "lanner-postgres.lanner.svc:5432"
    assert host in env["LANNER_UI_DB"] and PASSWORD in env["LANNER_UI_DB"]
    env["LANNER_UI_DB"] = env["LANNER_UI_DB"].replace(host, f"127.0.0.1:{port}")
    replicas, urls = [], []
    try:
        for _ in range(2):
            ui_port = free_port()
            args = [
                {"--host=0.0.0.0": "--host=127.0.0.1", "--port=2802": f"--port={ui_port}"}.get(a, a)
                for a in c["args"]
            ]
            replicas.append(Service(*args, env=env))
            urls.append(f"http://127.0.0.1:{ui_port}")
        for svc, url in zip(replicas, urls, strict=True):
            wait_until(
                lambda s=svc, u=url: s.alive() and httpx.get(u + "/healthz").status_code == 200,
                what="lanner ui on PostgreSQL",
            )
        headers = {"Authorization": f"Bearer {TOKEN}"}
        alert = {
            "rule": "K8s exec into pod",
            "priority": "Notice",
            "source": "k8s_audit",
            "time": "2026-11-25T10:00:01.000000000Z",
            "hostname": "node-1",
            "output": "Command executed in a pod (user=alice pod=web-1 ns=shop)",
            "output_fields": {"ka.user.name": "alice"},
            "tags": ["k8s"],
        }
        posted = httpx.post(urls[0] + "/api/v1/events", json=alert, headers=headers)
        assert posted.status_code == 201, posted.text
        page = httpx.get(urls[1] + "/api/v1/events", headers=headers).json()
        assert [e["rule"] for e in page["events"]] == ["K8s exec into pod"]
        assert httpx.get(urls[1] + "/api/v1/events").status_code == 401
    finally:
        for svc in replicas:
            svc.stop()
