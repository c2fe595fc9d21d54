"""A System Log API for the okta actions to publish into (``lanner generate
--okta-serve``): ``GET /api/v1/logs`` with ``since``, ``after`` and ``limit``, the
``SSWS`` token checked (401 and Okta's error body otherwise), a ``Link: <...>;
rel="next"`` cursor on every page, as Okta's API answers the okta plugin. Point the
plugin's ``baseURL`` at it (loopback: plain HTTP is accepted there)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from lanner.exceptions import ActionError


def _published(event: dict[str, Any]) -> str:
    return str(event.get("published") or "")


class OktaLogDouble:
    """Serves the events ``publish`` adds, in publication order."""

    def __init__(self, host: str, port: int, token: str) -> None:
        if not token:
            raise ActionError("--okta-serve needs the API token the plugin sends (--okta-token)")
        self.token = token
        self.events: list[dict[str, Any]] = []
        self.polled = threading.Event()
        self._lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"double": self})
        try:
            self.server = ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            raise ActionError(f"--okta-serve {host}:{port}: {exc}") from None
        self.url = f"http://{host}:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def publish(self, *events: dict[str, Any]) -> None:
        with self._lock:
            self.events.extend(events)

    def page(self, query: dict[str, list[str]]) -> tuple[list[dict[str, Any]], int]:
        """The events a request asks for and the index the next link starts at."""
        limit = max(1, min(1000, int(query.get("limit", ["100"])[0])))
        with self._lock:
            if "after" in query:
                start = int(query["after"][0])
            else:
                since = query.get("since", [""])[0]
                start = next(
                    (i for i, e in enumerate(self.events) if _published(e) >= since),
                    len(self.events),
                )
            chosen = self.events[start : start + limit]
        return chosen, start + len(chosen)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Handler(BaseHTTPRequestHandler):
    double: OktaLogDouble

    def log_message(self, *_args: Any) -> None:
        pass

    def _answer(self, status: int, doc: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path != "/api/v1/logs":
            self._answer(404, {"errorCode": "E0000022", "errorSummary": "Not found"})
            return
        if self.headers.get("Authorization") != f"SSWS {self.double.token}":
            self._answer(401, {"errorCode": "E0000011", "errorSummary": "Invalid token provided"})
            return
        try:
            events, after = self.double.page(parse_qs(parts.query))
        except ValueError:
            self._answer(400, {"errorCode": "E0000031", "errorSummary": "Invalid search criteria"})
            return
        self.double.polled.set()
        limit = parse_qs(parts.query).get("limit", ["100"])[0]
        host = self.headers.get("Host") or urlsplit(self.double.url).netloc
        link = f'<http://{host}/api/v1/logs?after={after}&limit={limit}>; rel="next"'
        reset = int(datetime.now(UTC).timestamp()) + 60
        self._answer(200, events, {"Link": link, "X-Rate-Limit-Limit": "120",
                                   "X-Rate-Limit-Remaining": "119",
                                   "X-Rate-Limit-Reset": str(reset)})  # fmt: skip
