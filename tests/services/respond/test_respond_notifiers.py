"""Talon's elasticsearch and smtp notifiers: a real SMTP server (aiosmtpd) and an HTTP
double speaking Elasticsearch's index-template and document APIs, both on loopback."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from respond_fake_k8s import free_port

from lanner.services.respond.notifiers import Notifications, Outcome

OUTCOME = Outcome(
    status="success",
    rule="Terminal shell in container",
    action="Terminate Pod",
    actionner="kubernetes:terminate",
    event="12:00:00: Notice A shell was spawned <script>",
    target="pod shop/web-1",
    detail="terminated the pod",
    objects={"namespace": "shop", "pod": "web-1"},
)


class _Elastic(BaseHTTPRequestHandler):
    """GET/PUT /_index_template/NAME (404 until put), POST /INDEX/_doc."""

    def _reply(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> Any:
        return json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

    def do_GET(self) -> None:
        found = self.path in self.server.templates  # type: ignore[attr-defined]
        self._reply(200 if found else 404, {"index_templates": []})

    def do_PUT(self) -> None:
        self.server.templates[self.path] = self._body()  # type: ignore[attr-defined]
        self._reply(200, {"acknowledged": True})

    def do_POST(self) -> None:
        auth = self.headers.get("Authorization", "")
        self.server.docs.append((self.path, auth, self._body()))  # type: ignore[attr-defined]
        self._reply(201, {"result": "created"})

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def elastic() -> Iterator[tuple[str, Any]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Elastic)
    server.templates, server.docs = {}, []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", server
    server.shutdown()


class _Inbox:
    def __init__(self) -> None:
        self.mails: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mails.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def test_elasticsearch_document_and_index_template(elastic: tuple[str, Any]) -> None:
    url, server = elastic
    results: list[tuple[str, bool]] = []
    settings = {"url": url, "user": "elastic", "password": "pw", "number_of_shards": 1}
    assert Notifications.check({"elasticsearch": settings}, []) == []
    notes = Notifications({"elasticsearch": settings}, ("elasticsearch",),
                          on_result=lambda n, ok: results.append((n, ok)))  # fmt: skip
    notes.send((), OUTCOME)
    notes.send((), OUTCOME)
    assert list(server.templates) == ["/_index_template/lanner-respond"]
    template = server.templates["/_index_template/lanner-respond"]
    assert template["index_patterns"] == ["lanner-respond*"]
    assert template["template"]["settings"] == {"number_of_shards": 1, "number_of_replicas": 3}
    day = time.strftime("%Y.%m.%d", time.gmtime())
    (path, auth, doc), _ = server.docs
    assert path == f"/lanner-respond-{day}/_doc"
    assert auth.startswith("Basic ")
    assert (doc["status"], doc["rule"], doc["actionner"]) == (
        "success", "Terminal shell in container", "kubernetes:terminate",
    )  # fmt: skip
    assert results == [("elasticsearch", True)] * 2
    bad = Notifications.check({"elasticsearch": {"url": url, "suffix": "hourly"}}, [])
    assert bad == [
        "notifier 'elasticsearch': 'suffix' must be one of daily, monthly, annually, none"
    ]


def test_smtp_mail_with_text_and_html_parts() -> None:
    inbox = _Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings = {"host_port": f"127.0.0.1:{port}", "from": "respond@example.org",
                    "to": "soc@example.org, oncall@example.org"}  # fmt: skip
        results: list[tuple[str, bool]] = []
        notes = Notifications(
            {"smtp": settings}, (), on_result=lambda n, ok: results.append((n, ok))
        )
        notes.send(("smtp",), OUTCOME)
    finally:
        controller.stop()
    ((sender, rcpts, content),) = inbox.mails
    assert sender == "respond@example.org"
    assert rcpts == ["soc@example.org", "oncall@example.org"]
    mail = message_from_bytes(content, policy=policy.default)
    assert mail["Subject"] == (
        "[lanner-respond][success][action] Action 'Terminate Pod'"
        " Rule 'Terminal shell in container'"
    )
    text, html = (part.get_payload(decode=True).decode() for part in mail.walk()
                  if part.get_content_maintype() == "text")  # fmt: skip
    assert "actionner: kubernetes:terminate" in text
    assert "&lt;script&gt;" in html and "<script>" not in html  # alert text escaped
    assert results == [("smtp", True)]


def test_an_unreachable_notifier_is_counted_not_raised() -> None:
    results: list[tuple[str, bool]] = []
    settings = {"host_port": f"127.0.0.1:{free_port()}", "from": "a@b", "to": "c@d"}
    notes = Notifications(
        {"smtp": settings}, ("smtp",), on_result=lambda n, ok: results.append((n, ok))
    )
    notes.send((), OUTCOME)  # must not raise
    assert results == [("smtp", False)]
