"""The k8saudit-eks plugin in ``lanner run``: ``load_plugins: [k8saudit-eks]`` with a
``plugins`` entry (``init_config``; ``open_params`` the cluster's name) polls the
cluster's audit logs in CloudWatch Logs (:mod:`lanner.sources.k8s_audit.eks`) into the
``k8s_audit`` source, with the same ``ka.*``/``jevt.*`` fields as the webhook."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from lanner.app.config import Config
from lanner.app.live import LiveFeed
from lanner.app.plugin_inputs import PluginInput, plugin_entry, reader_producer
from lanner.exceptions import ConfigError
from lanner.sources.k8s_audit.eks import PLUGIN, EksConfigError, EksOpen, EksPoller

log = logging.getLogger("lanner.k8saudit-eks")


def eks_input(cfg: Config) -> PluginInput | None:
    """The CloudWatch Logs input when k8saudit-eks is loaded (ConfigError when its
    configuration is unusable); the poller is made (its state read) when it starts."""
    entry = plugin_entry(cfg, PLUGIN)
    if entry is None:
        return None
    try:
        opened = EksOpen.parse(entry.get("init_config"), str(entry.get("open_params") or ""))
    except EksConfigError as exc:
        raise ConfigError(str(exc)) from None
    from lanner.sources.k8s_audit.source import k8s_audit_source

    def start() -> tuple[Callable[[LiveFeed], None], Any]:
        try:
            poller = EksPoller(opened)
        except EksConfigError as exc:  # an unreadable state file
            raise ConfigError(str(exc)) from None
        return eks_producer(poller), poller.stats

    return PluginInput(PLUGIN, k8s_audit_source(), start)


def eks_producer(poller: EksPoller) -> Callable[[LiveFeed], None]:
    """A producer polling until the feed stops."""
    s = poller.stats
    return reader_producer(
        poller, "k8s_audit", log,
        f"{PLUGIN}: polling {poller.opened.log_group} (streams kube-apiserver-audit*)",
        lambda: f"{PLUGIN}: {s.requests} requests, {s.events} events, errors {s.errors or 'none'}",
    )  # fmt: skip
