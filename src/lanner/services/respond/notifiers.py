"""Notifiers: tell people what an action did, as Falco Talon's notifiers do.

Configured with Talon's `notifiers:` section (`lanner respond --config talon.yaml`);
`default_notifiers` apply to every rule, a rule's `notifiers: [...]` add to them. Each
action's outcome is sent to each of its rule's notifiers; a notifier that fails is logged
and counted, never fails the action.

- `webhook`: POST (or `http_method`) the outcome as JSON to `url`, with `custom_headers`.
- `slack`: a Slack incoming-webhook message (`webhook_url`, `username`, `icon`, `footer`,
  `format: long|short`); Mattermost and Rocket.Chat accept the same payload.
- `loki`: a log line pushed to `url`/loki/api/v1/push (`user`/`api_key` basic auth,
  `tenant` as X-Scope-OrgID, `custom_headers`).
- `k8sevents`: a Kubernetes Event about the pod (namespace `default` when there is none).
- `elasticsearch`: the outcome as a document in `index` (`-YYYY.MM.DD` with `suffix:
  daily`, `monthly`, `annually`, or none), basic auth `user`/`password`; with
  `create_index_template` (default) an index template with `number_of_shards` and
  `number_of_replicas` is put first when there is none.
- `smtp`: a mail from `from` to `to` (comma-separated) through `host_port`, STARTTLS with
  `tls: true`, login with `user`/`password`; `format: html` or `text`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx

from lanner.exceptions import NotifierError

log = logging.getLogger("lanner.respond")


@dataclass
class Outcome:
    """What one action did, as a notifier sends it."""

    status: str  # success, failure, ignored, dry_run, skipped
    rule: str
    action: str
    actionner: str
    event: str  # the alert's output line
    target: str
    detail: str
    error: str = ""
    objects: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready mapping."""
        return {
            "status": self.status,
            "message": "action",
            "rule": self.rule,
            "action": self.action,
            "actionner": self.actionner,
            "event": self.event,
            "target": self.target,
            "output": self.detail,
            "error": self.error,
            "objects": dict(self.objects),
        }


def _check_http(resp: httpx.Response, url: str) -> None:
    if resp.status_code >= 400:
        raise NotifierError(f"{url}: HTTP {resp.status_code}")


class Notifier:
    """One configured notifier; `send` raises NotifierError."""

    options: tuple[str, ...] = ()
    required: tuple[str, ...] = ()

    def __init__(self, settings: dict[str, Any], kube: Any = None) -> None:
        self.settings = settings
        self.kube = kube

    @classmethod
    def check(cls, settings: Any) -> list[str]:
        """Problems with the settings (unknown or missing keys)."""
        if not isinstance(settings, dict):
            return ["settings must be a mapping"]
        problems = [f"unknown setting '{k}'" for k in sorted(set(settings) - set(cls.options))]
        problems += [f"needs '{k}'" for k in cls.required if not settings.get(k)]
        return problems

    def send(self, outcome: Outcome) -> None:
        raise NotImplementedError

    def post(self, url: str, payload: Any, headers: dict[str, str], auth: Any = None) -> None:
        """POST JSON; HTTP errors and >= 400 answers raise NotifierError."""
        try:
            resp = httpx.request(
                self.settings.get("http_method", "POST"),
                url,
                json=payload,
                headers=headers,
                auth=auth,
                timeout=10,
            )
        except httpx.HTTPError as exc:
            raise NotifierError(f"{url}: {exc}") from exc
        _check_http(resp, url)


class WebhookNotifier(Notifier):
    """The outcome as JSON."""

    options = ("url", "http_method", "user_agent", "content_type", "custom_headers")
    required = ("url",)

    def send(self, outcome: Outcome) -> None:
        """POST it."""
        s = self.settings
        headers = {
            "User-Agent": s.get("user_agent", "lanner-respond"),
            "Content-Type": s.get("content_type", "application/json; charset=utf-8"),
            **dict(s.get("custom_headers") or {}),
        }
        self.post(s["url"], outcome.as_dict(), headers)


class SlackNotifier(Notifier):
    """A Slack incoming-webhook message with one attachment."""

    options = ("webhook_url", "icon", "username", "footer", "format")
    required = ("webhook_url",)
    COLORS: ClassVar[dict[str, str]] = {"success": "#23ba47", "failure": "#e20b0b"}

    def send(self, outcome: Outcome) -> None:
        """POST the message."""
        s = self.settings
        fields = [
            {"title": "Rule", "value": outcome.rule, "short": True},
            {"title": "Action", "value": outcome.action, "short": True},
            {"title": "Actionner", "value": outcome.actionner, "short": True},
            {"title": "Status", "value": outcome.status, "short": True},
            {"title": "Target", "value": outcome.target, "short": False},
        ]
        if s.get("format", "long") == "long":
            fields.append({"title": "Event", "value": outcome.event, "short": False})
        text = outcome.error or outcome.detail
        attachment = {
            "fallback": text,
            "color": self.COLORS.get(outcome.status, "#a4a8b1"),
            "text": text,
            "footer": s.get("footer", ""),
            "fields": fields,
        }
        payload = {
            "text": f"[{outcome.status}] {outcome.actionner} for rule '{outcome.rule}'",
            "username": s.get("username", "Lanner respond"),
            "icon_url": s.get("icon", ""),
            "attachments": [attachment],
        }
        self.post(s["webhook_url"], payload, {})


