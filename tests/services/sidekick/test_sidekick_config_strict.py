"""Config strictness: what belongs to no key stops the start; Falcosidekick files load."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml

from lanner.exceptions import ConfigError
from lanner.services.sidekick import falcosidekick
from lanner.services.sidekick.config import load_config
from lanner.services.sidekick.outputs import OUTPUTS

from .helpers import sidekick_check

DATA = Path(__file__).parent / "data"
# Falcosidekick's README configuration block and its config_example.yaml (upstream commit
# 8807ab7), comments removed (upstream prose); the parsed YAML is the same as upstream's.
README_EXAMPLE = DATA / "falcosidekick_readme.yaml"
CONFIG_EXAMPLE = DATA / "falcosidekick_example.yaml"


def write(tmp: Path, data: object) -> Path:
    path = tmp / "sidekick.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("path", [README_EXAMPLE, CONFIG_EXAMPLE], ids=["readme", "example"])
def test_falcosidekick_example_files_load_unchanged(path: Path) -> None:
    config = load_config(path, {})
    assert config.get("outputfieldformat") == (
        "<timestamp>: <priority> <output> <custom_fields> <templated_fields>"
    )
    assert config.get("tlsserver.notlspaths") == ["/ping"]
    # Falcosidekick enables nothing in these files but its Prometheus endpoint: neither do we
    assert [o.kind for o in config.outputs] == ["prometheus"]


def test_example_file_with_env_enabling_outputs(tmp: Path) -> None:
    env = {
        "SLACK_WEBHOOKURL": "https://hooks.slack.com/services/T/B/X",
        "SLACK_MAXCONCURRENTREQUESTS": "4",
        "LOKI_HOSTPORT": "http://loki:3100",
    }
    config = load_config(CONFIG_EXAMPLE, env)
    assert [o.kind for o in config.outputs] == ["loki", "prometheus", "slack"]
    assert config.get("slack.maxconcurrentrequests") == 4
    assert config.get("customfields") == {"Akey": "AValue", "Bkey": "BValue", "Ckey": "CValue"}


@pytest.mark.parametrize(
    ("data", "env", "message"),
    [
        ({}, {"SLACK_WEBHOKURL": "https://x"}, "environment variable SLACK_WEBHOKURL: no such key"),
        ({}, {"DELIVERY_SPOLDIR": "/tmp"}, "environment variable DELIVERY_SPOLDIR: no such key"),
        ({}, {"AWS_SQS_URLL": "https://x"}, "environment variable AWS_SQS_URLL: no such key"),
        ({"slak": {"webhookurl": "https://x"}}, {}, "slak: unknown key"),
        ({"slak": None}, {}, "slak: unknown key"),
        ({"slack": {"webhokurl": "https://x"}}, {}, "slack.webhokurl: unknown key"),
        ({"aws": {"sqs": {"ur": "x"}}}, {}, "aws.sqs.ur: unknown key"),
        (
            {"elasticsearch": {"hostport": "http://es:9200", "numberofshards": 5}},
            {},
            "elasticsearch.numberofshards (env ELASTICSEARCH_NUMBEROFSHARDS): a Falcosidekick "
            "setting Lanner does not implement",
        ),
    ],
)
def test_what_belongs_to_no_key_stops_the_start(
    tmp: Path, data: dict, env: dict, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp, data), env)
    assert str(info.value).startswith(message), str(info.value)


def test_error_lists_the_section_keys(tmp: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, {"SLACK_WEBHOKURL": "https://x"})
    assert "SLACK_WEBHOOKURL" in str(info.value)


def test_foreign_environment_is_not_claimed() -> None:
    """Variables of the AWS SDK, Kubernetes service links and prometheus_client share our
    prefixes but are not sidekick keys: they must not stop the start."""
    env = {
        "AWS_ACCESS_KEY_ID": "AKIA",
        "AWS_PROFILE": "x",
        "AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/token",
        "AZURE_CLIENT_ID": "x",
        "REDIS_SERVICE_HOST": "10.0.0.3",
        "REDIS_SERVICE_PORT": "6379",
        "REDIS_SERVICE_PORT_REDIS": "6379",
        "REDIS_PORT": "tcp://10.0.0.3:6379",
        "REDIS_PORT_6379_TCP": "tcp://10.0.0.3:6379",
        "REDIS_PORT_6379_TCP_ADDR": "10.0.0.3",
        "PROMETHEUS_MULTIPROC_DIR": "/tmp/x",
        "PATH": "/usr/bin",
        "slack_lowercase": "not ours",
    }
    assert [o.kind for o in load_config(None, env).outputs] == ["prometheus"]


def test_falcosidekick_output_lanner_lacks(
    tmp: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A Falcosidekick output Lanner does not have: an error when switched on (by file or
    env), a warning when its section is there but inert. (The webhook output is taken out of
    the registry to stand for one.)"""
    monkeypatch.delitem(OUTPUTS, "webhook")
    with pytest.raises(ConfigError) as info:
        load_config(None, {"WEBHOOK_ADDRESS": "http://x"})
    assert str(info.value).startswith(
        "webhook.address (env WEBHOOK_ADDRESS): Falcosidekick's Webhook output is not available"
    )
    with pytest.raises(ConfigError):
        load_config(write(tmp, {"webhook": {"address": "http://x"}}), {})
    with caplog.at_level(logging.WARNING, "lanner.sidekick"):
        config = load_config(write(tmp, {"webhook": {"address": "", "method": "PUT"}}), {})
    assert [o.kind for o in config.outputs] == ["prometheus"]
    assert "ignoring section 'webhook'" in caplog.text


