"""The single-page UI in headless Chromium (Debian's), driven by Playwright, on both stores."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright import sync_api
from ui_seed import make_alert

from helpers import missing
from lanner.services.ui.alerts import from_alert, priority_level
from lanner.services.ui.app import create_app
from lanner.services.ui.auth import AuthConfig
from lanner.services.ui.store import Store

CHROMIUM = os.environ.get("LANNER_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Screenshots go to a temporary folder; scripts/refresh_screenshots.sh sets
# LANNER_SCREENSHOTS=docs/screenshots to refresh the documentation's on purpose.
HOURS_18 = 18 * 3600 * 10**9


def make_seed(now: int) -> list[dict[str, Any]]:
    """180 alerts over the 18 h before `now`, denser towards it (a rising trend on the chart)."""
    return [make_alert(i, now - int(HOURS_18 * (1 - i / 179) ** 1.8)) for i in range(180)]


# re-timed at each seeding (seeded_url): the tests' "last 15 minutes" must be the 15 minutes
# before the test, not before the suite's collection, which a long suite left far behind
SEED = make_seed(time.time_ns())
TIMEOUT_MS = 15_000

if not Path(CHROMIUM).exists():
    missing(f"Chromium ({CHROMIUM})", "chromium")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def seeded_url(store: Store, live_server: Callable) -> str:
    SEED[:] = make_seed(time.time_ns())
    store.insert([from_alert(a) for a in SEED])
    return live_server(create_app(store, stream_poll_seconds=1)).url


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1440, "height": 1000})  # type: ignore[attr-defined]
    context.set_default_timeout(TIMEOUT_MS)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    # the Content-Security-Policy is enforced: anything it blocks is reported on the console
    pg.on(
        "console",
        lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    yield pg
    context.close()
    assert errors == []


def expect(locator: object) -> object:
    return sync_api.expect(locator)  # type: ignore[arg-type]


def is_primary(request: pytest.FixtureRequest) -> bool:
    """Screenshots come from the SQLite run."""
    return "sqlite" in request.node.callspec.id


def rows(page: object) -> object:
    return page.locator("#events-body tr[data-id]")  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: LANNER_SCREENSHOTS, else a temporary folder (a test run never
    rewrites the tracked docs/screenshots)."""
    chosen = os.environ.get("LANNER_SCREENSHOTS")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_dashboard(
    page: object, seeded_url: str, request: pytest.FixtureRequest, screenshots: Path
) -> None:
    response = page.goto(seeded_url + "/#/dashboard")  # type: ignore[attr-defined]
    assert "script-src 'self'" in response.headers["content-security-policy"]
    expect(page.locator("#total")).to_have_text(f"{len(SEED)}")  # type: ignore[attr-defined]
    for name in ("Critical", "Warning", "Informational"):
        count = sum(a["priority"] == name for a in SEED)
        card = page.locator(f'[data-priority="{name}"] .n')  # type: ignore[attr-defined]
        expect(card).to_have_text(str(count))
    expect(page.locator("#top-rules li")).to_have_count(5)  # type: ignore[attr-defined]
    expect(page.locator("#top-hosts li")).to_have_count(3)  # type: ignore[attr-defined]
    assert page.locator(".chart svg rect").count() > 10  # type: ignore[attr-defined]
    if is_primary(request):
        page.screenshot(path=str(screenshots / "ui-dashboard.png"), full_page=True)  # type: ignore[attr-defined]
        assert (screenshots / "ui-dashboard.png").stat().st_size > 10_000
    # a narrower range counts only the events of the last 15 minutes
    window = 15 * 60 * 10**9
    before = time.time_ns()
    page.click('button[data-range="15m"]')  # type: ignore[attr-defined]
    expect(page.locator("#total")).not_to_have_text(f"{len(SEED)}")  # type: ignore[attr-defined]
    after = time.time_ns()
    shown = int(page.locator("#total").inner_text())  # type: ignore[attr-defined]
    times = [a["output_fields"]["evt.time"] for a in SEED]
    assert (
        sum(t >= after - window for t in times) <= shown <= sum(t >= before - window for t in times)
    )
    # a top rule links to the events page filtered on it
    page.click("#top-rules li >> nth=0")  # type: ignore[attr-defined]
    expect(page.locator("#events-body tr[data-id]").first).to_be_visible()  # type: ignore[attr-defined]
    assert "rule=" in page.url  # type: ignore[attr-defined]