class LokiNotifier(Notifier):
    """A log line, labelled with status, rule, action and actionner."""

    options = ("url", "user", "api_key", "tenant", "custom_headers")
    required = ("url",)

    def send(self, outcome: Outcome) -> None:
        """Push one stream with one value."""
        s = self.settings
        labels = {
            "status": outcome.status,
            "rule": outcome.rule.lower().replace(" ", "_"),
            "action": outcome.action.lower().replace(" ", "_"),
            "actionner": outcome.actionner,
            "message": "action",
            **{k.lower(): v for k, v in outcome.objects.items()},
        }
        line = outcome.error or outcome.detail
        payload = {"streams": [{"stream": labels, "values": [[str(time.time_ns()), line]]}]}
        headers = dict(s.get("custom_headers") or {})
        if s.get("tenant"):
            headers["X-Scope-OrgID"] = s["tenant"]
        auth = (s["user"], s.get("api_key", "")) if s.get("user") else None
        self.post(s["url"].rstrip("/") + "/loki/api/v1/push", payload, headers, auth)


class K8sEventsNotifier(Notifier):
    """A core/v1 Event about the pod, from component lanner-respond."""

    def send(self, outcome: Outcome) -> None:
        """Create the Event (the Kubernetes client's errors become NotifierError)."""
        from lanner.exceptions import ActionError
        from lanner.services.respond.actions.kube import call

        namespace = outcome.objects.get("namespace") or "default"
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        lines = [f"Status: {outcome.status}", f"Rule: {outcome.rule}"]
        lines += [f"Action: {outcome.action}", f"Actionner: {outcome.actionner}"]
        lines += [f"Event: {outcome.event}", f"Target: {outcome.target}"]
        lines += [f"Error: {outcome.error}" if outcome.error else f"Output: {outcome.detail}"]
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": "lanner-respond-", "namespace": namespace},
            "involvedObject": {
                "kind": "Pod",
                "namespace": namespace,
                "name": outcome.objects.get("pod", ""),
            },
            "reason": f"lanner-respond:action:{outcome.actionner}:{outcome.status}"[:128],
            "message": "\n".join(lines),
            "source": {"component": "lanner-respond"},
            "type": "Normal" if outcome.status != "failure" else "Warning",
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "action": outcome.actionner,
            "reportingComponent": "lanner-respond",
        }
        try:
            call("create Event", self.kube.core.create_namespaced_event, namespace, body)
        except ActionError as exc:
            raise NotifierError(str(exc)) from exc


