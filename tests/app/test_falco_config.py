"""falco.yaml of Falco 0.40+ run through ``lanner run`` as a user would (issue 20)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from .helpers import (
    FALCO_RULES,
    FIXTURES,
    QUICKSTART,
    LiveLanner,
    open_event,
    run_lanner,
    seq_rules,
    wait_until,
)

QUICKSTART_RULES = {
    "Terminal shell in container",
    "Read sensitive file untrusted",
    "Netcat Remote Code Execution in Container",
}


def fired(stdout: bytes) -> list[str]:
    """The rule names of the JSON alerts on stdout, in order."""
    return [json.loads(ln)["rule"] for ln in stdout.splitlines() if ln.startswith(b"{")]


def run_json(*args: str) -> tuple[list[str], bytes, int]:
    res = run_lanner("-r", str(FALCO_RULES), "-e", str(QUICKSTART), "-o", "json_output=true",
                     *args)  # fmt: skip
    return fired(res.stdout), res.stderr, res.returncode


# -- rules: selectors ----------------------------------------------------------------------


def test_rules_selectors_in_the_config_apply_in_order(tmp_path: Path) -> None:
    config = tmp_path / "falco.yaml"
    config.write_text(
        "rules:\n"
        "  - disable:\n      rule: '*'\n"
        "  - enable:\n      rule: 'Netcat*'\n"
        "  - enable:\n      tag: filesystem\n"
    )
    rules, err, code = run_json("-c", str(config))
    assert code == 0, err
    assert rules == ["Read sensitive file untrusted", "Netcat Remote Code Execution in Container"]
    assert b"Disabling rules with name: *" in err  # logged as Falco does
    # the last word wins: disabling the tag after enabling the name turns it off again
    config.write_text(
        "rules:\n"
        "  - enable: {rule: 'Netcat*'}\n"
        "  - disable: {tag: network}\n"
        "  - disable: {rule: Terminal shell in container}\n"
    )
    rules, err, code = run_json("-c", str(config))
    assert code == 0, err
    assert rules == ["Read sensitive file untrusted"]


def test_rules_selectors_from_the_command_line_append() -> None:
    rules, err, code = run_json("-o", "rules[].disable.rule=Read sensitive*")
    assert code == 0, err
    assert rules == ["Terminal shell in container", "Netcat Remote Code Execution in Container"]
    rules, err, code = run_json(
        "-o", "rules[].disable.rule=*", "-o", "rules[].enable.tag=shell"
    )  # fmt: skip
    assert rules == ["Terminal shell in container"]


def test_only_star_is_a_wildcard_and_names_match_whole() -> None:
    # '?' and '[...]' are literal in Falco's rule wildcards; a bare substring matches nothing
    for pattern in ("Netcat?Remote*", "[N]etcat*", "Netcat"):
        rules, err, code = run_json("-o", f"rules[].disable.rule={pattern}")
        assert code == 0, err
        assert set(rules) == QUICKSTART_RULES, pattern


def test_a_selector_enables_a_rule_the_file_disables(tmp_path: Path) -> None:
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(
        "- rule: Cat run\n  desc: d\n  condition: proc.name = cat\n  output: cat ran\n"
        "  priority: WARNING\n  enabled: false\n  tags: [t1]\n"
    )
    args = ["-r", str(rules_file), "-e", str(QUICKSTART)]
    assert b"Events detected: 0" in run_lanner(*args).stdout
    res = run_lanner(*args, "-o", "rules[].enable.tag=t1")
    assert res.returncode == 0, res.stderr
    assert b"Warning cat ran" in res.stdout and b"Events detected: 1" in res.stdout


def test_bad_selectors_stop_with_the_item_named(tmp_path: Path) -> None:
    config = tmp_path / "falco.yaml"
    for text, message in (
        ("rules:\n  - disable:\n      rules: x\n", b"rules[0].disable: expected a mapping"),
        ("rules:\n  - {enable: {rule: a}}\n  - drop: {rule: a}\n", b"rules[1]: expected one key"),
        ("rules:\n  - enable: {tag: ''}\n", b"rules[0].enable.tag: expected a non-empty string"),
        ("rules: {disable: {rule: a}}\n", b"rules: expected a list of"),
    ):
        config.write_text(text)
        res = run_lanner("-r", str(FALCO_RULES), "-e", str(QUICKSTART), "-c", str(config))
        assert res.returncode == 1, text
        assert res.stderr.startswith(b"Error: ") and message in res.stderr, res.stderr
        assert res.stdout == b""
    # the file and line of the item are named, also in an included file, and for -o
    config.write_text("rules:\n  - enable: {rule: a}\n  - disable:\n      rules: x\n")
    res = run_lanner("-r", str(FALCO_RULES), "-e", str(QUICKSTART), "-c", str(config))
    assert res.stderr.startswith(f"Error: {config}:3: rules[1].disable: expected".encode())
    extra = tmp_path / "extra.yaml"
    extra.write_text("rules:\n  - disable: {rule: b}\n  - enable: {tag: [x]}\n")
    config.write_text(f"rules:\n  - enable: {{rule: a}}\nconfig_files: [{extra}]\n")
    res = run_lanner("-r", str(FALCO_RULES), "-e", str(QUICKSTART), "-c", str(config))
    assert res.stderr.startswith(f"Error: {extra}:3: rules[2].enable.tag: expected".encode())
    res = run_lanner("-e", str(QUICKSTART), "-o", "rules[].enable.rul=x")
    assert res.stderr.startswith(b"Error: -o rules[].enable.rul=x: rules[0].enable: expected")


# -- config_files ------------------------------------------------------------------------

CAT_RULE = (
    "- rule: {name}\n  desc: d\n  condition: proc.name = {proc}\n  output: {name} fired\n"
    "  priority: WARNING\n"
)


def rules_files(tmp_path: Path) -> tuple[Path, Path]:
    """Two rules files: 'Cat rule' fires on the quickstart's cat, 'Nc rule' on its nc."""
    cat, nc = tmp_path / "cat.yaml", tmp_path / "nc.yaml"
    cat.write_text(CAT_RULE.format(name="Cat rule", proc="cat"))
    nc.write_text(CAT_RULE.format(name="Nc rule", proc="nc"))
    return cat, nc


