"""falcosidekick-ui's API on `lanner ui`: Falcosidekick's `webui` output and that UI's own
frontend talk to Lanner as they would to falcosidekick-ui.

Paths and answer shapes follow falcosidekick-ui's `main.go`, `internal/api` and
`internal/models` (what its frontend's `http.js` requests):

- `POST /api/v1/`, `/api/v1/events/add`: `{"event": {...}, "outputs": [...]}`, answers `"{}"`;
- `GET /api/v1/events/count`: `{"statistics": {"all": N}}`;
- `GET /api/v1/events/count/{priority|rule|source|tags|hostname}`:
  `{"results": {value: n}, "statistics": {"all": N, "distincts": D}}`;
- `GET /api/v1/events/search`: `{"results": [event, ...], "statistics": {"all": N,
  "returned": R}}`, newest first, `page` (from 1) and `limit` (default 100);
- filters as its frontend sends them: comma-separated `priority` (exact levels), `rule`,
  `source`, `hostname`, `tags`; `filter` (words, each matched as a prefix); `since` (`15m`,
  `2h`, `7d`, or seconds); "null" means unset;
- `GET /api/v1/outputs` (the outputs of the last event posted), `/configuration` and
  `/config`, `/version`, `/healthz`; `POST /api/v1/auth` and `/authenticate`.

Unlike falcosidekick-ui, posting needs credentials too (it skips them on POST): give
Falcosidekick `webui.url: http://NAME:PASSWORD@lanner-ui:2802`; Go's HTTP client sends the
URL's user and password as basic auth.
"""

from __future__ import annotations

import re
import time
import uuid
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from lanner.exceptions import BodyError
from lanner.services.httpguard import loads
from lanner.services.ui.alerts import PRIORITIES, from_alert, priority_level
from lanner.services.ui.auth import Role, current_role, require_admin
from lanner.services.ui.query import Cursor, EventFilter
from lanner.services.ui.schemas import FalcoAlert
from lanner.services.ui.store import Store

router = APIRouter(prefix="/api/v1", include_in_schema=False)
GROUPS = ("priority", "rule", "source", "tags", "hostname")
_UNITS = {
    "s": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
    "w": 604800, "week": 604800, "weeks": 604800,
    "M": 2592000, "month": 2592000, "months": 2592000,
    "y": 31536000, "year": 31536000, "years": 31536000,
}  # fmt: skip
_SINCE = re.compile(r"^(\d+)\s*([A-Za-z]*)$")
_WORD = re.compile(r"[\w.-]+")


class WebuiPayload(BaseModel):
    """What Falcosidekick's webui output posts."""

    event: FalcoAlert
    outputs: list[str]


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _list(value: str | None) -> tuple[str, ...]:
    if value in (None, "", "null"):
        return ()
    return tuple(v for v in str(value).split(",") if v)


def since_seconds(text: str | None) -> int:
    """falcosidekick-ui's `since`: a number and a unit (15m, 2h, 7d), or seconds; 0 = all."""
    if text in (None, "", "null"):
        return 0
    m = _SINCE.match(str(text).strip())
    if m is None or (m.group(2) and m.group(2) not in _UNITS):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"wrong since {text!r}")
    return int(m.group(1)) * _UNITS.get(m.group(2) or "s", 1)


def sidekick_filter(
    priority: str | None = None,
    rule: str | None = None,
    source: str | None = None,
    hostname: str | None = None,
    tags: str | None = None,
    filter: Annotated[str | None, Query(max_length=500)] = None,
    since: str | None = None,
) -> EventFilter:
    """The query parameters falcosidekick-ui's frontend sends, as Lanner's filter."""
    try:
        levels = tuple(priority_level(p) for p in _list(priority))
    except ValueError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    seconds = since_seconds(since)
    words = [] if filter in (None, "null") else _WORD.findall(filter or "")
    return EventFilter(
        priorities=levels,
        rules=_list(rule),
        sources=_list(source),
        hostnames=_list(hostname),
        tags=_list(tags),
        since_ns=time.time_ns() - seconds * 1_000_000_000 if seconds else None,
        query=" ".join(f"{w}*" for w in words),
    )


SidekickFilter = Annotated[EventFilter, Depends(sidekick_filter)]


def _event(row: dict[str, Any]) -> dict[str, Any]:
    """A stored alert in falcosidekick-ui's Event shape."""
    alert = row["alert"]
    uid = alert.get("uuid")
    if not isinstance(uid, str) or not uid:
        uid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"lanner-ui:{row['id']}"))
    return {
        "uuid": uid,
        "output": alert.get("output") or "",
        "priority": PRIORITIES[row["priority"]],
        "rule": row["rule"],
        "time": alert.get("time") or "",
        "source": row["source"],
        "output_fields": alert.get("output_fields") or {},
        "hostname": row["hostname"],
        "tags": [str(t) for t in alert.get("tags") or []],
    }


async def _add(request: Request) -> JSONResponse:
    body = await request.body()
    try:
        payload = WebuiPayload.model_validate(loads(body))
    except BodyError as exc:
        raise HTTPException(exc.status, exc.reason) from None
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, errors) from None
    try:
        row = from_alert(payload.event.model_dump(exclude_unset=True), time.time_ns())
    except (ValueError, OverflowError) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    await run_in_threadpool(_store(request).insert, [row])
    request.app.state.sidekick_outputs = list(payload.outputs)
    request.app.state.notifier.notify()
    return JSONResponse("{}")  # falcosidekick-ui answers the JSON string "{}"


