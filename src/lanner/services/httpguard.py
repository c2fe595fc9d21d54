"""What the HTTP services accept as a request body, decided before an app sees it.

A request needs a well-formed Content-Length (when it has one) and a body no larger than
the service's limit; a JSON body must decode strictly (no lone surrogates, no NaN) and nest
no deeper than `MAX_DEPTH`. Anything else is answered 400 or 413 with a reason: a bad
request never reaches a handler, never costs more than the limit in memory, and never
becomes a 500.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import orjson

from lanner.exceptions import BodyError

MAX_DEPTH = 32  # a Falco alert nests 3 levels (alert, output_fields, a list of strings)
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def declared_length(headers: Iterable[tuple[bytes, bytes]]) -> int | None:
    """The Content-Length of an ASGI request, None without one; BodyError(400) when it is
    not a number of bytes or when two copies disagree."""
    values = {value.strip() for name, value in headers if name.lower() == b"content-length"}
    if not values:
        return None
    if len(values) > 1:
        raise BodyError(400, "conflicting Content-Length headers")
    [value] = values
    if not value.isdigit():  # ASCII digits only: no sign, no spaces, no '1e3'
        shown = value[:40].decode("latin-1")
        raise BodyError(400, f"Content-Length {shown!r} is not a number of bytes")
    return int(value)


async def read_body(receive: Receive, limit: int, declared: int | None = None) -> bytes | None:
    """The whole body, reading no more than `limit` bytes; BodyError(413) beyond it, None
    when the client went away before the end."""
    if declared is not None and declared > limit:
        raise BodyError(413, f"body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyError(413, f"body larger than {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def depth_problem(value: Any, max_depth: int = MAX_DEPTH) -> str | None:
    """Why a decoded JSON value nests too deep (naming where), or None."""
    # (node, depth, where): `where` is a linked list (parent, key), made into text on failure
    stack: list[tuple[Any, int, Any]] = [(value, 1, None)]
    while stack:
        node, depth, where = stack.pop()
        if isinstance(node, dict):
            items: Iterable[tuple[Any, Any]] = node.items()
        elif isinstance(node, list):
            items = enumerate(node)
        else:
            continue
        if depth > max_depth:
            return f"JSON nested deeper than {max_depth} levels (at {_path(where)})"
        stack.extend((child, depth + 1, (where, key)) for key, child in items)
    return None


def _path(where: Any) -> str:
    keys: list[str] = []
    while where is not None:
        where, key = where
        keys.append(f"[{key}]" if isinstance(key, int) else f".{key}")
    text = "$" + "".join(reversed(keys))
    return text if len(text) <= 80 else text[:77] + "..."


def loads(body: bytes, max_depth: int = MAX_DEPTH) -> Any:
    """Decode a JSON body strictly and check its nesting; BodyError(400) with the reason."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BodyError(400, f"invalid JSON: {exc}") from None
    problem = depth_problem(value, max_depth)
    if problem:
        raise BodyError(400, problem)
    return value


async def send_json(send: Send, status: int, payload: Any) -> None:
    """Answer a request with a JSON body (and nothing else)."""
    body = orjson.dumps(payload)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """ASGI middleware: checks Content-Length on every request and reads the body of
    POST/PUT/PATCH/DELETE up to `limit` bytes, answering 400/413 itself (`{key: reason}`);
    the app then receives the body already read, in one message."""

    def __init__(self, app: Any, limit: int, key: str = "error") -> None:
        self.app = app
        self.limit = limit
        self.key = key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            declared = declared_length(scope["headers"])
            if scope["method"] not in BODY_METHODS:
                await self.app(scope, receive, send)
                return
            body = await read_body(receive, self.limit, declared)
        except BodyError as exc:
            await send_json(send, exc.status, {self.key: exc.reason})
            return
        if body is None:
            return  # the client left: nothing to answer
        await self.app(scope, _replay(body, receive), send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive callable giving `body` once, then the real channel (for disconnects)."""
    pending = [body]

    async def replayed() -> Message:
        if pending:
            return {"type": "http.request", "body": pending.pop(), "more_body": False}
        return await receive()

    return replayed