class ElasticsearchNotifier(Notifier):
    """One document per outcome, in a time-suffixed index."""

    options = (
        "url", "user", "password", "suffix", "index", "number_of_shards",
        "number_of_replicas", "create_index_template", "custom_headers",
    )  # fmt: skip
    required = ("url",)
    SUFFIXES: ClassVar[dict[str, str]] = {
        "daily": "-%Y.%m.%d", "monthly": "-%Y.%m", "annually": "-%Y", "none": "",
    }  # fmt: skip
    _template_checked = False

    @classmethod
    def check(cls, settings: Any) -> list[str]:
        """Also the suffix."""
        problems = super().check(settings)
        if isinstance(settings, dict) and settings.get("suffix", "daily") not in cls.SUFFIXES:
            problems.append(f"'suffix' must be one of {', '.join(cls.SUFFIXES)}")
        return problems

    def send(self, outcome: Outcome) -> None:
        """Put the index template once if asked, then POST the document."""
        s = self.settings
        base = s["url"].rstrip("/")
        auth = (s["user"], s.get("password", "")) if s.get("user") else None
        headers = dict(s.get("custom_headers") or {})
        index = s.get("index", "lanner-respond")
        if s.get("create_index_template", True) and not self._template_checked:
            self._template(base, index, headers, auth)
        suffix = time.strftime(self.SUFFIXES[s.get("suffix", "daily")], time.gmtime())
        doc = {
            **outcome.as_dict(),
            "@timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        self.post(f"{base}/{index}{suffix}/_doc", doc, headers, auth)

    def _template(self, base: str, index: str, headers: dict[str, str], auth: Any) -> None:
        url = f"{base}/_index_template/{index}"
        try:
            found = httpx.get(url, headers=headers, auth=auth, timeout=10)
            if found.status_code == 404:
                template = {
                    "index_patterns": [f"{index}*"],
                    "template": {
                        "settings": {
                            "number_of_shards": int(self.settings.get("number_of_shards", 3)),
                            "number_of_replicas": int(self.settings.get("number_of_replicas", 3)),
                        }
                    },
                }
                _check_http(
                    httpx.put(url, json=template, headers=headers, auth=auth, timeout=10), url
                )
            else:
                _check_http(found, url)
        except httpx.HTTPError as exc:
            raise NotifierError(f"{url}: {exc}") from exc
        self._template_checked = True


class SmtpNotifier(Notifier):
    """A mail per outcome."""

    options = ("host_port", "user", "password", "from", "to", "format", "tls")
    required = ("host_port", "from", "to")

    def send(self, outcome: Outcome) -> None:
        """Connect, STARTTLS when asked, log in when a user is set, send."""
        import html
        import smtplib
        import ssl
        from email.message import EmailMessage

        s = self.settings
        host, _, port = str(s["host_port"]).rpartition(":")
        rows = [(k, str(v)) for k, v in outcome.as_dict().items() if v and k != "objects"]
        msg = EmailMessage()
        subject = f"[lanner-respond][{outcome.status}][action] Action '{outcome.action}'"
        msg["Subject"] = f"{subject} Rule '{outcome.rule}'"
        msg["From"] = s["from"]
        msg["To"] = ", ".join(t.strip() for t in str(s["to"]).split(",") if t.strip())
        text = "\n".join(f"{k}: {v}" for k, v in rows)
        msg.set_content(text)
        if s.get("format", "html") == "html":
            cells = "".join(
                f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows
            )
            msg.add_alternative(f"<table>{cells}</table>", subtype="html")
        try:
            with smtplib.SMTP(host or "localhost", int(port or 25), timeout=10) as smtp:
                if s.get("tls"):
                    smtp.starttls(context=ssl.create_default_context())
                if s.get("user"):
                    smtp.login(s["user"], s.get("password", ""))
                smtp.send_message(msg)
        except (OSError, smtplib.SMTPException) as exc:
            raise NotifierError(f"smtp {s['host_port']}: {exc}") from exc


NOTIFIERS: dict[str, type[Notifier]] = {
    "webhook": WebhookNotifier,
    "slack": SlackNotifier,
    "loki": LokiNotifier,
    "k8sevents": K8sEventsNotifier,
    "elasticsearch": ElasticsearchNotifier,
    "smtp": SmtpNotifier,
}
NOT_AVAILABLE: dict[str, str] = {}


class Notifications:
    """The configured notifiers and the defaults for every rule."""

    def __init__(
        self,
        settings: dict[str, Any] | None = None,
        defaults: tuple[str, ...] = (),
        kube: Any = None,
        on_result: Callable[[str, bool], None] | None = None,
    ) -> None:
        self.notifiers = {
            name: NOTIFIERS[name](conf or {}, kube) for name, conf in (settings or {}).items()
        }
        if "k8sevents" in defaults and "k8sevents" not in self.notifiers:
            self.notifiers["k8sevents"] = K8sEventsNotifier({}, kube)
        self.defaults = defaults
        self._on_result = on_result

    @staticmethod
    def check(settings: Any, defaults: Any) -> list[str]:
        """Problems in a `notifiers:` section and `default_notifiers:` list."""
        problems: list[str] = []
        if settings is not None and not isinstance(settings, dict):
            return ["'notifiers' must be a mapping of notifier name to settings"]
        for name, conf in (settings or {}).items():
            if name in NOT_AVAILABLE:
                problems.append(f"notifier '{name}': {NOT_AVAILABLE[name]}")
            elif name not in NOTIFIERS:
                problems.append(f"unknown notifier '{name}' (known: {', '.join(NOTIFIERS)})")
            else:
                problems += [f"notifier '{name}': {p}" for p in NOTIFIERS[name].check(conf or {})]
        if not isinstance(defaults, list) or not all(isinstance(d, str) for d in defaults):
            problems.append("'default_notifiers' must be a list of names")
        else:
            for name in defaults:
                if name not in (settings or {}) and name != "k8sevents":
                    problems.append(f"default notifier '{name}' has no settings in 'notifiers'")
        return problems

    def missing(self, names: tuple[str, ...]) -> list[str]:
        """Names a rule uses that are not configured."""
        return [n for n in names if n not in self.notifiers]

    def send(self, names: tuple[str, ...], outcome: Outcome) -> None:
        """Send to the defaults and the rule's own notifiers, each once."""
        for name in dict.fromkeys((*self.defaults, *names)):
            notifier = self.notifiers.get(name)
            if notifier is None:
                continue
            try:
                notifier.send(outcome)
                ok = True
            except NotifierError as exc:
                log.warning("notifier %s: %s", name, exc)
                ok = False
            except Exception:  # a notifier bug must not stop the response
                log.exception("notifier %s crashed", name)
                ok = False
            if self._on_result is not None:
                self._on_result(name, ok)
