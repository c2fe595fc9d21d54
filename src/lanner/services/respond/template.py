"""`${...}` placeholders filled from an alert, for parameters such as labels or argv items.

`${rule}`, `${priority}`, `${source}`, `${hostname}`, `${time}` and `${output}` are the alert's
top-level keys; any other name is an output field, e.g. `${k8s.pod.name}`. Values are
substituted as plain text into one string: there is never a shell in between.
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


def lookup(alert: Alert, name: str) -> Any:
    """Value a placeholder name stands for, or None when the alert lacks it."""
    name = name.strip()
    if name in _TOP_LEVEL:
        return getattr(alert, name)
    return alert.get(name)


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
