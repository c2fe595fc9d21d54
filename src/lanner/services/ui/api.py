"""The REST API under /api/v1: ingest, events, detail, export, stats and the live stream."""

from __future__ import annotations

import asyncio
import math
import time
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any, Literal

import orjson
from fastapi import (
    APIRouter,
    Depends,
    HTTPException,
    Path,
    Query,
    Request,
    Response,
    status,
)
from fastapi.responses import StreamingResponse
from pydantic import Field, TypeAdapter, ValidationError
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from lanner.exceptions import BodyError
from lanner.services.httpguard import loads
from lanner.services.ui.alerts import PRIORITIES, format_time_ns, from_alert, priority_level
from lanner.services.ui.auth import Role, current_role, require_admin
from lanner.services.ui.export import csv_chunks, json_chunks
from lanner.services.ui.live import Notifier, sse_message
from lanner.services.ui.query import INT64_MAX, Cursor, EventFilter, parse_time_param
from lanner.services.ui.schemas import (
    Count,
    EventDetail,
    EventsPage,
    FalcoAlert,
    Info,
    IngestResult,
    Problem,
    SeriesPoint,
    Stats,
)
from lanner.services.ui.store import Store

MAX_BATCH = 10_000
MAX_BODY = 4 << 20  # bytes of one POST /events (BodyLimit answers 413 beyond)
MAX_EXPORT = 1_000_000
_NICE_BUCKETS = (1, 5, 10, 30, 60, 300, 600, 1800, 3600, 10800, 21600, 43200, 86400, 604800)


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    texts = {
        400: "Invalid filter or cursor, or a body that is not JSON",
        403: "Read-only role",
        404: "No such event",
        413: f"Body larger than {MAX_BODY} bytes",
        415: "Body is not application/json",
        422: "Invalid request",
    }
    return {code: {"model": Problem, "description": texts[code]} for code in codes}


router = APIRouter(
    prefix="/api/v1",
    dependencies=[Depends(current_role)],
    responses={401: {"model": Problem, "description": "Missing or wrong credentials"}},
)

StrList = list[str]


def _bad(message: str) -> HTTPException:
    return HTTPException(status.HTTP_400_BAD_REQUEST, message)


def event_filter(
    priority: Annotated[
        str | None, Query(description="Minimum priority: this level and more severe ones")
    ] = None,
    rule: Annotated[StrList, Query(description="Rule name; repeat for any of several")] = [],  # noqa: B006
    source: Annotated[StrList, Query(description="Event source (syscall, k8s_audit, …)")] = [],  # noqa: B006
    hostname: Annotated[StrList, Query(description="Host that raised the alert")] = [],  # noqa: B006
    tag: Annotated[StrList, Query(description="Rule tag")] = [],  # noqa: B006
    container: Annotated[StrList, Query(description="container.name, else container.id")] = [],  # noqa: B006
    namespace: Annotated[StrList, Query(description="k8s.ns.name")] = [],  # noqa: B006
    pod: Annotated[StrList, Query(description="k8s.pod.name")] = [],  # noqa: B006
    since: Annotated[
        str | None, Query(description="RFC 3339, epoch ns, or a duration ago (15m, 6h, 7d)")
    ] = None,
    until: Annotated[str | None, Query(description="Exclusive upper bound, same forms")] = None,
    q: Annotated[
        str, Query(max_length=500, description="Full-text words, all must match; word* = prefix")
    ] = "",
) -> EventFilter:
    """Query parameters shared by events, export, stats and stream."""
    try:
        level = priority_level(priority) if priority else None
        now = time.time_ns()
        since_ns = parse_time_param(since, now) if since else None
        until_ns = parse_time_param(until, now) if until else None
    except (ValueError, OverflowError) as exc:
        raise _bad(str(exc)) from None
    return EventFilter(
        max_priority=level,
        rules=tuple(rule),
        sources=tuple(source),
        hostnames=tuple(hostname),
        tags=tuple(tag),
        containers=tuple(container),
        namespaces=tuple(namespace),
        pods=tuple(pod),
        since_ns=since_ns,
        until_ns=until_ns,
        query=q,
    )


Filter = Annotated[EventFilter, Depends(event_filter)]


def get_store(request: Request) -> Store:
    """The app's store."""
    store: Store = request.app.state.store
    return store


StoreDep = Annotated[Store, Depends(get_store)]
EventId = Annotated[int, Path(ge=1, le=INT64_MAX)]


def to_event(row: dict[str, Any]) -> dict[str, Any]:
    """A store row as the `Event` JSON shape."""
    alert = row["alert"]
    return {
        "id": row["id"],
        "time": format_time_ns(row["time_ns"]),
        "time_ns": row["time_ns"],
        "priority": PRIORITIES[row["priority"]],
        "rule": row["rule"],
        "source": row["source"],
        "hostname": row["hostname"],
        "container": row["container"],
        "namespace": row["namespace"],
        "pod": row["pod"],
        "output": alert.get("output") or "",
        "tags": [str(t) for t in alert.get("tags") or []],
        "output_fields": alert.get("output_fields") or {},
    }


