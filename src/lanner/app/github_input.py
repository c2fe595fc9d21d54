"""The github plugin in ``lanner run``: ``load_plugins: [github]`` with a ``plugins``
entry (``init_config``, ``open_params`` as the plugin documents them) serves the webhook
(see :mod:`lanner.sources.github.webhook`) and feeds the ``github`` source."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from lanner.app.config import Config
from lanner.app.live import LiveFeed
from lanner.app.plugin_inputs import PluginInput, plugin_entry
from lanner.exceptions import ConfigError
from lanner.sources.github.webhook import GithubConfigError, GithubOpen, GithubWebhook
from lanner.sources.json_source.event import JsonEvent

log = logging.getLogger("lanner.github")


def github_input(cfg: Config) -> PluginInput | None:
    """The webhook input when the github plugin is loaded (ConfigError when its
    configuration is unusable); the server is bound when the input starts."""
    entry = plugin_entry(cfg, "github")
    if entry is None:
        return None
    try:
        opened = GithubOpen.parse(entry.get("init_config"), str(entry.get("open_params") or ""))
    except GithubConfigError as exc:
        raise ConfigError(str(exc)) from None
    from lanner.sources.github import github_source

    def start() -> tuple[Callable[[LiveFeed], None], Any]:
        hook = github_webhook(opened)
        return github_producer(hook), hook.stats

    return PluginInput("github", github_source(), start)


def github_webhook(opened: GithubOpen) -> GithubWebhook:
    """The webhook server (bound, not yet serving)."""
    feed: list[LiveFeed] = []

    def deliver(event: JsonEvent) -> bool:
        return bool(feed) and feed[0].put([("github", event)])

    try:
        hook = GithubWebhook(opened, deliver)
    except GithubConfigError as exc:
        raise ConfigError(str(exc)) from None
    except OSError as exc:
        raise ConfigError(f"github: cannot listen on {opened.host}:{opened.port}: {exc}") from None
    hook.attach = feed.append  # type: ignore[attr-defined]
    return hook


def github_producer(hook: GithubWebhook) -> Callable[[LiveFeed], None]:
    """A producer serving the webhook until the feed stops."""

    def produce(feed: LiveFeed) -> None:
        hook.attach(feed)  # type: ignore[attr-defined]
        try:
            hook.start()
        except GithubConfigError as exc:
            log.error("%s", exc)
            hook.stop()
            raise
        feed.stopping.wait()
        hook.stop()
        s = hook.stats
        log.info("github: %d messages accepted, errors %s", s.accepted, s.errors or "none")

    return produce
