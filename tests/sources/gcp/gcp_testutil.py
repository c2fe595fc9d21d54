"""Helpers of the Google Cloud source tests: ``lanner run`` with a Pub/Sub plugin against
the Pub/Sub DOUBLE (tests/helpers/pubsub_double.py), its alerts read as they come
(helpers.lanner_process)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from helpers import shared_fixture
from helpers.lanner_process import LannerProcess
from helpers.pubsub_double import PubSubDouble

RULES = shared_fixture("rules")


def write_config(tmp: Path, plugin: str, init: dict[str, Any], sub: str, web_port: int = 0,
                 extra_fields: list[str] | None = None) -> Path:  # fmt: skip
    cfg: dict[str, Any] = {
        "json_output": True,
        "stdout_output": {"enabled": True}, "log_level": "info", "rule_matching": "all",
        "load_plugins": [plugin, "json"],
        "plugins": [{"name": plugin, "init_config": init, "open_params": sub},
                    {"name": "json"}],
    }  # fmt: skip
    if extra_fields:  # Falco's append_output: fields to tell the alerts' events apart
        cfg["append_output"] = [{"extra_fields": extra_fields}]
    if web_port:  # the metrics endpoint
        cfg["webserver"] = {"enabled": True, "listen_port": web_port,
                            "listen_address": "127.0.0.1"}  # fmt: skip
    path = tmp / "lanner.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def start_lanner(cfg: Path, rules: list[Path], err: Path, pubsub: PubSubDouble) -> LannerProcess:
    """``lanner run -c CFG -r RULES...`` with the double's address in PUBSUB_EMULATOR_HOST."""
    return LannerProcess(cfg, rules, err, env={**os.environ, "PUBSUB_EMULATOR_HOST": pubsub.host})