def test_every_falcosidekick_enable_key_is_a_falcosidekick_key() -> None:
    assert len(falcosidekick.OUTPUTS) == 71
    for out in falcosidekick.OUTPUTS:
        for key in out.enable:
            assert key in falcosidekick.KEYS, (out.name, key)


def test_cli_check_fails_on_unknown_env(tmp: Path) -> None:
    result = sidekick_check(None, TELEGRAM_TOKN="x", SLACK_WEBHOOKURL="http://h/x")
    assert result.returncode != 0
    assert "environment variable TELEGRAM_TOKN: no such key" in result.stderr


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, 2),
        ({"WEBHOOK_MAXCONCURRENTREQUESTS": "5"}, 5),
        ({"WEBHOOK_MAXCONCURRENTREQUESTS": "0"}, 256),
    ],
)
def test_maxconcurrentrequests_sets_the_worker_concurrency(env: dict, expected: int) -> None:
    """Falcosidekick's per-output knob; unset, the global delivery.concurrency applies, and
    0 (Falcosidekick: unlimited) is the 256 cap."""
    from prometheus_client import CollectorRegistry

    from lanner.services.sidekick.app import build_outputs
    from lanner.services.sidekick.delivery import Dispatcher, RetryPolicy
    from lanner.services.sidekick.stats import Stats

    base = {"WEBHOOK_ADDRESS": "http://127.0.0.1:9/", "DELIVERY_CONCURRENCY": "2"}
    config = load_config(None, {**base, **env})
    registry = CollectorRegistry()
    outputs = build_outputs(config, registry)
    dispatcher = Dispatcher(outputs, Stats(registry), RetryPolicy(0, 1, 1), concurrency=2)
    assert dispatcher.workers["webhook"].concurrency == expected


DOC = Path(__file__).resolve().parents[3] / "docs" / "sidekick.md"


def _doc_rows(heading: str) -> list[list[str]]:
    text = DOC.read_text()
    section = text.split(f"\n{heading}\n", 1)[1].split("\n## ", 1)[0]
    return [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in section.splitlines()
        if line.startswith("| ") and not line.startswith("| ---")
    ][1:]


def test_sidekick_docs_table() -> None:
    """docs/sidekick.md's Falcosidekick table has the 71 outputs in order, each ✅ exactly
    when Lanner knows its enabling keys; the Outputs table has a row per Lanner output."""
    from lanner.services.sidekick.config import _flat, full_schema

    keys = {path for path, _ in _flat(full_schema())}
    rows = _doc_rows("## Falcosidekick's outputs (71)")
    assert [r[0] for r in rows] == [o.name for o in falcosidekick.OUTPUTS]
    for row, out in zip(rows, falcosidekick.OUTPUTS, strict=True):
        has = all(key in keys for key in out.enable)
        assert row[3].startswith("✅" if has else "❌"), (out.name, row[3])
        for key in out.enable:
            assert f"`{key}`" in row[2], (out.name, key)
    listed: set[str] = set()
    for r in _doc_rows("## Outputs"):
        listed.update(part for i, part in enumerate(r[0].split("`")) if i % 2)
    assert listed == set(OUTPUTS), sorted(listed ^ set(OUTPUTS))
