"""What the probe's kernel-side outcome filter drops on this host's real activity.

Two probes are attached at once for the same seconds, selecting the same event types (those
of the rules, plus the state engine's base set, as ``lanner run`` does): one with the
outcome filter derived from the rules (``probe/filters.py``), one without. Both see the
same syscalls, so the difference is what the filter keeps out of the ring. Per event type:
events and ring bytes of each, and the share dropped in the kernel.

Run (root, after scripts/build_probe.sh):
    .venv/bin/python bench/probe_filter_rate.py [--seconds 20] [-r RULES.yaml ...]
(no -r: Lanner's default rules)
"""

from __future__ import annotations

import argparse
import struct
import threading
import time
from collections import Counter
from pathlib import Path

from lanner.engine.loader import load_rules
from lanner.rules import default_rules_files
from lanner.sources.syscall import event_table as et
from lanner.sources.syscall import syscall_source
from lanner.sources.syscall.probe import LiveCapture
from lanner.sources.syscall.probe.filters import rule_outcomes
from lanner.sources.syscall.probe.loader import PREFIX

_HDR = struct.Struct("<IHI")  # scap header from offset 16: len, type, nparams
_RES = struct.Struct("<q")  # the first parameter of an exit event: the return value


def drain(
    cap: LiveCapture, stop: threading.Event, counts: Counter, sizes: Counter, failed: Counter
) -> None:
    """Read the ring until stopped, counting events, bytes and failed calls per type."""
    probe = cap.probe
    assert probe is not None
    while not stop.is_set() or probe.pending():
        if not probe.wait(0.05):
            continue
        data, offsets = probe.read()
        for off in offsets:
            length, etype, nparams = _HDR.unpack_from(data, off + PREFIX + 16)
            name = et.EVENT_NAMES[etype] if etype < len(et.EVENT_NAMES) else str(etype)
            counts[name] += 1
            sizes[name] += length + PREFIX
            if nparams and name != "procexit":
                res = _RES.unpack_from(data, off + PREFIX + 26 + 2 * nparams)[0]
                failed[name] += res < 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("-r", "--rules", action="append", type=Path, default=[])
    args = ap.parse_args()
    files = args.rules or list(default_rules_files())
    loaded = load_rules(files, [syscall_source()])
    rs = loaded.ruleset
    active = [r for r in rs if r.source == "syscall" and rs.is_active(r)]
    types: set[str] = set()
    for r in active:
        if r.event_types is not None:
            types |= r.event_types
    outcomes = rule_outcomes(r.expr for r in active)
    print(f"rules: {', '.join(p.name for p in files)}: {len(active)} syscall rules")
    filtered = LiveCapture(event_types=types, snapshot=False)
    filtered.outcomes = outcomes
    plain = LiveCapture(event_types=types, snapshot=False)
    results = []
    with filtered, plain:
        # count from the same moment in both: what came before is discarded
        for cap in (filtered, plain):
            assert cap.probe is not None
            while cap.probe.pending():
                cap.probe.read()
        stop = threading.Event()
        threads = []
        for cap in (filtered, plain):
            counts: Counter = Counter()
            sizes: Counter = Counter()
            failed: Counter = Counter()
            results.append((counts, sizes, failed))
            t = threading.Thread(target=drain, args=(cap, stop, counts, sizes, failed), daemon=True)
            threads.append(t)
        for t in threads:
            t.start()
        time.sleep(args.seconds)
        for cap in (filtered, plain):  # and up to the same moment: detach both, then drain
            assert cap.probe is not None
            cap.probe.detach()
        stop.set()
        for t in threads:
            t.join()
        drops = [cap.drops for cap in (filtered, plain)]
    (fc, fs, _), (pc, ps, pf) = results
    print(f"{args.seconds:.0f} s of this host's activity; ring-full drops: {drops[0]} / {drops[1]}")
    print("| event type | events, no filter | of which failed | events, filtered | dropped |")
    print("|---|---|---|---|---|")
    for name, n in pc.most_common():
        kept = fc.get(name, 0)
        if n < 100:
            continue
        print(f"| {name} | {n:,} | {pf[name]:,} | {kept:,} | {(1 - kept / n) * 100:.1f} % |")
    total, kept = sum(pc.values()), sum(fc.values())
    bt, bk = sum(ps.values()), sum(fs.values())
    print(
        f"| all | {total:,} | {sum(pf.values()):,} | {kept:,} | "
        f"{(1 - kept / max(1, total)) * 100:.1f} % "
        f"({(1 - bk / max(1, bt)) * 100:.1f} % of ring bytes) |"
    )


if __name__ == "__main__":
    main()
