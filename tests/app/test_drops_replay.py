"""``syscall_event_drops`` on the replay of a capture that carries drop events: a
PPME_DROP_E (sampling ratio R) to PPME_DROP_X stretch stands for R - 1 lost events per
event read; the monitor checks each second of event time and performs Falco's actions
(log, alert as Falco's internal message, exit), limited by threshold and the token
bucket (rate, max_burst, refilled by event time)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from lanner.sources.syscall import event_table as et
from lanner.sources.syscall.candidate_fields import CANDIDATE_FIELDS

from .helpers import run_lanner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sources" / "syscall"))
from syscall_testutil import block, event, proc_v1, section_header

T0 = 1_700_000_000_000_000_000
STEP = 10_000_000  # one event every 10 ms: 100 a second
RULE = "Falco internal: syscall event drop"


def _capture(path: Path, drops: bool = True, ratio: int = 4) -> Path:
    """Six seconds of brk events from one process, with a drop stretch from 1.5 s to 3.5 s."""
    data = section_header() + block(0x202, proc_v1(100, 100, 1, "app", "/bin/app", [], "/"))
    for i in range(600):
        ts = T0 + i * STEP
        data += event(et.PPME_SYSCALL_BRK_4_E, 100, ts, addr=0)
        if drops and i == 150:
            data += event(et.PPME_DROP_E, 100, ts + 1, ratio=ratio)
        if drops and i == 350:
            data += event(et.PPME_DROP_X, 100, ts + 1, ratio=ratio)
    path.write_bytes(data)
    return path


def _run(tmp_path: Path, capture: Path, *overrides: str) -> tuple[int, list[dict], str]:
    rules = tmp_path / "rules.yaml"
    assert "proc.exeline" not in CANDIDATE_FIELDS  # else pick another field below
    rules.write_text(
        # brk events reach the rules (proc.exeline is no candidate field), none matches:
        # the monitor sees every event, as Falco's drop manager does
        "- rule: Never\n  desc: d\n  condition: evt.type = brk and proc.exeline contains zzzz\n"
        "  output: never\n  priority: WARNING\n"
    )
    opts = [x for o in overrides for x in ("-o", o)]
    res = run_lanner("-r", str(rules), "-e", str(capture), "-o", "json_output=true", *opts)
    found = [json.loads(ln) for ln in res.stdout.splitlines() if ln.startswith(b"{")]
    return res.returncode, [a for a in found if a["rule"] == RULE], res.stderr.decode()


def test_drop_events_raise_falcos_internal_alert_once_per_bucket(tmp_path: Path) -> None:
    code, got, err = _run(tmp_path, _capture(tmp_path / "d.scap"))
    assert code == 0, err
    (alert,) = got  # default max_burst 1, rate 1/30 s: one in six seconds of events
    assert list(alert) == ["hostname", "output", "output_fields", "priority", "rule",
                           "source", "time"]  # fmt: skip
    assert (alert["priority"], alert["source"]) == ("Debug", "internal")
    fields = alert["output_fields"]
    assert all(isinstance(v, str) for v in fields.values())  # as Falco: strings
    n_drops, n_evts = int(fields["n_drops"]), int(fields["n_evts"])
    # the first check after the drop event (2.02 s): about 50 events read while
    # dropping at ratio 4, each standing for 3 lost ones
    assert n_drops % 3 == 0 and 120 <= n_drops <= 180, fields
    assert n_evts - n_drops in range(99, 104)  # the events read in that second
    assert fields["n_drops_buffer_total"] == fields["n_drops"] and fields["ebpf_enabled"] == "0"
    assert alert["output"] == f"{RULE}. {n_drops} system calls dropped in last second."
    assert alert["time"].startswith("2023-11-14T22:13:22.0")  # the event time of the check
    assert f"{RULE}. {n_drops} system calls dropped" in err  # the log action


def test_bucket_threshold_and_actions(tmp_path: Path) -> None:
    cap = _capture(tmp_path / "d.scap")
    # rate 0 and 5 tokens: every second with drops acts (2.02 s, 3.03 s, 4.04 s)
    _code, got, _err = _run(tmp_path, cap, "syscall_event_drops.rate=0",
                            "syscall_event_drops.max_burst=5")  # fmt: skip
    assert [int(a["output_fields"]["n_drops"]) > 0 for a in got] == [True, True, True]
    assert (
        int(got[1]["output_fields"]["n_drops"]) == 3 * int(got[1]["output_fields"]["n_evts"]) // 4
    )
    # 2 tokens: two alerts only
    _code, got, _err = _run(tmp_path, cap, "syscall_event_drops.rate=0",
                            "syscall_event_drops.max_burst=2")  # fmt: skip
    assert len(got) == 2
    # a drop ratio of 3/4 is under a threshold of 0.8: nothing
    _code, got, err = _run(tmp_path, cap, "syscall_event_drops.threshold=0.8")
    assert got == [] and "dropped in last second" not in err
    # ignore: nothing; log only: the line, no alert
    _code, got, err = _run(tmp_path, cap, "syscall_event_drops.actions=[ignore]")
    assert got == [] and "dropped in last second" not in err
    _code, got, err = _run(tmp_path, cap, "syscall_event_drops.actions=[log]")
    assert got == [] and "dropped in last second" in err
    # exit: the replay stops with status 1
    code, got, err = _run(tmp_path, cap, "syscall_event_drops.actions=[exit]")
    assert code == 1 and "exiting: syscall event drops" in err


@pytest.mark.parametrize("simulate", [False, True])
def test_capture_without_drop_events(tmp_path: Path, simulate: bool) -> None:
    cap = _capture(tmp_path / "plain.scap", drops=False)
    bucket = ("syscall_event_drops.rate=0", "syscall_event_drops.max_burst=100")
    code, got, err = _run(tmp_path, cap, f"syscall_event_drops.simulate_drops={simulate}", *bucket)
    assert code == 0, err
    # no drops: nothing; simulate_drops (Falco's test switch): one drop at every check
    # (1.01 s ... 5.05 s of event time)
    assert [a["output_fields"]["n_drops"] for a in got] == (["1"] * 5 if simulate else [])
