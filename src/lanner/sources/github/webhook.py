"""The github plugin's webhook server: GitHub POSTs each message (any path) with its type
in ``X-GitHub-Event`` and an HMAC-SHA256 of the body under the webhook's secret in
``X-Hub-Signature-256``. A message whose signature does not verify is answered 401 and
logged, one that is not JSON 400; the server keeps serving. For a push the commit diff
is fetched from GitHub's REST API (``GET /repos/{repo}/compare/{base...head}``) and its
added lines scanned for secrets; for a workflow run the workflow file
(``GET /repos/{repo}/contents/{path}``) is scanned for miners. A failed API call is logged
and the message still goes on, without the scan's fields.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from secrets import token_urlsafe
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx

from lanner.sources.github.detectors import find_miners, scan_patch
from lanner.sources.json_source.event import JsonEvent
from lanner.sources.plugin_init import read_init_config

log = logging.getLogger("lanner.github")

MAX_BODY = 25 * 1024 * 1024  # GitHub caps webhook payloads at 25 MB
NULL_COMMIT = "0" * 40
REQUEST_TIMEOUT = 30.0  # seconds a connection may take to send a request
_INIT_KEYS = {
    "websocketServerURL": str,
    "secretsDir": str,
    "useHTTPs": bool,
    "listen": str,
    "apiURL": str,
}


class GithubConfigError(ValueError):
    """A plugin configuration Lanner cannot honour; the message names the key or file."""


@dataclass(slots=True)
class GithubOpen:
    """The parsed ``init_config`` and ``open_params`` (and the secrets they point to)."""

    repos: frozenset[str]  # empty: every repository ("*")
    secret: bytes
    token: str | None = None
    server_url: str = ""
    use_https: bool = True
    host: str = "0.0.0.0"
    port: int = 443
    api_url: str = "https://api.github.com"
    cert: Path | None = None
    key: Path | None = None

    @classmethod
    def parse(
        cls, init_config: Any, open_params: str, env: dict[str, str] | None = None
    ) -> GithubOpen:
        """The plugin's keys (and Lanner's ``listen``, ``apiURL``); secrets from
        ``secretsDir`` (``github.token``, ``webhook.secret``, ``server.crt``/``.key``) or
        the environment (``GITHUB_PLUGIN_TOKEN``, ``GITHUB_PLUGIN_WEBHOOK_SECRET``)."""
        env = dict(os.environ) if env is None else env
        init = read_init_config("github", init_config, _INIT_KEYS, GithubConfigError)
        names = [r.strip() for r in open_params.split(",") if r.strip()]
        if not names:
            raise GithubConfigError(
                "github open_params: empty (a comma-separated list of owner/repo, or *)"
            )
        repos = frozenset() if "*" in names else frozenset(names)
        secrets = Path(os.path.expanduser(init.get("secretsDir") or "~/.ghplugin"))
        use_https = init.get("useHTTPs", True)
        opened = cls(repos, b"", server_url=init.get("websocketServerURL", ""))
        opened.use_https = use_https
        opened.api_url = init.get("apiURL", opened.api_url).rstrip("/")
        api = urlsplit(opened.api_url)
        if api.scheme not in ("https", "http") or not api.hostname:
            raise GithubConfigError(f"github init_config.apiURL {opened.api_url!r}: not a URL")
        if api.scheme != "https" and api.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise GithubConfigError(
                f"github init_config.apiURL {opened.api_url!r}: https required (the token "
                "is sent there; plain http only on loopback, e.g. a local stand-in)"
            )
        opened.token = env.get("GITHUB_PLUGIN_TOKEN") or _read(secrets / "github.token")
        secret = env.get("GITHUB_PLUGIN_WEBHOOK_SECRET") or _read(secrets / "webhook.secret")
        if opened.server_url and not opened.token:
            raise GithubConfigError(
                "github: websocketServerURL is set, so the webhooks are installed through the "
                f"API: a token is needed ({secrets / 'github.token'} or GITHUB_PLUGIN_TOKEN)"
            )
        if not secret and opened.server_url:
            secret = token_urlsafe(32)  # the hooks Lanner installs sign with it
        if not secret:
            raise GithubConfigError(
                f"github: no webhook secret: write it to {secrets / 'webhook.secret'} or set "
                "GITHUB_PLUGIN_WEBHOOK_SECRET (the secret the repositories' webhooks sign "
                "with), or set websocketServerURL so that Lanner installs the webhooks"
            )
        opened.secret = secret.encode()
        # plain HTTP is for a TLS-terminating proxy in front: loopback unless told
        default = ("0.0.0.0:443", "127.0.0.1:80")[not use_https]
        host, _, port = init.get("listen", default).rpartition(":")
        if not port.isdigit():
            raise GithubConfigError(f"github init_config.listen: {init['listen']!r}: no port")
        opened.host, opened.port = host or "127.0.0.1", int(port)
        if use_https:
            opened.cert, opened.key = secrets / "server.crt", secrets / "server.key"
            missing = [str(p) for p in (opened.cert, opened.key) if not p.is_file()]
            if missing:
                raise GithubConfigError(
                    f"github: useHTTPs is true but {', '.join(missing)} not found (provide "
                    "them, or set useHTTPs to false behind a TLS proxy)"
                )
        return opened


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise GithubConfigError(f"{path}: {exc}") from None


def signature_ok(secret: bytes, body: bytes, header: str | None) -> bool:
    """True when ``header`` is ``sha256=<hex HMAC-SHA256 of body under secret>``."""
    if not header or not header.startswith("sha256="):
        return False
    want = hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(want, header[7:].strip().lower())


@dataclass(slots=True)
class WebhookStats:
    """Messages accepted, refused and API failures, by kind (the source's metrics)."""

    accepted: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def error(self, kind: str) -> None:
        with self.lock:
            self.errors[kind] = self.errors.get(kind, 0) + 1


class GithubApi:
    """The two REST calls the scans need, with the token (``Authorization: Bearer``)."""

    def __init__(self, base: str, token: str | None, stats: WebhookStats) -> None:
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._client = httpx.Client(base_url=base, headers=headers, timeout=30.0)
        self._stats = stats

    def close(self) -> None:
        self._client.close()

    def _get(self, path: str) -> dict[str, Any] | None:
        try:
            resp = self._client.get(path)
        except httpx.HTTPError as exc:
            log.warning("github: GET %s: %s", path, exc)
            self._stats.error("api")
            return None
        if resp.status_code != 200:
            remaining = resp.headers.get("x-ratelimit-remaining")
            why = " (rate limit exhausted)" if remaining == "0" else ""
            log.warning("github: GET %s: HTTP %d%s", path, resp.status_code, why)
            self._stats.error("api")
            return None
        try:
            value = resp.json()
        except ValueError:
            log.warning("github: GET %s: the answer is not JSON", path)
            self._stats.error("api")
            return None
        return value if isinstance(value, dict) else None

    def admin_repos(self) -> list[str]:
        """The token's repositories it administers and that are not archived (``*``)."""
        names: list[str] = []
        page = 1
        while True:
            resp = self._client.get(
                "/user/repos", params={"type": "all", "per_page": 100, "page": page}
            )
            resp.raise_for_status()
            repos = resp.json()
            for r in repos:
                if (r.get("permissions") or {}).get("admin") and not r.get("archived"):
                    names.append(r["full_name"])
            if len(repos) < 100:
                return names
            page += 1

    def install_hook(self, repo: str, url: str, secret: str) -> int:
        """Replace this URL's webhook on ``repo`` by one sending every event, signed with
        ``secret``; its id."""
        path = f"/repos/{quote(repo)}/hooks"
        resp = self._client.get(path)
        resp.raise_for_status()
        for hook in resp.json():
            if (hook.get("config") or {}).get("url") == url:
                self._client.delete(f"{path}/{hook['id']}").raise_for_status()
        config = {"url": url, "content_type": "json", "secret": secret, "insecure_ssl": "0"}
        body = {"name": "web", "active": True, "events": ["*"], "config": config}
        resp = self._client.post(path, json=body)
        resp.raise_for_status()
        return int(resp.json()["id"])

    def delete_hook(self, repo: str, hook_id: int) -> None:
        try:
            self._client.delete(f"/repos/{quote(repo)}/hooks/{hook_id}").raise_for_status()
        except httpx.HTTPError as exc:
            log.warning("github: deleting the webhook of %s: %s", repo, exc)
            self._stats.error("api")

    def diff_secrets(self, repo: str, refs: str) -> list[dict[str, Any]] | None:
        """Per changed file, the secrets its added lines hold (None when the API failed)."""
        got = self._get(f"/repos/{quote(repo)}/compare/{quote(refs, safe='.^~')}")
        if got is None:
            return None
        files = []
        for f in got.get("files") or []:
            if isinstance(f, dict) and isinstance(f.get("filename"), str):
                patch = f.get("patch")
                matches = scan_patch(patch) if isinstance(patch, str) else []
                files.append({"name": f["filename"], "matches": matches})
        return files

    def workflow_miners(self, repo: str, path: str) -> list[dict[str, Any]] | None:
        """Miners found in a workflow file (None when the API failed)."""
        got = self._get(f"/repos/{quote(repo)}/contents/{quote(path)}")
        if got is None:
            return None
        try:
            text = base64.b64decode(str(got.get("content") or "")).decode("utf-8", "replace")
        except ValueError:
            text = ""
        return find_miners(text)


def enrich(doc: dict[str, Any], kind: str, api: GithubApi) -> None:
    """Add ``webhook_type`` and, for pushes and workflow runs, the scans' results."""
    doc["webhook_type"] = kind
    repo = doc.get("repository")
    full = repo.get("full_name") if isinstance(repo, dict) else None
    if not isinstance(full, str):
        return
    if kind == "push":
        before, after = doc.get("before"), doc.get("after")
        compare = doc.get("compare")
        if NULL_COMMIT in (before, after) or not isinstance(compare, str):
            return  # a branch created or deleted: no diff
        refs = compare.rsplit("/", 1)[-1]
        files = api.diff_secrets(full, refs)
        if files is not None:
            doc["files"] = files
    elif kind == "workflow_run":
        workflow = doc.get("workflow")
        path = workflow.get("path") if isinstance(workflow, dict) else None
        if isinstance(path, str):
            miners = api.workflow_miners(full, path)
            if miners is not None:
                doc["workflow_miner_detections"] = {"file_name": path, "matches": miners}


class GithubWebhook:
    """The HTTP(S) server; ``deliver(event)`` hands each message on (False: refuse, 503)."""

    def __init__(self, opened: GithubOpen, deliver: Callable[[JsonEvent], bool]) -> None:
        self.opened = opened
        self.deliver = deliver
        self.stats = WebhookStats()
        self.api = GithubApi(opened.api_url, opened.token, self.stats)
        self._num = 0
        self._num_lock = threading.Lock()
        self.tls: ssl.SSLContext | None = None
        if opened.use_https and opened.cert and opened.key:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            try:
                ctx.load_cert_chain(str(opened.cert), str(opened.key))
            except (OSError, ssl.SSLError) as exc:
                raise GithubConfigError(f"github: {opened.cert}/{opened.key}: {exc}") from None
            self.tls = ctx  # the handshake runs on the connection's thread, not the accept loop
        self.server = _Server((opened.host, opened.port), self)
        self._thread: threading.Thread | None = None
        self.installed: list[tuple[str, int]] = []

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> None:
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()
        scheme = "https" if self.opened.use_https else "http"
        log.info("github: webhook server on %s://%s:%d", scheme, self.opened.host, self.port)
        if self.opened.server_url:
            self.install_hooks()

    def install_hooks(self) -> None:
        """As the plugin: a webhook on each repository of open_params (``*``: those the
        token administers), pointing at websocketServerURL; removed by :meth:`stop`."""
        url, secret = self.opened.server_url, self.opened.secret.decode()
        try:
            repos = sorted(self.opened.repos) or self.api.admin_repos()
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            raise GithubConfigError(f"github: listing the repositories: {exc}") from None
        for repo in repos:
            try:
                self.installed.append((repo, self.api.install_hook(repo, url, secret)))
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                raise GithubConfigError(
                    f"github: installing the webhook of {repo}: {exc}"
                ) from None
            log.info("github: webhook installed in %s", repo)

    def stop(self) -> None:
        for repo, hook_id in self.installed:
            self.api.delete_hook(repo, hook_id)
            log.info("github: webhook removed from %s", repo)
        self.installed.clear()
        self.server.shutdown()
        self.server.server_close()
        self.api.close()

    def handle(
        self, kind: str | None, signature: str | None, body: bytes, peer: str, ctype: str = ""
    ) -> int:
        """The HTTP status for one delivery (``ctype``: JSON, or a form's ``payload``)."""
        if not signature_ok(self.opened.secret, body, signature):
            log.warning("github: signature check failed, message from %s refused", peer)
            self.stats.error("bad_signature")
            return 401
        try:
            if ctype.startswith("application/x-www-form-urlencoded"):
                body = parse_qs(body.decode(), strict_parsing=True)["payload"][0].encode()
            doc = json.loads(body)
        except (ValueError, KeyError) as exc:
            log.warning("github: message from %s is not JSON (%s)", peer, exc)
            self.stats.error("bad_json")
            return 400
        if not isinstance(doc, dict) or not kind:
            log.warning("github: message from %s: no X-GitHub-Event or not an object", peer)
            self.stats.error("bad_message")
            return 400
        repo = doc.get("repository")
        full = repo.get("full_name") if isinstance(repo, dict) else None
        if self.opened.repos and isinstance(full, str) and full not in self.opened.repos:
            log.info("github: %s message of %s ignored (not in open_params)", kind, full)
            self.stats.error("other_repository")
            return 202
        enrich(doc, kind, self.api)
        with self._num_lock:
            self._num += 1
            num = self._num
        if not self.deliver(JsonEvent(doc, time.time_ns(), num)):
            return 503
        with self.stats.lock:
            self.stats.accepted += 1
        return 200


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], hook: GithubWebhook) -> None:
        self.hook = hook
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.warning("github: connection from %s failed", client_address[0])


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        self.request.settimeout(REQUEST_TIMEOUT)
        if self.server.hook.tls is not None:
            self.request = self.server.hook.tls.wrap_socket(self.request, server_side=True)
        super().setup()

    def handle(self) -> None:
        try:
            super().handle()
        except (ssl.SSLError, ConnectionError, TimeoutError) as exc:
            log.debug("github: connection dropped: %s", exc)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("github: %s", format % args)

    def _reply(self, status: int) -> None:
        body = HTTPStatus(status).phrase.encode() + b"\n"
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or "-1")
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self.server.hook.stats.error("bad_message")
            self.close_connection = True
            self._reply(411 if length < 0 else 413)
            return
        body = self.rfile.read(length)
        status = self.server.hook.handle(
            self.headers.get("X-GitHub-Event"),
            self.headers.get("X-Hub-Signature-256"),
            body,
            self.client_address[0],
            self.headers.get("Content-Type", ""),
        )
        self._reply(status)

    def do_GET(self) -> None:
        self._reply(405)
