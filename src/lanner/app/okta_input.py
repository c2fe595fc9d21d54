"""The okta plugin in ``lanner run``: ``load_plugins: [okta]`` with a ``plugins`` entry
(``init_config`` as the plugin documents it) polls the System Log
(:mod:`lanner.sources.okta.poller`) into the ``okta`` source."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from lanner.app.config import Config
from lanner.app.live import LiveFeed
from lanner.app.plugin_inputs import PluginInput, plugin_entry, reader_producer
from lanner.exceptions import ConfigError
from lanner.sources.okta.poller import OktaConfigError, OktaOpen, OktaPoller

log = logging.getLogger("lanner.okta")


def okta_input(cfg: Config) -> PluginInput | None:
    """The System Log input when the okta plugin is loaded (ConfigError when its
    configuration is unusable); the poller is made (its state read) when it starts."""
    entry = plugin_entry(cfg, "okta")
    if entry is None:
        return None
    try:
        opened = OktaOpen.parse(entry.get("init_config"))
    except OktaConfigError as exc:
        raise ConfigError(str(exc)) from None
    from lanner.sources.okta import okta_source

    def start() -> tuple[Callable[[LiveFeed], None], Any]:
        try:
            poller = OktaPoller(opened)
        except OktaConfigError as exc:  # an unreadable state file
            raise ConfigError(str(exc)) from None
        return okta_producer(poller), poller.stats

    return PluginInput("okta", okta_source(opened.organization), start)


def okta_producer(poller: OktaPoller) -> Callable[[LiveFeed], None]:
    """A producer polling until the feed stops."""
    s = poller.stats
    return reader_producer(
        poller, "okta", log, f"okta: polling {poller.opened.base_url}/api/v1/logs",
        lambda: f"okta: {s.requests} requests, {s.events} events, errors {s.errors or 'none'}",
    )  # fmt: skip
