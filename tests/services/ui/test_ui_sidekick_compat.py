"""`lanner ui` as falcosidekick-ui: Falcosidekick's webui output posts to it, and every
request falcosidekick-ui's own frontend makes (read from its `http.js`, kept unchanged in
fixtures/) gets an answer of the shape falcosidekick-ui's Go code gives (its
`internal/models` and `internal/api`, commit 2b949bb)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from lanner.services.ui.app import create_app
from lanner.services.ui.auth import AuthConfig
from lanner.services.ui.store import Store

HTTP_JS = Path(__file__).parent / "fixtures" / "falcosidekick-ui" / "http.js"
EVENT_KEYS = {"uuid", "output", "priority", "rule", "time", "source", "output_fields",
              "hostname", "tags"}  # fmt: skip
CONFIG_KEYS = {
    "listen-address", "listen-port", "redis-server", "redis-username", "redis-password",
    "dev-mode", "disable-auth", "log-level", "ttl", "credentials",
}  # fmt: skip
VERSION_KEYS = {"GitVersion", "GitCommit", "GitTreeState", "BuildDate", "GoVersion",
                "Compiler", "Platform"}  # fmt: skip
_REQUEST = re.compile(
    r"(\w+)\(([^)]*)\) \{\s*return api\.request\(\{\s*url: [`'](.+?)[`'],\s*"
    r"method: '(\w+)',(?:\s*params: \{(.*?)\},)?",
    re.DOTALL,
)


def frontend_requests() -> dict[str, tuple[str, str, list[str]]]:
    """name -> (method, url template, query parameter names) from falcosidekick-ui's http.js."""
    found = {}
    for name, _args, url, method, params in _REQUEST.findall(HTTP_JS.read_text()):
        found[name] = (method.upper(), url, re.findall(r"(\w+): `", params or ""))
    return found


def webui_payload(rule: str, priority: str, when: str, **fields: Any) -> dict[str, Any]:
    """What Falcosidekick's webui output posts: the alert with its uuid, and its outputs."""
    return {
        "event": {
            "uuid": str(uuid.uuid4()),
            "output": f"{when}: {priority} {rule} (user=root)",
            "priority": priority,
            "rule": rule,
            "time": when,
            "source": "syscall",
            "output_fields": {"user.name": "root", **fields},
            "hostname": "node-1",
            "tags": ["container", "shell"],
        },
        "outputs": ["WebUI", "Slack"],
    }


@pytest.fixture
def ui(store: Store, live_server: Callable[..., Any]) -> str:
    """`lanner ui` on loopback with one admin user; returns its URL with credentials."""
    auth = AuthConfig()
    auth.add_user("admin:s3cret-pass")
    server = live_server(create_app(store, auth=auth))
    return server.url.replace("http://", "http://admin:s3cret-pass@")


def test_the_frontend_request_list_is_what_we_answer() -> None:
    """The fixture really is falcosidekick-ui's request list (a check that cannot pass on
    an empty or changed file)."""
    assert frontend_requests() == {
        "listOutputs": ("GET", "/outputs", []),
        "getConfiguration": ("GET", "/configuration", []),
        "getVersion": ("GET", "/version", []),
        "countEvents": ("GET", "/events/count",
                        ["source", "hostname", "priority", "rule", "filter", "tags", "since"]),
        "countByEvents": ("GET", "/events/count/${group}",
                          ["source", "hostname", "priority", "rule", "filter", "tags", "since"]),
        "searchEvents": ("GET", "/events/search",
                         ["source", "hostname", "priority", "rule", "filter", "tags", "since",
                          "page", "limit"]),
        "authenticate": ("POST", "/auth", []),
    }  # fmt: skip


def test_webui_posts_need_credentials_and_are_stored(ui: str) -> None:
    plain = ui.replace("admin:s3cret-pass@", "")
    payload = webui_payload("Terminal shell in container", "Notice", "2026-01-01T10:00:00Z")
    assert httpx.post(f"{plain}/api/v1/", json=payload).status_code == 401
    # Falcosidekick's webui.url with user:password@ (Go sends it as basic auth)
    answer = httpx.post(f"{ui}/api/v1/", json=payload)
    assert answer.status_code == 200 and answer.json() == "{}"
    bad = httpx.post(f"{ui}/api/v1/", json={"event": {"rule": "x"}, "outputs": []})
    assert bad.status_code == 422
    found = httpx.get(f"{ui}/api/v1/events/search", params={"limit": 10}).json()
    assert [e["uuid"] for e in found["results"]] == [payload["event"]["uuid"]]
    assert httpx.get(f"{ui}/api/v1/outputs").json() == ["WebUI", "Slack"]
    # the alert is in Lanner's own API too
    events = httpx.get(f"{ui}/api/v1/events").json()["events"]
    assert [e["rule"] for e in events] == ["Terminal shell in container"]


