"""The response loop: alert -> de-dup -> matching rules -> actions, each audited.

Nothing an action does (error, exception, timeout) escapes `Responder.handle`: failures
are retried with exponential back-off when transient, then recorded, and the daemon goes on.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from lanner.exceptions import ActionError, Overloaded
from lanner.services.respond.actions import ActionContext, action_class
from lanner.services.respond.actions.kube import KubeClients
from lanner.services.respond.alert import Alert
from lanner.services.respond.audit import AuditLog, AuditRecord
from lanner.services.respond.dedup import Deduplicator
from lanner.services.respond.matcher import select
from lanner.services.respond.metrics import RespondMetrics
from lanner.services.respond.notifiers import Notifications, Outcome
from lanner.services.respond.rules import ActionSpec, ResponseRule

log = logging.getLogger("lanner.respond")
MAX_BACKOFF = 30.0  # seconds: the longest wait between two tries of an action


class Responder:
    """Runs the response rules against alerts."""

    def __init__(
        self,
        rules: list[ResponseRule],
        *,
        kube: KubeClients | None = None,
        dry_run: bool = False,
        dedup: Deduplicator | None = None,
        audit: AuditLog | None = None,
        metrics: RespondMetrics | None = None,
        notifications: Notifications | None = None,
        settings: dict[str, Any] | None = None,
        retries: int = 2,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rules = rules
        self.kube = kube if kube is not None else KubeClients()
        self.dry_run = dry_run
        self.dedup = dedup or Deduplicator(0)
        self.audit = audit or AuditLog()
        self.metrics = metrics or RespondMetrics()
        self.notifications = notifications or Notifications()
        self.settings = settings or {}  # Talon config sections (aws, minio) for outputs
        self.retries = retries
        self.backoff = backoff
        self._sleep = sleep
        self.generation = 0  # bumped by each successful reload

    def replace_rules(self, rules: list[ResponseRule]) -> None:
        """Swap in a new rules list (alerts being handled finish with the old one)."""
        self.rules = rules
        self.generation += 1

    def handle(self, payload: dict[str, Any] | Alert, source: str = "direct") -> list[AuditRecord]:
        """Respond to one alert; returns the audit records it produced. Raises AlertError
        (only) when the payload is not an alert."""
        self.metrics.alerts.labels(source).inc()
        try:
            alert = payload if isinstance(payload, Alert) else Alert.from_dict(payload)
        except ValueError:
            self.metrics.invalid.labels(source).inc()
            raise
        chosen = select(self.rules, alert)
        if not chosen:
            return []  # nothing to do: no de-duplication window either
        # An alert lacking what an action needs (a pod name, say) opens no window: a later
        # complete alert of the same key must still be acted on.
        complete = all(
            action_class(spec).has_fields(alert, spec.parameters)
            for rule in chosen
            for spec in rule.actions
        )
        if self.dedup.is_duplicate(alert, open_window=complete):
            self.metrics.deduplicated.inc()
            log.debug("duplicate of a recent alert, ignored: %s", alert.rule)
            return []
        records: list[AuditRecord] = []
        for rule in chosen:
            self.metrics.matches.labels(rule.name).inc()
            records.extend(self._run_rule(rule, alert))
        return records

    def _run_rule(self, rule: ResponseRule, alert: Alert) -> list[AuditRecord]:
        records: list[AuditRecord] = []
        previous: list[dict[str, Any]] = []
        stop_reason = ""
        for spec in rule.actions:
            dry = bool(self.dry_run or rule.dry_run or spec.dry_run)
            if stop_reason:
                record = self._record(spec, rule, alert, dry, "skipped", "", stop_reason, 0)
            else:
                record = self._run_action(spec, rule, alert, dry, previous)
            records.append(record)
            self._notify(rule, spec, alert, record)
            previous.append(
                {k: record.to_dict()[k] for k in ("action", "target", "result", "detail")}
            )
            if stop_reason:
                continue
            if record.result == "failed" and not spec.ignore_errors:
                stop_reason = f"skipped: earlier action {spec.action} failed"
            elif not spec.continue_:
                break  # `continue: false`: this action ends the rule
        return records

    def _run_action(
        self,
        spec: ActionSpec,
        rule: ResponseRule,
        alert: Alert,
        dry: bool,
        previous: list[dict[str, Any]],
    ) -> AuditRecord:
        action = action_class(spec)()
        ctx = ActionContext(
            alert=alert,
            rule=rule.name,
            params=dict(spec.parameters),
            dry_run=dry,
            kube=self.kube,
            previous=list(previous),
            output=spec.output,
            contexts=spec.contexts,
            settings=self.settings,
        )
        attempts_allowed = 1 + (spec.retries if spec.retries is not None else self.retries)
        attempt = 0
        while True:
            attempt += 1
            try:
                result = action.run(ctx)
            except ActionError as exc:
                if exc.transient and attempt < attempts_allowed:
                    delay = min(self.backoff * (2 ** (attempt - 1)), MAX_BACKOFF)
                    log.warning(
                        "%s failed (%s), retry %d in %.2fs", spec.action, exc, attempt, delay
                    )
                    self._sleep(delay)
                    continue
                log.error("%s for rule %r failed: %s", spec.action, rule.name, exc)
                return self._record(
                    spec, rule, alert, dry, "failed", exc.target, str(exc), attempt, exc.changes
                )
            except Exception as exc:  # a bug or an unexpected error: report, never crash
                log.exception("%s for rule %r crashed", spec.action, rule.name)
                detail = f"{type(exc).__name__}: {exc}"
                return self._record(spec, rule, alert, dry, "failed", "", detail, attempt)
            outcome = "dry_run" if dry else "ok"
            log.info("%s %s: %s (%s)", spec.action, result.target, result.detail, outcome)
            return self._record(
                spec,
                rule,
                alert,
                dry,
                outcome,
                result.target,
                result.detail,
                attempt,
                result.changes,
            )

    def _notify(
        self, rule: ResponseRule, spec: ActionSpec, alert: Alert, record: AuditRecord
    ) -> None:
        """Tell the rule's notifiers (and the default ones) what the action did."""
        if not (rule.notifiers or self.notifications.defaults):
            return
        status = {"ok": "success", "failed": "failure"}.get(record.result, record.result)
        objects = {}
        for key, field in (("namespace", "k8s.ns.name"), ("pod", "k8s.pod.name")):
            if alert.get(field):
                objects[key] = str(alert.get(field))
        outcome = Outcome(
            status=status,
            rule=rule.name,
            action=spec.title or spec.action,
            actionner=spec.action,
            event=alert.output,
            target=record.target,
            detail=record.detail if status != "failure" else "",
            error=record.detail if status == "failure" else "",
            objects=objects,
        )
        self.notifications.send(rule.notifiers, outcome)

    def _record(
        self,
        spec: ActionSpec,
        rule: ResponseRule,
        alert: Alert,
        dry: bool,
        result: str,
        target: str,
        detail: str,
        attempts: int,
        changes: dict[str, Any] | None = None,
    ) -> AuditRecord:
        record = AuditRecord(
            action=spec.action,
            target=target,
            result=result,
            detail=detail,
            response_rule=rule.name,
            alert_rule=alert.rule,
            alert_time=alert.time,
            dry_run=dry,
            attempts=attempts,
            changes=changes or {},
        )
        self.audit.write(record)
        self.metrics.actions.labels(spec.action, result).inc()
        return record