def run_config(config: Path) -> tuple[list[str], bytes, int]:
    res = run_lanner("-c", str(config), "-e", str(QUICKSTART))
    return fired(res.stdout), res.stderr, res.returncode


def test_config_files_merge_by_strategy_in_name_order(tmp_path: Path) -> None:
    cat, nc = rules_files(tmp_path)
    confd = tmp_path / "config.d"
    confd.mkdir()
    main = tmp_path / "falco.yaml"
    main.write_text(f"rules_files: [{cat}]\nconfig_files: [{confd}]\n")
    # append (the default): the list grows; a scalar is replaced, files in name order
    (confd / "20-b.yaml").write_text("json_output: true\n")
    (confd / "10-a.yaml").write_text(f"rules_files: [{nc}]\njson_output: false\n")
    (confd / "README.txt").write_text("not: [yaml")  # only .yaml/.yml files are read
    rules, err, code = run_config(main)
    assert code == 0, err
    assert rules == ["Cat rule", "Nc rule"]
    # override: the list is replaced
    main.write_text(
        f"rules_files: [{cat}]\nconfig_files: [{{path: {confd}, strategy: override}}]\n"
    )
    rules, err, code = run_config(main)
    assert rules == ["Nc rule"], err
    # add-only: keys the main file has stay; json_output (absent there) is added
    main.write_text(
        f"rules_files: [{cat}]\nconfig_files: [{{path: {confd}, strategy: add-only}}]\n"
    )
    res = run_lanner("-c", str(main), "-e", str(QUICKSTART))
    assert res.returncode == 0, res.stderr
    # json_output: 10-a adds false, 20-b's true is then ignored: text alerts
    assert b"Warning Cat rule fired" in res.stdout and b"Nc rule" not in res.stdout


def test_config_files_mappings_are_replaced_whole_as_falco(tmp_path: Path) -> None:
    cat, _nc = rules_files(tmp_path)
    extra = tmp_path / "extra.yaml"
    extra.write_text("outputs_queue: {}\nstdout_output: {enabled: false}\n")
    sink = tmp_path / "alerts.txt"
    main = tmp_path / "falco.yaml"
    main.write_text(
        f"rules_files: [{cat}]\nconfig_files: [{extra}]\n"
        f"file_output: {{enabled: true, filename: {sink}}}\n"
    )
    res = run_lanner("-c", str(main), "-e", str(QUICKSTART))
    assert res.returncode == 0, res.stderr
    assert b"Cat rule fired" not in res.stdout  # stdout_output from the included file
    assert b"Cat rule fired" in sink.read_bytes()


