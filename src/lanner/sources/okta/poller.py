"""Polling Okta's System Log (``GET /api/v1/logs``) with httpx, as the okta plugin reads
it: ``Authorization: SSWS <api_token>``, the first request with ``since`` (30 s back, or
the persisted cursor), then the ``next`` link's ``after`` cursor; a page shorter than
``limit`` means caught up, so the next poll waits ``refresh_interval``. The rate-limit
headers are honoured (``X-Rate-Limit-Remaining: 0`` or a 429 wait until
``X-Rate-Limit-Reset``). The cursor (the next link) and the ids of the page it follows
are written to ``stateFile`` once the page's events were handed over, so a restart
neither loses nor repeats events. API errors (401 expired token, 5xx, not JSON) are logged
and retried with back-off; the poller goes on.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from lanner.sources.cloud_reader import Backoff, ErrorCounts, load_state, save_state
from lanner.sources.json_source.event import parse_rfc3339
from lanner.sources.okta.fields import MfaHistory, OktaEvent
from lanner.sources.plugin_init import read_init_config

log = logging.getLogger("lanner.okta")

_INIT_KEYS: dict[str, type] = {
    "organization": str,
    "api_token": str,
    "cache_expiration": int,
    "cache_usermaxsize": int,
    "refresh_interval": int,
    "useAsync": bool,
    "baseURL": str,
    "stateFile": str,
    "limit": int,
}
MAX_BACKOFF = 60.0


class OktaConfigError(ValueError):
    """A plugin configuration Lanner cannot honour; the message names the key."""


@dataclass(slots=True)
class OktaOpen:
    """The parsed ``init_config``."""

    organization: str
    api_token: str
    base_url: str
    refresh_interval: float = 10.0
    cache_expiration: int = 84600
    cache_usermaxsize: int = 200
    state_file: str | None = None
    limit: int = 100

    @classmethod
    def parse(cls, init_config: Any, env: dict[str, str] | None = None) -> OktaOpen:
        """The plugin's keys, Lanner's ``baseURL``, ``stateFile``, ``limit``; the token
        may come from ``OKTA_API_TOKEN`` instead."""
        env = dict(os.environ) if env is None else env
        init = read_init_config("okta", init_config, _INIT_KEYS, OktaConfigError)
        org = init.get("organization", "")
        token = init.get("api_token") or env.get("OKTA_API_TOKEN", "")
        if not token:
            raise OktaConfigError("okta init_config.api_token: missing (or set OKTA_API_TOKEN)")
        base = init.get("baseURL") or (f"https://{org}.okta.com" if org else "")
        if not base:
            raise OktaConfigError("okta init_config.organization: missing (or give baseURL)")
        if urlsplit(base).scheme != "https" and urlsplit(base).hostname not in (
            "127.0.0.1", "localhost", "::1"
        ):  # fmt: skip
            raise OktaConfigError(f"okta init_config.baseURL {base!r}: https required")
        opened = cls(org, token, base.rstrip("/"))
        opened.refresh_interval = max(1, init.get("refresh_interval", 10))
        opened.cache_expiration = init.get("cache_expiration", 84600)
        opened.cache_usermaxsize = max(1, init.get("cache_usermaxsize", 200))
        opened.state_file = init.get("stateFile")
        opened.limit = min(1000, max(1, init.get("limit", 100)))
        return opened


@dataclass(slots=True)
class Cursor:
    """Where to go on: the next link and the ids of the events already handed over that
    it may return again (a ``since`` cursor is inclusive)."""

    next_url: str | None = None
    seen: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, path: str | None) -> Cursor:
        def read(doc: Any) -> Cursor:
            return cls(doc.get("next"), list(doc.get("seen") or []))

        return load_state(path, read, OktaConfigError, "okta") or cls()

    def save(self, path: str | None) -> None:
        if path:
            save_state(path, {"next": self.next_url, "seen": self.seen})


@dataclass(slots=True)
class PollStats(ErrorCounts):
    """Requests, events and errors by kind (the source's metrics)."""

    requests: int = 0
    events: int = 0


def _rate_wait(headers: httpx.Headers, now: float) -> float | None:
    """Seconds to wait for the rate-limit window, when it is exhausted."""
    reset = headers.get("x-rate-limit-reset")
    if reset is None or not reset.strip().isdigit():
        return None
    return max(0.0, min(float(reset) - now, 300.0)) + 0.1


class OktaPoller:
    """Polls the System Log; ``deliver(events)`` hands a page on (False: stop)."""

    def __init__(
        self,
        opened: OktaOpen,
        client: httpx.Client | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.opened = opened
        self.client = client or httpx.Client(timeout=30.0)
        self.headers = {"Authorization": f"SSWS {opened.api_token}", "Accept": "application/json",
                        "User-Agent": "lanner-okta"}  # fmt: skip
        self.cursor = Cursor.load(opened.state_file)
        self.mfa = MfaHistory(opened.cache_expiration, opened.cache_usermaxsize)
        self.stats = PollStats()
        self.stop = threading.Event()
        self._now = now
        self._num = 0

    def first_url(self) -> str:
        since = datetime.now(UTC) - timedelta(seconds=30)
        stamp = since.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        return f"{self.opened.base_url}/api/v1/logs?since={stamp}&limit={self.opened.limit}"

    def run(self, deliver: Callable[[list[OktaEvent]], bool]) -> None:
        """Poll until ``stop`` is set or ``deliver`` refuses."""
        url = self.cursor.next_url or self.first_url()
        backoff = Backoff(longest=MAX_BACKOFF)
        while not self.stop.is_set():
            page = self._fetch(url)
            if page is None:  # logged: wait and retry the same cursor
                backoff.wait(self.stop)
                continue
            backoff.reset()
            docs, next_url, wait = page
            events = self._events(docs)
            if events and not deliver(events):
                return
            ids = [str(d.get("uuid")) for d in docs if isinstance(d, dict)]
            if next_url:
                url = next_url
                self.cursor = Cursor(next_url, ids)
            elif ids:
                self.cursor.seen = ids
            self.cursor.save(self.opened.state_file)
            if len(docs) < self.opened.limit:
                wait = max(wait, self.opened.refresh_interval)
            if wait:
                self.stop.wait(wait)

    def _fetch(self, url: str) -> tuple[list[Any], str | None, float] | None:
        """(events, next link, seconds to wait before the next call), or None on error."""
        self.stats.requests += 1
        try:
            resp = self.client.get(url, headers=self.headers)
        except httpx.HTTPError as exc:
            log.warning("okta: GET %s: %s", _path(url), exc)
            self.stats.error("network")
            return None
        if resp.status_code == 429:
            wait = _rate_wait(resp.headers, self._now()) or self.opened.refresh_interval
            log.warning("okta: rate limited (HTTP 429); waiting %.1fs", wait)
            self.stats.error("rate_limited")
            self.stop.wait(wait)
            return [], None, 0.0
        if resp.status_code != 200:
            kind = "auth" if resp.status_code in (401, 403) else "http"
            try:
                summary = resp.json().get("errorSummary", "")
            except (ValueError, AttributeError):
                summary = ""
            log.warning("okta: GET %s: HTTP %d %s", _path(url), resp.status_code, summary)
            self.stats.error(kind)
            return None
        try:
            docs = resp.json()
        except ValueError as exc:
            log.warning("okta: GET %s: the answer is not JSON (%s)", _path(url), exc)
            self.stats.error("bad_json")
            return None
        if not isinstance(docs, list):
            log.warning("okta: GET %s: the answer is not a list of events", _path(url))
            self.stats.error("bad_json")
            return None
        next_url = resp.links.get("next", {}).get("url")
        if next_url and urlsplit(next_url).netloc != urlsplit(self.opened.base_url).netloc:
            log.warning("okta: next link %s is not on %s; ignored", next_url, self.opened.base_url)
            self.stats.error("bad_link")
            next_url = None
        wait = 0.0
        if resp.headers.get("x-rate-limit-remaining", "").strip() == "0":
            wait = _rate_wait(resp.headers, self._now()) or 0.0
            if wait:
                log.info("okta: rate limit reached; next call in %.1fs", wait)
        return docs, next_url, wait

    def _events(self, docs: list[Any]) -> list[OktaEvent]:
        seen = set(self.cursor.seen)
        events = []
        for i, doc in enumerate(docs):
            if not isinstance(doc, dict):
                log.warning("okta: event %d of a page is not a JSON object; skipped", i)
                self.stats.error("bad_event")
                continue
            if str(doc.get("uuid")) in seen:
                continue  # handed over before the restart
            ts = parse_rfc3339(doc.get("published"))
            self._num += 1
            event = OktaEvent(doc, ts if ts is not None else time.time_ns(), self._num)
            self.mfa.record(event)
            events.append(event)
        self.stats.events += len(events)
        return events


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path
