"""Generated HTTP requests for the services' fuzz tests: methods, paths and query strings,
headers (well-formed or not: Content-Length, Content-Type, Authorization) and bodies (JSON
of any shape and depth, mutated alerts, strings with lone surrogates, raw bytes), sent as
raw bytes over a loopback socket so that nothing in a client library tidies them up."""

from __future__ import annotations

import json
import socket
import urllib.parse
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~!#$%&'*+^`|"
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
ALERT: dict[str, Any] = {
    "rule": "Read sensitive file untrusted",
    "priority": "Warning",
    "time": "2024-01-01T00:00:00.123456789Z",
    "output": "Sensitive file opened (file=/etc/shadow)",
    "source": "syscall",
    "hostname": "node-1",
    "tags": ["filesystem"],
    "output_fields": {"fd.name": "/etc/shadow", "proc.name": "cat", "k8s.pod.name": "web-1",
                      "k8s.ns.name": "default", "evt.time": 1704067200123456789},
}  # fmt: skip

json_leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_values = st.recursive(
    json_leaves,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=30,
)


@st.composite
def deep_json(draw: st.DrawFn) -> str:
    """Arrays/objects nested 1..1500 levels (beyond every service's limit, and orjson's)."""
    depth = draw(st.integers(min_value=1, max_value=1500))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"x":', "}")]))
    inner = json.dumps(ALERT) if opener == "[" else "1"
    return opener * depth + inner + closer * depth


@st.composite
def mutated_alert(draw: st.DrawFn) -> str:
    alert = dict(ALERT)
    for key, value in draw(
        st.dictionaries(
            st.sampled_from([*ALERT, "extra"]) | st.text(max_size=8), json_values, max_size=4
        )
    ).items():
        alert[key] = value
    for key in draw(st.lists(st.sampled_from(list(ALERT)), max_size=3)):
        alert.pop(key, None)
    text = json.dumps(alert)
    if draw(st.booleans()):
        text = "[" + ",".join([text] * draw(st.integers(min_value=1, max_value=5))) + "]"
    return text


surrogates = st.sampled_from(['"\\ud800"', '"\\udfff x"', '"a\\ud83d"', '"\\u0000"'])
TIME = ALERT["time"]
bodies = st.one_of(
    st.just(json.dumps(ALERT).encode()),
    st.just(b""),
    json_values.map(lambda v: json.dumps(v).encode()),
    mutated_alert().map(str.encode),
    deep_json().map(str.encode),
    surrogates.map(lambda s: f'{{"rule": {s}, "priority": "Warning", "time": "{TIME}"}}'.encode()),
    st.binary(max_size=300),
    st.just(b'{"rule": "r", "priority": "Warning", "x": NaN}'),
    st.just(b"\n".join([json.dumps(ALERT).encode()] * 3)),
)  # fmt: skip
header_names = st.text(TOKEN_CHARS, min_size=1, max_size=20)
header_values = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40).map(
    str.strip
)


@dataclass
class RawRequest:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    declared_too_long: bool  # Content-Length above the body: the server waits, then gives up

    def encode(self) -> bytes:
        head = f"{self.method} {self.target} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in self.headers)
        return (head + "Connection: close\r\n\r\n").encode("latin-1") + self.body


