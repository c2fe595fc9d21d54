"""The ``okta.*`` fields of Okta System Log events, as the Falco okta plugin names, types
and describes them. Values read as the plugin's: a missing string is '', ``okta.org`` is
the configured organization, ``okta.app`` the application in ``/app/<name>/...`` request
URIs, the ``okta.target.*`` fields the (last) target of that type, and
``okta.mfa.*.countlast[N]`` the actor's MFA failures (denied pushes) in the N seconds up
to this event, counted over what the source read (see :class:`MfaHistory`).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from lanner.engine.fields import ArgKind, Field, FieldType
from lanner.sources.json_source.event import JsonEvent
from lanner.sources.json_source.fieldkit import plain, with_arg

Doc = dict[str, Any]
MFA_FAILURE = "user.authentication.auth_via_mfa"  # with outcome FAILURE
MFA_DENY = "user.mfa.okta_verify.deny_push"
MAX_ACTORS = 10_000  # (actor, kind) histories kept, as the plugin's cache


class OktaEvent(JsonEvent):
    """A System Log event; ``mfa`` holds the times (ns) of the actor's MFA events of the
    same kind seen so far, this one included, when it is a failure or a denied push."""

    __slots__ = ("mfa",)

    def __init__(self, data: Any, ts: int = 0, num: int = 0) -> None:
        super().__init__(data, ts, num)
        self.mfa: tuple[int, ...] = ()


def mfa_kind(doc: Doc) -> str | None:
    """'failure', 'deny' or None."""
    kind = doc.get("eventType")
    if kind == MFA_DENY:
        return "deny"
    if kind == MFA_FAILURE and _text(doc, "outcome", "result") == "FAILURE":
        return "failure"
    return None


class MfaHistory:
    """Per actor and kind, the recent MFA failure/deny times (``cache_expiration``
    seconds, at most ``cache_usermaxsize`` per actor), as the plugin's cache."""

    def __init__(self, expiration: float = 84600, per_user: int = 200) -> None:
        self.expiration = expiration
        self.per_user = per_user
        self._times: OrderedDict[str, tuple[float, list[int]]] = OrderedDict()
        self._lock = threading.Lock()

    def record(self, event: OktaEvent) -> None:
        """Annotate ``event`` with the history of its actor's events of its kind."""
        doc = event.data
        kind = mfa_kind(doc) if isinstance(doc, dict) else None
        if kind is None:
            return
        key = f"{kind}:{_text(doc, 'actor', 'id')}"
        now = time.monotonic()
        with self._lock:
            stamp, times = self._times.pop(key, (now, []))
            if now - stamp > self.expiration:
                times = []
            if event.ts not in times:
                times.append(event.ts)
            del times[: max(0, len(times) - self.per_user)]
            self._times[key] = (now, times)
            while len(self._times) > MAX_ACTORS:  # the least recently seen go first
                self._times.popitem(last=False)
            event.mfa = tuple(times)


def _text(doc: Any, *keys: str) -> str:
    value = doc
    for key in keys:
        if type(value) is not dict:
            return ""
        value = value.get(key)
    return value if type(value) is str else ""


def _value(doc: Any, *keys: str) -> Any:
    value = doc
    for key in keys:
        if type(value) is not dict:
            return None
        value = value.get(key)
    return value


