"""``lanner capture -w FILE.scap [-M SECONDS] [FILTER]``: write what the probe sees.

The file starts with the host's machine info, interfaces, users, and the processes and
open fds of a /proc snapshot taken right after the probe is attached, then every event
the probe reports (or those matching FILTER, a Falco condition over the syscall fields).
``sysdig -r FILE`` (0.29) and ``lanner dump -e FILE`` read it. ``.gz`` names are gzipped.

Container metadata goes in as libsinsp writes it: one ``container`` event
(``PPME_CONTAINER_JSON_2_E``) per container. The containers of the /proc snapshot are
looked up at start (the runtimes of ``container_engines``, as ``lanner run``); for up to
``CONTAINER_WAIT`` seconds the probe's events are held in memory, then the container
events of the metadata that arrived are written before them. A container seen later
(the cgroups of a clone/execve) is looked up in the background and its event is written
when the metadata arrives, before the next events. Replays (``lanner run -e``, ``lanner
dump -e``, ``sysdig -r``) then have the container fields without any runtime.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from types import FrameType

import click

from .dump_command import compile_filter

# seconds the start waits for the metadata of the snapshot's containers (the container
# announcer's wait, see containers/announce.py), and the events held meanwhile at most
CONTAINER_WAIT = 10.0
HOLD_EVENTS = 200_000


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-w", "path", required=True, help="Capture file to write (.gz: compressed).")
@click.option("-M", "duration", type=float, help="Stop after this many seconds.")
@click.option("-q", "quiet", is_flag=True, help="No summary line on stderr.")
@click.option("-c", "config_file", help="Configuration file (container_engines is read).")
@click.option("-o", "overrides", multiple=True, help="Override a config key: key.sub=value.")
@click.argument("filter_words", nargs=-1, metavar="[FILTER]")
def capture(
    path: str,
    duration: float | None,
    quiet: bool,
    config_file: str | None,
    overrides: tuple[str, ...],
    filter_words: tuple[str, ...],
) -> None:
    """Capture this host's syscall events with the eBPF probe into a .scap file."""
    from lanner.app.config import ConfigError, load_config
    from lanner.sources.syscall.containers.capture import ContainerRecorder
    from lanner.sources.syscall.containers.runtimes import configure_runtimes
    from lanner.sources.syscall.containers.store import MetadataStore
    from lanner.sources.syscall.probe import LiveCapture, ProbeUnavailable, check_requirements
    from lanner.sources.syscall.probe import snapshot as snap
    from lanner.sources.syscall.scap.reader import ProcList
    from lanner.sources.syscall.scap.writer import ScapWriter, host_interfaces, host_machine_info
    from lanner.sources.syscall.state import StateEngine
    from lanner.sources.syscall.state.containers import container_id

    try:
        cfg = load_config(config_file, overrides)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
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
    store = MetadataStore()
    runtimes = configure_runtimes(store, cfg.get("container_engines") or {})
    containers = ContainerRecorder(store)
    see_event = containers.see_event
    cgroup_types = containers.cgroup_params
    written = seen = 0
    last_ts = 0
    try:
        with ScapWriter(path) as w, cap:
            # the probe is attached: scan /proc now, so no process falls in between
            attached = time.time_ns()  # the snapshot's container events: no event before
            w.write(host_machine_info())
            w.write(host_interfaces())
            for rec in snap.snapshot():
                state.load_record(rec)
                w.write(rec)
                if isinstance(rec, ProcList):
                    for p in rec.threads:
                        containers.see(container_id(p.cgroups))
            w.flush()
            process = state.process
            event = w.event

            def write_batch(batch: list) -> None:
                nonlocal written, last_ts
                for ev in batch:
                    if ev.type in cgroup_types:
                        see_event(ev)
                if containers.waiting():
                    for cev in containers.due(batch[0].ts if batch else last_ts):
                        event(cev)
                if not batch:
                    return
                last_ts = batch[-1].ts
                if pred is None:
                    for ev in batch:  # no filter: no state needed, events as read
                        event(ev)
                    written += len(batch)
                    return
                for ev in batch:
                    process(ev)  # the filter sees the state as it was at the event
                    if pred(ev):
                        event(ev)
                        written += 1

            # the snapshot's containers: their events go first, once their metadata is
            # in (or CONTAINER_WAIT is over); the probe's events are held meanwhile
            held: list[list] = []
            nheld = 0
            end = None if duration is None else time.monotonic() + duration
            until = time.monotonic() + CONTAINER_WAIT
            if end is not None:
                until = min(until, end)
            while (
                runtimes
                and containers.waiting()
                and not containers.settled()
                and nheld < HOLD_EVENTS
                and not stop.is_set()
                and time.monotonic() < until
            ):
                batch = cap.poll(0.05)
                if batch:
                    held.append(batch)
                    nheld += len(batch)
                    seen += len(batch)
            for cev in containers.due(min(attached, held[0][0].ts) if held else attached):
                event(cev)
            for batch in held:
                write_batch(batch)
            held.clear()
            w.flush()
            if not quiet:
                print(f"capturing to {path} (Ctrl-C stops)", file=sys.stderr)
            drain = 16  # batches read after the stop, for what is already in the ring
            while drain:
                left = 0.25 if end is None else min(0.25, end - time.monotonic())
                stopping = stop.is_set() or left <= 0
                batch = cap.poll(0 if stopping else left)
                if stopping:
                    drain = drain - 1 if batch else 0
                seen += len(batch)
                write_batch(batch)
            for cev in containers.due(last_ts):  # metadata that came at the very end
                event(cev)
            drops = cap.drops
    except OSError as exc:
        raise click.ClickException(f"cannot write {path}: {exc}") from exc
    finally:
        store.close()
        for s, h in old.items():
            signal.signal(s, h)
    if not quiet:
        print(
            f"wrote {written} of {seen} events to {path}"
            + (f" and {containers.written} container events" if containers.written else "")
            + (f"; {drops} events dropped by the kernel (ring full)" if drops else ""),
            file=sys.stderr,
        )
