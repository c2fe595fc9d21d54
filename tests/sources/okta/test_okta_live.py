"""The okta plugin in ``lanner run``: the System Log is polled from a local double of
Okta's API (said so: ``GET /api/v1/logs`` with ``since``/``after``/``limit``, ``SSWS``
token, ``Link: <...>; rel="next"`` cursors, ``X-Rate-Limit-*`` headers, 429 and 401 as
Okta answers them) and the upstream okta_rules.yaml fire on the events read; the cursor
kept in ``stateFile`` makes a restart neither lose nor repeat events."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from helpers import free_port, wait_until
from helpers.lanner_process import LannerProcess, metrics

ROOT = Path(__file__).resolve().parents[3]
RULES = ROOT.parent / "shared" / "fixtures" / "rules" / "okta_rules.yaml"
TOKEN = "00okta-test-token"


class OktaDouble:
    """A double of Okta's System Log API holding events in publication order."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.requests: list[str] = []
        self.throttle = 0  # answer this many next requests 429
        self.remaining = 100
        handler = type("H", (_Handler,), {"double": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add(self, *events: dict[str, Any]) -> None:
        with self.lock:
            self.events.extend(events)

    def page(self, query: dict[str, list[str]]) -> tuple[list[dict[str, Any]], int]:
        limit = int(query.get("limit", ["100"])[0])
        with self.lock:
            if "after" in query:
                start = int(query["after"][0])
            else:
                since = query.get("since", ["1970-01-01T00:00:00.000Z"])[0]
                start = next((i for i, e in enumerate(self.events)
                              if e["published"] >= since), len(self.events))  # fmt: skip
            got = self.events[start : start + limit]
        return got, start + len(got)


class _Handler(BaseHTTPRequestHandler):
    double: OktaDouble

    def log_message(self, *_args: Any) -> None:
        pass

    def _send(self, status: int, doc: Any, headers: dict[str, str]) -> None:
        body = json.dumps(doc).encode()
        self.send_response(status)
        for k, v in {"Content-Type": "application/json", **headers}.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        d = self.double
        d.requests.append(self.path)
        parts = urlsplit(self.path)
        reset = str(int(time.time()) + 1)
        if self.headers.get("Authorization") != f"SSWS {TOKEN}":
            self._send(401, {"errorCode": "E0000011", "errorSummary": "Invalid token provided",
                             "errorCauses": []}, {})  # fmt: skip
            return
        if parts.path != "/api/v1/logs":
            self._send(404, {"errorCode": "E0000007", "errorSummary": "Not found"}, {})
            return
        if d.throttle > 0:
            d.throttle -= 1
            self._send(429, {"errorCode": "E0000047", "errorSummary": "API call exceeded "
                             "rate limit due to too many requests."},
                       {"X-Rate-Limit-Limit": "20", "X-Rate-Limit-Remaining": "0",
                        "X-Rate-Limit-Reset": reset})  # fmt: skip
            return
        query = parse_qs(parts.query)
        events, after = d.page(query)
        limit = query.get("limit", ["100"])[0]
        base = f"http://127.0.0.1:{self.server.server_address[1]}/api/v1/logs"
        link = (
            f'<{base}?{parts.query}>; rel="self", <{base}?limit={limit}&after={after}>; rel="next"'
        )
        self._send(200, events, {"Link": link, "X-Rate-Limit-Limit": "100",
                                 "X-Rate-Limit-Remaining": str(d.remaining),
                                 "X-Rate-Limit-Reset": reset})  # fmt: skip


def event(kind: str, n: int, actor: str = "alice", result: str = "SUCCESS",
          **extra: Any) -> dict[str, Any]:  # fmt: skip
    published = datetime.now(UTC) - timedelta(seconds=20) + timedelta(milliseconds=10 * n)
    return {
        "uuid": f"evt-{kind}-{n}", "published": published.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
        + "Z", "eventType": kind, "version": "0", "severity": "INFO",
        "displayMessage": kind, "legacyEventType": "core." + kind,
        "actor": {"id": f"00u-{actor}", "type": "User", "alternateId": f"{actor}@acme.example",
                  "displayName": actor.title()},
        "client": {"userAgent": {"rawUserAgent": "Mozilla/5.0", "os": "Mac OS X",
                                 "browser": "CHROME"}, "zone": "null", "device": "Computer",
                   "ipAddress": "198.51.100.20", "geographicalContext": {
                       "city": "Lyon", "state": "ARA", "country": "France",
                       "postalCode": "69001", "geolocation": {"lat": 45.76, "lon": 4.84}}},
        "outcome": {"result": result},
        "target": [{"id": "00u-bob", "type": "User", "alternateId": "bob@acme.example",
                    "displayName": "Bob"},
                   {"id": "0oa-app", "type": "AppInstance", "alternateId": "GitHub",
                    "displayName": "GitHub"}],
        "transaction": {"type": "WEB", "id": f"tx-{n}"},
        "debugContext": {"debugData": {"requestUri": "/app/github/exk1/sso/saml"}},
        "authenticationContext": {"authenticationStep": 0, "externalSessionId": "ses-1"},
        "securityContext": {"asNumber": 64500, "asOrg": "example", "isp": "example",
                            "domain": "example.net", "isProxy": False},
        **extra,
    }  # fmt: skip


SINGLE = {  # eventType -> the upstream rule it fires
    "user.account.update_password": "User Changing password in to OKTA",
    "user.lifecycle.create": "Creating a new OKTA user account",
    "user.authentication.sso": "User accessing app via single sign on OKTA",
    "user.account.lock": "User has been locked out in OKTA",
    "user.lifecycle.unsuspend": "User has been moved from suspended status in OKTA.",
    "user.lifecycle.activate": "User has been activated in OKTA",
    "user.lifecycle.deactivate": "User has been deactivated in OKTA",
    "user.lifecycle.suspended": "User has been suspended in OKTA",
    "user.account.privilege.grant": "Admin permission has been assigned to a user in OKTA",
    "system.api_token.create": "Creating a new OKTA API token",
    "user.session.access_admin_app": "User accessing OKTA admin section",
    "group.user_membership.add": "Adding user in OKTA group",
    "user.mfa.factor.deactivate": "removing MFA factor from user in OKTA",
    "user.mfa.factor.reset_all": "removing all MFA factor from user in OKTA",
    "user.account.reset_password": "User password reset by OKTA admin",
    "system.org.rate_limit.violation": "User hitting the rate limit on requests in OKTA",
    "application.user_membership.add": "Adding user to application membership in OKTA",
    "user.session.impersonation.initiate": "User initiating impersonation session in OKTA",
    "user.session.start": "Detecting unknown logins using geolocation",
}


@pytest.fixture
def okta() -> Iterator[OktaDouble]:
    double = OktaDouble()
    try:
        yield double
    finally:
        double.server.shutdown()
        double.server.server_close()


def write_config(tmp: Path, okta: OktaDouble, token: str = TOKEN, web_port: int = 0) -> Path:
    init = {
        "organization": "acme",
        "api_token": token,
        "refresh_interval": 1,
        "baseURL": okta.url,
        "stateFile": str(tmp / "okta-state.json"),
        "limit": 10,
    }
    cfg = {"json_output": True, "stdout_output": {"enabled": True}, "log_level": "info",
           "rule_matching": "all", "load_plugins": ["okta"],
           # nine upstream rules ship enabled: false; Falco's rules selection turns them on
           "rules": [{"enable": {"tag": "okta"}}],
           "plugins": [{"name": "okta", "init_config": init, "open_params": ""}]}  # fmt: skip
    if web_port:  # the metrics endpoint
        cfg["webserver"] = {"enabled": True, "listen_port": web_port,
                            "listen_address": "127.0.0.1"}  # fmt: skip
    path = tmp / "lanner.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def start_lanner(cfg: Path, err: Path) -> LannerProcess:
    """``lanner run`` with the okta plugin, its alerts read as they come."""
    return LannerProcess(cfg, [RULES], err)


def test_upstream_okta_rules_fire_on_polled_events(tmp_path: Path, okta: OktaDouble) -> None:
    okta.add(*(event(kind, n) for n, kind in enumerate(SINGLE, 1)))
    quiet = [event("user.session.end", 100), event("user.authentication.auth_via_mfa", 101)]
    mfa = [event("user.authentication.auth_via_mfa", 110 + i, "carol", "FAILURE")
           for i in range(3)]  # fmt: skip
    deny = [event("user.mfa.okta_verify.deny_push", 120 + i, "dave", "FAILURE")
            for i in range(3)]  # fmt: skip
    okta.add(*quiet, *mfa[:2], *deny[:2])
    okta.throttle = 1  # the first poll is answered 429: waited for, then retried
    lanner = start_lanner(write_config(tmp_path, okta), tmp_path / "lanner.err")
    try:
        first = lanner.take(len(SINGLE))
        okta.add(mfa[2], deny[2])  # the third failure and deny, in a later poll
        later = lanner.take(2)
    finally:
        code = lanner.stop()
    assert Counter(a["rule"] for a in first) == Counter(SINGLE.values()), first
    assert sorted(a["rule"] for a in later) == [
        "Too many denied MFA Pushes in last 5min",
        "Too many failed MFA in last 5min",
    ], later
    sso = next(a for a in first if a["rule"] == SINGLE["user.authentication.sso"])
    assert sso["output_fields"]["okta.actor.name"] == "Alice"
    assert sso["output_fields"]["okta.target.app.alternateid"] == "GitHub"
    log = lanner.log()
    assert code == 0, log
    assert "rate limited (HTTP 429)" in log, log
    assert "has no effect" not in log, log  # the plugin entry is read
    assert all("SSWS" not in r for r in okta.requests)  # the token travels in a header only
    assert any("after=" in r for r in okta.requests), okta.requests  # the next-link cursor


def test_restart_neither_loses_nor_repeats(tmp_path: Path, okta: OktaDouble) -> None:
    okta.add(event("user.account.lock", 1, "erin"), event("user.lifecycle.create", 2, "erin"))
    cfg = write_config(tmp_path, okta)
    first = start_lanner(cfg, tmp_path / "first.err")
    try:
        rules = sorted(a["rule"] for a in first.take(2))
    finally:
        assert first.stop() == 0, first.log()[-3000:]
    assert rules == ["Creating a new OKTA user account", "User has been locked out in OKTA"]
    # published while Lanner was down; with since=now-30s the old ones would come again
    okta.add(event("system.api_token.create", 3, "frank"))
    second = start_lanner(cfg, tmp_path / "second.err")
    try:
        again = second.take(1)
    finally:
        assert second.stop() == 0, second.log()[-3000:]
    assert [a["rule"] for a in again] == ["Creating a new OKTA API token"], again
    state = json.loads((tmp_path / "okta-state.json").read_text())
    assert "after=3" in state["next"], state


def test_refused_token_is_logged_and_the_poller_goes_on(tmp_path: Path, okta: OktaDouble) -> None:
    okta.add(event("user.account.lock", 1))
    web = free_port()
    cfg = write_config(tmp_path, okta, token="expired", web_port=web)
    lanner = start_lanner(cfg, tmp_path / "lanner.err")
    try:
        wait_until(lambda: len(okta.requests) >= 2, timeout=30, what="a retried request")
        assert lanner.proc.poll() is None, lanner.log()[-3000:]  # still running
        metric = 'lanner_input_errors_total{kind="auth",source="okta"}'
        wait_until(lambda: metric in metrics(web),
                   timeout=30, what="the auth error metric")  # fmt: skip
    finally:
        code = lanner.stop()
    log = lanner.log()
    assert code == 0, log
    assert "HTTP 401 Invalid token provided" in log, log
    assert lanner.alerts.empty()


def test_mfa_counts_window_and_bound() -> None:
    """okta.mfa.failure.countlast[N] counts the actor's failures within N seconds up to
    the event; the history keeps at most cache_usermaxsize per actor."""
    from lanner.sources.okta.fields import MfaHistory, OktaEvent
    from lanner.sources.okta.source import okta_source

    spec = okta_source("acme")
    failure = spec.fields.fields["okta.mfa.failure.countlast"].bind(60)
    deny = spec.fields.fields["okta.mfa.deny.countlast"].bind(60)
    history = MfaHistory(expiration=600, per_user=3)
    got = []
    for i, second in enumerate((0, 30, 61, 70, 75)):
        doc = event("user.authentication.auth_via_mfa", i, "carol", "FAILURE")
        ev = OktaEvent(doc, second * 1_000_000_000, i + 1)
        history.record(ev)
        got.append((failure(ev), deny(ev)))
    # at 61 s the one at 0 s is out of the window; at 75 s only 3 are kept (30 dropped)
    assert got == [(1, None), (2, None), (2, None), (3, None), (3, None)]