IngestBody = FalcoAlert | Annotated[list[FalcoAlert], Field(min_length=1, max_length=MAX_BATCH)]
_INGEST = TypeAdapter(IngestBody)
_JSON_TYPES = ("application/json", "")


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON schema with its `$defs` references replaced by the definitions (an OpenAPI
    document resolves `#/...` from its own root, where there are no `$defs`)."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return walk(defs[ref.removeprefix("#/$defs/")])
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    walked: dict[str, Any] = walk(schema)
    return walked


def _rows_from_body(body: bytes, now: int) -> list[Any]:
    """Decode, validate and reduce a POST /events body (run in a worker thread: a big body
    costs CPU, and the event loop serves everyone else meanwhile)."""
    try:
        data = loads(body)
    except BodyError as exc:
        raise HTTPException(exc.status, exc.reason) from None
    if isinstance(data, list) and len(data) > MAX_BATCH:  # before validating every one
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"more than {MAX_BATCH} alerts in one request"
        )
    try:
        parsed = _INGEST.validate_python(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, errors) from None
    alerts = parsed if isinstance(parsed, list) else [parsed]
    try:
        return [from_alert(a.model_dump(exclude_unset=True), now) for a in alerts]
    except (ValueError, OverflowError) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None


@router.post(
    "/events",
    status_code=status.HTTP_201_CREATED,
    response_model=IngestResult,
    dependencies=[Depends(require_admin)],
    responses=_errors(400, 403, 413, 415, 422),
    summary="Store one Falco alert or a JSON array of them",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _inline_refs(_INGEST.json_schema())}},
        }
    },
)
async def post_events(request: Request, store: StoreDep) -> IngestResult:
    """Ingest alerts (Falco http_output, Falcosidekick webhook, `lanner run`)."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media not in _JSON_TYPES and not media.endswith("+json"):
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "send application/json")
    body = await request.body()  # at most MAX_BODY: BodyLimit read it
    rows = await run_in_threadpool(_rows_from_body, body, time.time_ns())
    ids = await run_in_threadpool(store.insert, rows)
    request.app.state.notifier.notify()
    return IngestResult(ingested=len(ids), ids=ids)


@router.get(
    "/events",
    response_model=EventsPage,
    responses=_errors(400),
    summary="Search events, newest first",
)
async def list_events(
    store: StoreDep,
    flt: Filter,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> dict[str, Any]:
    """One page of events matching the filters (keyset pagination)."""
    try:
        position = Cursor.decode(cursor) if cursor else None
    except ValueError as exc:
        raise _bad(str(exc)) from None
    page = await run_in_threadpool(store.page, flt, position, limit)
    return {
        "events": [to_event(r) for r in page.rows],
        "next_cursor": page.next_cursor.encode() if page.next_cursor else None,
    }


@router.get(
    "/events/{event_id}", response_model=EventDetail, responses=_errors(404), summary="One event"
)
async def get_event(store: StoreDep, event_id: EventId) -> dict[str, Any]:
    """Every field of one event, and the alert as received."""
    row = await run_in_threadpool(store.get, event_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such event")
    event = to_event(row)
    field_text = {
        key: "<NA>" if value is None else _field_text(value)
        for key, value in event["output_fields"].items()
    }
    alert_text = orjson.dumps(row["alert"], option=orjson.OPT_INDENT_2).decode()
    return {**event, "alert": row["alert"], "field_text": field_text, "alert_text": alert_text}


def _field_text(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


@router.delete(
    "/events/{event_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[Depends(require_admin)],
    responses=_errors(403, 404),
    summary="Delete one event",
)
async def delete_event(store: StoreDep, event_id: EventId) -> Response:
    """Remove one event from the history."""
    if not await run_in_threadpool(store.delete, event_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such event")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/export",
    summary="Export matching events as JSON or CSV",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/json": {}, "text/csv": {}}}, **_errors(400)},
)
async def export_events(
    store: StoreDep,
    flt: Filter,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
    limit: Annotated[int, Query(ge=1, le=MAX_EXPORT)] = 100_000,
) -> StreamingResponse:
    """All matching events, newest first, at most `limit`; JSON is an array of Falco alerts."""
    rows = store.iter_events(flt, limit)
    chunks = json_chunks(rows) if format == "json" else csv_chunks(rows)
    media = "application/json" if format == "json" else "text/csv; charset=utf-8"
    headers = {"Content-Disposition": f'attachment; filename="lanner-events.{format}"'}
    return StreamingResponse(iterate_in_threadpool(chunks), media_type=media, headers=headers)


def _bucket_seconds(span_ns: int, buckets: int) -> int:
    wanted = max(1, math.ceil(span_ns / 1e9 / buckets))
    for nice in _NICE_BUCKETS:
        if nice >= wanted:
            return nice
    return math.ceil(wanted / 86400) * 86400


def _counts(pairs: list[tuple[Any, ...]], limit: int | None = None) -> list[Count]:
    return [Count(value=str(v), count=int(n)) for v, n in pairs[:limit]]


@router.get(
    "/stats",
    response_model=Stats,
    responses=_errors(400),
    summary="Counts and a time series for the dashboard",
)
async def stats(
    store: StoreDep,
    flt: Filter,
    buckets: Annotated[int, Query(ge=1, le=500, description="Wanted series points")] = 60,
    top: Annotated[int, Query(ge=1, le=50)] = 10,
) -> Stats:
    """Counts by priority, rule, source, hostname and tag, top lists and a time series."""
    until = flt.until_ns if flt.until_ns is not None else time.time_ns()
    since = flt.since_ns
    if since is None:
        oldest = await run_in_threadpool(store.oldest_time_ns, flt)
        since = oldest if oldest is not None else until
    width = _bucket_seconds(max(until - since, 0), buckets)
    raw = await run_in_threadpool(store.stats, flt, width * 1_000_000_000)
    series: dict[int, SeriesPoint] = {}
    for bucket, level, n in raw["series"]:
        start = int(bucket) * width * 1_000_000_000
        point = series.setdefault(
            start, SeriesPoint(time=format_time_ns(start), total=0, by_priority={})
        )
        point.total += int(n)
        point.by_priority[PRIORITIES[int(level)]] = int(n)
    by_priority = {name: 0 for name in PRIORITIES}
    for level, n in raw["priority"]:
        by_priority[PRIORITIES[int(level)]] = int(n)
    return Stats(
        total=raw["total"],
        since=format_time_ns(flt.since_ns) if flt.since_ns is not None else None,
        until=format_time_ns(flt.until_ns) if flt.until_ns is not None else None,
        bucket_seconds=width,
        by_priority=by_priority,
        by_rule=_counts(raw["rule"]),
        by_source=_counts(raw["source"]),
        by_hostname=_counts(raw["hostname"]),
        by_tag=_counts(raw["tag"]),
        top_rules=_counts(raw["rule"], top),
        top_hosts=_counts([p for p in raw["hostname"] if p[0]], top),
        top_containers=_counts([p for p in raw["container"] if p[0]], top),
        series=[series[k] for k in sorted(series)],
    )


@router.get(
    "/stream",
    summary="Live alerts as Server-Sent Events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **_errors(400)},
)
async def stream(
    request: Request,
    store: StoreDep,
    flt: Filter,
    after: Annotated[
        int | None,
        Query(ge=0, le=INT64_MAX, description="Resume after this event id (default: now)"),
    ] = None,
) -> StreamingResponse:
    """`event: alert` messages with `Event` JSON for every new matching alert.

    Resumes after `Last-Event-ID` or `after` when given, else starts from now.
    """
    notifier: Notifier = request.app.state.notifier
    last_header = request.headers.get("last-event-id", "")
    if last_header.isdigit():
        last_id = int(last_header)
    elif after is not None:
        last_id = after
    else:
        last_id = await run_in_threadpool(store.max_id)
    poll = request.app.state.stream_poll_seconds

    async def messages() -> Any:
        nonlocal last_id
        yield sse_message(orjson.dumps({"after": last_id}).decode(), event="hello")
        idle = 0.0
        while not await request.is_disconnected():
            rows = await run_in_threadpool(store.newer, flt, last_id)
            for row in rows:
                last_id = row["id"]
                yield sse_message(orjson.dumps(to_event(row)).decode(), "alert", row["id"])
            if rows:
                idle = 0.0
                continue
            if idle >= 15:
                yield ": keep-alive\n\n"
                idle = 0.0
            started = asyncio.get_running_loop().time()
            await notifier.wait(poll)
            idle += asyncio.get_running_loop().time() - started

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(messages(), media_type="text/event-stream", headers=headers)


def _version() -> str:
    try:
        return version("lanner")
    except PackageNotFoundError:
        return "0"


@router.get("/info", response_model=Info, summary="Server settings and the caller's role")
async def info(request: Request, role: Annotated[Role, Depends(current_role)]) -> Info:
    """Version, whether auth is on, the caller's role and the retention settings."""
    retention = request.app.state.retention
    age = retention.max_age_ns
    return Info(
        version=_version(),
        role=role.value,
        auth=request.app.state.auth.enabled,
        retention_age_seconds=age // 1_000_000_000 if age else None,
        retention_count=retention.max_count,
    )
