"""StatsD and DogStatsD: Falcosidekick's counters over UDP, made from the service's counts.

Falcosidekick counts through its datadog-go clients, under `namespace` (`falcosidekick.`):

- per request: `total`, then `inputs.requests.accepted`, or `inputs.requests.rejected`
  tagged `error:invalidjson` (not an alert) or `error:nobody` (not a POST);
- per accepted alert: `falco.accepted` tagged `priority:<Priority>` (`Warning`);
- per delivery attempt of an output: `outputs` tagged `output:<name>`, `status:ok|error`.

Its request handler has one client, the DogStatsD one when `dogstatsd.forwarder` is set,
else the StatsD one, and keeps the tags of the input counters as DogStatsD `|#` tags in
either. The `outputs` counter goes through both: the DogStatsD client keeps its tags, the
StatsD client folds their values into the name (`outputs.webhook.ok`). Every line ends
with the client-wide `tags` first, then the counter's (datadog-go's order).

Here the counts are the service's own (`Stats`: its delivery tally, and the inputs by
priority and reason it keeps once asked, one dictionary increment per request), read every
FLUSH_INTERVAL: what they grew by since the last flush is sent, summed per series, in
datagrams of at most MAX_DATAGRAM bytes (datadog-go's UDP limit). A datagram that cannot
be sent keeps its counts for the next flush.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import Any, ClassVar

from lanner.exceptions import PermanentError

from ..alert import Alert, Priority
from ..schema import Opt
from ..stats import Stats, falcosidekick_status
from .base import Output, OutputContext, register

log = logging.getLogger("lanner.sidekick")

FLUSH_INTERVAL = 0.1  # seconds; datadog-go flushes its buffer as often
MAX_DATAGRAM = 1432  # bytes of one UDP payload at most (datadog-go's default for UDP)

# Falcosidekick's `output:` tag where it is not the output's kind (its own spellings)
OUTPUT_TAGS = {"fission": "Fission", "awssecuritylake": "awssecuritylake."}
# counted by Falcosidekick as no delivery: the metrics it keeps or sends itself
NOT_DELIVERIES = frozenset({"prometheus", "statsd", "dogstatsd"})

Series = tuple[str, tuple[str, ...]]  # (counter name without namespace, its tags)
InputKey = tuple[str, Priority | None, str]  # Stats.details: (status, priority, reason)


class StatsdCounters(Output):
    """Falcosidekick's StatsD counters (see the module); `flatten`: the StatsD client's
    folding of the `outputs` tags into the name."""

    family = "metrics"
    enable_key = "forwarder"
    options: ClassVar[dict[str, Opt]] = {
        "forwarder": Opt("str", ""),
        "namespace": Opt("str", "falcosidekick."),
        "tags": Opt("list"),
    }
    flatten: ClassVar[bool]

    def __init__(self, settings: dict[str, Any], ctx: OutputContext) -> None:
        super().__init__(settings, ctx)
        self.namespace: str = settings["namespace"]
        self.client_tags: tuple[str, ...] = tuple(settings["tags"])
        # Falcosidekick's request handler counts through one client, DogStatsD's if set
        self.counts_inputs = self.kind == "dogstatsd" or "dogstatsd" not in ctx.enabled
        self.seen_inputs: dict[InputKey, int] = {}  # the counts at the last take
        self.seen_outputs: dict[tuple[str, str], int] = {}
        self.pending: dict[Series, int] = {}  # summed, not yet sent
        self.stats: Stats | None = None
        self._sock: socket.socket | None = None
        self._addr: Any = None
        self._task: asyncio.Task[None] | None = None
        self._failing = False  # the last flush could not send: said once, not every flush

    @classmethod
    def validate(cls, settings: dict[str, Any]) -> tuple[str, str] | None:
        """forwarder must be host:port; a tag must not break the line (`|`, `,`, newline)."""
        host, _, port = settings["forwarder"].rpartition(":")
        if settings["forwarder"] and (not host or not port.isdigit()):
            return "forwarder", f"expected host:port, got {settings['forwarder']!r}"
        for tag in settings["tags"]:
            if not tag or any(c in tag for c in "|,\r\n"):
                return "tags", f"{tag!r}: a tag is non-empty, without '|', ',' or line breaks"
        return None

    def attach(self, stats: Stats) -> None:
        """Send what `stats` counts from now on."""
        self.stats = stats
        if self.counts_inputs:
            self.seen_inputs = dict(stats.keep_details())
        self.seen_outputs = {k: v for k, v in stats.tally.items() if k[0] != "input"}

    def _grown(self) -> tuple[dict[InputKey, int], dict[tuple[str, str], int]]:
        """What the counts of inputs (when this output sends them) and of deliveries grew
        by since the last call."""
        inputs: dict[InputKey, int] = {}
        outputs: dict[tuple[str, str], int] = {}
        if self.stats is None:
            return inputs, outputs
        if self.counts_inputs and self.stats.details is not None:
            seen = self.seen_inputs
            for key, value in self.stats.details.items():
                if value != seen.get(key, 0):
                    inputs[key] = value - seen.get(key, 0)
                    seen[key] = value
        seen_out = self.seen_outputs
        for pair, total in self.stats.tally.items():
            if pair[0] != "input" and total != seen_out.get(pair, 0):
                outputs[pair] = total - seen_out.get(pair, 0)
                seen_out[pair] = total
        return inputs, outputs

    def take(self) -> dict[Series, int]:
        """Add what the counts grew by to `pending` as Falcosidekick's series; return it."""
        inputs, outputs = self._grown()
        pending = self.pending

        def add(name: str, tags: tuple[str, ...], count: int) -> None:
            pending[(name, tags)] = pending.get((name, tags), 0) + count

        for (status, priority, reason), count in inputs.items():
            add("total", (), count)
            if status == "accepted":
                add("inputs.requests.accepted", (), count)
                label = priority.label if priority is not None else ""
                add("falco.accepted", (f"priority:{label}",), count)
            else:
                add("inputs.requests.rejected", (f"error:{reason}",), count)
        for (destination, status), count in outputs.items():
            fsk = falcosidekick_status(status)
            if fsk is None or destination in NOT_DELIVERIES:
                continue
            name = OUTPUT_TAGS.get(destination, destination)
            if self.flatten:
                add(f"outputs.{name}.{fsk}".replace(" ", ""), (), count)
            else:
                add("outputs", (f"output:{name}", f"status:{fsk}"), count)
        return pending

    def line(self, series: Series, count: int) -> bytes:
        """One counter line: `<namespace><name>:<count>|c[|#<client tags>,<tags>]`."""
        name, tags = series
        all_tags = (*self.client_tags, *tags)
        suffix = "|#" + ",".join(all_tags) if all_tags else ""
        return f"{self.namespace}{name}:{count}|c{suffix}".encode()

    def datagrams(self, pending: dict[Series, int]) -> list[tuple[bytes, list[Series]]]:
        """The lines of `pending` joined by newlines, at most MAX_DATAGRAM bytes each (a
        longer line goes alone), with the series each carries."""
        out: list[tuple[bytes, list[Series]]] = []
        lines: list[bytes] = []
        carried: list[Series] = []
        size = 0
        for series, count in pending.items():
            data = self.line(series, count)
            if lines and size + 1 + len(data) > MAX_DATAGRAM:
                out.append((b"\n".join(lines), carried))
                lines, carried, size = [], [], 0
            size += len(data) + (1 if lines else 0)
            lines.append(data)
            carried.append(series)
        if lines:
            out.append((b"\n".join(lines), carried))
        return out

    async def _connect(self) -> None:
        """Resolve the forwarder and open the socket (again after a failure)."""
        host, _, port = self.settings["forwarder"].rpartition(":")
        infos = await asyncio.get_running_loop().getaddrinfo(
            host.strip("[]"), int(port), type=socket.SOCK_DGRAM
        )
        family, kind, proto, _, addr = infos[0]
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        self._sock, self._addr = sock, addr

    async def flush(self) -> None:
        """Send the pending counters; those that could not be sent stay pending (and the
        forwarder is resolved again at the next flush)."""
        pending = self.take()
        if not pending:
            return
        try:
            if self._sock is None:
                await self._connect()
        except (OSError, ValueError) as exc:
            self._failed(sum(pending.values()), exc)
            return
        assert self._sock is not None
        for data, carried in self.datagrams(pending):
            sent = sum(pending[s] for s in carried)
            try:
                self._sock.sendto(data, self._addr)
            except OSError as exc:  # full buffer, no route...: kept for the next flush
                self._failed(sent, exc)
                continue
            for series in carried:
                del pending[series]
            self._count("sent", sent)
            if self._failing:
                self._failing = False
                log.info("%s: sending to %s again", self.kind, self.settings["forwarder"])
        if self._failing and self._sock is not None:
            self._sock.close()
            self._sock = None

    def _failed(self, count: int, exc: Exception) -> None:
        """Count `count` increments not sent; log the first failure of a series of them."""
        self._count("failed", count)
        if not self._failing:
            self._failing = True
            log.warning(
                "%s: cannot send to %s (%s); counts kept until it can",
                self.kind,
                self.settings["forwarder"],
                exc,
            )

    def _count(self, status: str, count: int) -> None:
        """Count sent or failed increments as this output's deliveries (Falcosidekick
        counts each of its metrics on its `statsd`/`dogstatsd` Prometheus series)."""
        if self.stats is not None:
            self.stats.output(self.kind, "", status, count)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)
            try:
                await self.flush()
            except Exception:  # a bug here must not stop the counting
                log.exception("%s: flush failed", self.kind)

    async def start(self) -> None:
        """Start flushing every FLUSH_INTERVAL."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"sidekick-{self.kind}")

    async def send(self, alert: Alert) -> None:
        """Never called by the service: these outputs count, they take no alerts."""
        raise PermanentError(f"{self.kind} sends counters, not alerts")

    async def close(self) -> None:
        """Stop flushing, send what is pending, close the socket."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await self.flush()
        finally:
            if self._sock is not None:
                self._sock.close()
                self._sock = None


@register
class Statsd(StatsdCounters):
    """StatsD (`statsd.forwarder`): `outputs.<output>.<status>` named, inputs tagged."""

    kind = "statsd"
    flatten = True


@register
class Dogstatsd(StatsdCounters):
    """DogStatsD (`dogstatsd.forwarder`): every counter with its tags."""

    kind = "dogstatsd"
    flatten = False