def test_config_files_errors_and_missing_files(tmp_path: Path) -> None:
    cat, _nc = rules_files(tmp_path)
    main = tmp_path / "falco.yaml"
    missing = tmp_path / "nope.yaml"
    main.write_text(f"rules_files: [{cat}]\nconfig_files: [{missing}]\njson_output: true\n")
    rules, err, code = run_config(main)
    assert code == 0 and rules == ["Cat rule"]
    assert f"config_files: '{missing}' does not exist (skipped)".encode() in err
    nested = tmp_path / "nested.yaml"
    nested.write_text(f"config_files: [{missing}]\n")
    main.write_text(f"rules_files: [{cat}]\nconfig_files: [{nested}]\n")
    _rules, err, code = run_config(main)
    assert code == 1
    assert err.startswith(f"Error: {nested}: 'config_files' is not allowed".encode()), err
    main.write_text(f"config_files: [{main}]\n")
    _rules, err, code = run_config(main)
    assert code == 1 and b"would include the main file" in err
    main.write_text(f"config_files: [{{path: {cat}, strategy: merge}}]\n")
    _rules, err, code = run_config(main)
    assert code == 1 and b"config_files[0].strategy: expected one of append" in err
    # -o config_files replaces the file's list before the files are read, as Falco
    main.write_text(f"rules_files: [{cat}]\nconfig_files: [{nested}]\njson_output: true\n")
    res = run_lanner("-c", str(main), "-e", str(QUICKSTART), "-o", "config_files=[]")
    assert res.returncode == 0 and fired(res.stdout) == ["Cat rule"], res.stderr


# -- engine.kind, refused values, keys with no effect ----------------------------------------


def test_engine_kind_replay_nodriver_and_refused_kinds(tmp_path: Path) -> None:
    config = tmp_path / "falco.yaml"
    config.write_text(
        f"json_output: true\nrules_files: [{FALCO_RULES}]\n"
        f"engine:\n  kind: replay\n  replay:\n    capture_file: {QUICKSTART}\n"
    )
    res = run_lanner("-c", str(config))
    assert res.returncode == 0, res.stderr
    assert set(fired(res.stdout)) == QUICKSTART_RULES
    # -e wins over the engine's capture file
    other = tmp_path / "one.jsonl"
    other.write_text(QUICKSTART.read_text().splitlines()[1] + "\n")
    res = run_lanner("-c", str(config), "-e", str(other))
    assert fired(res.stdout) == ["Read sensitive file untrusted"]
    res = run_lanner("-o", "engine.kind=replay")
    assert res.returncode == 1
    assert b"Error: engine.kind is replay but engine.replay.capture_file is empty" in res.stderr
    res = run_lanner("-o", "engine.kind=nodriver")
    assert res.returncode == 1 and b"engine.kind is nodriver: no probe" in res.stderr
    for kind in ("kmod", "ebpf", "gvisor"):
        res = run_lanner("-o", f"engine.kind={kind}", "-e", str(QUICKSTART))
        assert res.returncode == 1 and res.stdout == b""
        expected = f"Error: -o engine.kind={kind}: engine.kind: '{kind}' is not supported"
        assert res.stderr.startswith(expected.encode()), res.stderr


def test_refused_values_stop_with_the_key_named() -> None:
    for override, key in (
        ("buffer_format_base64=true", b"buffer_format_base64: True is not supported"),
        ("engine.kind=warp", b"engine.kind: expected one of modern_ebpf"),
        ("falco_libs.thread_table_size=big", b"falco_libs.thread_table_size: expected an int"),
    ):
        res = run_lanner("-r", str(FALCO_RULES), "-e", str(QUICKSTART), "-o", override)
        assert res.returncode == 1, override
        assert res.stderr.startswith(b"Error: ") and key in res.stderr, res.stderr


