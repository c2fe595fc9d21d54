"""The candidate conditions applied to events natively (native/candidate_events.c).

Every field the native getter reads must be exactly the value the rules' Python getter
gives, on every event of every fixture capture and of captures written here; the event
filter must agree with the Python reference evaluator; and the replay of ``lanner run
-e`` must raise the same alerts with the filter as without it.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import pytest
from syscall_testutil import ALL_CAPTURES, capture

from helpers import shared_fixture
from lanner.app.replay_progress import ScapReplay
from lanner.engine.candidates import ReferenceFilter, derive_candidates, field_ref
from lanner.engine.compiler import ConditionCompiler
from lanner.engine.engine import Engine
from lanner.rules import default_rules_files
from lanner.sources.syscall import read_capture, syscall_source
from lanner.sources.syscall.candidate_fields import (
    CANDIDATE_FIELD_IDS,
    CANDIDATE_FIELDS,
    NATIVE_READS,
    event_filter,
)

ROOT = Path(__file__).resolve().parents[3]
RULES = shared_fixture("rules")
UPSTREAM = [RULES / n for n in ("falco_rules.yaml", "falco-incubating_rules.yaml",
                                "falco-sandbox_rules.yaml")]  # fmt: skip
sys.path.insert(0, str(ROOT / "tests" / "engine"))
from test_candidates import _written_capture  # noqa: E402


def _engine(paths: list[Any]) -> Engine:
    engine = Engine([syscall_source()])
    outcome = engine.load_rules(paths)
    assert outcome.successful
    return engine


def _streams() -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = [(n, lambda n=n: read_capture(capture(n))) for n in ALL_CAPTURES]
    for seed in (11, 12):
        data = _written_capture(seed, 2500)
        out.append((f"written {seed}", lambda d=data: read_capture(io.BytesIO(d))))
    return out


def _python(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    if isinstance(value, tuple):  # a field with several values (fd.port)
        return tuple(_python(v) for v in value)
    return value


def test_native_field_values_are_the_getters() -> None:
    spec = syscall_source()
    engine = _engine(UPSTREAM)
    ef = event_filter(derive_candidates(engine.ruleset, spec, CANDIDATE_FIELDS))
    compiler = ConditionCompiler(spec.fields)
    getters = {n: compiler.operand(field_ref(n)).getter for n in CANDIDATE_FIELDS}
    native: dict[str, int] = {}
    for label, events in _streams():
        for e in events():
            # read natively before any Python getter has cached a decoded parameter
            got = {n: ef.value(e, i) for n, i in CANDIDATE_FIELD_IDS.items()}
            for name, (how, value) in got.items():
                want = _python(getters[name](e))
                assert how != "unknown" and value == want, (label, e.num, e.name, name, how)
                native[name] = native.get(name, 0) + (how == "native")
    # the fields said to be native are read natively on most events
    assert {n for n, k in native.items() if k > 1000} == NATIVE_READS, native


@pytest.mark.parametrize("rules", ["upstream", "default"])
def test_event_filter_agrees_with_the_reference(rules: str) -> None:
    spec = syscall_source()
    engine = _engine(UPSTREAM if rules == "upstream" else list(default_rules_files())[:1])
    cands = derive_candidates(engine.ruleset, spec, CANDIDATE_FIELDS)
    ef, ref = event_filter(cands), ReferenceFilter(cands, spec)
    counts = {True: 0, False: 0}
    for label, events in _streams():
        for e in events():
            got = ef.accepts(e)
            assert got is ref.accepts(e), (label, e.num, e.name)
            counts[got] += 1
    assert counts[True] > 100 and counts[False] > 1000, counts


@pytest.mark.parametrize("name", ["test_ipv6_client.scap", "written"])
def test_replay_alerts_unchanged_by_the_filter(name: str, tmp_path: Path) -> None:
    if name == "written":
        path = tmp_path / "w.scap"
        path.write_bytes(_written_capture(21, 3000))
    else:
        path = capture(name)
    outputs = []
    for use_filter in (False, True):
        engine = _engine(UPSTREAM)
        engine.ruleset.match_all = True
        types = {t for r in engine.ruleset for t in (r.event_types or ())}
        cands = None
        if use_filter:
            spec = engine.sources["syscall"]
            cands = event_filter(derive_candidates(engine.ruleset, spec, CANDIDATE_FIELDS), spec)
        replay = ScapReplay(path, types, cands)
        alerts = [(a.rule, a.output_fields.get("evt.time")) for s, e in replay
                  for a in engine.process(e, s)]  # fmt: skip
        outputs.append((alerts, replay.events))
    (plain, n_plain), (filtered, n_filtered) = outputs
    assert filtered == plain and plain
    assert n_filtered < n_plain / 2, (n_filtered, n_plain)


@pytest.mark.parametrize("c_walk", [True, False])
def test_replay_drops_in_the_walk_what_the_filter_rejects(
    c_walk: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The replay's walk (C, or the Python loop) drops exactly the wanted events that the
    filter rejects, counts them, and still hands out every container event."""
    from lanner.sources.syscall.scap import reader as scap_reader

    monkeypatch.setattr(scap_reader, "USE_C_WALK", c_walk)
    path = tmp_path / "w.scap"
    path.write_bytes(_written_capture(22, 3000))
    engine = _engine(UPSTREAM)
    types = {t for r in engine.ruleset for t in (r.event_types or ())}
    spec = engine.sources["syscall"]
    cands = event_filter(derive_candidates(engine.ruleset, spec, CANDIDATE_FIELDS), spec)
    every = [e for _, e in ScapReplay(path, types)]
    # the filter outside the walk, on the events the replay keeps without it
    want = [e.num for e in every if cands.accepts(e)]
    replay = ScapReplay(path, types, lambda: cands)
    got = [e.num for _, e in replay]
    assert got == want and replay.events == len(want)
    assert replay.dropped == len(every) - len(want) > 1000
    # a getter returning None (rules mid-reload) drops nothing
    assert [e.num for _, e in ScapReplay(path, types, lambda: None)] == [e.num for e in every]
