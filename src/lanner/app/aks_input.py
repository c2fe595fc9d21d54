"""The k8saudit-aks plugin in ``lanner run``: ``load_plugins: [k8saudit-aks]`` with a
``plugins`` entry (``init_config`` as the plugin documents it) receives the AKS cluster's
audit logs from an Azure Event Hub (:mod:`lanner.sources.k8s_audit.aks`) into the
``k8s_audit`` source, with the same ``ka.*``/``jevt.*`` fields as the webhook."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from lanner.app.config import Config
from lanner.app.live import LiveFeed
from lanner.app.plugin_inputs import PluginInput, plugin_entry, reader_producer
from lanner.exceptions import ConfigError
from lanner.sources.k8s_audit.aks import PLUGIN, AksConfigError, AksOpen, AksReader

log = logging.getLogger("lanner.k8saudit-aks")


def aks_input(cfg: Config) -> PluginInput | None:
    """The Event Hubs input when k8saudit-aks is loaded (ConfigError when its configuration
    is unusable); the reader is made (its checkpoints read) when it starts."""
    entry = plugin_entry(cfg, PLUGIN)
    if entry is None:
        return None
    try:
        opened = AksOpen.parse(entry.get("init_config"), str(entry.get("open_params") or ""))
    except AksConfigError as exc:
        raise ConfigError(str(exc)) from None
    from lanner.sources.k8s_audit.source import k8s_audit_source

    def start() -> tuple[Callable[[LiveFeed], None], Any]:
        try:
            reader = AksReader(opened)
        except AksConfigError as exc:  # an unreadable state file
            raise ConfigError(str(exc)) from None
        return aks_producer(reader), reader.stats

    return PluginInput(PLUGIN, k8s_audit_source(), start)


def aks_producer(reader: AksReader) -> Callable[[LiveFeed], None]:
    """A producer receiving until the feed stops."""
    s, opened = reader.stats, reader.opened
    return reader_producer(
        reader, "k8s_audit", log,
        f"{PLUGIN}: reading Event Hub {opened.event_hub} (consumer group {opened.consumer_group})",
        lambda: f"{PLUGIN}: {s.messages} Event Hubs events, {s.events} audit events, "
        f"errors {s.errors or 'none'}",
    )  # fmt: skip
