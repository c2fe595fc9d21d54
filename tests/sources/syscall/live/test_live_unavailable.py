"""Without root, BTF or the built probe, live capture says exactly what is missing."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from lanner.engine.engine import Engine
from lanner.exceptions import ProbeUnavailable
from lanner.sources.syscall import syscall_source
from lanner.sources.syscall.probe import LiveCapture, loader
from lanner.sources.syscall.probe.syscalls import ANY, BASE_EVENT_TYPES, SYSCALL_NR, select


def test_not_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader.os, "geteuid", lambda: 1000)
    with pytest.raises(ProbeUnavailable, match=r"needs root"):
        LiveCapture().start()


def test_no_btf(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(loader, "BTF_PATH", tmp_path / "vmlinux")
    with pytest.raises(ProbeUnavailable, match=r"kernel BTF at .*vmlinux"):
        LiveCapture().start()


def test_probe_not_built(tmp_path: Path) -> None:
    missing = tmp_path / "lanner_probe.bpf.o"
    with pytest.raises(ProbeUnavailable, match=r"scripts/build_probe\.sh") as exc:
        LiveCapture(probe_path=missing).start()
    assert str(missing) in str(exc.value)


def test_everything_missing_is_listed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(loader.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(loader, "BTF_PATH", tmp_path / "vmlinux")
    with pytest.raises(ProbeUnavailable) as exc:
        loader.check_requirements(tmp_path / "probe.o")
    msg = str(exc.value)
    assert "root" in msg and "BTF" in msg and "build_probe.sh" in msg


def test_no_libbpf(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> None:
        raise ProbeUnavailable("libbpf.so.1 not found")

    monkeypatch.setattr(loader.libbpf, "lib", missing)
    with pytest.raises(ProbeUnavailable, match=r"libbpf\.so\.1 \(the Debian package libbpf1\)"):
        loader.check_requirements()


def test_env_overrides_probe_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LANNER_PROBE", str(tmp_path / "x.o"))
    assert loader.default_object() == tmp_path / "x.o"


def test_selection_adds_the_base_set() -> None:
    numbers, unsupported = select({"mkdir", "pwrite64"})
    assert SYSCALL_NR["mkdir"] in numbers
    assert SYSCALL_NR["execve"] in numbers and SYSCALL_NR["openat"] in numbers
    assert unsupported == {"pwrite64"}
    only, _ = select({"mkdir"}, base=False)
    assert only == {SYSCALL_NR["mkdir"]: ANY}
    assert "procexit" in BASE_EVENT_TYPES


def test_unsupported_types_are_one_short_line(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """A rule without an event-type restriction asks for every type (issue 28): the
    start-up log says how many the probe cannot capture in one short line; -v names them."""
    rules = tmp_path / "any.yaml"
    rules.write_text(
        "- rule: any process named foo\n  desc: no event-type restriction\n"
        "  condition: proc.name = foo\n  output: foo %proc.name\n  priority: WARNING\n"
    )
    engine = Engine([syscall_source()])
    assert engine.load_rules([str(rules)]).successful
    (rule,) = engine.ruleset
    types = rule.event_types  # what lanner run asks the probe for (every type)
    logger = logging.getLogger("lanner.sources.syscall.probe.live")
    logger.addHandler(caplog.handler)  # the "lanner" logger may not propagate (app.logs)
    caplog.set_level(logging.INFO, logger=logger.name)
    try:
        LiveCapture(event_types=types).set_event_types(types)  # as at start, not attached
    finally:
        logger.removeHandler(caplog.handler)
    (line,) = {r.getMessage() for r in caplog.records if "no kernel capture" in r.getMessage()}
    assert len(line) < 120, line
    count = int(line.split("no kernel capture for ")[1].split()[0])
    assert count > 100  # every event type the probe has no handler for
    assert "_llseek" not in line and "-v" in line
    caplog.clear()
    logger.addHandler(caplog.handler)
    try:
        LiveCapture(event_types=types, verbose=True).set_event_types(types)
    finally:
        logger.removeHandler(caplog.handler)
    (named,) = {r.getMessage() for r in caplog.records if "no kernel capture" in r.getMessage()}
    assert "_llseek" in named and named.count(", ") == count - 1
