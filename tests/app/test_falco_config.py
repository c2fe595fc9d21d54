"""falco.yaml of Falco 0.40+ run through ``lanner run`` as a user would (issue 20)."""

from __future__ import annotations

import json
from pathlib import Path

from .helpers import FALCO_RULES, QUICKSTART, run_lanner

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
