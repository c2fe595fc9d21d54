"""``lanner capture -w FILE.scap [-M SECONDS] [FILTER]``: write what the probe sees.

The file starts with the host's machine info, interfaces, users, and the processes and
open fds of a /proc snapshot taken right after the probe is attached, then every event
the probe reports (or those matching FILTER, a Falco condition over the syscall fields).
``sysdig -r FILE`` (0.29) and ``lanner dump -e FILE`` read it. ``.gz`` names are gzipped.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from types import FrameType

import click

from .dump_command import compile_filter


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-w", "path", required=True, help="Capture file to write (.gz: compressed).")
@click.option("-M", "duration", type=float, help="Stop after this many seconds.")
@click.option("-q", "quiet", is_flag=True, help="No summary line on stderr.")
@click.argument("filter_words", nargs=-1, metavar="[FILTER]")
def capture(path: str, duration: float | None, quiet: bool, filter_words: tuple[str, ...]) -> None:
    """Capture this host's syscall events with the eBPF probe into a .scap file."""
    from lanner.sources.syscall.probe import LiveCapture, ProbeUnavailable, check_requirements
    from lanner.sources.syscall.probe import snapshot as snap
    from lanner.sources.syscall.scap.writer import ScapWriter, host_interfaces, host_machine_info
    from lanner.sources.syscall.state import StateEngine

    pred = compile_filter(filter_words)
    try:
        check_requirements()
    except ProbeUnavailable as exc:
        raise click.ClickException(str(exc)) from exc

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    state = StateEngine()
    cap = LiveCapture(state=state, snapshot=False, apply_state=False)
    written = seen = 0
    try:
        with ScapWriter(path) as w, cap:
            # the probe is attached: scan /proc now, so no process falls in between
            w.write(host_machine_info())
            w.write(host_interfaces())
            for rec in snap.snapshot():
                state.load_record(rec)
                w.write(rec)
            w.flush()
            if not quiet:
                print(f"capturing to {path} (Ctrl-C stops)", file=sys.stderr)
            end = None if duration is None else time.monotonic() + duration
            process = state.process
            event = w.event
            drain = 16  # batches read after the stop, for what is already in the ring
            while drain:
                left = 0.25 if end is None else min(0.25, end - time.monotonic())
                stopping = stop.is_set() or left <= 0
                batch = cap.poll(0 if stopping else left)
                if stopping:
                    drain = drain - 1 if batch else 0
                seen += len(batch)
                if pred is None:
                    for ev in batch:  # no filter: no state needed, events as read
                        event(ev)
                    written += len(batch)
                    continue
                for ev in batch:
                    process(ev)  # the filter sees the state as it was at the event
                    if pred(ev):
                        event(ev)
                        written += 1
            drops = cap.drops
    except OSError as exc:
        raise click.ClickException(f"cannot write {path}: {exc}") from exc
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    if not quiet:
        print(
            f"wrote {written} of {seen} events to {path}"
            + (f"; {drops} events dropped by the kernel (ring full)" if drops else ""),
            file=sys.stderr,
        )