def requests(
    method: str, path: str, others: list[str], token: str, auth_header: str = "Authorization"
) -> Any:
    """A strategy of RawRequest aimed at `method path` (most of the time; else another
    method, one of `others` paths or a made-up one), with the right token most of the time."""

    def mostly(draw: st.DrawFn, usual: Any, other: Any) -> Any:
        """`usual` 4 times in 5: the request gets past framing and auth to the handler,
        where the body is what varies; else something hostile."""
        return usual if draw(st.integers(0, 4)) else draw(other)

    @st.composite
    def build(draw: st.DrawFn) -> RawRequest:
        verb = mostly(draw, method, st.sampled_from(METHODS))
        where = mostly(
            draw, path,
            st.sampled_from(others) | st.text(TOKEN_CHARS, max_size=20).map("/".__add__),
        )  # fmt: skip
        query = draw(st.lists(st.tuples(st.text(max_size=10), st.text(max_size=20)), max_size=3))
        if draw(st.booleans()):
            query.append(("access_token", draw(st.sampled_from([token, "wrong", ""]))))
        target = where + ("?" + urllib.parse.urlencode(query) if query else "")
        body = draw(bodies)
        headers: list[tuple[str, str]] = []
        auth = mostly(
            draw, f"Bearer {token}",
            st.sampled_from(["Bearer nope", "Basic Og==", ""]) | header_values,
        )  # fmt: skip
        if auth:
            headers.append((auth_header, auth))
        ctype = mostly(
            draw, "application/json",
            st.sampled_from(["application/x-ndjson", "text/plain", ""]) | header_values,
        )  # fmt: skip
        if ctype:
            headers.append(("Content-Type", ctype))
        length = mostly(
            draw, "exact",
            st.sampled_from(["none", "garbage", "short", "long", "huge", "twice"]),
        )  # fmt: skip
        too_long = False
        if length in ("exact", "twice"):
            headers.append(("Content-Length", str(len(body))))
            if length == "twice":
                headers.append(("Content-Length", str(len(body) + 1)))
        elif length == "garbage":
            garbage = ["abc", "-1", "1e3", " ", "0x10", "1 2", "+5"]
            headers.append(("Content-Length", draw(st.sampled_from(garbage))))
        elif length == "short" and body:
            headers.append(("Content-Length", str(len(body) - 1)))
        elif length == "long":
            headers.append(("Content-Length", str(len(body) + 10)))
            too_long = True
        elif length == "huge":
            headers.append(("Content-Length", str(10**12)))
            too_long = True
        for name, value in draw(st.lists(st.tuples(header_names, header_values), max_size=3)):
            headers.append((name, value))
        return RawRequest(verb, target, headers, body, too_long)

    return build()


def send(port: int, request: RawRequest, timeout: float = 10.0) -> int | None:
    """Send the raw request; the status code of the answer, None when the server closed the
    connection without answering (acceptable only when the request declared more body than
    it sent, or when it is not valid HTTP/1.1)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request.encode())
        if request.declared_too_long:
            # the server would wait for the rest: end the stream (a server closes on EOF,
            # so this is done only here, where no answer is expected)
            s.shutdown(socket.SHUT_WR)
        data = b""
        try:
            while b"\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            return None
    if not data:
        return None
    status_line = data.split(b"\r\n", 1)[0].split()
    return int(status_line[1])


def fuzz(port: int, endpoints: list[tuple[str, str, int]], token: str, **kwargs: Any) -> list[int]:
    """For each `(method, path, examples)`, send that many generated requests aimed at it;
    fail on any 5xx or a request left unanswered for no reason. Returns the statuses seen
    (to check that the requests reached the handlers)."""
    seen: list[int] = []
    paths = [path for _, path, _ in endpoints]
    for method, path, examples in endpoints:

        @given(request=requests(method, path, paths, token, **kwargs))
        @settings(
            max_examples=examples, deadline=None, database=None,
            suppress_health_check=list(HealthCheck),
        )  # fmt: skip
        def check(request: RawRequest) -> None:
            status = send(port, request)
            if status is None:
                assert request.declared_too_long or _not_http(request), request
                return
            seen.append(status)
            assert status < 500, (status, request)

        check()
    return seen


def _not_http(request: RawRequest) -> bool:
    """True when the server may drop the request as not HTTP/1.1 (no answer at all)."""
    names = [name.lower() for name, _ in request.headers]
    return names.count("content-length") > 1 or any(
        not value.isdigit() for name, value in request.headers if name.lower() == "content-length"
    )