router.add_api_route("/", _add, methods=["POST"], dependencies=[Depends(require_admin)])
router.add_api_route("/events/add", _add, methods=["POST"], dependencies=[Depends(require_admin)])


@router.get("/events/count", dependencies=[Depends(current_role)])
async def count(request: Request, flt: SidekickFilter) -> dict[str, Any]:
    """{"statistics": {"all": N}}."""
    return {"statistics": {"all": await run_in_threadpool(_store(request).count, flt)}}


@router.get("/events/count/{group}", dependencies=[Depends(current_role)])
async def count_by(request: Request, group: str, flt: SidekickFilter) -> dict[str, Any]:
    """Counts by one of priority, rule, source, tags, hostname."""
    if group not in GROUPS:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "wrong Group By field")
    key = {"tags": "tag"}.get(group, group)
    pairs = await run_in_threadpool(_store(request).counts, flt, key)
    results: dict[str, int] = {}
    for value, n in pairs:
        name = PRIORITIES[int(value)] if group == "priority" else str(value)
        if name:
            results[name] = results.get(name, 0) + int(n)
    stats: dict[str, int] = {"all": sum(results.values())}
    if results:
        stats["distincts"] = len(results)
    return {"results": results, "statistics": stats}


@router.get("/events/search", dependencies=[Depends(current_role)])
async def search(
    request: Request,
    flt: SidekickFilter,
    page: str | None = None,
    limit: str | None = None,
) -> dict[str, Any]:
    """A page of events, newest first (`page` from 1, `limit` default 100, at most 1000)."""
    size = _int(limit, 100)
    number = max(_int(page, 1), 1)
    if size <= 0:
        size = 100
    size = min(size, 1000)
    store = _store(request)
    cursor: Cursor | None = None
    rows: list[dict[str, Any]] = []
    for _ in range(number):  # keyset pages up to the one asked for
        result = await run_in_threadpool(store.page, flt, cursor, size)
        rows = result.rows
        cursor = result.next_cursor
        if cursor is None:
            if _ < number - 1:
                rows = []
            break
    total = await run_in_threadpool(store.count, flt)
    stats: dict[str, int] = {"all": total}
    if rows:
        stats["returned"] = len(rows)
    return {"results": [_event(r) for r in rows], "statistics": stats}


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text not in (None, "", "null") else default
    except ValueError:
        return default


@router.get("/outputs", dependencies=[Depends(current_role)])
async def outputs(request: Request) -> Any:
    """The outputs named by the last webui post (null before any, as falcosidekick-ui)."""
    return getattr(request.app.state, "sidekick_outputs", None)


async def configuration(request: Request) -> dict[str, Any]:
    """falcosidekick-ui's configuration keys, with Lanner's values."""
    auth = request.app.state.auth
    first = next(iter(getattr(auth, "users", {}) or {}), "")
    settings = getattr(request.app.state, "listen", ("", 0))
    return {
        "listen-address": settings[0],
        "listen-port": settings[1],
        "redis-server": "",
        "redis-username": "",
        "redis-password": "",
        "dev-mode": False,
        "disable-auth": not auth.enabled,
        "log-level": getattr(request.app.state, "log_level", "info"),
        "ttl": int((request.app.state.retention.max_age_ns or 0) // 1_000_000_000),
        "credentials": f"{first}:*******",
    }


_READ = [Depends(current_role)]
for _path in ("/configuration", "/config"):
    router.add_api_route(_path, configuration, methods=["GET"], dependencies=_READ)


@router.get("/version", dependencies=[Depends(current_role)])
async def version_info() -> dict[str, str]:
    """falcosidekick-ui's VersionInfo keys, for Lanner."""
    try:
        release = version("lanner")
    except PackageNotFoundError:
        release = "0"
    import platform

    return {
        "GitVersion": release,
        "GitCommit": "",
        "GitTreeState": "",
        "BuildDate": "",
        "GoVersion": "",
        "Compiler": f"python {platform.python_version()}",
        "Platform": f"{platform.system().lower()}/{platform.machine()}",
    }


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """{"status": "ok"}, without credentials (as falcosidekick-ui)."""
    return {"status": "ok"}


async def authenticate(request: Request) -> JSONResponse:
    """ "authorized" (200) for good credentials, "unauthorized" (401) otherwise."""
    try:
        role = current_role(request, *await _credentials(request))
    except HTTPException:
        return JSONResponse("unauthorized", status_code=401)
    return JSONResponse("authorized" if isinstance(role, Role) else "unauthorized")


async def _credentials(request: Request) -> tuple[Any, Any, None]:
    from fastapi.security import HTTPBasic, HTTPBearer

    basic = await HTTPBasic(auto_error=False)(request)
    bearer = await HTTPBearer(auto_error=False)(request)
    return basic, bearer, None


for _path in ("/auth", "/authenticate"):
    router.add_api_route(_path, authenticate, methods=["POST"])
