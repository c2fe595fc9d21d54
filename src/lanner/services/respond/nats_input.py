"""NATS input: subscribe to subjects carrying Falco alert JSON (e.g. from sidekick)."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Sequence
from typing import Any

from lanner.services.respond.engine import Dispatcher, Overloaded

log = logging.getLogger("lanner.respond.nats")


class NatsInput:
    """A background thread running an asyncio NATS subscriber that feeds the dispatcher."""

    def __init__(
        self,
        url: str,
        subjects: Sequence[str],
        dispatcher: Dispatcher,
        queue_group: str | None = None,
        connect_timeout: float = 10.0,
    ) -> None:
        self.url = url
        self.subjects = list(subjects)
        self.dispatcher = dispatcher
        self.queue_group = queue_group or ""
        self.connect_timeout = connect_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None

    def start(self) -> None:
        """Connect and subscribe; raises if the first connection fails."""
        self._thread = threading.Thread(target=self._run, name="respond-nats", daemon=True)
        self._thread.start()
        self._ready.wait(self.connect_timeout + 5)
        if self._error is not None:
            raise ConnectionError(f"NATS {self.url}: {self._error}") from self._error
        if not self._ready.is_set():
            raise ConnectionError(f"NATS {self.url}: not connected in time")

    def stop(self) -> None:
        """Drain the subscriptions and stop the thread."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._main())
        except BaseException as exc:  # surfaced to start()
            self._error = exc if str(exc) else TimeoutError("no connection within the timeout")
            self._ready.set()
        finally:
            self._loop.close()

    async def _main(self) -> None:
        import nats

        self._stop = asyncio.Event()

        async def on_error(exc: Exception) -> None:
            log.warning("NATS error: %s", exc)

        # Reconnect forever once connected, but give up on a first connection that does
        # not come within the timeout, so a wrong URL is reported at start-up.
        nc = await asyncio.wait_for(
            nats.connect(
                self.url,
                connect_timeout=self.connect_timeout,
                max_reconnect_attempts=-1,
                allow_reconnect=True,
                error_cb=on_error,
                name="lanner-respond",
            ),
            timeout=self.connect_timeout,
        )
        for subject in self.subjects:
            await nc.subscribe(subject, queue=self.queue_group, cb=self._on_message)
        await nc.flush()
        log.info("subscribed to %s on %s", ", ".join(self.subjects), self.url)
        self._ready.set()
        await self._stop.wait()
        await nc.drain()

    async def _on_message(self, msg: Any) -> None:
        try:
            payload = json.loads(msg.data)
        except ValueError:
            self.dispatcher.responder.metrics.invalid.labels("nats").inc()
            log.warning("ignored a message on %s that is not JSON", msg.subject)
            return
        try:
            self.dispatcher.submit(payload, "nats")
        except Overloaded as exc:
            log.error("dropped an alert from %s: %s", msg.subject, exc)
        except ValueError as exc:
            log.warning("ignored a message on %s that is not a Falco alert: %s", msg.subject, exc)
