"""The `python` action runs Kubeless-era functions unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from respond_fake_k8s import FakeKube
from respond_helpers import make_alert, rules_from

from lanner.services.respond.actions.kube import KubeClients
from lanner.services.respond.engine import Responder

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "respond"


def _run(tmp_path: Path, params: str, kube: KubeClients | None = None, **kw: object) -> list:
    text = f"- rule: fn\n  actions:\n    - action: python\n      parameters: {params}\n"
    responder = Responder(rules_from(tmp_path, text), kube=kube, retries=0, **kw)  # type: ignore[arg-type]
    return responder.handle(make_alert())


def test_unchanged_kubeless_function_deletes_the_pod(
    tmp_path: Path,
    fake_kube: FakeKube,
    kubeconfig: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """examples/respond/delete_pod_kubeless.py is a Kubeless function as people wrote
    them: module-level client set-up, `delete_pod(event, context)` reading
    event['data']['output_fields']. It talks to the (fake) API server itself."""
    fake_kube.add_pod("default", "web-1", {"app": "web"})
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    fn = EXAMPLES / "delete_pod_kubeless.py"
    [record] = _run(tmp_path, f"{{file: '{fn}', function: delete_pod}}")
    assert record.result == "ok", record.detail
    assert record.changes == {"return": "deleted default/web-1"}
    assert fake_kube.get("pods", "default", "web-1") is None
    [delete] = fake_kube.writes()
    assert delete.method == "DELETE" and delete.body["gracePeriodSeconds"] == 0


def test_event_and_context_shapes(tmp_path: Path) -> None:
    out = tmp_path / "seen.json"
    fn = tmp_path / "fn.py"
    fn.write_text(
        "import json\n"
        "def handler(event, context):\n"
        f"    open({str(out)!r}, 'w').write(json.dumps({{'event': event, 'context': context}}))\n"
        "    print('handlers may print')\n"
        "    return {'pod': event['data']['output_fields']['k8s.pod.name'],\n"
        "            'rule': event['data']['rule']}\n"
    )
    [record] = _run(tmp_path, f"{{file: '{fn}'}}")
    assert record.result == "ok", record.detail
    assert record.changes["return"] == {"pod": "web-1", "rule": "Outbound Connection to C2 Servers"}
    seen = json.loads(out.read_text())
    assert seen["event"]["data"] == make_alert()
    assert seen["event"]["event-type"] == "application/json"
    assert seen["event"]["event-time"] == make_alert()["time"]
    assert set(seen["event"]) >= {"event-id", "event-namespace", "extensions"}
    assert seen["context"]["function-name"] == "handler"
    assert seen["context"]["runtime"].startswith("python3")


def test_relative_file_is_found_next_to_the_rules(tmp_path: Path) -> None:
    (tmp_path / "fn.py").write_text("def handler(event, context):\n    return 42\n")
    [record] = _run(tmp_path, "{file: fn.py}")
    assert (record.result, record.changes) == ("ok", {"return": 42})


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("def handler(event, context):\n    raise ValueError('nope')\n", "ValueError: nope"),
        ("import sys\ndef handler(event, context):\n    sys.exit(3)\n", "SystemExit: 3"),
        ("raise ImportError('broken module')\n", "ImportError: broken module"),
        ("def other(event, context):\n    pass\n", "has no function 'handler'"),
        ("import os\ndef handler(event, context):\n    os._exit(7)\n", "exit 7"),
    ],
)
def test_failing_functions_are_reported(tmp_path: Path, body: str, expected: str) -> None:
    fn = tmp_path / "fn.py"
    fn.write_text(body)
    [record] = _run(tmp_path, f"{{file: '{fn}'}}")
    assert record.result == "failed"
    assert expected in record.detail


def test_a_function_that_hangs_is_killed(tmp_path: Path) -> None:
    fn = tmp_path / "fn.py"
    fn.write_text("import time\ndef handler(event, context):\n    time.sleep(60)\n")
    [record] = _run(tmp_path, f"{{file: '{fn}', timeout: 1}}")
    assert record.result == "failed" and "killed" in record.detail


def test_dry_run_does_not_call_the_function(tmp_path: Path) -> None:
    marker = tmp_path / "called"
    fn = tmp_path / "fn.py"
    fn.write_text(f"def handler(event, context):\n    open({str(marker)!r}, 'w').close()\n")
    [record] = _run(tmp_path, f"{{file: '{fn}'}}", dry_run=True)
    assert record.result == "dry_run"
    assert not marker.exists()
