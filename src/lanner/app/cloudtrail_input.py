"""The cloudtrail plugin's live modes in ``lanner run``: ``load_plugins: [cloudtrail]``
with a ``plugins`` entry whose ``open_params`` is ``s3://...`` or ``sqs://...`` (or a
local path) feeds the ``aws_cloudtrail`` source from AWS (see
:mod:`lanner.sources.cloudtrail.remote`)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from lanner.app.config import Config
from lanner.app.live import LiveFeed
from lanner.app.plugin_inputs import PluginInput
from lanner.exceptions import ConfigError
from lanner.sources.cloudtrail.remote import CloudTrailConfigError, CloudTrailOpen, CloudTrailReader

log = logging.getLogger("lanner.cloudtrail")


def cloudtrail_plugin(cfg: Config) -> CloudTrailOpen | None:
    """The cloudtrail plugin's settings when ``load_plugins`` names it and ``plugins`` has
    its entry, else None (the source then reads only files given with -e)."""
    if "cloudtrail" not in cfg.string_list("load_plugins"):
        return None
    entries = [p for p in cfg.get("plugins") or [] if isinstance(p, dict)]
    entry = next((p for p in entries if p.get("name") == "cloudtrail"), None)
    if entry is None or not entry.get("open_params"):
        return None
    try:
        return CloudTrailOpen.parse(entry.get("init_config"), str(entry.get("open_params") or ""))
    except CloudTrailConfigError as exc:
        raise ConfigError(str(exc)) from None


def cloudtrail_input(cfg: Config) -> PluginInput | None:
    """The live cloudtrail input (s3://, sqs:// or a path), when configured; its reader,
    AWS clients and queue are made when it starts (ConfigError when they cannot be)."""
    opened = cloudtrail_plugin(cfg)
    if opened is None:
        return None
    from lanner.sources.cloudtrail import cloudtrail_source

    def start() -> tuple[Callable[[LiveFeed], None], Any]:
        try:  # the AWS clients and the queue now: a bad profile or region stops the start
            reader = CloudTrailReader(opened)
        except CloudTrailConfigError as exc:
            raise ConfigError(str(exc)) from None
        return cloudtrail_producer(reader), reader.stats

    return PluginInput("cloudtrail", cloudtrail_source(), start)


def cloudtrail_producer(reader: CloudTrailReader) -> Callable[[LiveFeed], None]:
    """A producer handing each log object's events to the feed, one batch per object."""
    opened = reader.opened

    def relay_stop(feed: LiveFeed) -> None:
        feed.stopping.wait()
        reader.stop.set()

    def produce(feed: LiveFeed) -> None:
        threading.Thread(target=relay_stop, args=(feed,), daemon=True).start()
        where = f"{opened.kind}://{opened.target}" if opened.kind != "file" else opened.target
        log.info("cloudtrail: reading %s", where)
        for batch in reader.events():
            if batch and not feed.put([("aws_cloudtrail", ev) for ev in batch]):
                reader.stop.set()
                return
        s = reader.stats
        log.info("cloudtrail: %s done: %d log objects, %d events, %d skipped, errors %s",
                 where, s.objects, s.events, s.skipped_objects, s.errors or "none")  # fmt: skip

    return produce
