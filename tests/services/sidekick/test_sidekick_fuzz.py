"""Property tests: any JSON body is either a valid alert or an AlertError, never a crash."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from lanner.exceptions import AlertError
from lanner.services.sidekick.alert import Alert
from lanner.services.sidekick.enrich import Enricher
from lanner.services.sidekick.template import compile_template

from .helpers import make_alert

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
KEYS = ["rule", "priority", "time", "output", "source", "hostname", "tags", "output_fields"]


time_texts = st.from_regex(
    r"\A\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})\Z"
)


def parse(data: Any) -> Alert | None:
    try:
        return Alert.from_dict(data)
    except AlertError:
        return None


@given(json_values)
@settings(max_examples=300, deadline=None)
def test_any_json_is_accepted_or_refused_with_reason(data: Any) -> None:
    parse(data)


@given(st.dictionaries(st.sampled_from(KEYS), json_values, max_size=8))
@settings(max_examples=300, deadline=None)
def test_mutated_alerts_then_enrichment_never_crash(changes: dict[str, Any]) -> None:
    alert = parse({**make_alert(), **changes})
    if alert is None:
        return
    enricher = Enricher(
        customfields={"cluster": "prod"},
        templatedfields={"x": compile_template('{{ or (index . "proc.name") "none" }}')},
        customtags=["t"],
        outputfieldformat="<timestamp> <priority> <output> <custom_fields> <templated_fields>",
    )
    enriched = enricher.apply(alert)
    assert Alert.from_dict(enriched.to_dict()).rule == alert.rule  # still a valid alert


@given(time_texts)
@settings(max_examples=300, deadline=None)
def test_any_rfc3339_shaped_time_is_parsed_or_refused(text: str) -> None:
    alert = parse({**make_alert(), "time": text})
    if alert is not None:
        assert alert.timestamp.tzinfo is not None
