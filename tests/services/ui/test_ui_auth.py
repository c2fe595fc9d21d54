"""Basic and token authentication, and the read-only role."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from ui_seed import make_alert

from lanner.services.ui.app import create_app
from lanner.services.ui.auth import AuthConfig, Role
from lanner.services.ui.store.sqlite import SQLiteStore

ALERT = make_alert(0, 1_700_000_000_000_000_000)


def basic(user: str, password: str) -> dict[str, str]:
    raw = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    auth = AuthConfig()
    auth.add_user("alice:s3cret:admin")
    auth.add_user("bob:pa:ss:read-only")  # password with a colon
    auth.add_token("tok-admin")
    auth.add_token("tok-ro:read-only")
    store = SQLiteStore(tmp_path / "ui.db")
    with TestClient(create_app(store, auth=auth)) as c:
        yield c
    store.close()


def test_no_credentials_is_401_with_basic_challenge(client: TestClient) -> None:
    r = client.get("/api/v1/events")
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Basic")
    # the single-page UI gets no browser dialog
    r = client.get("/api/v1/events", headers={"X-Requested-With": "lanner-ui"})
    assert r.status_code == 401 and "www-authenticate" not in r.headers


@pytest.mark.parametrize(
    "headers",
    [basic("alice", "wrong"), basic("nobody", "s3cret"), bearer("tok-nope"), bearer("")],
)
def test_wrong_credentials(client: TestClient, headers: dict[str, str]) -> None:
    assert client.get("/api/v1/events", headers=headers).status_code in (401, 403)
    assert client.post("/api/v1/events", json=ALERT, headers=headers).status_code in (401, 403)


@pytest.mark.parametrize("headers", [basic("alice", "s3cret"), bearer("tok-admin")])
def test_admin_reads_writes_deletes(client: TestClient, headers: dict[str, str]) -> None:
    r = client.post("/api/v1/events", json=ALERT, headers=headers)
    assert r.status_code == 201
    (event_id,) = r.json()["ids"]
    assert client.get("/api/v1/info", headers=headers).json()["role"] == "admin"
    assert client.delete(f"/api/v1/events/{event_id}", headers=headers).status_code == 204


@pytest.mark.parametrize("headers", [basic("bob", "pa:ss"), bearer("tok-ro")])
def test_read_only_cannot_post_or_delete(client: TestClient, headers: dict[str, str]) -> None:
    admin = bearer("tok-admin")
    (event_id,) = client.post("/api/v1/events", json=ALERT, headers=admin).json()["ids"]
    assert client.get("/api/v1/events", headers=headers).json()["events"][0]["id"] == event_id
    assert client.get("/api/v1/stats", headers=headers).status_code == 200
    assert client.get("/api/v1/export", headers=headers).status_code == 200
    assert client.get("/api/v1/info", headers=headers).json()["role"] == "read-only"
    assert client.post("/api/v1/events", json=ALERT, headers=headers).status_code == 403
    assert client.delete(f"/api/v1/events/{event_id}", headers=headers).status_code == 403
    assert client.get(f"/api/v1/events/{event_id}", headers=admin).status_code == 200


def test_token_in_query_for_event_source(client: TestClient) -> None:
    assert client.get("/api/v1/info", params={"access_token": "tok-ro"}).status_code == 200
    assert client.get("/api/v1/info", params={"access_token": "bad"}).status_code == 401


def test_static_page_needs_no_credentials(client: TestClient) -> None:
    # the page itself holds no data; it asks for credentials before calling the API
    assert client.get("/").status_code == 200


def test_open_when_nothing_configured(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "ui.db")
    with TestClient(create_app(store)) as c:
        assert c.post("/api/v1/events", json=ALERT).status_code == 201
        assert (
            c.get("/api/v1/info").json() | {"auth": False, "role": "admin"}
            == c.get("/api/v1/info").json()
        )
    store.close()


def test_auth_file(tmp_path: Path) -> None:
    path = tmp_path / "auth.yaml"
    path.write_text(
        "users:\n  - {name: ann, password: pw, role: read-only}\ntokens:\n  - {token: t1}\n"
    )
    config = AuthConfig.from_file(path)
    assert config.check_basic("ann", "pw") is Role.READ_ONLY
    assert config.check_basic("ann", "px") is None
    assert config.check_token("t1") is Role.ADMIN
    assert config.check_token("t2") is None


def test_bad_specs() -> None:
    config = AuthConfig()
    with pytest.raises(ValueError):
        config.add_user("just-a-name")
    with pytest.raises(ValueError):
        config.add_token(":admin")
    with pytest.raises(ValueError):
        config.add_user("name::read-only")
