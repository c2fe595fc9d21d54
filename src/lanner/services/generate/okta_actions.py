"""Okta actions for upstream Falco's okta_rules.yaml: the System Log events of each
rule, published on the generator's System Log API (``--okta-serve``,
:mod:`lanner.services.generate.okta_double`) that the okta plugin polls. The actor's
display name is the run's marker, which every rule's output shows
(``user=%okta.actor.name``)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from lanner.services.generate.action import Action, Outcome, RunContext, token

Event = dict[str, Any]


def log_event(marker: str, kind: str, result: str = "SUCCESS", offset_ms: int = 0) -> Event:
    """One System Log event of type ``kind`` whose actor is ``marker``."""
    published = datetime.now(UTC) + timedelta(milliseconds=offset_ms)
    return {
        "uuid": str(uuid.uuid4()), "eventType": kind, "version": "0", "severity": "INFO",
        "published": published.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "displayMessage": kind, "legacyEventType": f"core.{kind}",
        "actor": {"id": f"00u{marker}", "type": "User", "alternateId": f"{marker}@example.com",
                  "displayName": marker},
        "client": {"ipAddress": "198.51.100.20", "userAgent": {"rawUserAgent": "lanner-generate"},
                   "geographicalContext": {"country": "France", "city": "Lyon"}},
        "outcome": {"result": result},
        "target": [{"id": "00ugenerated", "type": "User", "alternateId": "bob@example.com",
                    "displayName": "Generated Target"}],
        "transaction": {"type": "WEB", "id": marker},
    }  # fmt: skip


def _publish(events_for: Callable[[str], list[Event]]) -> Callable[[RunContext], Outcome]:
    def act(ctx: RunContext) -> Outcome:
        out = Outcome(token())
        events = events_for(out.marker)
        ctx.targets["okta"].publish(*events)
        out.effects["events"] = events
        return out

    return act


def _one(kind: str) -> Callable[[str], list[Event]]:
    return lambda marker: [log_event(marker, kind)]


def _three(kind: str, result: str) -> Callable[[str], list[Event]]:
    """Three events of ``kind`` by one actor within a second (the rules count 3 in 5 min)."""
    return lambda marker: [log_event(marker, kind, result, 10 * i) for i in range(3)]


_EVENTS: list[tuple[str, str, str, Callable[[str], list[Event]]]] = [
    ("okta_user_locked_out", "User has been locked out in OKTA", "An account locked out",
     _one("user.account.lock")),
    ("okta_user_suspended", "User has been suspended in OKTA", "A user suspended",
     _one("user.lifecycle.suspended")),
    ("okta_admin_granted", "Admin permission has been assigned to a user in OKTA",
     "Admin privileges granted", _one("user.account.privilege.grant")),
    ("okta_api_token_created", "Creating a new OKTA API token", "An API token created",
     _one("system.api_token.create")),
    ("okta_admin_app_accessed", "User accessing OKTA admin section", "The admin app opened",
     _one("user.session.access_admin_app")),
    ("okta_mfa_factor_removed", "removing MFA factor from user in OKTA", "An MFA factor removed",
     _one("user.mfa.factor.deactivate")),
    ("okta_all_mfa_factors_removed", "removing all MFA factor from user in OKTA",
     "Every MFA factor reset", _one("user.mfa.factor.reset_all")),
    ("okta_password_reset_by_admin", "User password reset by OKTA admin",
     "An admin resets a password", _one("user.account.reset_password")),
    ("okta_rate_limit_hit", "User hitting the rate limit on requests in OKTA",
     "A rate limit violation", _one("system.org.rate_limit.violation")),
    ("okta_impersonation_started", "User initiating impersonation session in OKTA",
     "An impersonation session started", _one("user.session.impersonation.initiate")),
    ("okta_mfa_failures", "Too many failed MFA in last 5min", "Three failed MFA verifications",
     _three("user.authentication.auth_via_mfa", "FAILURE")),
    ("okta_mfa_push_denied", "Too many denied MFA Pushes in last 5min",
     "Three denied Okta Verify pushes", _three("user.mfa.okta_verify.deny_push", "DENY")),
]  # fmt: skip

ACTIONS: list[Action] = [
    Action(name, rule, description, False, _publish(events), "okta", ruleset="falco", target="okta")
    for name, rule, description, events in _EVENTS
]
