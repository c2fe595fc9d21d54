"""Enrichment applied to each accepted alert before fan-out (Falcosidekick semantics).

- customfields: fixed key/values added to `output_fields` (a value `%NAME` reads env NAME);
- templatedfields: values computed from `output_fields` by a template;
- customtags: tags appended to `tags`;
- outputfieldformat: rewrites `output` from `<timestamp>`, `<priority>`, `<output>`,
  `<custom_fields>` and `<templated_fields>`;
- bracketreplacer: replaces `[` and `]` in output field names.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from lanner.exceptions import TemplateError

from .alert import Alert
from .template import Template

# Falco's output starts with "<time>: <Priority> " unless the rule's format says otherwise.
_OUTPUT_PREFIX = re.compile(
    r"^(?P<ts>\d{2}:\d{2}:\d{2}\.\d+|\S+T\S+):\s+"
    r"(?P<prio>Emergency|Alert|Critical|Error|Warning|Notice|Informational|Info|Debug)\s+"
)


def resolve_custom_value(value: str) -> str:
    """`%NAME` reads the environment variable NAME (empty if unset); other values as is."""
    if value.startswith("%") and len(value) > 1:
        return os.environ.get(value[1:], "")
    return value


def _kv_text(fields: Mapping[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in fields.items())


@dataclass
class Enricher:
    """Applies the global enrichment settings to alerts."""

    customfields: dict[str, str] = field(default_factory=dict)
    templatedfields: dict[str, Template] = field(default_factory=dict)
    customtags: list[str] = field(default_factory=list)
    outputfieldformat: str = ""
    bracketreplacer: str = ""

    def apply(self, alert: Alert) -> Alert:
        """Enrich `alert` in place and return it."""
        custom: dict[str, str] = {}
        templated: dict[str, str] = {}
        if self.customfields or self.templatedfields or self.bracketreplacer:
            fields = alert.output_fields
            if self.bracketreplacer:
                fields = {
                    k.replace("[", self.bracketreplacer).replace("]", self.bracketreplacer): v
                    for k, v in fields.items()
                }
            custom = {k: resolve_custom_value(v) for k, v in self.customfields.items()}
            for key, tmpl in self.templatedfields.items():
                try:
                    templated[key] = tmpl.render(fields)
                except (TemplateError, TypeError) as exc:
                    templated[key] = f"<error: {exc}>"
            alert.output_fields = {**fields, **custom, **templated}
        for tag in self.customtags:
            if tag not in alert.tags:
                alert.tags.append(tag)
        if self.outputfieldformat:
            alert.output = self._format_output(alert, custom, templated)
        return alert

    def _format_output(self, alert: Alert, custom: dict[str, str], tmpl: dict[str, str]) -> str:
        body = alert.output
        stamp = alert.time
        m = _OUTPUT_PREFIX.match(body)
        if m:
            stamp, body = m.group("ts"), body[m.end() :]
        values = {
            "<timestamp>": stamp,
            "<priority>": alert.priority.label,
            "<output>": body,
            "<custom_fields>": _kv_text(custom),
            "<templated_fields>": _kv_text(tmpl),
        }
        pattern = re.compile("|".join(re.escape(k) for k in values))
        text = pattern.sub(lambda mm: values[mm.group(0)], self.outputfieldformat)
        return re.sub(r"\s+", " ", text).strip()