def test_keys_without_effect_are_named_once_each_at_start(tmp_path: Path) -> None:
    config = tmp_path / "falco.yaml"
    config.write_text(
        "json_output: true\n"
        "grpc: {enabled: true, bind_address: 'unix:///run/falco/falco.sock'}\n"
        "falco_libs: {thread_table_size: 262144, snaplen: 80}\n"
        "output_timeout: 2000\n"
        "buffer_format_base64: false\n"
        "engine: {kind: modern_ebpf, modern_ebpf: {cpus_for_each_buffer: 2}}\n"
    )
    res = run_lanner("-r", str(FALCO_RULES), "-e", str(QUICKSTART), "-c", str(config),
                     "-o", "webserver.threadiness=4")  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert set(fired(res.stdout)) == QUICKSTART_RULES
    lines = [ln for ln in res.stderr.decode().splitlines() if "has no effect" in ln]
    named = sorted(ln.split("configuration key '")[1].split("'")[0] for ln in lines)
    assert named == [
        "engine.modern_ebpf.cpus_for_each_buffer",
        "falco_libs.snaplen",
        "grpc",
        "webserver.threadiness",
    ]
    # without a file nothing is named
    res = run_lanner("-r", str(FALCO_RULES), "-e", str(QUICKSTART))
    assert b"has no effect" not in res.stderr


def test_a_file_added_to_a_config_files_directory_reloads(tmp_path: Path, live: list) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(seq_rules("Seq rule", "v1"))
    confd = tmp_path / "config.d"
    confd.mkdir()
    config = tmp_path / "falco.yaml"
    config.write_text(
        f"rules_files: [{rules}]\nconfig_files: [{confd}]\njson_output: true\n"
        "watch_config_files: true\n"
    )
    proc = LiveLanner("-c", str(config))
    live.append(proc)
    proc.send(open_event(1))
    wait_until(lambda: b'"rule":"Seq rule"' in proc.out.text().encode(), what="first alert")
    (confd / "off.yaml").write_text("rules:\n  - disable: {rule: 'Seq *'}\n")
    wait_until(lambda: "reload (file change)" in proc.err.text(), what="reload")
    proc.send(open_event(2))
    proc.send(b'{"evt.type": "openat", "evt.time": 1, "proc.name": "x"}')
    assert proc.finish() == 0
    seqs = [json.loads(ln)["output_fields"]["test.seq"] for ln in proc.out.snapshot()
            if ln.startswith(b"{")]  # fmt: skip
    assert seqs == ["1"], proc.err.text()
    assert "Disabling rules with name: Seq *" in proc.err.text()


# -- append_output and static_fields -------------------------------------------------------

CONTAINER_SUFFIX = (
    " container_id=3ad7b26ded6d container_name=web container_image_repository=nginx"
    " container_image_tag=<NA> k8s_pod_name=web-7d4b9 k8s_ns_name=default"
)


def alerts_with(tmp_path: Path, config_text: str, *args: str) -> list[dict]:
    config = tmp_path / "falco.yaml"
    config.write_text("json_output: true\n" + config_text)
    res = run_lanner("-r", str(FALCO_RULES), "-e", str(QUICKSTART), "-c", str(config), *args)
    assert res.returncode == 0, res.stderr
    return [json.loads(ln) for ln in res.stdout.splitlines() if ln.startswith(b"{")]


def test_suggested_output_appends_static_then_container_fields(tmp_path: Path) -> None:
    got = alerts_with(
        tmp_path,
        "static_fields: {zone: eu-1, cluster: prod}\nappend_output:\n  - suggested_output: true\n",
    )
    shell = got[0]
    assert shell["rule"] == "Terminal shell in container"
    assert shell["output"].endswith(
        "exe_flags=<NA> static_cluster=prod static_zone=eu-1" + CONTAINER_SUFFIX
    )
    fields = shell["output_fields"]
    assert fields["static.cluster"] == "prod" and fields["k8s.pod.name"] == "web-7d4b9"
    assert fields["container.image.tag"] is None
    # every alert got them, in the same order
    assert all(" static_cluster=prod static_zone=eu-1 container_id=" in a["output"] for a in got)


