"""Falco's command-line flags as a user runs them: ``lanner run`` in a subprocess, its exit
status, stdout and stderr (issue 20's CLI and engine items, issue 21's config scheme)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from .helpers import FIXTURES, QUICKSTART, ROOT, run_lanner

RULES = FIXTURES / "rules"


def _out(result: object) -> tuple[int, str, str]:
    rc = result.returncode  # type: ignore[attr-defined]
    return rc, result.stdout.decode(), result.stderr.decode()  # type: ignore[attr-defined]


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("Error: ")]


def _fixture(name: str) -> Path:
    path = RULES / name
    assert path.is_file(), f"missing fixture {path}: the shared fixtures are required"
    return path


# -- errors: one line, non-zero ------------------------------------------------------


def test_an_unknown_flag_is_one_error_line_and_status_1() -> None:
    rc, out, err = _out(run_lanner("--no-such-flag"))
    assert rc == 1
    assert out == ""
    assert err == "Error: No such option '--no-such-flag'.\n"


def test_a_failed_validation_prints_json_on_stdout_and_one_error_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("- rule: r\n  desc: d\n  condition: evt.type = open and\n  output: o\n"
                   "  priority: INFO\n")  # fmt: skip
    rc, out, err = _out(run_lanner("-V", str(bad), "-o", "json_output=true"))
    assert rc == 1
    doc = json.loads(out)
    assert doc["falco_load_results"][0]["successful"] is False
    assert doc["falco_load_results"][0]["errors"][0]["code"] == "LOAD_ERR_COMPILE_CONDITION"
    assert _error_lines(err) == [f"Error: invalid rules file(s): {bad}"]


# -- --dry-run -------------------------------------------------------------------------


def test_dry_run_loads_config_and_rules_but_reads_no_events() -> None:
    rc, out, err = _out(run_lanner("--dry-run", "-e", str(QUICKSTART)))
    assert rc == 0, err
    assert "Events detected" not in out and "Interactive shell" not in out
    assert "dry run: configuration and " in err
    # the same run without --dry-run does alert: the flag is what kept it quiet
    rc, out, _ = _out(run_lanner("-e", str(QUICKSTART)))
    assert rc == 0 and "Interactive shell in container" in out


def test_dry_run_fails_on_broken_rules_and_on_a_bad_config(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("- macro: m\n  condition: (evt.type = open\n- rule: r\n  desc: d\n"
                   "  condition: m\n  output: o\n  priority: INFO\n")  # fmt: skip
    rc, _, err = _out(run_lanner("--dry-run", "-r", str(bad)))
    assert rc == 1
    assert _error_lines(err) == [f"Error: could not load rules file(s): {bad}"]
    rc, _, err = _out(run_lanner("--dry-run", "-o", "outputs_queue.capacity=-1"))
    assert rc == 1
    assert _error_lines(err) == [
        "Error: -o outputs_queue.capacity=-1: outputs_queue.capacity: must be at least 0, got -1"
    ]


# -- syscall_event_drops validated as Falco, from the one scheme -------------------------


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("syscall_event_drops.threshold=2",
         "syscall_event_drops.threshold: must be at most 1, got 2"),
        ("syscall_event_drops.threshold=-0.5",
         "syscall_event_drops.threshold: must be at least 0, got -0.5"),
        ("syscall_event_drops.actions=[log, reboot]",
         "syscall_event_drops.actions[1]: expected one of ignore, log, alert, exit, got 'reboot'"),
        ("syscall_event_drops.actions=[ignore, alert]",
         'syscall_event_drops.actions: action "alert" does not make sense with the "ignore" '
         "action"),
        ("syscall_event_drops.rate=-1", "syscall_event_drops.rate: must be at least 0, got -1"),
        ("syscall_event_timeouts.max_consecutives=0",
         "syscall_event_timeouts.max_consecutives: must be at least 1, got 0"),
    ],
)  # fmt: skip
def test_out_of_range_syscall_event_drops_stop_lanner(override: str, message: str) -> None:
    rc, _, err = _out(run_lanner("--dry-run", "-o", override))
    assert rc == 1
    assert _error_lines(err) == [f"Error: -o {override}: {message}"]


def test_valid_syscall_event_drops_are_accepted(tmp_path: Path) -> None:
    cfg = tmp_path / "falco.yaml"
    cfg.write_text("syscall_event_drops:\n  threshold: 0.5\n  actions: [log, alert, exit]\n"
                   "  rate: 0.1\n  max_burst: 3\n")  # fmt: skip
    rc, _, err = _out(run_lanner("--dry-run", "-c", str(cfg)))
    assert rc == 0, err


# -- --config-schema / --rule-schema: usable JSON Schemas --------------------------------


def _schema(flag: str) -> dict[str, object]:
    rc, out, err = _out(run_lanner(flag))
    assert rc == 0, err
    schema = json.loads(out)
    jsonschema.Draft6Validator.check_schema(schema)
    return schema


def test_config_schema_accepts_lanner_yaml_and_rejects_typos_and_ranges() -> None:
    schema = _schema("--config-schema")
    validator = jsonschema.Draft6Validator(schema)
    shipped = yaml.safe_load((ROOT / "lanner.yaml").read_text())
    assert list(validator.iter_errors(shipped)) == []
    typo = {**shipped, "stdout_outptu": {"enabled": True}}
    assert any("stdout_outptu" in e.message for e in validator.iter_errors(typo))
    drops = {**shipped, "syscall_event_drops": {"threshold": 2, "actions": ["reboot"]}}
    found = {tuple(e.path) for e in validator.iter_errors(drops)}
    assert found == {("syscall_event_drops", "threshold"), ("syscall_event_drops", "actions", 0)}


def test_config_schema_is_derived_from_the_scheme() -> None:
    from lanner.app.config_keys import walk

    schema = _schema("--config-schema")
    for path, _node in walk():
        node: object = schema
        for part in path.split("."):
            assert isinstance(node, dict)
            node = node["properties"][part]
        assert isinstance(node, dict), path


def test_rule_schema_accepts_the_upstream_rules_and_rejects_a_misspelt_key() -> None:
    validator = jsonschema.Draft6Validator(_schema("--rule-schema"))
    for name in ("falco_rules.yaml", "k8s_audit_rules.yaml", "aws_cloudtrail_rules.yaml",
                 "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"):  # fmt: skip
        doc = yaml.safe_load(_fixture(name).read_text())
        errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(doc)]
        assert errors == [], (name, errors[:3])
    bad = [{"rule": "r", "desc": "d", "conditon": "evt.type = open", "output": "o",
            "priority": "INFO"}]  # fmt: skip
    assert not validator.is_valid(bad)
    assert not validator.is_valid([{"rule": "r", "priority": "URGENT"}])


# -- --list-events, -i ---------------------------------------------------------------------


def test_list_events_prints_the_event_table_by_category() -> None:
    rc, out, err = _out(run_lanner("--list-events"))
    assert rc == 0, err
    assert out.startswith("The events below are valid for Falco *Schema Version*: ")
    assert "## Syscall events\n" in out and "## Metaevents\n" in out
    assert "< execve(ERRNO **res**, CHARBUF **exe**, " in out
    rc, out, _ = _out(run_lanner("--list-events", "--markdown"))
    assert rc == 0
    assert "Default | Dir | Name | Params \n:-------|:----|:-----|:-----\n" in out
    assert "Yes | `<` | `execve` | " in out  # the probe captures execve
    assert "No | `<` | `read` | " in out  # and has no handler for read
    rc, out, _ = _out(run_lanner("--list-events", "--format", "json"))
    doc = json.loads(out)
    assert list(doc) == [
        "Metaevents", "Plugin events", "Syscall events", "Tracepoint events", "schema_version"
    ]  # fmt: skip
    execve = [e for e in doc["Syscall events"] if e["name"] == "execve" and e["dir"] == "<"]
    assert execve[0]["available"] is True
    assert execve[0]["params"][0] == {"name": "res", "type": "ERRNO"}


def test_ignored_syscalls() -> None:
    rc, out, err = _out(run_lanner("-i"))
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0] == "Ignored syscall(s):"
    listed = {line[2:] for line in lines[1:] if line.startswith("- ")}
    assert {"read", "write", "pread", "sendfile"} <= listed
    assert not listed & {"execve", "open", "connect", "close"}


# -- --list with -N, --markdown, --format -----------------------------------------------------


def test_list_one_source_names_only_and_markdown() -> None:
    rc, out, err = _out(run_lanner("--list", "aws_cloudtrail", "-N"))
    assert rc == 0, err
    names = out.split()
    assert "ct.name" in names and "ct.user" in names and "proc.name" not in names
    rc, out, _ = _out(run_lanner("--list", "k8s_audit", "--markdown"))
    assert "## Field Class: ka\n" in out
    assert "Name | Type | Description\n:----|:-----|:-----------\n" in out
    assert "`ka.verb` | string | " in out
    rc, out, _ = _out(run_lanner("--list", "--format", "json"))
    classes = {c["name"]: c for c in json.loads(out)["fieldclasses"]}
    assert classes["proc"]["event_sources"] == ["syscall"]
    assert "aws_cloudtrail" in [s for c in classes.values() for s in c["event_sources"]]
    rc, out, err = _out(run_lanner("--list", "nosuchsource"))
    assert rc == 1 and _error_lines(err) == ["Error: Value for --list must be a valid source type"]


def test_list_text_layout_is_falcos() -> None:
    rc, out, _ = _out(run_lanner("--list", "syscall"))
    assert rc == 0
    block = out.split("-------------------------------\n")[1]
    assert block.startswith("Field Class:                  evt\n")
    assert "Event Sources:                syscall \n" in block
    assert "\nevt.type                      " in block


# -- --list-plugins, --plugin-info -------------------------------------------------------


def test_list_plugins_follows_load_plugins() -> None:
    rc, out, err = _out(run_lanner("--list-plugins"))
    assert rc == 0, err
    names = [line[6:] for line in out.splitlines() if line.startswith("Name: ")]
    assert out.startswith(f"{len(names)} Plugins Loaded:\n\nName: k8saudit\n")
    assert {"k8saudit", "cloudtrail", "json", "k8smeta"} <= set(names)
    assert "  - Event Sourcing (ID=2, source='aws_cloudtrail')\n" in out
    rc, out, _ = _out(run_lanner("--list-plugins", "-o", "load_plugins=[cloudtrail]"))
    assert out.startswith("1 Plugins Loaded:\n\nName: cloudtrail\n")


def test_plugin_info() -> None:
    rc, out, err = _out(run_lanner("--plugin-info", "k8saudit"))
    assert rc == 0, err
    assert "Name: k8saudit\n" in out
    assert "Init config schema type: JSON\n" in out
    assert "Suggested open params:\nhttp://:9765/k8s-audit: " in out
    rc, out, err = _out(run_lanner("--plugin-info", "okta"))  # built in since issue 25
    assert rc == 0 and "Name: okta\n" in out, err
    rc, out, err = _out(run_lanner("--plugin-info", "container"))  # Falco 0.41+'s
    assert rc == 0 and "Name: container\n" in out and '"engines"' in out, err
    rc, out, _ = _out(run_lanner("--list-plugins", "-o", "load_plugins=[container]"))
    assert out.startswith("1 Plugins Loaded:\n\nName: container\n")
    rc, out, err = _out(run_lanner("--plugin-info", "nomad"))
    assert rc == 1 and _error_lines(err) == ["Error: can't find plugin and print its info: nomad"]


# -- --support -------------------------------------------------------------------------------


def test_support_has_versions_system_config_and_rules_contents() -> None:
    rules = _fixture("k8s_audit_rules.yaml")
    rc, out, err = _out(
        run_lanner("--support", "-r", str(rules), "-o", "json_output=true", "-o", "priority=notice")
    )
    assert rc == 0, err
    doc = json.loads(out)
    assert set(doc) == {"system_info", "version", "engine_info", "cmdline", "config",
                        "rules_files"}  # fmt: skip
    assert doc["system_info"]["sysname"] == "Linux"
    assert doc["engine_info"]["engine_version_semver"].count(".") == 2
    assert doc["config"]["priority"] == "notice" and doc["config"]["json_output"] is True
    assert doc["cmdline"].startswith("lanner ") and "--support" in doc["cmdline"]
    assert doc["rules_files"] == [
        {"name": str(rules), "variants": [{"content": rules.read_text()}]}
    ]


# -- engine semantics: unknown sources, engine versions, appends to failed items -----------------


def _validate(tmp_path: Path, text: str, *extra: str) -> tuple[int, dict[str, object], str]:
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    rc, out, err = _out(run_lanner("-V", str(path), "-o", "json_output=true", *extra))
    return rc, json.loads(out)["falco_load_results"][0], err


def test_rules_of_an_unknown_source_warn_and_are_skipped(tmp_path: Path) -> None:
    text = (
        "- rule: okta login\n  desc: d\n  condition: okta.evt.type = login\n  output: o\n"
        "  priority: INFO\n  source: okta\n"
        "- rule: okta login\n  condition: and okta.app = x\n  override:\n    condition: append\n"
        "- rule: okta login\n  exceptions:\n  - name: e\n    fields: [okta.app]\n"
        "    values: [[y]]\n  override:\n    exceptions: append\n"
    )
    rc, result, _ = _validate(tmp_path, text)
    assert rc == 0
    assert result["successful"] is True
    warnings = result["warnings"]
    assert [w["code"] for w in warnings] == ["LOAD_UNKNOWN_SOURCE"]
    assert warnings[0]["message"] == "Unknown source okta, skipping"


@pytest.mark.parametrize(
    ("version", "ok", "message"),
    [
        ("3", True, ""),  # the old integer form: 0.3.0
        ('"0.10.0"', True, ""),
        ("1000", False, "Rules require engine version 0.1000.0, but engine version is "),
        ('"0.999.0"', False, "Rules require engine version 0.999.0, but engine version is "),
        ('"1.0.0"', False, "Rules require engine version 1.0.0, but engine version is "),
        ('"0.10"', False, "Unable to parse engine version '0.10' as a semver string. "
         'Expected "x.y.z" semver format.'),
    ],
)  # fmt: skip
def test_required_engine_version(tmp_path: Path, version: str, ok: bool, message: str) -> None:
    rc, result, err = _validate(tmp_path, f"- required_engine_version: {version}\n")
    assert rc == (0 if ok else 1)
    assert result["successful"] is ok
    if not ok:
        assert result["errors"][0]["message"].startswith(message)
        assert len(_error_lines(err)) == 1


def test_appends_to_items_that_failed_or_do_not_exist(tmp_path: Path) -> None:
    # a rule with no condition fails to load; the append after it is not reached
    rc, result, _ = _validate(
        tmp_path,
        "- rule: r\n  desc: d\n  output: o\n  priority: INFO\n"
        "- rule: r\n  condition: and evt.type = open\n  override:\n    condition: append\n",
    )
    assert rc == 1
    assert [(e["code"], e["message"]) for e in result["errors"]] == [
        ("LOAD_ERR_YAML_VALIDATE", "Item has no mapping for key 'condition'")
    ]
    rc, result, _ = _validate(
        tmp_path, "- macro: m\n  condition: or evt.type = close\n  override:\n"
        "    condition: append\n"
    )  # fmt: skip
    assert rc == 1
    assert [e["message"] for e in result["errors"]] == [
        "Macro uses 'append' or 'override.condition: append' but no macro by that name "
        "already exists"
    ]
    rc, result, _ = _validate(
        tmp_path, "- rule: r\n  priority: ERROR\n  override:\n    priority: replace\n"
    )
    assert rc == 1
    assert [e["message"] for e in result["errors"]] == [
        "An 'override.<key>: replace' to a rule was requested but no rule by that name "
        "already exists"
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("-c", "/nonexistent/falco.yaml"),
         "Could not find configuration file at /nonexistent/falco.yaml"),
        (("-l", "No such rule"), 'Rule "No such rule" is not loaded'),
        (("--enable-source", "okta", "--dry-run"),
         "Attempted enabling an unknown event source: okta"),
        (("--disable-source", "okta", "--dry-run"),
         "Attempted disabling an unknown event source: okta"),
        (("--enable-source", "syscall", "--disable-source", "json", "--dry-run"),
         "You can not mix --enable-source and --disable-source"),
        (("-o", "load_plugins=[json]", "--disable-source", "syscall", "--dry-run"),
         "Must enable at least one event source"),
    ],
)  # fmt: skip
def test_falcos_errors_for_files_rules_and_sources(args: tuple[str, ...], message: str) -> None:
    rc, out, err = _out(run_lanner(*args))
    assert rc == 1
    assert out == ""
    assert _error_lines(err) == [f"Error: {message}"]


def test_source_selection_keeps_the_named_sources() -> None:
    rc, _, err = _out(run_lanner("--enable-source", "k8s_audit", "--dry-run"))
    assert rc == 0, err
    assert "dry run: configuration and " in err
    # the syscall rules are gone: only the k8s_audit rules of the default files remain
    loaded = int(err.split("dry run: configuration and ")[1].split()[0])
    rc, _, err = _out(run_lanner("--dry-run"))
    assert loaded < int(err.split("dry run: configuration and ")[1].split()[0])


def test_an_override_of_a_whole_section_keeps_the_other_defaults() -> None:
    rc, out, err = _out(
        run_lanner("--support", "-o", "webserver={enabled: false}", "-o", "syscall_event_drops=")
    )
    assert rc == 0, err
    config = json.loads(out)["config"]
    assert config["webserver"]["enabled"] is False
    assert config["webserver"]["listen_port"] == 8765
    assert config["syscall_event_drops"]["threshold"] == 0.1
    assert config["syscall_event_drops"]["actions"] == ["log", "alert"]


# -- --version, --page-size, -U, -P ------------------------------------------------------------


def test_version_as_text_and_json() -> None:
    from importlib import metadata

    rc, out, err = _out(run_lanner("--version"))
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0] == f"Falco version: {metadata.version('lanner')}"
    assert [line.split(":")[0] for line in lines] == [
        "Falco version", "Libs version", "Plugin API", "Engine", "Driver", "  API version",
        "  Schema version", "  Default driver",
    ]  # fmt: skip
    rc, out, _ = _out(run_lanner("--version", "-o", "json_output=true"))
    info = json.loads(out)
    assert info["falco_version"] == metadata.version("lanner")
    assert info["engine_version"] == info["engine_version_semver"].split(".")[1]


def test_page_size_is_logged() -> None:
    import os

    rc, out, err = _out(run_lanner("--page-size"))
    assert rc == 0 and out == ""
    assert f"Your system page size is: {os.sysconf('SC_PAGE_SIZE')} bytes" in err


def test_unbuffered_wins_over_the_configuration() -> None:
    rc, out, err = _out(run_lanner("-U", "--support", "-o", "buffered_outputs=true"))
    assert rc == 0, err
    assert json.loads(out)["config"]["buffered_outputs"] is False
    rc, out, _ = _out(run_lanner("--support", "-o", "buffered_outputs=true"))
    assert json.loads(out)["config"]["buffered_outputs"] is True


def test_pidfile_is_written_and_an_unwritable_one_stops_lanner(tmp_path: Path) -> None:
    pid = tmp_path / "lanner.pid"
    rc, out, err = _out(run_lanner("-P", str(pid), "-e", str(QUICKSTART)))
    assert rc == 0, err
    assert "Events detected" in out
    assert pid.read_text().isdigit() and int(pid.read_text()) > 1
    rc, _, _ = _out(run_lanner("--pidfile", str(tmp_path / "dry.pid"), "--dry-run"))
    assert rc == 0 and not (tmp_path / "dry.pid").exists()  # as Falco: not on a dry run
    bad = tmp_path / "missing" / "lanner.pid"
    rc, out, err = _out(run_lanner("-P", str(bad), "-e", str(QUICKSTART)))
    assert rc == 1 and "Events detected" not in out
    assert _error_lines(err) == [
        f"Error: Could not write pid to pidfile {bad}: No such file or directory"
    ]


def test_describe_rules_as_json() -> None:
    rules = _fixture("falco_rules.yaml")
    rc, out, err = _out(run_lanner("-r", str(rules), "-L", "-o", "json_output=true"))
    assert rc == 0, err
    doc = json.loads(out)
    assert list(doc) == [
        "required_engine_version", "required_plugin_versions", "rules", "macros", "lists"
    ]  # fmt: skip
    assert doc["required_engine_version"] == "0.57.0"
    written = {i["rule"]: i for i in yaml.safe_load(rules.read_text()) if "rule" in i}
    assert [r["info"]["name"] for r in doc["rules"]] == list(written)
    shell = next(r for r in doc["rules"] if r["info"]["name"] == "Terminal shell in container")
    source = written["Terminal shell in container"]
    assert shell["info"]["condition"] == source["condition"]
    assert shell["info"]["description"] == source["desc"]
    assert shell["info"]["priority"] == "Notice" and source["priority"] == "NOTICE"
    assert shell["info"]["tags"] == sorted(source["tags"])
    assert "spawned_process" in shell["details"]["macros"]
    assert shell["details"]["events"] == ["execve", "execveat"]
    assert "proc.tty" in shell["details"]["condition_fields"]
    # every macro and list of the upstream file is used by something, as -V says
    assert all(m["details"]["used"] for m in doc["macros"])
    assert all(item["details"]["used"] for item in doc["lists"])
    rc, out, _ = _out(run_lanner("-r", str(rules), "-l", "Terminal shell in container",
                                 "-o", "json_output=true"))  # fmt: skip
    assert rc == 0 and json.loads(out) == {"rules": [shell]}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("file_output:\n  enabled: true\n  filename: ''\n",
         "file_output.filename: empty, but file_output is enabled"),
        ("file_output:\n  enabled: true\n",
         "file_output.filename: empty, but file_output is enabled"),
        ("program_output:\n  enabled: true\n",
         "program_output.program: empty, but program_output is enabled"),
        ("http_output:\n  enabled: true\n", "http_output.url: empty, but http_output is enabled"),
        ("webserver:\n  listen_address: localhost\n",
         "webserver.listen_address: expected an IPv4 or IPv6 address, got 'localhost'"),
        ("load_plugins: [container]\nplugins:\n- name: container\n  init_config:\n"
         "    engines: {rkt: {enabled: true}}\n",
         "plugins[container].init_config.engines.rkt: unknown engine (expected docker, "
         "podman, containerd, cri, lxc, libvirt_lxc or bpm)"),
        ("load_plugins: [container]\nplugins:\n- name: container\n  init_config:\n"
         "    engines: {docker: {sockets: 5}}\n",
         "plugins[container].init_config.engines.docker.sockets: expected a list of strings, "
         "got 5"),
        ("rules_file: [a.yaml]\nrules_files: [b.yaml]\n",
         "both 'rules_file' and 'rules_files' are set: keep rules_files"),
    ],
)  # fmt: skip
def test_configurations_falco_refuses_are_refused(
    tmp_path: Path, config: str, message: str
) -> None:
    path = tmp_path / "falco.yaml"
    path.write_text(config)
    rc, _, err = _out(run_lanner("--dry-run", "-c", str(path)))
    assert rc == 1
    (line,) = _error_lines(err)
    assert line.endswith(message)


def test_validate_with_warnings_says_so_on_stdout_and_logs_them(tmp_path: Path) -> None:
    path = tmp_path / "okta.yaml"
    path.write_text("- rule: okta login\n  desc: d\n  condition: okta.evt.type = login\n"
                    "  output: o\n  priority: INFO\n  source: okta\n")  # fmt: skip
    rules = _fixture("k8s_audit_rules.yaml")
    rc, out, err = _out(run_lanner("-V", str(path), "-V", str(rules)))
    assert rc == 0, err
    assert out == f"{path}: Ok, with warnings\n{rules}: Ok\n"
    assert "LOAD_UNKNOWN_SOURCE (Unknown event source): Unknown source okta, skipping" in err


def test_override_keys_escape_dots_and_brackets() -> None:
    rc, out, err = _out(
        run_lanner("--support", "-o", r"static_fields.team\.name=core",
                   "-o", r"static_fields.rack\[1\]=r1", "-o", r"static_fields.back\\slash=b")
    )  # fmt: skip
    assert rc == 0, err
    assert json.loads(out)["config"]["static_fields"] == {
        "team.name": "core", "rack[1]": "r1", "back\\slash": "b"
    }  # fmt: skip


# -- Falco 0.40's long and since-dropped flags ------------------------------------------


def test_option_is_the_long_form_of_o() -> None:
    rc, out, err = _out(run_lanner("--support", "--option", "json_output=true",
                                   "--option=priority=warning"))  # fmt: skip
    assert rc == 0, err
    config = json.loads(out)["config"]
    assert (config["json_output"], config["priority"]) == (True, "warning")


def test_snaplen_flag_sets_falco_libs_snaplen_and_is_named() -> None:
    for flag in (("-S", "200"), ("--snaplen=200",)):
        rc, out, err = _out(run_lanner("--support", *flag))
        assert rc == 0, err
        assert json.loads(out)["config"]["falco_libs"]["snaplen"] == 200
        assert "configuration key 'falco_libs.snaplen' is accepted but has no effect" in err
    rc, out, err = _out(run_lanner("--support", "-S", "0"))  # 0: unset, as Falco 0.40
    assert rc == 0, err
    assert "snaplen" not in json.loads(out)["config"].get("falco_libs", {})


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("-b",), "Error: -b/--print-base64: buffers print as text; base64 is not provided"),
        (("--print-base64", "--dry-run"),
         "Error: -b/--print-base64: buffers print as text; base64 is not provided"),
        (("--gvisor-generate-config",),
         "Error: --gvisor-generate-config: Lanner has no gVisor engine"),
        (("--gvisor-generate-config=/run/x.sock",),
         "Error: --gvisor-generate-config: Lanner has no gVisor engine"),
    ],
)  # fmt: skip
def test_falco_040_flags_lanner_cannot_honour_are_refused(
    args: tuple[str, ...], message: str
) -> None:
    rc, out, err = _out(run_lanner(*args))
    assert (rc, out, err) == (1, "", message + "\n")
