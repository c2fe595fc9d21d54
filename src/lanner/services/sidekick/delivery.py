"""At-least-once delivery: one queue and one worker per output, retry with back-off, and an
optional SQLite spool so accepted alerts survive a restart.

An alert is acknowledged (removed from its output's queue) only once that output delivered
it, or gave up on it for a counted and logged reason (refused for good, retries exhausted).
A slow or dead output only grows its own queue; the others go on.

A queued alert is an `Entry`: its spool row id and, behind the first PACK_AFTER alerts of
a queue, its JSON bytes (`Alert.pack`, shared by every output's queue and the spool row),
rebuilt as an `Alert` when an output takes it. A tuple of an int and bytes is untracked by
the garbage collector at its first collection, so a backlog of a million alerts adds
nothing to what every full collection walks (an `Alert` with its lists and dicts is five
tracked objects: tens of milliseconds per full collection with 100,000 of them queued).
A short queue holds the alert itself, as every output receives it: neither encoded nor
rebuilt while outputs keep up.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sqlite3
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

import orjson

from lanner.exceptions import DeliveryError, PermanentError, SpoolError

from .alert import Alert
from .outputs.base import Output
from .stats import Stats

log = logging.getLogger("lanner.sidekick")

ACK_DELAY = 0.05  # seconds a delivered alert's spool row may outlive its delivery
ACK_BATCH = 1024  # rows forgotten at once at most
PACK_AFTER = 256  # alerts a queue holds as they are; behind them, as JSON bytes


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off with jitter; `retries` 0 means retry until delivered."""

    retries: int = 0
    backoff: float = 0.5
    maxbackoff: float = 30.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        base = min(self.maxbackoff, self.backoff * (2 ** min(attempt - 1, 30)))
        return base * (0.75 + random.random() / 4)


# One alert waiting for one output: (spool row id or 0, the Alert or `Alert.pack()`'s bytes)
Entry: TypeAlias = tuple[int, bytes | Alert]


def packed(alert: Alert) -> bytes | Alert:
    """`alert`'s packed bytes, or itself if it cannot be packed (a value JSON cannot hold,
    set by code; without a spool, which refuses such an alert)."""
    try:
        return alert.pack()
    except orjson.JSONEncodeError:
        return alert


def unpacked(entry: Entry) -> Alert:
    """The alert an entry holds, as an output receives it."""
    payload = entry[1]
    return payload if isinstance(payload, Alert) else Alert.unpack(payload)


