"""Issue 18 item 5: a hot reload never quietly empties the rules.

A rules file truncated or blanked under a running engine (an editor, a deploy tool, a
ConfigMap mounted empty) used to load as "0 rules loaded" and detection went quiet. Now
such a reload is refused with an error, counted, and the running rules stay, unless the
operator asked for it with ``allow_empty_rules: true``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from lanner.app.config import load_config
from lanner.app.daemon import Daemon, RunOptions
from lanner.app.inputs import json_line_sources

from .helpers import LiveLanner, seq_rules, wait_until
from .test_daemon import Feeder, alerts, tags


def config_file(tmp_path: Path, rules: list[Path], **extra: object) -> Path:
    doc: dict[str, object] = {
        "rules_files": [str(p) for p in rules],
        "json_output": True,
        "watch_config_files": True,
        "log_level": "info",
        "stdout_output": {"enabled": True},
        **extra,
    }
    path = tmp_path / "lanner.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def daemon_for(config: Path) -> Daemon:
    cfg = load_config(config)
    daemon = Daemon(cfg, RunOptions(config_file=str(config)), json_line_sources())
    assert daemon.load().successful
    return daemon


@pytest.fixture
def log() -> Iterator[list[str]]:
    """The messages of the ``lanner`` logger (which reloads reconfigure) during a test."""
    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("lanner")
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


def logged(log: list[str]) -> str:
    """What was logged since the last call."""
    text = "\n".join(log)
    log.clear()
    return text


def scrape(daemon: Daemon) -> str:
    from prometheus_client import generate_latest

    from lanner.app.prometheus import registry_for

    return generate_latest(registry_for(daemon.stats)).decode()


def test_truncated_rules_file_under_a_live_engine_keeps_detection(
    tmp_path: Path, live: list
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(seq_rules("Version one", "v1"))
    proc = LiveLanner("-c", str(config_file(tmp_path, [rules])))
    live.append(proc)
    feeder = Feeder(proc)
    wait_until(lambda: tags(proc.out.snapshot()).count("v1") >= 10, what="v1 alerts")

    rules.write_text("")  # truncated under the running engine
    wait_until(lambda: "REFUSED" in proc.err.text(), what="the refusal")
    after = len(alerts(proc.out.snapshot()))
    wait_until(lambda: len(alerts(proc.out.snapshot())) >= after + 10, what="alerts after")

    sent = feeder.stop()
    assert proc.finish() == 0
    got = alerts(proc.out.snapshot())
    assert [int(a["output_fields"]["test.seq"]) for a in got] == list(range(1, sent + 1))
    assert set(tags(proc.out.snapshot())) == {"v1"}
    err = proc.err.text()
    assert (
        f"REFUSED, emptied rules files: {rules} (had 1 rules, now empty), no rules would "
        "be left; the 1 running rules stay active. If this is what you want, set "
        "allow_empty_rules: true"
    ) in err
    assert "0 rules loaded" not in err


def test_reload_guard_cases_and_metric(tmp_path: Path, log: list[str]) -> None:
    main, team = tmp_path / "main.yaml", tmp_path / "team.yaml"
    main.write_text(seq_rules("Version one", "v1"))
    team.write_text(seq_rules("Team rule", "t1"))
    local = tmp_path / "local.yaml"
    local.write_text("# local rules go here\n")  # empty from the start: nothing to guard
    daemon = daemon_for(config_file(tmp_path, [main, team, local]))
    running = daemon.engine.ruleset

    # a file that had rules, blanked (only a comment left): refused, rules stay
    team.write_text("# emptied by a bad deploy\n")
    assert not daemon.reload("test")
    assert daemon.engine.ruleset is running
    assert f"emptied rules files: {team} (had 1 rules, now empty); the 2" in logged(log)
    assert daemon.stats.empty_reloads_refused == 1
    assert daemon.stats.reloads["failure"] == 1
    text = scrape(daemon)
    assert "lanner_rules_empty_reloads_refused_total 1.0" in text
    assert 'lanner_rules_reloads_total{result="failure"} 1.0' in text

    # edited down to a list: a deliberate change, accepted
    team.write_text("- list: team_binaries\n  items: [a, b]\n")
    assert daemon.reload("test")
    assert [r.name for r in daemon.engine.ruleset] == ["Version one"]

    # every rule gone (main edited down to a macro): no rules at all, refused
    main.write_text("- macro: m\n  condition: evt.type = open\n")
    assert not daemon.reload("test")
    assert "REFUSED, the new rules files define no rules at all" in logged(log)
    assert [r.name for r in daemon.engine.ruleset] == ["Version one"]
    assert daemon.stats.empty_reloads_refused == 2

    # a file dropped from rules_files is the operator's choice
    main.write_text(seq_rules("Version one", "v1"))
    team.write_text(seq_rules("Team rule", "t1"))
    assert daemon.reload("test")
    config_file(tmp_path, [main])
    assert daemon.reload("test")
    assert [r.name for r in daemon.engine.ruleset] == ["Version one"]
    assert daemon.stats.empty_reloads_refused == 2


def test_allow_empty_rules_accepts_an_empty_reload_with_a_warning(
    tmp_path: Path, log: list[str]
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(seq_rules("Version one", "v1"))
    daemon = daemon_for(config_file(tmp_path, [rules], allow_empty_rules=True))
    rules.write_text("")
    assert daemon.reload("test")
    assert len(daemon.engine.ruleset) == 0
    assert daemon.stats.rules_loaded == 0
    assert daemon.stats.empty_reloads_refused == 0
    assert (
        "(had 1 rules, now empty), no rules would be left, accepted as allow_empty_rules is set"
        in logged(log)
    )


def test_reload_generates_the_matchers_before_the_swap(tmp_path: Path) -> None:
    # issue 18 item 4: a reload must not leave code generation to the event path
    rules = tmp_path / "rules.yaml"
    rules.write_text(seq_rules("Version one", "v1"))
    daemon = daemon_for(config_file(tmp_path, [rules]))
    # the first load leaves them to the first event of each type (start-up stays short)
    assert daemon.engine.ruleset.build_matchers() >= 1  # at least evt.type = open
    rules.write_text(seq_rules("Version one", "v1") + seq_rules("Version two", "v2"))
    assert daemon.reload("test")
    assert len(daemon.engine.ruleset) == 2
    assert daemon.engine.ruleset.build_matchers() == 0  # built by the reload already