def _url(ui: str, template: str, group: str = "priority") -> str:
    return f"{ui}/api/v1" + template.replace("${group}", group)


def test_every_frontend_request_gets_falcosidekick_ui_shapes(ui: str) -> None:
    posts = [
        webui_payload("Terminal shell in container", "Notice", "2026-01-01T10:00:00Z"),
        webui_payload("Terminal shell in container", "Notice", "2026-01-01T10:00:01Z"),
        webui_payload("Read sensitive file untrusted", "Warning", "2026-01-01T10:00:02Z"),
        webui_payload("Launch Privileged Container", "Critical", "2026-01-01T10:00:03Z"),
    ]
    for p in posts:
        assert httpx.post(f"{ui}/api/v1/events/add", json=p).status_code == 200
    requests = frontend_requests()
    # what the frontend sends when nothing is filtered: empty strings, since in a unit
    empty = {"source": "", "hostname": "", "priority": "", "rule": "", "filter": "",
             "tags": "", "since": "", "page": "1", "limit": "500"}  # fmt: skip

    def get(name: str, group: str = "priority", **values: str) -> Any:
        method, template, names = requests[name]
        params = {n: values.get(n, empty[n]) for n in names}
        answer = httpx.request(method, _url(ui, template, group), params=params)
        assert answer.status_code == 200, (name, answer.text)
        return answer.json()

    assert get("listOutputs") == ["WebUI", "Slack"]
    config = get("getConfiguration")
    assert set(config) == CONFIG_KEYS and config["credentials"] == "admin:*******"
    assert set(get("getVersion")) == VERSION_KEYS
    assert get("countEvents") == {"statistics": {"all": 4}}
    assert get("countEvents", priority="Notice,Critical") == {"statistics": {"all": 3}}
    assert get("countEvents", since="1h") == {"statistics": {"all": 0}}  # events of 2026-01-01
    assert get("countByEvents", "priority") == {
        "results": {"Notice": 2, "Warning": 1, "Critical": 1},
        "statistics": {"all": 4, "distincts": 3},
    }
    assert get("countByEvents", "tags") == {
        "results": {"container": 4, "shell": 4},
        "statistics": {"all": 8, "distincts": 2},
    }
    by_rule = get("countByEvents", "rule", rule="Terminal shell in container")
    assert by_rule == {
        "results": {"Terminal shell in container": 2},
        "statistics": {"all": 2, "distincts": 1},
    }
    found = get("searchEvents", limit="2")
    assert found["statistics"] == {"all": 4, "returned": 2}
    assert [e["rule"] for e in found["results"]] == [
        "Launch Privileged Container",
        "Read sensitive file untrusted",
    ]  # newest first
    assert all(set(e) == EVENT_KEYS for e in found["results"])
    second = get("searchEvents", limit="2", page="2")
    assert [e["time"] for e in second["results"]] == [
        "2026-01-01T10:00:01Z",
        "2026-01-01T10:00:00Z",
    ]
    assert get("searchEvents", page="3", limit="2") == {"results": [], "statistics": {"all": 4}}
    text = get("searchEvents", filter="sensitive")
    assert [e["rule"] for e in text["results"]] == ["Read sensitive file untrusted"]
    wrong = httpx.get(_url(ui, "/events/count/${group}", "container"))
    assert wrong.status_code == 400


def test_authenticate_answers_as_falcosidekick_ui(ui: str) -> None:
    plain = ui.replace("admin:s3cret-pass@", "")
    method, template, _ = frontend_requests()["authenticate"]
    good = httpx.request(method, f"{ui}/api/v1{template}")
    assert (good.status_code, good.json()) == (200, "authorized")
    bad = httpx.request(method, f"{plain}/api/v1{template}", auth=("admin", "wrong"))
    assert (bad.status_code, bad.json()) == (401, "unauthorized")
    for path in ("/api/v1/events/count", "/api/v1/outputs", "/api/v1/configuration"):
        assert httpx.get(f"{plain}{path}").status_code == 401, path
    assert httpx.get(f"{plain}/api/v1/healthz").json() == {"status": "ok"}
