"""Generated requests against every HTTP endpoint of a live ``lanner run``: the web server
(/healthz, /versions, /metrics, /k8s-audit) and the k8s audit webhook. Methods, paths,
headers (Content-Type, Content-Length, Content-Encoding, Authorization, Transfer-Encoding)
and bodies (bytes, JSON, audit-shaped JSON, deep nesting) come from hypothesis and go out
as raw HTTP/1.1 on loopback, so that headers a client library would refuse are sent too.
Never a 5xx but 503 with Retry-After, never a traceback, and the servers keep answering."""

from __future__ import annotations

import gzip
import json
import socket
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .helpers import LiveLanner, free_port, wait_until

WEB_TOKEN = "fuzz-web-token-0123456789"
AUDIT_TOKEN = "fuzz-audit-token-9876543210"
RULES = (
    "- rule: Every audit event\n  desc: all\n  source: k8s_audit\n"
    "  condition: ka.verb exists\n  output: id=%ka.auditid\n  priority: NOTICE\n"
)


class Servers:
    def __init__(self, proc: LiveLanner, web_port: int, audit_port: int) -> None:
        self.proc, self.web_port, self.audit_port = proc, web_port, audit_port


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    (tmp / "rules.yaml").write_text(RULES)
    web_port, audit_port = free_port(), free_port()
    (tmp / "lanner.yaml").write_text(
        yaml.safe_dump(
            {
                "rules_files": [str(tmp / "rules.yaml")],
                "json_output": True,
                "watch_config_files": False,
                "stdout_output": {"enabled": False},
                "file_output": {"enabled": True, "filename": str(tmp / "alerts.jsonl")},
                "load_plugins": ["k8saudit"],
                "plugins": [
                    {
                        "name": "k8saudit",
                        "open_params": f"http://127.0.0.1:{audit_port}/k8s-audit",
                        "init_config": {"authToken": AUDIT_TOKEN},
                    }
                ],
                "webserver": {
                    "enabled": True,
                    "listen_port": web_port,
                    "auth_token": WEB_TOKEN,
                },
            }
        )
    )
    proc = LiveLanner("-c", str(tmp / "lanner.yaml"))
    try:
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{web_port}/healthz").is_success)
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{audit_port}/healthz").is_success)
        yield Servers(proc, web_port, audit_port)
    finally:
        proc.kill()


def audit_event(audit_id: str, verb: object) -> dict[str, object]:
    return {
        "kind": "Event", "auditID": audit_id, "stage": "ResponseComplete", "verb": verb,
        "user": {"username": "fuzz"}, "objectRef": {"resource": "pods"},
        "stageTimestamp": "2026-11-25T10:00:00.000000Z",
    }  # fmt: skip


def dumps(value: object) -> bytes:
    """JSON as the stdlib writes it: big integers, and text with lone surrogates escaped."""
    return json.dumps(value).encode()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)
