"""Compiled-condition evaluation rate for the upstream falco_rules.yaml conditions.

Loads ../shared/fixtures/rules/falco_rules.yaml against a dict source whose event types are
the ones of the reference event table, builds synthetic events of the types the rules
look at, and reports:
  * predicate evaluations per second (every rule's compiled predicate on every event), and
  * events per second through the ruleset (event-type index, first match).

Run: .venv/bin/python bench/eval_rate.py [--events N]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from lanner.engine.engine import Engine
from lanner.sources.memory import dict_source

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
RULES = SHARED / "fixtures" / "rules" / "falco_rules.yaml"
EVENT_TABLE = SHARED / "reference" / "event_table.json"

TYPES = [
    "open",
    "openat",
    "openat2",
    "execve",
    "connect",
    "accept",
    "close",
    "read",
    "write",
    "rename",
    "unlink",
    "setuid",
    "ptrace",
    "mmap",
    "socket",
    "clone",
]
PROCS = ["bash", "sh", "cat", "nginx", "python3", "curl", "sshd", "java", "node", "systemd"]
FILES = [
    "/etc/shadow",
    "/etc/passwd",
    "/tmp/x",
    "/var/log/syslog",
    "/dev/null",
    "/usr/bin/ls",
    "/proc/self/status",
    "/root/.ssh/id_rsa",
    "/home/u/.bash_history",
]


def synthetic_events(n: int, seed: int = 7) -> list[dict[str, object]]:
    """Events with the fields Falco rules read most, drawn at random."""
    rng = random.Random(seed)
    events = []
    for i in range(n):
        proc = rng.choice(PROCS)
        events.append(
            {
                "evt.type": rng.choice(TYPES),
                "evt.dir": "<",
                "evt.time": 1_700_000_000_000_000_000 + i,
                "evt.is_open_write": rng.choice(["true", "false"]),
                "evt.is_open_read": rng.choice(["true", "false"]),
                "evt.rawres": str(rng.choice([0, 3, -2])),
                "proc.name": proc,
                "proc.pname": rng.choice(PROCS),
                "proc.exepath": f"/usr/bin/{proc}",
                "proc.cmdline": f"{proc} -c x",
                "proc.tty": rng.choice(["0", "34816"]),
                "fd.name": rng.choice(FILES),
                "fd.directory": "/etc",
                "fd.typechar": rng.choice(["f", "4", "6", "u"]),
                "container.id": rng.choice(["host", "3ad7b26ded6d"]),
                "user.name": rng.choice(["root", "www-data"]),
            }
        )
    return events


def main() -> None:
    """Run the benchmark and print its figures."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=20_000)
    args = ap.parse_args()
    names = {e["name"] for e in json.loads(EVENT_TABLE.read_text())["events"]}
    source = dict_source("syscall", dynamic=True, event_types=names)
    engine = Engine([source], hostname="bench")
    t0 = time.perf_counter()
    outcome = engine.load_rules([RULES])
    load_s = time.perf_counter() - t0
    assert outcome.successful, [r.as_text() for r in outcome.results]
    rules = list(engine.ruleset)
    events = synthetic_events(args.events)

    predicates = [r.predicate for r in rules]
    t0 = time.perf_counter()
    hits = 0
    for ev in events:
        for p in predicates:
            hits += p(ev)
    eval_s = time.perf_counter() - t0
    evaluations = len(events) * len(predicates)

    t0 = time.perf_counter()
    matched = 0
    for ev in events:
        matched += len(engine.ruleset.match(ev, "syscall"))
    match_s = time.perf_counter() - t0

    print(f"rules file: {RULES.name}, rules compiled: {len(rules)}, load+compile {load_s:.3f} s")
    print(f"synthetic events: {len(events)}")
    print(
        f"predicate evaluations: {evaluations} in {eval_s:.3f} s = "
        f"{evaluations / eval_s:,.0f} evaluations/s ({hits} true)"
    )
    print(
        f"ruleset (type index, first match): {len(events) / match_s:,.0f} events/s "
        f"({matched} alerts)"
    )


if __name__ == "__main__":
    main()
