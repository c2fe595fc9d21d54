"""Configuration: Falco's keys, defaults, -o overrides, ${ENV}, warnings, typed errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from lanner.app.config import apply_override, load_config, parse_duration
from lanner.exceptions import ConfigError

from .helpers import FALCO_RULES, QUICKSTART, ROOT, run_lanner


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lanner.yaml"
    path.write_text(text)
    return path


def test_defaults_without_a_file() -> None:
    cfg = load_config(None)
    assert cfg.boolean("stdout_output.enabled") is True
    assert cfg.boolean("syslog_output.enabled") is False
    assert cfg.number("outputs.rate") == 0
    assert cfg.integer("outputs.max_burst") == 1000
    assert cfg.get("rule_matching") == "first"
    assert cfg.warnings == []


def test_file_merges_with_defaults_and_keeps_falco_spellings(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
rules_file: [/a.yaml, /b.yaml]
json_output: true
http_output:
  enabled: true
  url: http://127.0.0.1:2801/
metrics:
  interval: 1h30m
""",
    )
    cfg = load_config(path)
    assert cfg.string_list("rules_files") == ["/a.yaml", "/b.yaml"]
    assert cfg.boolean("json_output") is True
    # the rest of http_output keeps its defaults
    assert cfg.get("http_output.user_agent") == "falcosecurity/falco"
    assert cfg.integer("http_output.max_retries") == 5
    assert cfg.duration("metrics.interval") == 5400


def test_overrides_env_and_list_indexes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SINK_URL", "http://sink:2801")
    path = write(
        tmp_path,
        """
http_output:
  url: ${SINK_URL}/falco
  user_agent: $${NOT_EXPANDED}
plugins:
  - name: k8saudit
    open_params: http://:9765/k8s-audit
""",
    )
    cfg = load_config(
        path,
        [
            "http_output.enabled=true",
            "outputs.rate=0.5",
            "plugins[0].open_params=http://:9000/audit",
            "webserver.listen_port=${PORT_UNSET}9999",
            "load_plugins=[k8saudit, json]",
        ],
    )
    assert cfg.get("http_output.url") == "http://sink:2801/falco"
    assert cfg.get("http_output.user_agent") == "${NOT_EXPANDED}"
    assert cfg.boolean("http_output.enabled") is True
    assert cfg.number("outputs.rate") == 0.5
    assert cfg.get("plugins")[0]["open_params"] == "http://:9000/audit"
    assert cfg.integer("webserver.listen_port") == 9999
    assert cfg.string_list("load_plugins") == ["k8saudit", "json"]


def test_unknown_keys_warn_with_their_path(tmp_path: Path) -> None:
    path = write(tmp_path, "stdout_output:\n  enabled: true\n  colour: red\nfoo: 1\n")
    cfg = load_config(path)
    assert any("'stdout_output.colour'" in w for w in cfg.warnings)
    assert any("'foo'" in w for w in cfg.warnings)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("http_output:\n  max_retries: many\n", "http_output.max_retries: expected an integer"),
        ("json_output: maybe\n", "json_output: expected a boolean"),
        ("outputs: 5\n", "outputs: expected a mapping"),
        ("priority: loud\n", "priority: expected a priority"),
        ("metrics:\n  interval: soon\n", "metrics.interval: expected a duration"),
        ("rule_matching: some\n", "rule_matching: expected one of first, all"),
        ("plugins:\n  - name: [x]\n", "plugins[0].name: expected a string"),
        ("rules_files: {a: 1}\n", "rules_files: expected a list of strings"),
        ("syslog_output:\n  facility: nowhere\n", "syslog_output.facility: expected one of"),
    ],
)
def test_wrong_types_fail_with_the_key_path(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_config(write(tmp_path, text))


def test_override_errors() -> None:
    with pytest.raises(ConfigError, match="expected key=value"):
        apply_override({}, "json_output")
    with pytest.raises(ConfigError, match="not a mapping"):
        apply_override({"json_output": True}, "json_output.x=1")
    with pytest.raises(ConfigError, match="no such list item"):
        apply_override({"plugins": []}, "plugins[3].name=x")


def test_durations() -> None:
    assert parse_duration("500ms") == 0.5
    assert parse_duration("1m30s") == 90
    assert parse_duration(2000) == 2.0
    with pytest.raises(ValueError):
        parse_duration("5 minutes")


def test_cli_reports_the_bad_key_and_exits_1(tmp_path: Path) -> None:
    path = write(tmp_path, "file_output:\n  keep_alive: sometimes\n")
    res = run_lanner("-c", str(path), "-r", str(FALCO_RULES), "-e", str(QUICKSTART))
    assert res.returncode == 1
    assert b"file_output.keep_alive: expected a boolean, got 'sometimes'" in res.stderr
    res = run_lanner("-r", str(FALCO_RULES), "-e", str(QUICKSTART), "-o", "outputs.rate=fast")
    assert res.returncode == 1
    assert b"outputs.rate: expected a number" in res.stderr


def test_cli_warns_about_unknown_keys_and_runs(tmp_path: Path) -> None:
    path = write(tmp_path, f"rules_files: [{FALCO_RULES}]\nstdout_outptu:\n  enabled: true\n")
    res = run_lanner("-c", str(path), "-e", str(QUICKSTART))
    assert res.returncode == 0
    assert b"unknown configuration key 'stdout_outptu'" in res.stderr
    assert res.stdout.count(b"Warning ") == 2


def test_shipped_lanner_yaml_is_valid_and_complete() -> None:
    cfg = load_config(ROOT / "lanner.yaml")
    assert cfg.warnings == []
    for key in (
        "rules_files",
        "priority",
        "json_output",
        "outputs.rate",
        "stdout_output.enabled",
        "file_output.keep_alive",
        "syslog_output.enabled",
        "program_output.program",
        "http_output.compress_uploads",
        "webserver.listen_port",
        "metrics.interval",
        "watch_config_files",
        "base_syscalls.custom_set",
        "load_plugins",
        "log_level",
    ):
        assert cfg.get(key) is not None, key


def test_empty_values_keep_the_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, "http_output:\n#  enabled: true\nfile_output:\n  filename:\n")
    cfg = load_config(path)
    assert cfg.boolean("http_output.enabled") is False
    assert cfg.get("file_output.filename") == ""  # Falco's default: no file