audit_like = st.builds(
    lambda ids, verb, wrap: dumps(
        {"kind": "EventList", "items": [audit_event(i, verb) for i in ids]}
        if wrap
        else [audit_event(i, verb) for i in ids]
    ),
    st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=5),
    json_values,
    st.booleans(),
)
deep = st.integers(1, 5000).map(lambda n: b"[" * n + b"]" * n)
bodies = st.one_of(
    st.binary(max_size=2048),
    json_values.map(dumps),
    audit_like,
    deep,
    st.just(b'{"kind": "Event", "auditID": "\xed\xa0\x80"}'),  # a lone surrogate as UTF-8
)
header_text = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40
)  # what fits in one header line
content_types = (
    st.sampled_from(
        ["application/json", "application/json; charset=utf-8", "text/plain", "", "*/*"]
    )
    | header_text
)
paths = st.sampled_from(
    ["/k8s-audit", "/healthz", "/readyz", "/versions", "/metrics", "/", "/k8s-audit/x"]
) | header_text.map(lambda t: "/" + t.replace(" ", "%20").replace("?", ""))
methods = st.sampled_from(["GET", "POST", "POST", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"])


@st.composite
def requests(draw: st.DrawFn, token: str, focused: bool = False) -> tuple[bytes, bool]:
    """A raw request and whether it is complete (its Content-Length fits its body).

    ``focused``: an authorized JSON POST to /k8s-audit, so that every example reaches the
    body's decoding and parsing; only the body and its framing vary."""
    method, path = ("POST", "/k8s-audit") if focused else (draw(methods), draw(paths))
    body = draw(bodies)
    if draw(st.booleans()):
        body = gzip.compress(body)
        encoding = "gzip"
    elif focused:
        encoding = ""
    else:
        encoding = draw(st.sampled_from(["", "", "identity", "br"]) | header_text)
    auth = (
        f"Bearer {token}"
        if focused
        else draw(
            st.sampled_from([f"Bearer {token}", f"Bearer {token}", "", "Bearer", "Basic x"])
            | header_text
        )
    )
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    ctype = "application/json" if focused else draw(content_types)
    if ctype:
        lines.append(f"Content-Type: {ctype}")
    if encoding:
        lines.append(f"Content-Encoding: {encoding}")
    if auth:
        lines.append(f"Authorization: {auth}")
    complete = True
    framing = draw(
        st.sampled_from(
            ["length", "chunked"] if focused else ["length", "length", "chunked", "weird-length"]
        )
    )
    if framing == "length":
        lines.append(f"Content-Length: {len(body)}")
        payload = body
    elif framing == "chunked":
        lines.append("Transfer-Encoding: chunked")
        payload = (b"%x\r\n" % len(body) + body + b"\r\n" if body else b"") + b"0\r\n\r\n"
    else:
        length = draw(
            st.sampled_from(["abc", "-1", "1e3", "0x10", " ", "99999999999999999999"]) | header_text
        )
        lines.append(f"Content-Length: {length}")
        payload = body
        stripped = length.strip()
        complete = not (stripped.isdigit() and int(stripped) > len(body))
    head = ("\r\n".join(lines) + "\r\n\r\n").encode()
    return head + payload, complete


def exchange(port: int, request: bytes, complete: bool) -> bytes:
    """Send a request and read until the server closes (``Connection: close``). A request
    whose body is cut short gets 2 s, then the client gives up, as a real one would."""
    with socket.create_connection(("127.0.0.1", port), timeout=30 if complete else 2) as sock:
        sock.sendall(request)
        parts = []
        try:
            while chunk := sock.recv(65536):
                parts.append(chunk)
        except TimeoutError:
            assert not complete, request[:300]
    return b"".join(parts)


STATUSES: dict[str, Counter[int]] = {"web": Counter(), "webhook": Counter()}


def check(servers: Servers, which: str, request: bytes, complete: bool) -> None:
    port = servers.web_port if which == "web" else servers.audit_port
    answer = exchange(port, request, complete)
    assert servers.proc.proc.poll() is None, "lanner run died"
    if not answer:
        # a request cut short (declared longer than what was sent) may be dropped
        assert not complete, request[:300]
        return
    status_line, _, rest = answer.partition(b"\r\n")
    status = int(status_line.split(b" ", 2)[1])
    STATUSES[which][status] += 1
    assert status < 500 or (status == 503 and b"retry-after" in rest.lower()), (
        request[:300],
        answer[:500],
    )
    assert b"Traceback" not in answer


FUZZ = settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(req=requests(WEB_TOKEN))
def test_web_server_survives_generated_requests(servers: Servers, req: tuple[bytes, bool]) -> None:
    check(servers, "web", *req)


@FUZZ
@given(req=requests(WEB_TOKEN, focused=True))
def test_web_audit_endpoint_survives_generated_bodies(
    servers: Servers, req: tuple[bytes, bool]
) -> None:
    check(servers, "web", *req)


@FUZZ
@given(req=requests(AUDIT_TOKEN))
def test_audit_webhook_survives_generated_requests(
    servers: Servers, req: tuple[bytes, bool]
) -> None:
    check(servers, "webhook", *req)


@FUZZ
@given(req=requests(AUDIT_TOKEN, focused=True))
def test_audit_webhook_survives_generated_bodies(servers: Servers, req: tuple[bytes, bool]) -> None:
    check(servers, "webhook", *req)


def test_servers_still_answer_after_the_fuzz(servers: Servers) -> None:
    # the generated requests reached past the checks: refused ones, and accepted events
    for which in ("web", "webhook"):
        seen = STATUSES[which]
        assert seen[200] and seen[400] and seen[401], (which, seen)
    web = f"http://127.0.0.1:{servers.web_port}"
    hook = f"http://127.0.0.1:{servers.audit_port}/k8s-audit"
    assert httpx.get(web + "/healthz").status_code == 200
    headers = {"Authorization": f"Bearer {AUDIT_TOKEN}", "Content-Type": "application/json"}
    resp = httpx.post(hook, content=orjson.dumps(audit_event("after-fuzz", "get")), headers=headers)
    assert resp.status_code == 200 and resp.json()["accepted"] == 1
    assert servers.proc.proc.poll() is None
    err = servers.proc.err.text()
    assert "Traceback" not in err, err[max(0, err.find("Traceback") - 300) :][:3000]
