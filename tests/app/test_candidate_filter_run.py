"""``lanner run -e`` with the rules' candidate conditions (Daemon.syscall_filter): the same
alerts as the engine evaluating every event, far fewer events evaluated, and the filter
re-derived on reload."""

from __future__ import annotations

import io
import json
import re
import sys
from pathlib import Path

from lanner.app.config import load_config
from lanner.app.daemon import Daemon, RunOptions
from lanner.app.inputs import json_line_sources
from lanner.engine.engine import Engine
from lanner.sources.syscall import read_capture, syscall_source

from .helpers import FIXTURES, ROOT, run_lanner

UPSTREAM = [FIXTURES / "rules" / n for n in ("falco_rules.yaml", "falco-incubating_rules.yaml",
                                             "falco-sandbox_rules.yaml")]  # fmt: skip
sys.path.insert(0, str(ROOT / "tests" / "engine"))
from test_candidates import _written_capture  # noqa: E402


def test_replay_alerts_equal_the_unfiltered_engine(tmp_path: Path) -> None:
    path = tmp_path / "w.scap"
    path.write_bytes(_written_capture(31, 3000))
    rule_args = [a for p in UPSTREAM for a in ("-r", str(p))]
    res = run_lanner(*rule_args, "-e", str(path), "-o", "json_output=true", timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    got = [json.loads(ln) for ln in res.stdout.splitlines() if ln.startswith(b"{")]
    engine = Engine([syscall_source()])
    assert engine.load_rules(UPSTREAM).successful
    want = [(a.rule, a.time_ns) for e in read_capture(path) for a in engine.process(e, "syscall")]
    assert len(want) > 100
    assert [(a["rule"], a["output_fields"]["evt.time"]) for a in got] == want
    m = re.search(rb"Replayed ([\d,]+) events \(([\d,]+) evaluated by the rules\)", res.stderr)
    assert m is not None, res.stderr[-2000:]
    total, evaluated = (int(g.replace(b",", b"")) for g in m.groups())
    assert evaluated < total / 2, (evaluated, total)


def test_filter_follows_the_rules_on_reload(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rule = (
        "- rule: r\n  desc: d\n  condition: evt.type = openat and fd.name = {}\n"
        "  output: o\n  priority: WARNING\n"
    )
    rules.write_text(rule.format("/etc/a"))
    cfg = load_config(None, [f"rules_files=[{rules}]", "stdout_output.enabled=false"])
    daemon = Daemon(cfg, RunOptions(), [syscall_source()])
    assert daemon.load().successful
    first = daemon.syscall_filter
    assert first is not None
    data = _written_capture(32, 50)
    events = list(read_capture(io.BytesIO(data)))
    rules.write_text(rule.format("/etc/shadow"))
    assert daemon.reload("test")
    second = daemon.syscall_filter
    assert second is not None and second is not first
    assert daemon.current_syscall_filter() is second  # what a replay's native walk applies
    shadow = [e for e in events if e.name == "openat" and e.dir == "<" and e.fdinfo is not None
              and e.fdinfo.name == "/etc/shadow"]  # fmt: skip
    assert shadow and all(second.accepts(e) and not first.accepts(e) for e in shadow)
    # Daemon.run evaluates only the candidates and counts the others as skipped
    daemon.run(("syscall", e) for e in events)
    assert daemon.stats.events["syscall"] == len(events)
    assert daemon.stats.events_skipped["syscall"] == sum(not second.accepts(e) for e in events)
    assert daemon.stats.alerts[("r", "Warning", "syscall")] == len(shadow)
    # while the engine runs other rules than the filter's (mid-reload), nothing is dropped
    skipped = daemon.stats.events_skipped["syscall"]
    daemon.engine.ruleset = daemon.engine.ruleset.__class__(
        list(daemon.engine.ruleset), daemon.engine.sources.values()
    )
    daemon.run(("syscall", e) for e in events)
    assert daemon.stats.events_skipped["syscall"] == skipped
    assert daemon.current_syscall_filter() is None


def test_json_lines_syscall_events_are_not_filtered() -> None:
    # JSON-lines replays stand for the syscall source with dict events: no filter
    cfg = load_config(None, ["stdout_output.enabled=false"])
    daemon = Daemon(cfg, RunOptions(), json_line_sources())
    assert daemon.load().successful
    assert daemon.syscall_filter is None