def _go_number(value: Any) -> str:
    """A JSON number as Go's %v prints a float64 (0 when absent)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "0"
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def _app(doc: Doc) -> str | None:
    uri = _text(doc, "debugContext", "debugData", "requestUri")
    if not uri.startswith("/app/"):
        return None
    return uri.split("/")[2]


def _target(kind: str, key: str) -> Callable[[Doc], str | None]:
    def get(doc: Doc) -> str | None:
        found = None
        for t in doc.get("target") or []:
            if type(t) is dict and t.get("type") == kind:
                found = _text(t, key)
        return found

    return get


def _flag(*keys: str) -> Callable[[Doc], str]:
    def get(doc: Doc) -> str:
        value = _value(doc, *keys)
        if type(value) is bool:
            return "true" if value else "false"
        return value if type(value) is str else ""

    return get


def _count(kind: str) -> Callable[[Any], Callable[[Any], int | None]]:
    def make(arg: Any) -> Callable[[Any], int | None]:
        window = int(arg or 0) * 1_000_000_000

        def get(event: Any) -> int | None:
            doc = event.data
            if type(doc) is not dict or mfa_kind(doc) != kind:
                return None
            oldest = event.ts - window
            return sum(1 for t in getattr(event, "mfa", ()) if t > oldest)

        return get

    return make


def _display_names(arg: Any) -> Callable[[Any], Any]:
    def get(event: Any) -> Any:
        doc = event.data
        targets = doc.get("target") if type(doc) is dict else None
        names = [_text(t, "displayName") for t in targets or [] if type(t) is dict]
        if arg is None:
            return names
        return [names[arg]] if 0 <= arg < len(names) else []

    return get


def okta_fields(organization: str = "") -> list[Field]:
    """The plugin's fields; ``okta.org`` is ``organization``."""
    dd = ("debugContext", "debugData")
    cl, geo = ("client",), ("client", "geographicalContext")
    au, sc = ("authenticationContext",), ("securityContext",)
    op = (*dd, "originalPrincipal")
    spec: list[tuple[str, str, Callable[[Doc], Any]]] = [
        ("okta.app", "Application", _app),
        ("okta.behaviors", "Behaviors", lambda d: _text(d, *dd, "behaviors")),
        ("okta.org", "Organization", lambda _d: organization),
        ("okta.evt.type", "Event Type", lambda d: _text(d, "eventType")),
        ("okta.evt.legacytype", "Event Legacy Type", lambda d: _text(d, "legacyEventType")),
        ("okta.severity", "Severity", lambda d: _text(d, "severity")),
        ("okta.message", "Message", lambda d: _text(d, "displayMessage")),
        ("okta.published", "Event Source Timestamp", lambda d: _text(d, "published")),
        ("okta.logonlysecuritydata", "Log Only Security Data",
         lambda d: _text(d, *dd, "logOnlySecurityData")),
        ("okta.actor.id", "Actor ID", lambda d: _text(d, "actor", "id")),
        ("okta.actor.Type", "Actor Type", lambda d: _text(d, "actor", "type")),
        ("okta.actor.alternateid", "Actor Alternate ID",
         lambda d: _text(d, "actor", "alternateId")),
        ("okta.actor.name", "Actor Display Name", lambda d: _text(d, "actor", "displayName")),
        ("okta.client.zone", "Client Zone", lambda d: _text(d, *cl, "zone")),
        ("okta.client.ip", "Client IP Address", lambda d: _text(d, *cl, "ipAddress")),
        ("okta.client.device", "Client Device", lambda d: _text(d, *cl, "device")),
        ("okta.client.id", "Client ID", lambda d: _text(d, *cl, "id")),
        ("okta.client.geo.city", "Client Geographical City", lambda d: _text(d, *geo, "city")),
        ("okta.client.geo.state", "Client Geographical State",
         lambda d: _text(d, *geo, "state")),
        ("okta.client.geo.country", "Client Geographical Country",
         lambda d: _text(d, *geo, "country")),
        ("okta.client.geo.postalcode", "Client Geographical Postal Code",
         lambda d: _text(d, *geo, "postalCode")),
        ("okta.client.geo.lat", "Client Geographical Latitude",
         lambda d: _go_number(_value(d, *geo, "geolocation", "lat"))),
        ("okta.client.geo.lon", "Client Geographical Longitude",
         lambda d: _go_number(_value(d, *geo, "geolocation", "lon"))),
        ("okta.useragent.os", "Useragent OS", lambda d: _text(d, *cl, "userAgent", "os")),
        ("okta.useragent.browser", "Useragent Browser",
         lambda d: _text(d, *cl, "userAgent", "browser")),
        ("okta.useragent.raw", "Raw Useragent",
         lambda d: _text(d, *cl, "userAgent", "rawUserAgent")),
        ("okta.result", "Outcome Result", lambda d: _text(d, "outcome", "result")),
        ("okta.reason", "Outcome Reason", lambda d: _text(d, "outcome", "reason")),
        ("okta.transaction.id", "Transaction ID", lambda d: _text(d, "transaction", "id")),
        ("okta.transaction.type", "Transaction Type", lambda d: _text(d, "transaction", "type")),
        ("okta.requesturi", "Request URI", lambda d: _text(d, *dd, "requestUri")),
        ("okta.principal.id", "Principal ID", lambda d: _text(d, *op, "id")),
        ("okta.principal.alternateid", "Principal Alternate ID",
         lambda d: _text(d, *op, "alternateId")),
        ("okta.principal.type", "Principal Type", lambda d: _text(d, *op, "type")),
        ("okta.principal.name", "Principal Name", lambda d: _text(d, *op, "displayName")),
        ("okta.authentication.step", "Authentication Step",
         lambda d: _go_number(_value(d, *au, "authenticationStep"))),
        ("okta.authentication.sessionid", "External Session ID",
         lambda d: _text(d, *au, "externalSessionId")),
        ("okta.authentication.provider", "Authentication Provider",
         lambda d: _text(d, *au, "authenticationProvider")),
        ("okta.authentication.credentialprovider", "Credential Provider",
         lambda d: _text(d, *au, "credentialProvider")),
        ("okta.security.asorg", "Security AS Org", lambda d: _text(d, *sc, "asOrg")),
        ("okta.security.isp", "Security ISP", lambda d: _text(d, *sc, "isp")),
        ("okta.security.domain", "Security Domain", lambda d: _text(d, *sc, "domain")),
        ("okta.security.isproxy", "Is Proxy", _flag(*sc, "isProxy")),
        ("okta.target.user.id", "Target User ID", _target("User", "id")),
        ("okta.target.user.alternateid", "Target User Alternate ID",
         _target("User", "alternateId")),
        ("okta.target.user.name", "Target User Name", _target("User", "displayName")),
        ("okta.target.group.id", "Target Group ID", _target("UserGroup", "id")),
        ("okta.target.group.alternateid", "Target Group Alternate ID",
         _target("UserGroup", "alternateId")),
        ("okta.target.group.name", "Target Group Name", _target("UserGroup", "displayName")),
        ("okta.target.app.alternateid", "Target App Alternate ID",
         _target("AppInstance", "alternateId")),
    ]  # fmt: skip

    def on_doc(fn: Callable[[Doc], Any]) -> Callable[[Any], Any]:
        return lambda e: fn(e.data) if type(e.data) is dict else None

    def asnumber(e: Any) -> int | None:
        value = _value(e.data, "securityContext", "asNumber")
        return value if type(value) is int and value >= 0 else 0

    fields = [plain(name, desc, on_doc(get)) for name, desc, get in spec]
    fields.append(plain("okta.security.asnumber", "Security AS Number", asnumber, FieldType.NUMBER))
    fields.append(with_arg("okta.targets.displayName", "Targets Display Names", _display_names,
                           kind=ArgKind.INDEX, required=False, is_list=True))  # fmt: skip
    for name, desc, kind in (
        ("okta.mfa.failure.countlast", "Count of MFA failures in last seconds", "failure"),
        ("okta.mfa.deny.countlast", "Count of MFA denies in last seconds", "deny"),
    ):
        fields.append(with_arg(name, desc, _count(kind), kind=ArgKind.INDEX, required=True,
                               ftype=FieldType.NUMBER))  # fmt: skip
    return fields
