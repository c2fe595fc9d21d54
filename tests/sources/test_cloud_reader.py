"""The parts the cloud sources share: the state file, the back-off, the error counts."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from lanner.sources.cloud_reader import Backoff, ErrorCounts, load_state, save_state


def test_state_is_replaced_whole_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    save_state(str(path), {"start": 1, "seen": {"a": 1}})
    save_state(str(path), {"start": 2, "seen": {}})
    assert json.loads(path.read_text()) == {"start": 2, "seen": {}}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_backoff_doubles_up_to_the_longest_and_a_success_starts_again() -> None:
    stopped = threading.Event()
    stopped.set()  # the waits return at once
    backoff = Backoff(first=1.0, longest=5.0)
    delays = []
    for _ in range(5):
        delays.append(backoff.delay)
        backoff.wait(stopped)
    assert delays == [1.0, 2.0, 4.0, 5.0, 5.0]
    backoff.reset()
    assert backoff.delay == 1.0


def test_errors_are_counted_by_kind() -> None:
    counts = ErrorCounts()
    for kind in ("auth", "network", "auth"):
        counts.error(kind)
    assert counts.errors == {"auth": 2, "network": 1}


def test_state_is_read_back_and_absent_on_the_first_run(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    assert load_state(None, dict, ValueError, "test") is None
    assert load_state(str(path), dict, ValueError, "test") is None  # no file yet
    save_state(str(path), {"start": 2})
    assert load_state(str(path), lambda doc: doc["start"], ValueError, "test") == 2


class StateError(ValueError):
    pass


@pytest.mark.parametrize(
    ("text", "why"), [("{not json", "JSONDecodeError"), ('{"other": 1}', "KeyError('start')")]
)
def test_a_bad_state_file_is_an_error_naming_it(tmp_path: Path, text: str, why: str) -> None:
    path = tmp_path / "state.json"
    path.write_text(text)
    with pytest.raises(StateError) as caught:
        load_state(str(path), lambda doc: doc["start"], StateError, "k8saudit-eks")
    assert str(caught.value).startswith(f"{path}: unreadable k8saudit-eks state: {why}")