def test_append_output_match_forms_and_order(tmp_path: Path) -> None:
    got = alerts_with(
        tmp_path,
        "append_output:\n"
        "  - match: {source: k8s_audit}\n    extra_output: AUDIT\n"
        "  - match: {tags: [network, process]}\n    extra_output: NETPROC\n"
        "  - match: {tags: [network, filesystem]}\n    extra_output: NEVER\n"
        "  - match: {rule: Read sensitive file untrusted}\n    extra_output: READ\n"
        "    extra_fields: [proc.pname, {where: 'in %container.id'}]\n"
        "  - match: {source: syscall, rule: Terminal shell in container}\n"
        "    suggested_output: true\n"
        "  - extra_output: ALL\n",
    )
    by_rule = {a["rule"]: a for a in got}
    assert by_rule["Terminal shell in container"]["output"].endswith(CONTAINER_SUFFIX + " ALL")
    assert by_rule["Netcat Remote Code Execution in Container"]["output"].endswith(
        "exe_flags=<NA> NETPROC ALL"
    )
    read = by_rule["Read sensitive file untrusted"]
    assert read["output"].endswith("terminal=<NA> READ ALL")
    assert read["output_fields"]["where"] == "in host"
    assert "container.id" not in read["output_fields"]  # suggested only for the shell rule
    assert not any("AUDIT" in a["output"] or "NEVER" in a["output"] for a in got)


def test_static_fields_work_in_conditions(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "- rule: Curl in prod\n  desc: d\n"
        "  condition: evt.type = execve and evt.dir = < and proc.name = curl"
        " and static.env = prod\n"
        "  output: curl in %static.env\n  priority: WARNING\n"
    )
    capture = str(FIXTURES / "captures" / "curl_google.scap")
    for env, count in (("prod", b"1"), ("dev", b"0")):
        res = run_lanner("-r", str(rules), "-e", capture, "-o", f"static_fields.env={env}")
        assert res.returncode == 0, res.stderr
        assert b"Events detected: " + count in res.stdout
    assert (
        b"Warning curl in prod"
        in run_lanner("-r", str(rules), "-e", capture, "-o", "static_fields.env=prod").stdout
    )
    res = run_lanner("-r", str(rules), "-e", capture)  # without the key: an unknown field
    assert res.returncode == 1 and b"invalid formatting token static.env" in res.stderr


def test_bad_append_output_stops_with_the_entry_named(tmp_path: Path) -> None:
    config = tmp_path / "falco.yaml"
    for text, message in (
        ("append_output:\n  - extra_outptu: x\n", b"append_output[0].extra_outptu: unknown key"),
        ("append_output:\n  - match: {tag: [a]}\n", b"append_output[0].match.tag: unknown key"),
        ("append_output:\n  - suggested_output: yes please\n", b"suggested_output: expected"),
        ("static_fields: [a, b]\n", b"static_fields: expected a mapping of strings"),
    ):
        config.write_text(text)
        res = run_lanner("-r", str(FALCO_RULES), "-e", str(QUICKSTART), "-c", str(config))
        assert res.returncode == 1, text
        assert res.stderr.startswith(f"Error: {config}:".encode()), res.stderr
        assert message in res.stderr, res.stderr


def test_a_falco_plugin_entry_names_library_path_once(tmp_path: Path) -> None:
    config = tmp_path / "falco.yaml"
    config.write_text(
        "plugins:\n"
        "  - {name: k8saudit, library_path: libk8saudit.so, open_params: 'http://:9765/k8s'}\n"
        "  - {name: json, library_path: libjson.so}\n"
        "  - {name: cloudtrail, library_path: libcloudtrail.so, open_params: 's3://bucket/'}\n"
        "load_plugins: [json]\n"
    )
    res = run_lanner("-r", str(FALCO_RULES), "-e", str(QUICKSTART), "-c", str(config))
    assert res.returncode == 0, res.stderr
    assert res.stderr.count(b"'plugins[].library_path' is accepted but has no effect") == 1
    assert res.stderr.count(b"'plugins[cloudtrail].open_params' is accepted but has no") == 1
    assert b"plugins[k8saudit]" not in res.stderr  # k8saudit's open_params are read


