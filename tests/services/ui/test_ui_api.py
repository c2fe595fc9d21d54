"""The /api/v1 REST API against a real SQLite file and a real PostgreSQL server."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from ui_seed import make_alert, make_alerts

from lanner.services.ui.alerts import PRIORITIES, priority_level
from lanner.services.ui.app import create_app
from lanner.services.ui.store import Store

NOW = time.time_ns()
SEED = make_alerts(120, NOW)  # one a minute over the last two hours


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(store)) as c:
        yield c


@pytest.fixture
def seeded(client: TestClient) -> TestClient:
    r = client.post("/api/v1/events", json=SEED)
    assert r.status_code == 201, r.text
    assert r.json()["ingested"] == len(SEED)
    return client


def all_events(client: TestClient, **params: object) -> list[dict]:
    """Walk every page with the cursor."""
    events: list[dict] = []
    cursor = None
    while True:
        query = {**params, "limit": 17, **({"cursor": cursor} if cursor else {})}
        r = client.get("/api/v1/events", params=query)
        assert r.status_code == 200, r.text
        body = r.json()
        events.extend(body["events"])
        cursor = body["next_cursor"]
        if cursor is None:
            return events


def seq(event: dict) -> int:
    return int(event["output"].rsplit("seq=", 1)[1])


def test_post_single_alert_as_falco_http_output_does(client: TestClient) -> None:
    alert = make_alert(3, NOW)
    r = client.post(
        "/api/v1/events",
        content=__import__("orjson").dumps(alert),
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 201
    (event_id,) = r.json()["ids"]
    detail = client.get(f"/api/v1/events/{event_id}").json()
    assert detail["alert"] == alert  # stored unchanged
    assert detail["rule"] == alert["rule"] and detail["priority"] == alert["priority"]
    assert detail["time"] == alert["time"]
    assert detail["output_fields"] == alert["output_fields"]
    assert detail["container"] == alert["output_fields"]["container.name"]


def test_post_rejects_bad_alerts(client: TestClient) -> None:
    good = make_alert(0, NOW)
    assert client.post("/api/v1/events", json={**good, "priority": "Loud"}).status_code == 422
    assert client.post("/api/v1/events", json={"output": "no rule"}).status_code == 422
    assert client.post("/api/v1/events", json=[good, {**good, "time": "noon"}]).status_code == 422
    bad_json = client.post(
        "/api/v1/events", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert bad_json.status_code == 400 and bad_json.json()["detail"].startswith("invalid JSON")
    # nothing of a rejected batch was stored
    assert client.get("/api/v1/events").json()["events"] == []


def test_pagination_walks_everything_newest_first(seeded: TestClient) -> None:
    events = all_events(seeded)
    assert [seq(e) for e in events] == list(range(len(SEED) - 1, -1, -1))
    assert len({e["id"] for e in events}) == len(SEED)


def test_pagination_with_equal_times_is_stable(client: TestClient) -> None:
    same = [make_alert(i, NOW) for i in range(40)]  # identical timestamps
    client.post("/api/v1/events", json=same)
    events = all_events(client)
    assert sorted(seq(e) for e in events) == list(range(40))
    assert [e["id"] for e in events] == sorted((e["id"] for e in events), reverse=True)


def test_bad_cursor_is_400(seeded: TestClient) -> None:
    assert seeded.get("/api/v1/events", params={"cursor": "garbage!"}).status_code == 400


@pytest.mark.parametrize(
    ("params", "predicate"),
    [
        ({"priority": "error"}, lambda a: priority_level(a["priority"]) <= 3),
        ({"priority": "Critical"}, lambda a: a["priority"] == "Critical"),
        ({"rule": "Write below etc"}, lambda a: a["rule"] == "Write below etc"),
        ({"source": "k8s_audit"}, lambda a: a["source"] == "k8s_audit"),
        ({"hostname": "node-2"}, lambda a: a["hostname"] == "node-2"),
        ({"hostname": ["node-2", "node-3"]}, lambda a: a["hostname"] in ("node-2", "node-3")),
        ({"tag": "T1059"}, lambda a: "T1059" in a["tags"]),
        ({"container": "db-0"}, lambda a: a["output_fields"]["container.name"] == "db-0"),
        ({"namespace": "prod"}, lambda a: a["output_fields"].get("k8s.ns.name") == "prod"),
        ({"pod": "api-7-pod"}, lambda a: a["output_fields"].get("k8s.pod.name") == "api-7-pod"),
        ({"q": "xmrig"}, lambda a: "xmrig" in a["output"]),
        ({"q": "STRATUM pool"}, lambda a: "stratum" in a["output"]),
        ({"q": "shad*"}, lambda a: "/etc/shadow" in a["output"]),  # word prefix
        ({"q": "mitre"}, lambda a: any(t.startswith("mitre_") for t in a["tags"])),
        ({"q": "web-1"}, lambda a: a["output_fields"]["container.name"] == "web-1"),
        (
            {"q": "python3 stratum"},
            lambda a: a["output_fields"]["proc.name"] == "python3" and "stratum" in a["output"],
        ),
        (
            {"priority": "warning", "hostname": "node-1", "q": "etc"},
            lambda a: (
                priority_level(a["priority"]) <= 4
                and a["hostname"] == "node-1"
                and "/etc/" in a["output"]
            ),
        ),
    ],
)
def test_filters_match_exactly_the_expected_alerts(
    seeded: TestClient, params: dict, predicate: object
) -> None:
    expected = sorted(i for i, a in enumerate(SEED) if predicate(a))  # type: ignore[operator]
    assert expected, "the seed must exercise this filter"
    got = sorted(seq(e) for e in all_events(seeded, **params))
    assert got == expected


def test_words_match_whole_words_unless_starred(seeded: TestClient) -> None:
    assert all_events(seeded, q="shad") == []
    assert len(all_events(seeded, q="SHADOW")) == len(all_events(seeded, q="sha*"))


def test_time_range_filters(seeded: TestClient) -> None:
    since = SEED[100]["time"]
    until = SEED[110]["time"]
    got = sorted(seq(e) for e in all_events(seeded, since=since, until=until))
    assert got == list(range(100, 110))
    # "30m" is relative to the query's time, and the seed was made when the module was
    # imported: expect the alerts not older than 30 minutes at some instant of the query
    before = time.time_ns()
    recent = sorted(seq(e) for e in all_events(seeded, since="30m"))
    after = time.time_ns()
    window = 30 * 60 * 1_000_000_000
    at_least = [i for i in range(120) if NOW - (119 - i) * 60_000_000_000 >= after - window]
    at_most = [i for i in range(120) if NOW - (119 - i) * 60_000_000_000 >= before - window]
    assert recent and recent[-1] == 119
    assert set(at_least) <= set(recent) <= set(at_most)
    assert seeded.get("/api/v1/events", params={"since": "last tuesday"}).status_code == 400


def test_unknown_priority_filter_is_400(seeded: TestClient) -> None:
    assert seeded.get("/api/v1/events", params={"priority": "urgent"}).status_code == 400


def test_search_treats_query_syntax_as_plain_words(seeded: TestClient) -> None:
    for q in [
        '"',
        "NOT",
        "a OR b",
        "*",
        "col:val",
        "x' OR 1=1 --",
        "%",
        "'); DROP TABLE events;--",
    ]:
        r = seeded.get("/api/v1/events", params={"q": q})
        assert r.status_code == 200, (q, r.text)
    assert len(all_events(seeded)) == len(SEED)


def test_event_detail_and_delete(seeded: TestClient) -> None:
    first = seeded.get("/api/v1/events", params={"limit": 1}).json()["events"][0]
    assert seeded.get(f"/api/v1/events/{first['id']}").json()["alert"] == SEED[-1]
    assert seeded.delete(f"/api/v1/events/{first['id']}").status_code == 204
    assert seeded.get(f"/api/v1/events/{first['id']}").status_code == 404
    assert seeded.delete(f"/api/v1/events/{first['id']}").status_code == 404
    assert len(all_events(seeded, q="seq")) == len(SEED) - 1
    # its tags went with it
    tag = SEED[-1]["tags"][0]
    assert sum(tag in a["tags"] for a in SEED) - 1 == len(all_events(seeded, tag=tag))


def test_stats_counts(seeded: TestClient) -> None:
    stats = seeded.get("/api/v1/stats", params={"since": "3h", "top": 3}).json()
    assert stats["total"] == len(SEED)
    for name in PRIORITIES:
        assert stats["by_priority"][name] == sum(a["priority"] == name for a in SEED)
    rules = {c["value"]: c["count"] for c in stats["by_rule"]}
    assert rules == {r: sum(a["rule"] == r for a in SEED) for r in {a["rule"] for a in SEED}}
    assert len(stats["top_rules"]) == 3
    hosts = {c["value"]: c["count"] for c in stats["by_hostname"]}
    assert hosts == {"node-1": 40, "node-2": 40, "node-3": 40}
    tags = {c["value"]: c["count"] for c in stats["by_tag"]}
    assert tags["container"] == sum("container" in a["tags"] for a in SEED)
    sources = {c["value"]: c["count"] for c in stats["by_source"]}
    assert sources["k8s_audit"] == sum(a["source"] == "k8s_audit" for a in SEED)
    containers = {c["value"]: c["count"] for c in stats["top_containers"]}
    assert set(containers) <= {"web-1", "api-7", "db-0", "host"}
    assert sum(p["total"] for p in stats["series"]) == len(SEED)
    assert stats["bucket_seconds"] == 300  # 3 h / 60 points -> 3 min, rounded up to 5 min
    for point in stats["series"]:
        assert sum(point["by_priority"].values()) == point["total"]


def test_stats_respect_filters(seeded: TestClient) -> None:
    stats = seeded.get("/api/v1/stats", params={"hostname": "node-3", "priority": "error"}).json()
    expected = [a for a in SEED if a["hostname"] == "node-3" and priority_level(a["priority"]) <= 3]
    assert stats["total"] == len(expected)
    assert [c["value"] for c in stats["by_hostname"]] == ["node-3"]


def test_stats_when_empty(client: TestClient) -> None:
    stats = client.get("/api/v1/stats").json()
    assert stats["total"] == 0 and stats["series"] == [] and stats["top_rules"] == []


def test_export_json_round_trips(seeded: TestClient, store: Store) -> None:
    r = seeded.get("/api/v1/export", params={"format": "json", "hostname": "node-1"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    exported = r.json()
    assert exported == [a for a in reversed(SEED) if a["hostname"] == "node-1"]
    # an export can be POSTed back as is
    assert seeded.post("/api/v1/events", json=exported).json()["ingested"] == len(exported)


def test_export_csv(seeded: TestClient) -> None:
    r = seeded.get("/api/v1/export", params={"format": "csv", "rule": "Write below etc"})
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    expected = [a for a in reversed(SEED) if a["rule"] == "Write below etc"]
    assert [row["output"] for row in rows] == [a["output"] for a in expected]
    assert [row["time"] for row in rows] == [a["time"] for a in expected]
    assert rows[0]["priority"] == "Error" and rows[0]["tags"] == " ".join(expected[0]["tags"])


def test_export_csv_neutralises_formulas(client: TestClient) -> None:
    client.post("/api/v1/events", json={**make_alert(0, NOW), "output": "=HYPERLINK(1)"})
    rows = list(csv.DictReader(io.StringIO(client.get("/api/v1/export?format=csv").text)))
    assert rows[0]["output"] == "'=HYPERLINK(1)"


def test_export_limit(seeded: TestClient) -> None:
    assert len(seeded.get("/api/v1/export", params={"limit": 5}).json()) == 5


def test_openapi_document(client: TestClient) -> None:
    doc = client.get("/api/v1/openapi.json").json()
    assert {"/api/v1/events", "/api/v1/stats", "/api/v1/export", "/api/v1/stream"} <= set(
        doc["paths"]
    )
    params = {p["name"] for p in doc["paths"]["/api/v1/events"]["get"]["parameters"]}
    assert {
        "priority",
        "rule",
        "source",
        "hostname",
        "tag",
        "container",
        "namespace",
        "pod",
        "since",
        "until",
        "q",
        "cursor",
        "limit",
    } <= params
    assert "post" in doc["paths"]["/api/v1/events"]


def test_index_page_served(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200 and "/static/app.js" in r.text
    assert client.get("/static/app.js").status_code == 200
