"""Prometheus counters of `lanner respond`, in a registry of their own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class RespondMetrics:
    """Alerts received/invalid/deduplicated, rule matches, and actions by result."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.alerts = Counter(
            "lanner_respond_alerts_received",
            "Alerts received, by input",
            ["input"],
            registry=self.registry,
        )
        self.invalid = Counter(
            "lanner_respond_alerts_invalid",
            "Payloads rejected as not being Falco alerts, by input",
            ["input"],
            registry=self.registry,
        )
        self.dropped = Counter(
            "lanner_respond_alerts_dropped",
            "Alerts refused because the queue was full, by input",
            ["input"],
            registry=self.registry,
        )
        self.deduplicated = Counter(
            "lanner_respond_alerts_deduplicated",
            "Alerts dropped as repeats within the de-duplication window",
            registry=self.registry,
        )
        self.matches = Counter(
            "lanner_respond_rule_matches",
            "Alerts matched, by response rule",
            ["rule"],
            registry=self.registry,
        )
        self.reloads = Counter(
            "lanner_respond_rules_reloads",
            "Rules reloads on SIGHUP, by result (ok, failed)",
            ["result"],
            registry=self.registry,
        )
        self.notifications = Counter(
            "lanner_respond_notifications",
            "Notifications sent, by notifier and result (ok, failed)",
            ["notifier", "result"],
            registry=self.registry,
        )
        self.actions = Counter(
            "lanner_respond_actions",
            "Actions by action name and result (ok, failed, dry_run, skipped)",
            ["action", "result"],
            registry=self.registry,
        )
