"""Alert validation, the template subset and enrichment."""

from __future__ import annotations

import pytest

from lanner.exceptions import AlertError, TemplateError
from lanner.services.sidekick.alert import Alert, Priority
from lanner.services.sidekick.enrich import Enricher
from lanner.services.sidekick.template import compile_template

from .helpers import make_alert


def test_valid_alert_round_trips() -> None:
    data = make_alert()
    alert = Alert.from_dict(data)
    assert alert.priority is Priority.WARNING
    assert alert.to_dict() == data
    assert alert.time_ns == 1699978453012345678


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"priority": "Severe"}, "unknown priority 'Severe'"),
        ({"time": "yesterday"}, "time 'yesterday' is not RFC 3339"),
        ({"time": "0001-01-01T00:00:00+01:00"}, "is not a valid date"),
        ({"time": "2023-02-30T00:00:00Z"}, "is not a valid date"),
        ({"rule": 3}, "field 'rule' must be a string"),
        ({"tags": "a,b"}, "field 'tags' must be a list of strings"),
        ({"output_fields": {"x": {"nested": 1}}}, "output_fields['x'] must be"),
    ],
)
def test_invalid_alert_reason(change: dict, reason: str) -> None:
    data = {**make_alert(), **change}
    with pytest.raises(AlertError, match=reason.replace("[", r"\[")):
        Alert.from_dict(data)


def test_missing_field_and_optional_fields() -> None:
    data = make_alert()
    del data["rule"]
    with pytest.raises(AlertError, match="missing required field 'rule'"):
        Alert.from_dict(data)
    minimal = {"rule": "r", "priority": "info", "time": "2023-11-14T16:14:13Z"}
    alert = Alert.from_dict(minimal)
    assert alert.priority is Priority.INFORMATIONAL
    assert alert.tags == [] and alert.output_fields == {} and alert.hostname == ""


def test_priority_order_and_case() -> None:
    assert Priority.parse("CRITICAL").more_severe_than(Priority.parse("error"))
    assert Priority.parse("error").more_severe_than(Priority.parse("Debug"))
    assert Priority.parse("Informational").label == "Informational"


def test_template_subset() -> None:
    fields = {"k8s.ns.labels.team": "blue", "proc.name": "cat"}
    assert compile_template('{{ or (index . "k8s.ns.labels.foo") "bar" }}').render(fields) == "bar"
    assert compile_template('t={{ index . "k8s.ns.labels.team" }}!').render(fields) == "t=blue!"
    assert compile_template('{{ upper (index . "proc.name") }}').render(fields) == "CAT"
    root = {"Rule": "R1", "OutputFields": {"user.name": "root"}}
    tmpl = compile_template('rule *{{ .Rule }}* by {{ index .OutputFields "user.name" }}')
    assert tmpl.render(root) == "rule *R1* by root"
    for bad in ["{{ exec . }}", "{{ (index . ", "{{ .Rule", "{{ __import__ }}"]:
        with pytest.raises(TemplateError):
            compile_template(bad)


def test_enrichment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLUSTER_NAME", "prod-eu")
    enricher = Enricher(
        customfields={"cluster": "%CLUSTER_NAME", "team": "sec"},
        templatedfields={"ns": compile_template('{{ or (index . "k8s.ns.name") "none" }}')},
        customtags=["lanner", "filesystem"],
        outputfieldformat="<timestamp>: <priority> <output> <custom_fields> <templated_fields>",
        bracketreplacer="_",
    )
    alert = enricher.apply(Alert.from_dict(make_alert(**{"proc.aname[2]": "bash"})))
    assert alert.output_fields["cluster"] == "prod-eu"
    assert alert.output_fields["team"] == "sec"
    assert alert.output_fields["ns"] == "default"
    assert alert.output_fields["proc.aname_2_"] == "bash"
    assert "proc.aname[2]" not in alert.output_fields
    assert alert.tags == ["filesystem", "mitre_credential_access", "T1555", "lanner"]
    assert alert.output == (
        "16:14:13.012345678: Warning Sensitive file opened for reading by non-trusted program "
        "(file=/etc/shadow proc.name=cat) cluster=prod-eu team=sec ns=default"
    )