def snapshot_rule_fields(tmp_path: Path, rules: Path, name: str, extra: dict) -> dict:
    """The falco.rules.* fields of the first metrics snapshot written after one alert."""
    out = tmp_path / f"{name}.jsonl"
    metrics = {"enabled": True, "interval": "200ms", "output_file": str(out), **extra}
    config = tmp_path / f"{name}.yaml"
    config.write_text(json.dumps({"rules_files": [str(rules)], "metrics": metrics}))
    proc = LiveLanner("-c", str(config))
    try:
        proc.send(open_event(1))
        wait_until(lambda: "v1 opened" in proc.out.text(), what="the alert")

        def after_event() -> list[dict]:
            lines = out.read_text().splitlines() if out.exists() else []
            return [json.loads(ln) for ln in lines if '"falco.num_evts":1' in ln]

        last = wait_until(after_event, what="a snapshot after the event")[-1]["output_fields"]
        assert proc.finish() == 0
    finally:
        proc.kill()
    return {k: v for k, v in last.items() if k.startswith("falco.rules.")}


def test_metrics_snapshot_rule_counters_and_empty_values(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(seq_rules("Seq rule", "v1") + CAT_RULE.format(name="Never", proc="zzz"))
    default = snapshot_rule_fields(tmp_path, rules, "default", {})
    assert default == {"falco.rules.matches_total": 1, "falco.rules.Seq rule": 1}
    empty = snapshot_rule_fields(tmp_path, rules, "empty", {"include_empty_values": True})
    assert empty == {
        "falco.rules.matches_total": 1,
        "falco.rules.Seq rule": 1,
        "falco.rules.Never": 0,
    }
    off = snapshot_rule_fields(tmp_path, rules, "off", {"rules_counters_enabled": False})
    assert off == {}


def test_output_timeout_names_a_slow_output_and_keeps_its_alerts(tmp_path: Path) -> None:
    sink = tmp_path / "got.txt"
    slow = f"sh -c 'sleep 1; cat >> {sink}'"
    args = [
        "-r", str(FALCO_RULES), "-e", str(QUICKSTART), "-o", "stdout_output.enabled=false",
        "-o", "program_output.enabled=true", "-o", f"program_output.program={slow}",
    ]  # fmt: skip
    res = run_lanner(*args, "-o", "output_timeout=300")
    assert res.returncode == 0, res.stderr
    named = b'"program" output timeout: an alert has been in delivery for more than 300 ms'
    assert res.stderr.count(named) == 3, res.stderr  # once per slow alert
    assert len(sink.read_text().splitlines()) == 3  # none dropped
    sink.unlink()
    res = run_lanner(*args)  # the default 2000 ms
    assert res.returncode == 0 and b"output timeout" not in res.stderr
    assert len(sink.read_text().splitlines()) == 3


def test_nodriver_runs_the_audit_webhook_alone_and_metrics_say_so(tmp_path: Path) -> None:
    import signal
    import subprocess

    import httpx

    from .helpers import LANNER, ROOT, free_port

    audit, web = free_port(), free_port()
    config = tmp_path / "falco.yaml"
    config.write_text(
        "load_plugins: [k8saudit]\n"
        f"plugins: [{{name: k8saudit, open_params: 'http://127.0.0.1:{audit}/k8s-audit'}}]\n"
        f"webserver: {{enabled: true, listen_port: {web}, listen_address: 127.0.0.1}}\n"
        "engine: {kind: nodriver}\n"
    )
    proc = subprocess.Popen(
        [*LANNER, "-c", str(config)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        body = wait_until(lambda: httpx.get(f"http://127.0.0.1:{web}/metrics").text, 30, "/metrics")
        assert (
            'falcosecurity_scap_engine_name_info{engine_name="source_plugin",'
            'evt_source="k8s_audit"} 1.0' in body
        )
        assert 'engine_name="modern_bpf"' not in body
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert b"k8s audit webhook listening" in err and b"syscall event types" not in err


def test_time_format_iso_8601_and_message_property(tmp_path: Path) -> None:
    config = tmp_path / "falco.yaml"
    config.write_text(
        "json_output: true\ntime_format_iso_8601: true\njson_include_message_property: true\n"
        "rules:\n  - disable: {rule: '*'}\n  - enable: {rule: Terminal shell in container}\n"
    )
    res = run_lanner("-r", str(FALCO_RULES), "-e", str(QUICKSTART), "-c", str(config))
    assert res.returncode == 0, res.stderr
    (alert,) = [json.loads(ln) for ln in res.stdout.splitlines() if ln.startswith(b"{")]
    assert alert["time"] == "2025-11-25T10:00:00.000000000Z"
    assert alert["output"].startswith("2025-11-25T10:00:00.000000000+0000: Notice A shell")
    assert alert["message"] == alert["output"].split(": Notice ", 1)[1]
    # Lanner's own log lines too (the selectors' lines): ISO 8601, not "Mon Dec 07 ..."
    log_line = next(ln for ln in res.stderr.decode().splitlines() if "Disabling rules" in ln)
    assert log_line[:4].isdigit() and log_line[4] == "-" and "T" in log_line[:20], log_line


def test_thread_table_size_bounds_the_state_of_a_replay(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "- rule: Curl\n  desc: d\n"
        "  condition: evt.type = execve and evt.dir = < and proc.name = curl\n"
        "  output: curl ran (parent=%proc.pname)\n  priority: WARNING\n"
    )
    capture = str(FIXTURES / "captures" / "curl_google.scap")
    res = run_lanner("-r", str(rules), "-e", capture)
    assert res.returncode == 0 and b"Warning curl ran (parent=bash)" in res.stdout
    # a table of one thread cannot hold curl's: no process, no alert (as a full table)
    res = run_lanner("-r", str(rules), "-e", capture, "-o", "falco_libs.thread_table_size=1")
    assert res.returncode == 0, res.stderr
    assert b"Events detected: 0" in res.stdout and b"has no effect" not in res.stderr


def test_k8saudit_init_config_keys_are_read_or_named(tmp_path: Path) -> None:
    """The k8saudit plugin's init_config: webhookMaxBatchSize bounds a request body (413
    past it, as the plugin), maxEventSize and useAsync are named as without effect, a
    misspelt key is named as unknown."""
    import signal
    import subprocess

    import httpx

    from .helpers import LANNER, ROOT, free_port

    audit = free_port()
    config = tmp_path / "falco.yaml"
    config.write_text(
        "load_plugins: [k8saudit]\n"
        "plugins:\n"
        "  - name: k8saudit\n"
        f"    open_params: 'http://127.0.0.1:{audit}/k8s-audit'\n"
        "    init_config: {webhookMaxBatchSize: 2048, maxEventSize: 1024, useAsync: true,"
        " sslCertificat: x.pem}\n"
        "engine: {kind: nodriver}\n"
    )
    proc = subprocess.Popen(
        [*LANNER, "-c", str(config)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{audit}/k8s-audit"
    small = {"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": []}
    try:
        first = wait_until(lambda: httpx.post(url, json=small, timeout=5), 30, "the webhook")
        assert first.status_code == 200
        big = dict(small, padding="x" * 4096)
        assert httpx.post(url, json=big, timeout=5).status_code == 413
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    text = err.decode()
    for key in ("maxEventSize", "useAsync"):
        assert f"'plugins[k8saudit].init_config.{key}' is accepted but has no effect" in text
    assert "unknown configuration key 'plugins[k8saudit].init_config.sslCertificat'" in text


def test_k8smeta_init_config_keys_without_effect_are_named(tmp_path: Path) -> None:
    """The k8smeta plugin's init_config as the Falco chart writes it: the collector's keys,
    verbosity and hostProc are named at start as without effect, a misspelt key as
    unknown; the keys Lanner reads are not named."""
    config = tmp_path / "falco.yaml"
    config.write_text(
        "load_plugins: [k8smeta]\n"
        "plugins:\n"
        "  - name: k8smeta\n"
        "    library_path: libk8smeta.so\n"
        "    init_config: {collectorPort: 45000, collectorHostname: k8s-metacollector,"
        " nodeName: node1, verbosity: info, hostProc: /host, nodname: x}\n"
    )
    res = run_lanner("-c", str(config), "--dry-run")
    assert res.returncode == 0, res.stderr
    err = res.stderr.decode()
    named = re.findall(r"'plugins\[k8smeta\]\.init_config\.(\w+)' is accepted but has no", err)
    assert sorted(named) == ["collectorHostname", "collectorPort", "hostProc", "verbosity"]
    assert "unknown configuration key 'plugins[k8smeta].init_config.nodname'" in err
    assert "nodeName'" not in err
