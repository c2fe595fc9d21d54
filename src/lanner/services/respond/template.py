"""`${...}` placeholders filled from an alert, for parameters such as labels or argv items.

`${rule}`, `${priority}`, `${source}`, `${hostname}`, `${time}` and `${output}` are the alert's
top-level keys; any other name is an output field, e.g. `${k8s.pod.name}`. Falco Talon's
environment-style names work too: `${FD_NAME}` is `fd.name` (upper case, `.` and `[` as
`_`), `${PRIORITY}`, `${HOSTNAME}`. Values are substituted as plain text into one string:
there is never a shell in between.
"""

from __future__ import annotations

import re
from typing import Any

from lanner.services.respond.alert import Alert

_PLACEHOLDER = re.compile(r"\$\{([^}]+)\}")
_TOP_LEVEL = ("rule", "priority", "source", "hostname", "time", "output")


def placeholders(template: str) -> list[str]:
    """Names used in a template, in order."""
    return _PLACEHOLDER.findall(template)


def env_name(field: str) -> str:
    """Talon's environment name of an output field: fd.name -> FD_NAME, a[1] -> A_1."""
    return field.upper().replace(".", "_").replace("[", "_").replace("]", "")


def env_values(alert: Alert, extra: dict[str, Any] | None = None) -> dict[str, str]:
    """Every environment-style name of an alert (output fields, PRIORITY, HOSTNAME, RULE,
    SOURCE) plus extra context values (e.g. node.hostname -> NODE_HOSTNAME)."""
    values = {env_name(k): "" if v is None else str(v) for k, v in alert.output_fields.items()}
    for key, value in (extra or {}).items():
        values[env_name(key)] = str(value)
    values.update(
        PRIORITY=alert.priority, HOSTNAME=alert.hostname, RULE=alert.rule, SOURCE=alert.source
    )
    return values


def lookup(alert: Alert, name: str) -> Any:
    """Value a placeholder name stands for, or None when the alert lacks it."""
    name = name.strip()
    if name in _TOP_LEVEL:
        return getattr(alert, name)
    value = alert.get(name)
    if value is None and name.isupper():
        return env_values(alert).get(name)
    return value


def render(template: str, alert: Alert) -> str:
    """Fill the placeholders of `template`; a missing value renders as an empty string."""

    def _sub(match: re.Match[str]) -> str:
        value = lookup(alert, match.group(1))
        return "" if value is None else str(value)

    return _PLACEHOLDER.sub(_sub, template)


def render_value(value: Any, alert: Alert) -> Any:
    """Render strings inside a parameter value (str, list or dict), leaving others as is."""
    if isinstance(value, str):
        return render(value, alert)
    if isinstance(value, list):
        return [render_value(v, alert) for v in value]
    if isinstance(value, dict):
        return {k: render_value(v, alert) for k, v in value.items()}
    return value
