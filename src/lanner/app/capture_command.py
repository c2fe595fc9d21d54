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
from collections.abc import Iterable
from types import FrameType
from typing import TYPE_CHECKING

import click

from .dump_command import compile_filter

if TYPE_CHECKING:
    from lanner.sources.syscall.event import Event

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
    from lanner.app.config import load_config
    from lanner.exceptions import ConfigError, ProbeUnavailable
    from lanner.sources.syscall.containers.capture import ContainerRecorder
    from lanner.sources.syscall.containers.runtimes import configure_runtimes
    from lanner.sources.syscall.containers.store import MetadataStore
    from lanner.sources.syscall.pipeline import SyscallPipeline
    from lanner.sources.syscall.probe import LiveCapture, check_requirements
    from lanner.sources.syscall.scap.writer import ScapWriter, host_interfaces, host_machine_info

    try:
        cfg = load_config(config_file, overrides)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    store = MetadataStore()
    pred = compile_filter(filter_words, store)
    try:
        check_requirements()
    except ProbeUnavailable as exc:
        raise click.ClickException(str(exc)) from exc

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    runtimes = configure_runtimes(store, cfg.get("container_engines") or {})
    containers = ContainerRecorder(store)
    try:
        with ScapWriter(path) as w:
            w.write(host_machine_info())
            w.write(host_interfaces())
            # the pipeline tees what it reads into the file: the /proc snapshot (taken once
            # the probe is attached, so no process falls in between), then each event
            # (those FILTER matches, with the state as at that event; without FILTER the
            # events as read, no state) and the container events the recorder inserts
            # when their metadata arrives
            pipe = SyscallPipeline(
                LiveCapture(),
                store,
                tee=w,
                tee_filter=pred,
                inserter=containers,
                with_state=pred is not None,  # only a FILTER reads the state
            )
            attached = time.time_ns()  # the snapshot's container events: no event before
            with pipe:
                w.flush()

                def drain(events: Iterable[Event]) -> None:
                    for _ in pipe.run(events):
                        pass

                # the snapshot's containers: their events go first, once their metadata is
                # in (or CONTAINER_WAIT is over); the probe's events are held meanwhile
                held: list[list[Event]] = []
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
                    batch = pipe.read(0.05)
                    events = [] if batch is None else pipe.source.decode(batch.data)
                    if events:  # bare: the state is applied as they are drained
                        held.append(events)
                        nheld += len(events)
                for cev in containers.due(min(attached, held[0][0].ts) if held else attached):
                    w.event(cev)
                for events in held:
                    drain(events)
                held.clear()
                w.flush()
                if not quiet:
                    print(f"capturing to {path} (Ctrl-C stops)", file=sys.stderr)
                last = 16  # batches read after the stop, for what is already in the ring
                while last:
                    left = 0.25 if end is None else min(0.25, end - time.monotonic())
                    stopping = stop.is_set() or left <= 0
                    batch = pipe.read(0 if stopping else left)
                    if stopping:
                        last = last - 1 if batch is not None else 0
                    if batch is not None:
                        drain(pipe.source.decode(batch.data))
                for cev in containers.due(time.time_ns()):  # metadata that came at the end
                    w.event(cev)
                drops = pipe.drops
                seen, written = pipe.events_read, pipe.events_teed
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
