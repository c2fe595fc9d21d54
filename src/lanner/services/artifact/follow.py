"""``lanner artifact follow``: poll the references, and install a new digest once it
verifies, meets the requirements of the running engine and loads; otherwise keep the
installed files and say why (log line and counters)."""

from __future__ import annotations

import logging
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from lanner.exceptions import ArtifactError
from lanner.services.artifact.install import Installer
from lanner.services.artifact.requirements import EngineVersions

log = logging.getLogger("lanner.artifact")


@dataclass(slots=True)
class FollowStats:
    """What the follower did, by outcome (``updated``, ``unchanged``, ``refused``,
    ``failed``) and reference."""

    checks: Counter[tuple[str, str]] = field(default_factory=Counter)
    last_error: dict[str, str] = field(default_factory=dict)


class Follower:
    """Keeps references installed at their newest digest."""

    def __init__(
        self,
        installer: Installer,
        refs: list[str],
        every: float,
        *,
        engine_versions: Callable[[], EngineVersions] | None = None,
        startup: str = "immediate",
    ) -> None:
        self.installer = installer
        self.refs = refs
        self.every = every
        self.engine_versions = engine_versions
        self.startup = startup
        self.stats = FollowStats()

    def check_once(self) -> list[str]:
        """One pass over the references; return those updated."""
        updated = []
        state = self.installer.state()
        for text in self.refs:
            try:
                ref = self.installer.resolve(text)
                digest = self.installer.current_digest(text)
                key = f"{ref.registry}/{ref.repository}"
                if (state.get(key) or {}).get("digest") == digest:
                    self.stats.checks[("unchanged", text)] += 1
                    continue
                if self.engine_versions is not None:
                    self.installer.options.engine = self.engine_versions()
                self.installer.install([text])
            except ArtifactError as exc:
                outcome = "refused" if _is_refusal(exc) else "failed"
                self.stats.checks[(outcome, text)] += 1
                self.stats.last_error[text] = str(exc)
                log.warning("%s: update %s, the installed files stay: %s", text, outcome, exc)
                continue
            self.stats.checks[("updated", text)] += 1
            self.stats.last_error.pop(text, None)
            updated.append(text)
        return updated

    def run(self, stop: threading.Event) -> None:
        """Check every ``every`` seconds until ``stop`` is set."""
        first = {"immediate": 0.0, "skip": self.every, "jitter": random.uniform(0, self.every)}
        wait = first.get(self.startup, 0.0)
        log.info("following %s every %gs", ", ".join(self.refs), self.every)
        while not stop.wait(wait):
            self.check_once()
            wait = self.every


def _is_refusal(exc: ArtifactError) -> bool:
    from lanner.exceptions import RequirementError, SignatureError

    return isinstance(exc, RequirementError | SignatureError)


class FollowCollector:
    """The follower's counters as Prometheus series: ``lanner_artifact_follow_checks_total
    {ref, outcome}`` and ``lanner_artifact_follow_failing{ref}`` (1 while the last check of
    a reference failed or was refused: the installed files are older than the registry's)."""

    def __init__(self, follower: Follower) -> None:
        self.follower = follower

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        stats = self.follower.stats
        checks = CounterMetricFamily(
            "lanner_artifact_follow_checks",
            "Checks of followed artifacts, by outcome",
            labels=["ref", "outcome"],
        )
        for (outcome, ref), n in sorted(stats.checks.items()):
            checks.add_metric([ref, outcome], n)
        yield checks
        failing = GaugeMetricFamily(
            "lanner_artifact_follow_failing",
            "1 while a followed artifact's update fails",
            labels=["ref"],
        )
        for ref in self.follower.refs:
            failing.add_metric([ref], 1.0 if ref in stats.last_error else 0.0)
        yield failing


def serve_metrics(follower: Follower, address: str) -> None:
    """Serve :class:`FollowCollector` on ``HOST:PORT`` (``/metrics``)."""
    from prometheus_client import CollectorRegistry, start_http_server

    host, _, port = address.rpartition(":")
    registry = CollectorRegistry()
    registry.register(FollowCollector(follower))
    start_http_server(int(port), addr=host or "127.0.0.1", registry=registry)