class MemoryQueue:
    """A bounded in-memory FIFO; overflow is reported by `put` returning False. A `put`
    wakes one waiting consumer, not all of them (an output delivering with `concurrency`
    consumers would otherwise wake every one of them for each alert)."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._items: deque[Entry] = deque()
        self._waiters: deque[asyncio.Future[None]] = deque()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: Entry) -> bool:
        """Append; False when full."""
        if len(self._items) >= self.maxsize:
            return False
        self._items.append(item)
        self._wake_next()
        return True

    def get_nowait(self) -> Entry:
        """Take the oldest item; IndexError when empty."""
        return self._items.popleft()

    async def get(self) -> Entry:
        """Take the oldest item, waiting for one."""
        while not self._items:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled() and self._items:
                    self._wake_next()  # it was this one's turn: pass it on
                raise
        return self._items.popleft()

    def _wake_next(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return


class Spool:
    """SQLite file holding one row per (output, alert) until it is acknowledged."""

    def __init__(self, directory: str | Path) -> None:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path / "spool.sqlite3", isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS queue (id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " output TEXT NOT NULL, payload BLOB NOT NULL)"
        )
        self.db.execute("CREATE INDEX IF NOT EXISTS queue_output ON queue(output, id)")
        self._acks: list[int] = []  # delivered rows, forgotten together (`ack_soon`)
        self._ack_timer: asyncio.TimerHandle | None = None

    def put(self, outputs: list[str], payload: bytes) -> dict[str, int]:
        """Store the alert for each output in one transaction; return the row ids."""
        return self.put_many([(outputs, payload)])[0]

    def put_many(self, rows: list[tuple[list[str], bytes]]) -> list[dict[str, int]]:
        """Store several alerts (each for its outputs) in one transaction; their row ids."""
        out: list[dict[str, int]] = []
        with self.db:
            self.db.execute("BEGIN")
            for outputs, payload in rows:
                ids: dict[str, int] = {}
                for name in outputs:
                    cur = self.db.execute(
                        "INSERT INTO queue (output, payload) VALUES (?, ?)", (name, payload)
                    )
                    ids[name] = cur.lastrowid or 0
                out.append(ids)
        return out

    def pending(self, output: str, limit: int = -1) -> list[tuple[int, bytes]]:
        """Rows not yet acknowledged for `output`, oldest first (at most `limit`)."""
        self.flush_acks()
        return self.db.execute(
            "SELECT id, payload FROM queue WHERE output = ? ORDER BY id LIMIT ?", (output, limit)
        ).fetchall()

    def orphans(self, known: set[str]) -> dict[str, int]:
        """Counts of rows whose output is no longer configured."""
        rows = self.db.execute("SELECT output, COUNT(*) FROM queue GROUP BY output").fetchall()
        return {name: n for name, n in rows if name not in known}

    def ack(self, key: int) -> None:
        """Forget a delivered (or given up) row."""
        self.db.execute("DELETE FROM queue WHERE id = ?", (key,))

    def ack_many(self, keys: list[int]) -> None:
        """Forget several rows in one transaction."""
        if len(keys) == 1:
            self.ack(keys[0])
        elif keys:
            with self.db:
                self.db.execute("BEGIN")
                self.db.executemany("DELETE FROM queue WHERE id = ?", [(k,) for k in keys])

    def ack_soon(self, keys: list[int]) -> None:
        """Forget delivered rows within ACK_DELAY seconds, in one transaction with the
        others delivered meanwhile (a crash before then sends them again: at least once;
        a transaction per delivered alert cost more than the delivery itself)."""
        if not self._acks:
            self._ack_timer = asyncio.get_running_loop().call_later(ACK_DELAY, self.flush_acks)
        self._acks.extend(keys)
        if len(self._acks) >= ACK_BATCH:
            self.flush_acks()

    def flush_acks(self) -> None:
        """Forget the rows `ack_soon` gathered; logs (rows stay on disk) when that fails."""
        if self._ack_timer is not None:
            self._ack_timer.cancel()
            self._ack_timer = None
        keys, self._acks = self._acks, []
        try:
            self.ack_many(keys)
        except sqlite3.Error as exc:  # delivered; they may be sent again after a restart
            log.error("spool: acknowledging %d delivered alert(s) failed: %s", len(keys), exc)

    def close(self) -> None:
        """Forget what was delivered, then close the database."""
        self.flush_acks()
        self.db.close()


class Worker:
    """Delivers one output's queue in order, retrying each alert per the policy."""

    def __init__(
        self,
        output: Output,
        queue: MemoryQueue,
        policy: RetryPolicy,
        stats: Stats,
        spool: Spool | None,
        timeout: float,
        concurrency: int = 1,
    ) -> None:
        self.output = output
        self.concurrency = concurrency
        self.inflight: set[int] = set()  # spool keys being delivered
        self.busy = 0
        self.queue = queue
        self.policy = policy
        self.stats = stats
        self.spool = spool
        self.timeout = timeout
        self.name = output.kind
        self.healthy = True
        self.last_error = ""
        self.overflow = False  # alerts wait in the spool only, beyond the memory queue
        self._bounded: bool | None = None  # output.bounded(), asked on first delivery
        stats.depth_of(self.name, self.__len__)

    def load_spool(self) -> int:
        """Queue this output's spooled alerts (up to the queue size); return how many. Each
        is read and packed again: an unreadable row raises here, as it did when rows were
        queued as alerts, and the queue holds what `Alert.unpack` reads."""
        if self.spool is None:
            return 0
        room = self.queue.maxsize - len(self.queue)
        rows = self.spool.pending(self.name, room + len(self.inflight))
        loaded = 0
        for key, payload in rows:
            if key not in self.inflight and loaded < room:
                self.queue.put((key, packed(Alert.from_dict(orjson.loads(payload)))))
                loaded += 1
        self.overflow = len(rows) >= room + len(self.inflight)
        return loaded

    def __len__(self) -> int:
        """Alerts queued or being delivered."""
        return len(self.queue) + self.busy

    async def run(self) -> None:
        """Run `concurrency` consumers (1: strictly in order)."""
        await asyncio.gather(*(self._consume() for _ in range(self.concurrency)))

    async def _consume(self) -> None:
        batch_max = max(1, self.output.max_batch)
        while True:
            items = [await self.queue.get()]
            if self.output.batch_window > 0:  # let a batch fill, up to the window
                await self._fill(batch_max - 1, self.output.batch_window)
            while len(items) < batch_max and len(self.queue):  # only what already waits
                items.append(self.queue.get_nowait())
            self.busy += len(items)
            self.inflight.update(key for key, _ in items)
            try:
                if len(items) == 1:
                    await self.deliver(unpacked(items[0]))
                else:
                    await self.deliver_batch([unpacked(i) for i in items])
                if self.spool is not None:
                    keys = [key for key, _ in items if key]
                    if keys:
                        self.spool.ack_soon(keys)
            finally:
                self.inflight.difference_update(key for key, _ in items)
                self.busy -= len(items)
            if self.overflow and not len(self.queue):
                try:
                    self.load_spool()
                except sqlite3.Error as exc:  # rows stay on disk for the next start
                    log.error("%s: spool read failed: %s", self.name, exc)

    async def _fill(self, wanted: int, window: float) -> None:
        """Wait until `wanted` more alerts are queued or `window` seconds passed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + window
        while len(self.queue) < wanted and (left := deadline - loop.time()) > 0:
            await asyncio.sleep(min(left, 0.2))

    def _count(self, alerts: list[Alert], status: str) -> None:
        by_prio: dict[str, int] = {}
        for alert in alerts:
            prio = alert.priority.name.lower()
            by_prio[prio] = by_prio.get(prio, 0) + 1
        for prio, count in by_prio.items():
            self.stats.output(self.name, prio, status, count)

    async def deliver_batch(self, alerts: list[Alert]) -> None:
        """One request for several alerts (`Output.send_batch`), retried as a whole per the
        policy; alerts the target refused one by one, or all of them when it refused the
        whole request, then go through `deliver` one at a time (which isolates a bad one)."""
        attempt = 0
        while True:
            attempt += 1
            try:
                async with asyncio.timeout(self.timeout * 2):
                    refused = await self.output.send_batch(alerts)
            except PermanentError as exc:
                log.warning(
                    "%s: batch of %d refused (%s); sending one by one", self.name, len(alerts), exc
                )
                refused = alerts
            except (DeliveryError, TimeoutError, OSError) as exc:
                self.healthy = False
                self.last_error = str(exc) or type(exc).__name__
                self._count(alerts, "failed")
                if self.policy.retries and attempt > self.policy.retries:
                    for alert in alerts:
                        self._give_up(
                            alert,
                            alert.priority.name.lower(),
                            f"{attempt} attempts failed, last: {self.last_error}",
                        )
                    return
                delay = self.policy.delay(attempt)
                hint = getattr(exc, "retry_after", None)
                if hint is not None:
                    delay = hint
                log.warning(
                    "%s: batch of %d failed (%s); retry %d in %.2fs",
                    self.name,
                    len(alerts),
                    self.last_error,
                    attempt,
                    delay,
                )
                await asyncio.sleep(delay)
                self._count(alerts, "retried")
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug in the batch code: the one-by-one path still works
                log.exception("%s: unexpected error in a batch", self.name)
                self.last_error = f"unexpected {type(exc).__name__}: {exc}"
                refused = alerts
            else:
                if not self.healthy:
                    log.info("%s: delivering again", self.name)
                self.healthy = True
            ids = {id(a) for a in refused}
            self._count([a for a in alerts if id(a) not in ids], "sent")
            for alert in refused:
                await self.deliver(alert)
            return

    async def deliver(self, alert: Alert) -> None:
        """Try until success, a permanent refusal, or the retry limit."""
        prio = alert.priority.name.lower()
        attempt = 0
        if self._bounded is None:
            self._bounded = self.output.bounded()
        while True:
            attempt += 1
            try:
                if self._bounded:
                    await self.output.send(alert)
                else:
                    async with asyncio.timeout(self.timeout * 2):
                        await self.output.send(alert)
            except PermanentError as exc:
                self._give_up(alert, prio, f"refused: {exc}")
                return
            except (DeliveryError, TimeoutError, OSError) as exc:
                self.healthy = False
                self.last_error = str(exc) or type(exc).__name__
                self.stats.output(self.name, prio, "failed")
                if self.policy.retries and attempt > self.policy.retries:
                    self._give_up(
                        alert, prio, f"{attempt} attempts failed, last: {self.last_error}"
                    )
                    return
                delay = self.policy.delay(attempt)
                hint = getattr(exc, "retry_after", None)
                if hint is not None:  # the target's own rate limit wins over back-off
                    delay = hint
                log.warning(
                    "%s: delivery failed (%s); retry %d in %.2fs",
                    self.name,
                    self.last_error,
                    attempt,
                    delay,
                )
                await asyncio.sleep(delay)
                self.stats.output(self.name, prio, "retried")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug in an output must not stop the others
                log.exception("%s: unexpected error", self.name)
                self._give_up(alert, prio, f"unexpected {type(exc).__name__}: {exc}")
                return
            else:
                if not self.healthy:
                    log.info("%s: delivering again", self.name)
                self.healthy = True
                self.stats.output(self.name, prio, "sent")
                return

    def _give_up(self, alert: Alert, prio: str, reason: str) -> None:
        self.stats.output(self.name, prio, "dropped")
        self.last_error = reason
        log.error("%s: dropped alert %r at %s: %s", self.name, alert.rule, alert.time, reason)


class Dispatcher:
    """Routes accepted alerts to the outputs whose minimum priority they reach."""

    def __init__(
        self,
        outputs: list[Output],
        stats: Stats,
        policy: RetryPolicy,
        queuesize: int = 100_000,
        concurrency: int = 1,
        spooldir: str = "",
        timeout: float = 10.0,
    ) -> None:
        self.stats = stats
        self.spool = Spool(spooldir) if spooldir else None
        self.workers = {
            o.kind: Worker(
                o,
                MemoryQueue(queuesize),
                policy,
                stats,
                self.spool,
                timeout,
                o.concurrency(concurrency),
            )
            for o in outputs
        }
        self._tasks: list[asyncio.Task[None]] = []
        self._group: list[tuple[Alert, list[Worker], Callable[[list[str] | SpoolError], None]]]
        self._group = []

    async def start(self) -> None:
        """Open outputs, reload the spool, start one task per output."""
        if self.spool is not None:
            for name, count in self.spool.orphans(set(self.workers)).items():
                log.error(
                    "spool: %d alert(s) for output %r, which is not configured; kept", count, name
                )
        for worker in self.workers.values():
            try:
                await worker.output.start()
            except Exception as exc:  # the worker retries on send
                log.warning("%s: start failed: %s", worker.name, exc)
            if worker.load_spool():
                log.info("%s: %d alert(s) reloaded from the spool", worker.name, len(worker.queue))
            self._tasks.append(asyncio.create_task(worker.run(), name=f"sidekick-{worker.name}"))

    def submit(self, alert: Alert, everywhere: bool = False) -> list[str]:
        """Queue `alert` for every output that accepts it (all when `everywhere`). A
        submitted alert must not change: queues hold it, or its JSON."""
        targets = [w for w in self.workers.values() if everywhere or w.output.accepts(alert)]
        if not targets:
            return []
        keys: dict[str, int] = {}
        payload = None
        if self.spool is not None:
            payload = alert.pack()
            try:
                keys = self.spool.put([w.name for w in targets], payload)
            except sqlite3.Error as exc:  # not durable: refuse rather than pretend
                log.error("spool: cannot store alert %r: %s", alert.rule, exc)
                raise SpoolError(str(exc)) from exc
        self._enqueue(alert, payload, targets, keys)
        return [w.name for w in targets]

    def submit_grouped(
        self, alert: Alert, done: Callable[[list[str] | SpoolError], None]
    ) -> list[str] | None:
        """As `submit`, but the spool write is shared: every alert submitted in one
        event-loop turn is stored in one transaction at the end of the turn, then queued,
        then `done(targets)` is called (`done(SpoolError)` when the transaction failed:
        none of them was queued), in the order submitted; None is returned. Without a
        spool, or with no target, the alert is queued at once and its targets are returned
        (`done` is not called)."""
        targets: list[Worker] = []
        for worker in self.workers.values():
            if worker.output.accepts(alert):
                targets.append(worker)
        if self.spool is None or not targets:
            names: list[str] = []
            for worker in targets:
                names.append(worker.name)
            if targets:
                self._enqueue(alert, None, targets, {})
            return names
        if not self._group:
            asyncio.get_running_loop().call_soon(self._commit_group)
        self._group.append((alert, targets, done))
        return None

    def _commit_group(self) -> None:
        """Store the alerts of this turn in one transaction; queue them; call their `done`."""
        group, self._group = self._group, []
        assert self.spool is not None
        payloads = [a.pack() for a, _, _ in group]
        rows = [([w.name for w in t], p) for (_, t, _), p in zip(group, payloads, strict=True)]
        try:
            stored: list[dict[str, int]] | SpoolError = self.spool.put_many(rows)
        except sqlite3.Error as exc:  # not durable: refuse them all rather than pretend
            log.error("spool: cannot store %d alert(s): %s", len(group), exc)
            stored = SpoolError(str(exc))
        for index, (alert, targets, done) in enumerate(group):
            names: list[str] | SpoolError
            if isinstance(stored, SpoolError):
                names = stored
            else:
                self._enqueue(alert, payloads[index], targets, stored[index])
                names = [w.name for w in targets]
            try:
                done(names)
            except Exception:  # one answer that cannot be written must not block the rest
                log.exception("sidekick: answering a stored alert failed")

    def submit_many(self, alerts: list[Alert]) -> list[str]:
        """Queue a batch: spooled in one transaction (all or none), then as `submit` each;
        returns the outputs that queued at least one alert."""
        routes = [[w for w in self.workers.values() if w.output.accepts(a)] for a in alerts]
        keys: list[dict[str, int]] = [{} for _ in alerts]
        payloads: list[bytes | None] = [None for _ in alerts]
        if self.spool is not None:
            payloads = [
                a.pack() if targets else None for a, targets in zip(alerts, routes, strict=True)
            ]
            rows = [
                ([w.name for w in targets], payload)
                for payload, targets in zip(payloads, routes, strict=True)
                if targets and payload is not None
            ]
            try:
                stored = iter(self.spool.put_many(rows))
            except sqlite3.Error as exc:
                log.error("spool: cannot store a batch of %d alert(s): %s", len(alerts), exc)
                raise SpoolError(str(exc)) from exc
            keys = [next(stored) if targets else {} for targets in routes]
        used: dict[str, None] = {}
        for alert, payload, targets, key in zip(alerts, payloads, routes, keys, strict=True):
            if targets:
                self._enqueue(alert, payload, targets, key)
            used.update(dict.fromkeys(w.name for w in targets))
        return list(used)

    def _enqueue(
        self, alert: Alert, payload: bytes | None, targets: list[Worker], keys: dict[str, int]
    ) -> None:
        """Queue `alert` for each of `targets`: as it is in a queue shorter than PACK_AFTER,
        else as its JSON (`payload`, the spooled bytes, when given: then also the alert's
        `json()`; packed here once otherwise)."""
        held: bytes | Alert | None = payload
        if payload is not None:
            alert.packed = payload
        for worker in targets:
            key = keys.get(worker.name, 0) if keys else 0
            if len(worker.queue) < PACK_AFTER:
                entry: Entry = (key, alert)
            else:
                if held is None:
                    held = packed(alert)
                entry = (key, held)
            if not worker.queue.put(entry):
                if key:  # durable: the worker reloads it from the spool when it catches up
                    worker.overflow = True
                    continue
                self.stats.output(worker.name, alert.priority.name.lower(), "dropped")
                log.error(
                    "%s: queue full (%d); dropped alert %r",
                    worker.name,
                    worker.queue.maxsize,
                    alert.rule,
                )
                continue

    def pending(self) -> int:
        """Alerts waiting across all outputs."""
        return sum(len(w) for w in self.workers.values())

    async def drain(self, timeout: float) -> bool:
        """Wait until every queue is empty or `timeout` passes; True if drained."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.pending() and loop.time() < deadline:
            await asyncio.sleep(0.05)
        return not self.pending()

    async def stop(self) -> None:
        """Stop workers and close outputs; undelivered spooled alerts stay on disk."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        for worker in self.workers.values():
            try:
                await worker.output.close()
            except Exception as exc:  # closing must not hide the other outputs' close
                log.warning("%s: close failed: %s", worker.name, exc)
        if self.spool is not None:
            self.spool.close()