def test_events_filter_search_and_paging(
    page: object, seeded_url: str, request: pytest.FixtureRequest, screenshots: Path
) -> None:
    page.goto(seeded_url + "/#/events")  # type: ignore[attr-defined]
    expect(rows(page)).to_have_count(50)
    newest = rows(page).first.locator("td.output")  # type: ignore[attr-defined]
    expect(newest).to_contain_text(f"seq={len(SEED) - 1}")
    if is_primary(request):
        page.screenshot(path=str(screenshots / "ui-events.png"))  # type: ignore[attr-defined]
        assert (screenshots / "ui-events.png").stat().st_size > 10_000
    page.click("#more")  # type: ignore[attr-defined]
    expect(rows(page)).to_have_count(100)

    # priority >= Error: only Critical and Error rows
    page.select_option('select[name="priority"]', "Error")  # type: ignore[attr-defined]
    wanted = sum(priority_level(a["priority"]) <= 3 for a in SEED)
    expect(rows(page)).to_have_count(min(wanted, 50))
    badges = page.locator("#events-body .badge").all_inner_texts()  # type: ignore[attr-defined]
    assert set(badges) == {"Critical", "Error"}

    # full-text search on top of the filter
    page.fill('input[name="q"]', "xmrig")  # type: ignore[attr-defined]
    page.press('input[name="q"]', "Enter")  # type: ignore[attr-defined]
    wanted = sum("xmrig" in a["output"] for a in SEED)
    expect(rows(page)).to_have_count(min(wanted, 50))
    assert set(page.locator("#events-body .badge").all_inner_texts()) == {"Critical"}  # type: ignore[attr-defined]

    # host filter; the URL carries the filters
    page.fill('input[name="hostname"]', "node-3")  # type: ignore[attr-defined]
    page.press('input[name="hostname"]', "Enter")  # type: ignore[attr-defined]
    wanted = sum("xmrig" in a["output"] and a["hostname"] == "node-3" for a in SEED)
    expect(rows(page)).to_have_count(wanted)
    assert "hostname=node-3" in page.url and "q=xmrig" in page.url  # type: ignore[attr-defined]

    page.click("text=Reset")  # type: ignore[attr-defined]
    expect(rows(page)).to_have_count(50)


def test_event_detail(page: object, seeded_url: str) -> None:
    page.goto(seeded_url + "/#/events?q=shadow")  # type: ignore[attr-defined]
    first = rows(page).first  # type: ignore[attr-defined]
    expect(first).to_be_visible()
    text = first.locator("td.output").inner_text()
    seq = int(text.rsplit("seq=", 1)[1])
    first.click()
    detail = page.locator("#detail")  # type: ignore[attr-defined]
    expect(detail).to_contain_text(SEED[seq]["output"])
    fields = page.locator("#fields")  # type: ignore[attr-defined]
    for key, value in SEED[seq]["output_fields"].items():
        expect(fields).to_contain_text(key)
        expect(fields).to_contain_text(str(value))
    for tag in SEED[seq]["tags"]:
        expect(detail).to_contain_text(tag)
    expect(page.locator("#delete")).to_be_visible()  # type: ignore[attr-defined]
    page.click("text=← Back")  # type: ignore[attr-defined]
    expect(rows(page).first).to_be_visible()


def test_live_alert_appears(page: object, seeded_url: str) -> None:
    page.goto(seeded_url + "/#/events")  # type: ignore[attr-defined]
    expect(rows(page)).to_have_count(50)
    expect(page.locator("#live")).not_to_have_class("live off")  # type: ignore[attr-defined]
    alert = {**make_alert(3, time.time_ns()), "output": "Live alert: nc -l 4444 seq=9999"}
    assert httpx.post(seeded_url + "/api/v1/events", json=alert).status_code == 201
    expect(rows(page).first.locator("td.output")).to_have_text(alert["output"])
    expect(rows(page)).to_have_count(51)

    page.goto(seeded_url + "/#/dashboard")  # type: ignore[attr-defined]
    expect(page.locator("#total")).to_have_text(f"{len(SEED) + 1}")  # type: ignore[attr-defined]
    expect(page.locator("#live")).not_to_have_class("live off")  # type: ignore[attr-defined]
    more = [make_alert(i, time.time_ns()) for i in range(4)]
    assert httpx.post(seeded_url + "/api/v1/events", json=more).status_code == 201
    expect(page.locator("#total")).to_have_text(f"{len(SEED) + 5}")  # type: ignore[attr-defined]


def test_read_only_login(page: object, store: Store, live_server: Callable) -> None:
    store.insert([from_alert(a) for a in SEED[:10]])
    auth = AuthConfig()
    auth.add_user("viewer:pw:read-only")
    url = live_server(create_app(store, auth=auth)).url
    page.goto(url + "/#/events")  # type: ignore[attr-defined]
    expect(page.locator("#login")).to_be_visible()  # type: ignore[attr-defined]
    page.fill('input[name="user"]', "viewer")  # type: ignore[attr-defined]
    page.fill('input[name="password"]', "nope")  # type: ignore[attr-defined]
    page.click('#login-form button[type="submit"]')  # type: ignore[attr-defined]
    expect(page.locator("#login-error")).to_have_text("wrong credentials")  # type: ignore[attr-defined]
    page.fill('input[name="password"]', "pw")  # type: ignore[attr-defined]
    page.click('#login-form button[type="submit"]')  # type: ignore[attr-defined]
    expect(rows(page)).to_have_count(10)
    expect(page.locator("#role")).to_have_text("read-only")  # type: ignore[attr-defined]
    rows(page).first.click()  # type: ignore[attr-defined]
    expect(page.locator("#detail")).to_be_visible()  # type: ignore[attr-defined]
    expect(page.locator("#delete")).to_have_count(0)  # type: ignore[attr-defined]
