"""The loaded plugins' live inputs in ``lanner run`` (cloudtrail's S3/SQS reader,
github's webhook server, okta's System Log poller, k8saudit-eks's CloudWatch Logs
poller, the Pub/Sub readers of gcpaudit and k8saudit-gke): planned from the configuration
first (its errors reported before anything starts), then started only for the sources the
selection keeps, so a disabled source opens no port and makes no request."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from importlib import import_module
from typing import Any, Protocol

from lanner.app.config import Config
from lanner.app.live import LiveFeed
from lanner.engine.fields import SourceSpec
from lanner.exceptions import ConfigError
from lanner.records import FrozenRecord

Producer = Callable[[LiveFeed], None]


class Reader(Protocol):
    """A source's reader or poller: ``run(deliver)`` until ``stop`` is set or ``deliver``
    refuses a batch."""

    stop: threading.Event

    def run(self, deliver: Callable[[list[Any]], bool]) -> None: ...


class PluginInput(FrozenRecord):
    """One plugin's input: the source it feeds and how to start it.

    ``start`` binds or opens what the input needs and returns its producer and its
    counters (an object with an ``errors`` dict, for ``lanner_input_errors``); it raises
    ``ConfigError`` when it cannot (a port in use).
    """

    __slots__ = __match_args__ = ("name", "spec", "start")
    name: str
    spec: SourceSpec
    start: Callable[[], tuple[Producer, Any]]

    def __init__(
        self, name: str, spec: SourceSpec, start: Callable[[], tuple[Producer, Any]]
    ) -> None:
        setattr_ = object.__setattr__
        setattr_(self, "name", name)
        setattr_(self, "spec", spec)
        setattr_(self, "start", start)


# the plugins with a live input, as load_plugins names them, in the order their inputs
# are planned: the module and function making the input (imported only when loaded)
_MAKERS = (
    ("cloudtrail", "lanner.app.cloudtrail_input", "cloudtrail_input"),
    ("github", "lanner.app.github_input", "github_input"),
    ("okta", "lanner.app.okta_input", "okta_input"),
    ("k8saudit-eks", "lanner.app.eks_input", "eks_input"),
    ("gcpaudit", "lanner.app.gcp_input", "gcpaudit_input"),
    ("k8saudit-gke", "lanner.app.gcp_input", "gke_input"),
    ("k8saudit-aks", "lanner.app.aks_input", "aks_input"),
)


def plugin_entry(cfg: Config, name: str) -> dict[str, object] | None:
    """The ``plugins`` entry of a plugin ``load_plugins`` names, else None."""
    if name not in cfg.string_list("load_plugins"):
        return None
    entries = [p for p in cfg.get("plugins") or [] if isinstance(p, dict)]
    entry = next((p for p in entries if p.get("name") == name), None)
    if entry is None:
        raise ConfigError(f"load_plugins names {name} but plugins has no entry named {name}")
    return entry


def planned_inputs(cfg: Config) -> list[PluginInput]:
    """The inputs of the plugins ``load_plugins`` names and ``plugins`` configures
    (``ConfigError`` when a configuration is unusable); nothing is started. Only the
    loaded plugins' modules are imported (their clients and servers are heavy)."""
    loaded = set(cfg.string_list("load_plugins"))
    found = [
        getattr(import_module(module), maker)(cfg)
        for plugin, module, maker in _MAKERS
        if plugin in loaded
    ]
    return [p for p in found if p is not None]


def selected_inputs(planned: list[PluginInput], sources: list[SourceSpec]) -> list[PluginInput]:
    """The inputs whose source is among ``sources`` (the selected ones)."""
    selected = {s.name for s in sources}
    return [p for p in planned if p.spec.name in selected]


def start_inputs(chosen: list[PluginInput]) -> list[tuple[PluginInput, Producer, Any]]:
    """Start each input (``ConfigError`` when one cannot): it, its producer, its counters."""
    return [(p, *p.start()) for p in chosen]


def reader_producer(
    reader: Reader, source: str, log: logging.Logger, started: str, summary: Callable[[], str]
) -> Producer:
    """A producer running ``reader`` into the feed as events of ``source`` until the feed
    stops (its stop relayed to ``reader.stop``); ``started`` is logged before, ``summary()``
    (the reader's counters) after."""

    def relay_stop(feed: LiveFeed) -> None:
        feed.stopping.wait()
        reader.stop.set()

    def produce(feed: LiveFeed) -> None:
        threading.Thread(target=relay_stop, args=(feed,), daemon=True).start()
        log.info("%s", started)
        reader.run(lambda events: feed.put([(source, e) for e in events]))
        log.info("%s", summary())

    return produce
