"""`POST /`: read, validate, enrich and queue alerts, as one synchronous step.

Falco's http_output sends one alert JSON object per POST: that is the fast path, answered
`{"status":"accepted","outputs":[...]}` once the alert is queued (and spooled when a spool
is set), before any output delivers it. As an extension, one POST may carry a batch: a JSON
array of alerts, or NDJSON (one alert per line; `Content-Type: application/x-ndjson`, or any
body that is not one JSON document but whose lines are). A batch is all or nothing: one
invalid alert refuses the whole POST with 400 naming its index, so that a client can resend
it without duplicates; an accepted batch is answered `{"status":"accepted","count":N,
"outputs":[...]}`, `outputs` naming every output that queued at least one of its alerts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import orjson

from lanner.exceptions import AlertError, SpoolError
from lanner.services.httpguard import MAX_DEPTH, depth_problem

from .alert import Alert, Priority
from .delivery import Dispatcher
from .enrich import Enricher
from .stats import Stats

MAX_BODY = 1 << 20  # one alert is a few KiB; a batch of a few hundred fits
MAX_BATCH = 10_000  # alerts in one POST
NDJSON_TYPES = (b"application/x-ndjson", b"application/jsonl", b"application/json-lines")
_PLAIN_JSON = frozenset((b"", b"application/json"))  # what Falco sends, and no header

Reply = Callable[[int, bytes], None]  # (HTTP status, JSON answer)

# Why a request was refused, by HTTP status, in Falcosidekick's words where it has them
# (`error:` tag of its `inputs.requests.rejected` StatsD counter): `invalidjson` for a body
# that is not a valid alert, `nobody` for a request that is not a POST; Lanner's own:
# `toolarge` (413: body over MAX_BODY, batch over MAX_BATCH), `spool` (503: not stored).
REASONS = {400: "invalidjson", 405: "nobody", 413: "toolarge", 503: "spool"}


def _decode_batch(body: bytes, ndjson: bool) -> Any:
    """The decoded body: one object, or a list for an array or NDJSON; raises JSONDecodeError."""
    if not ndjson:
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            if b"\n" not in body.strip():
                raise
    lines = [line for line in body.split(b"\n") if line.strip()]
    if not lines:
        raise orjson.JSONDecodeError("empty NDJSON body", body.decode(errors="replace"), 0)
    out = []
    for number, line in enumerate(lines, 1):
        try:
            out.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            raise orjson.JSONDecodeError(f"line {number}: {exc}", exc.doc, exc.pos) from None
    return out


class Ingest:
    """Turns a request body into queued alerts and an HTTP answer `(status, JSON bytes)`."""

    def __init__(self, dispatcher: Dispatcher, enricher: Enricher, stats: Stats) -> None:
        self.dispatcher = dispatcher
        self.enricher = enricher
        self.stats = stats
        self._answers: dict[tuple[str, ...], bytes] = {}

    def refuse(self, status: int, message: str, count: int = 1) -> tuple[int, bytes]:
        """Count `count` refused alerts and answer `{"error": message}` with `status`."""
        return self._refuse(status, message, count)

    def _refuse(
        self, status: int, message: str, count: int = 1, reason: str = ""
    ) -> tuple[int, bytes]:
        reason = reason or REASONS.get(status, "invalidjson")
        self.stats.input("rejected" if status != 503 else "failed", count, reason=reason)
        return status, orjson.dumps({"error": message})

    def too_large(self) -> tuple[int, bytes]:
        """The answer to a body over MAX_BODY."""
        return self._refuse(413, f"body larger than {MAX_BODY} bytes")

    def handle(self, body: bytes, content_type: bytes = b"") -> tuple[int, bytes]:
        """Queue the alert(s) in `body`; never raises for a bad body."""
        checked = self._check(body, content_type)
        if not isinstance(checked, Alert):
            return checked
        try:
            targets = self.dispatcher.submit(checked)
        except SpoolError as exc:
            return self._refuse(503, f"spool unavailable: {exc}")
        return self._accepted(targets, checked.priority)

    def handle_soon(
        self, body: bytes, content_type: bytes, reply: Reply
    ) -> tuple[int, bytes] | None:
        """As `handle`, except that a single alert's spool write shares one transaction with
        the others of this event-loop turn (`Dispatcher.submit_grouped`): then None is
        returned, and the answer is given through `reply(status, answer)` once stored
        (never before this returns; in the order submitted). Any other answer (a refusal,
        a batch's, an alert queued without a spool write) is returned. Never raises for a
        bad body."""
        checked = self._check(body, content_type)
        if not isinstance(checked, Alert):
            return checked
        priority = checked.priority

        def stored(result: list[str] | SpoolError) -> None:
            if isinstance(result, SpoolError):
                reply(*self._refuse(503, f"spool unavailable: {result}"))
            else:
                reply(*self._accepted(result, priority))

        targets = self.dispatcher.submit_grouped(checked, stored)
        return None if targets is None else self._accepted(targets, priority)

    def _check(self, body: bytes, content_type: bytes) -> Alert | tuple[int, bytes]:
        """The one enriched alert in `body`, or the answer to give (a refusal, or a batch's
        answer once queued)."""
        ndjson = (
            content_type not in _PLAIN_JSON
            and content_type.split(b";", 1)[0].strip().lower() in NDJSON_TYPES
        )
        try:
            data = _decode_batch(body, ndjson)
        except orjson.JSONDecodeError as exc:
            return self._refuse(400, f"invalid JSON: {exc}")
        if isinstance(data, list):
            return self._batch(data)
        try:
            alert = _checked(data)
        except AlertError as exc:
            return self._refuse(400, str(exc))
        self.enricher.apply(alert)
        return alert

    def _accepted(self, targets: list[str], priority: Priority) -> tuple[int, bytes]:
        """Count one accepted alert; the answer naming `targets` (cached per target list)."""
        self.stats.input("accepted", 1, priority)
        key = tuple(targets)
        answer = self._answers.get(key)
        if answer is None:
            answer = orjson.dumps({"status": "accepted", "outputs": targets})
            if len(self._answers) < 256:
                self._answers[key] = answer
        return 200, answer

    def _batch(self, items: list[Any]) -> tuple[int, bytes]:
        if not items:
            return self._refuse(400, "empty batch")
        if len(items) > MAX_BATCH:
            message = f"more than {MAX_BATCH} alerts in one request"
            return self._refuse(400, message, len(items), "toolarge")
        alerts: list[Alert] = []
        for index, item in enumerate(items):
            try:
                alerts.append(_checked(item))
            except AlertError as exc:
                return self._refuse(400, f"alert {index}: {exc}", len(items))
        for alert in alerts:
            self.enricher.apply(alert)
        try:
            targets = self.dispatcher.submit_many(alerts)
        except SpoolError as exc:
            return self._refuse(503, f"spool unavailable: {exc}", len(alerts))
        for priority, count in Counter(a.priority for a in alerts).items():
            self.stats.input("accepted", count, priority)
        return 200, orjson.dumps({"status": "accepted", "count": len(alerts), "outputs": targets})


# The keys the contract checks: an alert that passes nests at most 3 levels in them
# (output_fields -> a list -> strings), so only its other keys can go deeper.
_CONTRACT_KEYS = frozenset(
    ("rule", "priority", "time", "output", "source", "hostname", "tags", "output_fields")
)


def _checked(data: Any) -> Alert:
    """An alert that follows the contract and nests no deeper than MAX_DEPTH (outputs
    re-encode alerts, and a JSON encoder has a depth limit: refuse here, not drop later).
    A value nested too deep is the reason given even when the contract fails too."""
    try:
        alert = Alert.from_dict(data)
    except AlertError:
        problem = depth_problem(data, MAX_DEPTH)
        if problem:
            raise AlertError(problem) from None
        raise
    if data.keys() <= _CONTRACT_KEYS:  # Falco's alerts: no other key
        return alert
    for key, value in data.items():
        if key not in _CONTRACT_KEYS and isinstance(value, dict | list):
            problem = depth_problem(data, MAX_DEPTH)
            if problem:
                raise AlertError(problem)
            break
    return alert
