"""Fan alerts out to the enabled outputs, through Falco's token bucket."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, BinaryIO

from lanner.app.config import Config
from lanner.app.outputs.base import Message, Output, OutputStats
from lanner.app.outputs.registry import registered
from lanner.app.ratelimit import TokenBucket
from lanner.engine.alert import Alert, JsonOptions

log = logging.getLogger("lanner.outputs")


def json_options(cfg: Config) -> JsonOptions:
    """Falco's json_include_* switches from the configuration."""
    return JsonOptions(
        include_output=cfg.boolean("json_include_output_property"),
        include_tags=cfg.boolean("json_include_tags_property"),
        include_output_fields=cfg.boolean("json_include_output_fields_property"),
        include_message=cfg.boolean("json_include_message_property"),
    )


class OutputManager:
    """Formats each alert once and queues it on every output.

    ``emit`` is called on the event path: it only claims a token and enqueues.
    """

    def __init__(
        self,
        outputs: list[Output],
        *,
        json_output: bool = False,
        json_opts: JsonOptions | None = None,
        bucket: TokenBucket | None = None,
        on_throttle: Callable[[], None] | None = None,
        output_timeout: float = 0.0,
    ) -> None:
        self.outputs = outputs
        self.output_timeout = output_timeout  # seconds; 0: no watchdog
        self._watchdog: threading.Thread | None = None
        self._stop = threading.Event()
        self.json_output = json_output
        self.json_opts = json_opts or JsonOptions()
        self.bucket = bucket or TokenBucket(0, 0)
        self.on_throttle = on_throttle
        self.throttled = 0

    def start(self) -> None:
        """Start every output's worker."""
        for out in self.outputs:
            out.start()
        if self.output_timeout > 0 and self.outputs:
            self._watchdog = threading.Thread(
                target=self._watch, name="lanner-output-watchdog", daemon=True
            )
            self._watchdog.start()

    def _watch(self) -> None:
        """Falco's output_timeout: log once per alert an output has been delivering for
        longer than the timeout (the alert is not dropped; other outputs go on)."""
        reported: dict[int, float] = {}
        while not self._stop.wait(min(0.1, self.output_timeout / 4)):
            now = time.monotonic()
            for i, out in enumerate(self.outputs):
                started = out.write_started
                if started and now - started > self.output_timeout and reported.get(i) != started:
                    reported[i] = started
                    log.critical(
                        '"%s" output timeout: an alert has been in delivery for more than '
                        "%d ms (output_timeout); it is not dropped, the other outputs go on",
                        out.name,
                        round(self.output_timeout * 1000),
                    )

    def format(self, alert: Alert, text: str | None = None) -> Message:
        """The shared message of an alert."""
        if self.json_output:
            line = alert.to_json(self.json_opts)
        else:
            line = (text if text is not None else alert.output).encode()
        return Message(line, alert.priority, alert.rule, alert.source, self.json_output)

    def emit(self, alert: Alert, *, throttle: bool = True, text: str | None = None) -> bool:
        """Queue an alert on every output; False when the token bucket refused it."""
        if throttle and not self.bucket.claim():
            self.throttled += 1
            if self.on_throttle is not None:
                self.on_throttle()
            return False
        msg = self.format(alert, text)
        for out in self.outputs:
            out.send(msg)
        return True

    def reopen(self) -> None:
        """Reopen files and restart programs (SIGUSR1)."""
        for out in self.outputs:
            out.request_reopen()

    def close(self, timeout: float = 10.0) -> None:
        """Flush and stop every output, reporting losses."""
        for out in self.outputs:
            out.close(timeout)
        self._stop.set()
        for out in self.outputs:
            if out.stats.dropped or out.stats.errors:
                log.warning(
                    "%s output: %d alert(s) lost, %d error(s)",
                    out.name,
                    out.stats.dropped,
                    out.stats.errors,
                )


def build_outputs(
    cfg: Config,
    *,
    stats_for: Callable[[str], OutputStats] | None = None,
    block: bool = False,
    stdout: BinaryIO | None = None,
    on_throttle: Callable[[], None] | None = None,
) -> OutputManager:
    """The outputs the configuration enables; ``block`` applies backpressure (replays)."""

    def common(name: str) -> dict[str, Any]:
        return {
            "capacity": cfg.integer("outputs_queue.capacity"),
            "buffered": cfg.boolean("buffered_outputs"),
            "block": block,
            "stats": stats_for(name) if stats_for else None,
            "max_wait": cfg.duration("outputs_queue.max_wait"),
            "spill_dir": str(cfg.get("outputs_queue.spill_dir") or "") or None,
            "spill_max_bytes": max(cfg.integer("outputs_queue.spill_max_mb"), 0) * 1024 * 1024,
        }

    def enabled(key: str) -> bool:
        return cfg.boolean(f"{key}.enabled")

    outputs = [
        cls.from_config(cfg.section(key), stdout, **common(cls.name))
        for key, cls in registered(enabled).items()
    ]
    if cfg.boolean("grpc_output.enabled"):
        log.warning("grpc_output is not supported by Lanner; use http_output")
    rate = cfg.number("outputs.rate")
    return OutputManager(
        outputs,
        json_output=cfg.boolean("json_output"),
        json_opts=json_options(cfg),
        bucket=TokenBucket(rate, cfg.integer("outputs.max_burst")),
        on_throttle=on_throttle,
        output_timeout=max(cfg.integer("output_timeout"), 0) / 1000.0,
    )
