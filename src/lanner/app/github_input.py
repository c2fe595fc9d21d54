"""The github plugin in ``lanner run``: ``load_plugins: [github]`` with a ``plugins``
entry (``init_config``, ``open_params`` as the plugin documents them) serves the webhook
(see :mod:`lanner.sources.github.webhook`) and feeds the ``github`` source."""

from __future__ import annotations

import logging
from collections.abc import Callable

from lanner.app.config import Config
from lanner.app.live import LiveFeed
from lanner.exceptions import ConfigError
from lanner.sources.github.webhook import GithubConfigError, GithubOpen, GithubWebhook
from lanner.sources.json_source.event import JsonEvent

log = logging.getLogger("lanner.github")


def plugin_entry(cfg: Config, name: str) -> dict[str, object] | None:
    """The ``plugins`` entry of a plugin ``load_plugins`` names, else None."""
    if name not in cfg.string_list("load_plugins"):
        return None
    entries = [p for p in cfg.get("plugins") or [] if isinstance(p, dict)]
    entry = next((p for p in entries if p.get("name") == name), None)
    if entry is None:
        raise ConfigError(f"load_plugins names {name} but plugins has no entry named {name}")
    return entry


def github_webhook(cfg: Config) -> GithubWebhook | None:
    """The webhook server (bound, not yet serving) when the github plugin is loaded."""
    entry = plugin_entry(cfg, "github")
    if entry is None:
        return None
    feed: list[LiveFeed] = []

    def deliver(event: JsonEvent) -> bool:
        return bool(feed) and feed[0].put([("github", event)])

    try:
        opened = GithubOpen.parse(entry.get("init_config"), str(entry.get("open_params") or ""))
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
