"""A reload frees the replaced rules even though ``lanner run`` froze its start-up objects
out of the garbage collector (``gc.freeze()`` before the event loop)."""

from __future__ import annotations

import gc
from pathlib import Path

from lanner.app.config import load_config
from lanner.app.daemon import Daemon, RunOptions
from lanner.sources.syscall import syscall_source

RULES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "rules"


def test_reload_after_freeze_frees_the_old_rules() -> None:
    path = RULES / "falco_rules.yaml"
    assert path.is_file(), path
    # what earlier in-process `lanner run`s of this test session froze (their start-up runs
    # without collection, so unreachable start-up objects were frozen too) is not this
    # daemon's: release and collect it first, so only this daemon's rules are counted
    gc.unfreeze()
    gc.collect()
    cfg = load_config(None, [f"rules_files=[{path}]", "stdout_output.enabled=false"])
    daemon = Daemon(cfg, RunOptions(), [syscall_source()])
    assert daemon.load().successful
    daemon.engine.ruleset.build_matchers()
    gc.collect()
    gc.freeze()  # as lanner run does before its event loop
    try:
        freed = []
        for _ in range(2):
            assert daemon.reload("test")
            daemon.engine.ruleset.build_matchers()
            freed.append(gc.collect())
        assert gc.get_freeze_count() == 0
        # the start-up rules' reference cycles are collected like the next rules' are
        # (while frozen, the collector never sees them: a leak)
        assert freed[0] == freed[1] > 0, freed
    finally:
        gc.unfreeze()
        daemon.shutdown()
