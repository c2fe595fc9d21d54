"""Fan alerts out to the enabled outputs, through Falco's token bucket."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, BinaryIO

from lanner.app.config import Config, parse_duration
from lanner.app.outputs.base import Message, Output, OutputStats
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

    # each output's module is imported only when it is enabled (httpx is slow to import)
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

    outputs: list[Output] = []
    if cfg.boolean("stdout_output.enabled"):
        from lanner.app.outputs.stdout import StdoutOutput

        outputs.append(StdoutOutput(stdout, **common("stdout")))
    if cfg.boolean("file_output.enabled"):
        from lanner.app.outputs.file import FileOutput

        f = cfg.section("file_output")
        outputs.append(FileOutput(str(f.get("filename", "")), bool(f.get("keep_alive")),
                                  **common("file")))  # fmt: skip
    if cfg.boolean("syslog_output.enabled"):
        from lanner.app.outputs.syslog import SyslogOutput

        s = cfg.section("syslog_output")
        outputs.append(
            SyslogOutput(
                str(s.get("address") or "/dev/log"),
                str(s.get("facility") or "user"),
                str(s.get("ident") or ""),
                **common("syslog"),
            )
        )
    if cfg.boolean("program_output.enabled"):
        from lanner.app.outputs.program import ProgramOutput

        p = cfg.section("program_output")
        outputs.append(ProgramOutput(str(p.get("program", "")), bool(p.get("keep_alive")),
                                     **common("program")))  # fmt: skip
    if cfg.boolean("http_output.enabled"):
        from lanner.app.outputs.http import HttpOutput, HttpSettings

        h = dict(cfg.section("http_output"))
        settings = HttpSettings(
            url=str(h.get("url", "")),
            user_agent=str(h.get("user_agent") or "falcosecurity/falco"),
            insecure=bool(h.get("insecure")),
            ca_cert=str(h.get("ca_cert") or ""),
            ca_bundle=str(h.get("ca_bundle") or ""),
            ca_path=str(h.get("ca_path") or ""),
            mtls=bool(h.get("mtls")),
            client_cert=str(h.get("client_cert") or ""),
            client_key=str(h.get("client_key") or ""),
            echo=bool(h.get("echo")),
            compress_uploads=bool(h.get("compress_uploads")),
            keep_alive=bool(h.get("keep_alive", True)),
            headers=dict(h.get("headers") or {}),
            timeout=parse_duration(h.get("timeout", "10s")),
            max_retries=max(0, int(h.get("max_retries", 5))),
            retry_backoff=parse_duration(h.get("retry_backoff", "500ms")),
        )
        outputs.append(HttpOutput(settings, **common("http")))
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