class Dispatcher:
    """Worker threads that take alerts off a bounded queue so inputs never wait on the
    cluster."""

    def __init__(self, responder: Responder, workers: int = 2, max_queue: int = 10_000) -> None:
        self.responder = responder
        self._queue: queue.Queue[tuple[Alert, str] | None] = queue.Queue(max_queue)
        self._threads = [
            threading.Thread(target=self._work, name=f"respond-worker-{i}", daemon=True)
            for i in range(workers)
        ]
        for t in self._threads:
            t.start()

    def submit(self, payload: dict[str, Any], source: str) -> Alert:
        """Validate the payload now (AlertError for bad ones), act on it later; raises
        Overloaded when the queue is full."""
        try:
            alert = Alert.from_dict(payload)
        except ValueError:
            self.responder.metrics.alerts.labels(source).inc()
            self.responder.metrics.invalid.labels(source).inc()
            raise
        try:
            self._queue.put_nowait((alert, source))
        except queue.Full:
            self.responder.metrics.alerts.labels(source).inc()
            self.responder.metrics.dropped.labels(source).inc()
            raise Overloaded(f"{self._queue.maxsize} alerts already waiting") from None
        return alert

    def join(self) -> None:
        """Wait until every submitted alert has been handled."""
        self._queue.join()

    def stop(self) -> None:
        """Finish queued work, then stop the workers."""
        for _ in self._threads:
            self._queue.put(None)
        for t in self._threads:
            t.join()

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                alert, source = item
                self.responder.handle(alert, source)
            except Exception:  # handle() already reports per action; this is a last resort
                log.exception("unexpected error while responding")
            finally:
                self._queue.task_done()
