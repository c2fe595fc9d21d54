"""Configuration: YAML (case-insensitive keys), env overrides, errors naming the key path."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from lanner.exceptions import ConfigError
from lanner.services.sidekick.alert import Priority
from lanner.services.sidekick.config import load_config

from .helpers import SIDEKICK_CMD, sidekick_check


def write(tmp: Path, data: object) -> Path:
    path = tmp / "sidekick.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_yaml_and_env_like_falcosidekick(tmp: Path) -> None:
    path = write(
        tmp,
        {
            "customFields": {"Akey": "AValue"},
            "slack": {"webhookURL": "http://hooks.local/x", "minimumPriority": "warning"},
            "elasticsearch": {"hostport": "http://es:9200", "customHeaders": {"X-A": "1"}},
        },
    )
    env = {
        "SLACK_MINIMUMPRIORITY": "error",
        "LOKI_HOSTPORT": "http://loki:3100",
        "LOKI_EXTRALABELS": "k8s.ns.name, proc.name",
        "CUSTOMFIELDS": "cluster:prod,region:eu",
        "WEBHOOK_ADDRESS": "http://hook:8080/",
        "WEBHOOK_CUSTOMHEADERS": "Authorization:Bearer abc,X-Team:sec",
        "DELIVERY_RETRIES": "7",
        "PROMETHEUS_DISABLED": "true",
    }
    config = load_config(path, env)
    outputs = {o.kind: o.settings for o in config.outputs}
    assert sorted(outputs) == ["elasticsearch", "loki", "slack", "webhook"]
    assert outputs["slack"]["minimumpriority"] is Priority.ERROR  # env wins over YAML
    assert outputs["slack"]["webhookurl"] == "http://hooks.local/x"
    assert outputs["loki"]["extralabels"] == ["k8s.ns.name", "proc.name"]
    assert outputs["webhook"]["customheaders"] == {"Authorization": "Bearer abc", "X-Team": "sec"}
    assert outputs["elasticsearch"]["customheaders"] == {"X-A": "1"}
    assert config.get("customfields") == {"cluster": "prod", "region": "eu"}
    assert config.get("delivery.retries") == 7
    assert config.get("listenport") == 2801


@pytest.mark.parametrize(
    ("data", "env", "message"),
    [
        (
            {"slack": {"minimumpriority": "urgent"}},
            {},
            "slack.minimumpriority: 'urgent' is not a priority",
        ),
        ({"loki": {"hostprot": "x"}}, {}, "loki.hostprot: unknown key"),
        ({"listenport": 70000}, {}, "listenport: must be at most 65535"),
        ({}, {"LISTENPORT": "http"}, "listenport (env LISTENPORT): expected an integer"),
        ({"delivery": {"backoff": "fast"}}, {}, "delivery.backoff: expected a number"),
        ({"smtp": {"hostport": "mail:25", "to": "a@b"}}, {}, "smtp.from: required"),
        ({"templatedfields": {"x": "{{ system . }}"}}, {}, "templatedfields.x: unknown function"),
        (
            {"tlsserver": {"deploy": True, "certfile": "/nope.crt"}},
            {},
            "tlsserver.certfile: file not found",
        ),
        ({"slack": ["not", "a", "map"]}, {}, "slack: expected a mapping"),
        ({"notanoutput": {"lambda": {"functionname": "f"}}}, {}, "notanoutput: unknown key"),
        ({}, {"SLACK_WEBHOOKURL": "hooks.slack.com/x"}, "slack.webhookurl: expected an http://"),
        ({"alertmanager": {"hostport": "am:9093"}}, {}, "alertmanager.hostport: expected an http"),
        ({}, {"NATS_HOSTPORT": "127.0.0.1:4222"}, "nats.hostport: expected nats://"),
        (
            {"statsd": {"forwarder": "127.0.0.1:8125", "tags": ["env:prod|x"]}},
            {},
            "statsd.tags: 'env:prod|x': a tag is non-empty, without '|', ',' or line breaks",
        ),
        (
            {"dogstatsd": {"forwarder": "127.0.0.1:8125", "tags": ["a,b"]}},
            {},
            "dogstatsd.tags: 'a,b': a tag",
        ),
    ],
)
def test_bad_config_names_key_path(tmp: Path, data: dict, env: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp, data), env)
    assert str(info.value).startswith(message)


def test_cli_fails_at_start_with_key_path(tmp: Path) -> None:
    path = write(tmp, {"teams": {"webhookurl": "http://x", "outputformat": "pretty"}})
    result = subprocess.run(
        [*SIDEKICK_CMD, "-c", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "teams.outputformat: 'pretty' is not one of all, text, facts" in result.stderr


def test_cli_check_lists_outputs(tmp: Path) -> None:
    path = write(tmp, {"nats": {"hostport": "nats://127.0.0.1:4222"}})
    result = sidekick_check(path, REDIS_ADDRESS="127.0.0.1:6379")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["nats", "prometheus", "redis"]


def test_cli_check_accepts_falcosidekick_statsd_tags(tmp: Path) -> None:
    """STATSD_TAGS was refused as a Falcosidekick knob Lanner lacked; now it is read."""
    result = sidekick_check(
        write(tmp, {}), STATSD_FORWARDER="127.0.0.1:8125", STATSD_TAGS="env:prod,team:sec"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["prometheus", "statsd"]
