"""Falco's own falco.yaml (0.40.0, and 0.44.1, the latest release) loaded unchanged by
``lanner run --dry-run``: every key in it is honoured, or named at start as accepted
without effect; none is unknown or silently dropped (issue 20)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from lanner.app.config_keys import Key, Node, lookup

from .helpers import FALCO_RULES, QUICKSTART, run_lanner

HERE = Path(__file__).parent / "fixtures" / "falco"

# the keys each file sets that Lanner accepts without effect (each named in one line)
NO_EFFECT_COMMON = {
    "webserver.threadiness",
    "libs_logger",
    "syscall_event_timeouts",
    "metrics.state_counters_enabled",
    "metrics.kernel_event_counters_enabled",
    "metrics.kernel_event_counters_per_cpu_enabled",
    "metrics.libbpf_stats_enabled",
    "metrics.plugins_metrics_enabled",
    "metrics.jemalloc_stats_enabled",
    "engine.kmod",
    "engine.modern_ebpf.cpus_for_each_buffer",
    "engine.modern_ebpf.drop_failed_exit",
    "falco_libs.snaplen",
    "plugins[].library_path",
}
NAMED = {
    "falco-0.40.0.yaml": NO_EFFECT_COMMON
    | {
        "grpc",
        "engine.ebpf",
        "engine.gvisor",
        "container_engines.cri.disable_async",
        "container_engines.lxc",
        "container_engines.libvirt_lxc",
        "container_engines.bpm",
    },
    "falco-0.44.1.yaml": NO_EFFECT_COMMON
    | {
        "plugins_hostinfo",
        "engine.modern_ebpf.disable_iterators",
        "http_output.max_consecutive_timeouts",
        "metrics.kernel_iter_event_counters_enabled",
        "falco_libs.thread_table_auto_purging_interval_s",
        "falco_libs.thread_table_auto_purging_thread_timeout_s",
        "plugins[container].init_config",
    },
}
# keys of kind "any" whose every form Lanner reads (tests/app/test_falco_config.py)
READ_WHOLE = {"append_output"}


def leaf_paths(doc: Any, prefix: str = "") -> Iterator[str]:
    """Dotted paths of the leaves; a list of mappings is walked item by item."""
    if isinstance(doc, dict) and doc:
        for key, value in doc.items():
            yield from leaf_paths(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(doc, list) and doc and all(isinstance(i, dict) for i in doc):
        for item in doc:
            yield from leaf_paths(item, prefix)
    else:
        yield prefix


def declared(path: str) -> tuple[str, Node | None]:
    """The deepest declared key on ``path`` and its declaration."""
    parts = path.split(".")
    for n in range(len(parts), 0, -1):
        node = lookup(".".join(parts[:n]))
        if node is not None:
            return ".".join(parts[:n]), node
    return "", None


@pytest.mark.parametrize("name", sorted(NAMED))
def test_falcos_falco_yaml_loads_unchanged_and_every_key_is_accounted_for(name: str) -> None:
    config = HERE / name
    res = run_lanner("-c", str(config), "-r", str(FALCO_RULES), "--dry-run")
    err = res.stderr.decode()
    assert res.returncode == 0, err
    assert "dry run: configuration and" in err
    assert "unknown configuration key" not in err, err
    named = {
        re.sub(r"\[[^\]]*\]", "[]", key)
        for key in re.findall(r"configuration key '([^']+)' is accepted but has no effect", err)
    }
    expected = {re.sub(r"\[[^\]]*\]", "[]", key) for key in NAMED[name]}
    assert named == expected
    unaccounted = []
    for path in leaf_paths(yaml.safe_load(config.read_text())):
        bare = {p.replace("[]", "") for p in named}
        if any(path == p or path.startswith(p + ".") for p in bare):
            continue  # named at start
        where, node = declared(path)
        chain = [lookup(".".join(where.split(".")[:n])) for n in range(1, where.count(".") + 2)]
        no_effect = any(getattr(n, "no_effect", "") for n in chain)
        opaque = isinstance(node, Key) and node.kind == "any" and where not in READ_WHOLE
        if node is None or no_effect or opaque:
            unaccounted.append(path)
    assert unaccounted == []


def test_a_missing_rules_directory_is_skipped_as_falco(tmp_path: Path) -> None:
    """Falco reads a rules path that is a directory or a *.yaml/*.yml file and skips any
    other (falco.yaml's /etc/falco/rules.d before anything is installed there); a missing
    .yaml file stops it."""
    rules = tmp_path / "falco_rules.yaml"
    rules.write_bytes(FALCO_RULES.read_bytes())
    (tmp_path / "falco_rules.local.yaml").write_text("")
    config = tmp_path / "falco.yaml"
    config.write_text(
        "rules_files:\n"
        f"  - {rules}\n"
        f"  - {tmp_path / 'falco_rules.local.yaml'}\n"
        f"  - {tmp_path / 'rules.d'}\n"
        "json_output: true\n"
    )
    res = run_lanner("-c", str(config), "-e", str(QUICKSTART))
    err = res.stderr.decode()
    assert res.returncode == 0, err
    assert f"rules path '{tmp_path / 'rules.d'}' skipped" in err
    assert b'"rule":"Terminal shell in container"' in res.stdout
    # a missing rules file is still an error naming it, as Falco's "Could not open file"
    res = run_lanner("-c", str(config), "-r", str(tmp_path / "gone.yaml"), "--dry-run")
    assert res.returncode == 1
    assert res.stderr.decode().splitlines()[-1] == (
        f"Error: could not load rules file(s): {tmp_path / 'gone.yaml'}"
    )


@pytest.mark.parametrize("name", sorted(NAMED))
def test_falcos_falco_yaml_is_valid_for_the_config_schema(name: str) -> None:
    """A YAML editor given ``lanner run --config-schema`` accepts Falco's own file, and
    flags a misspelt key in it."""
    import jsonschema

    res = run_lanner("--config-schema")
    assert res.returncode == 0, res.stderr
    validator = jsonschema.Draft6Validator(json.loads(res.stdout))
    doc = yaml.safe_load((HERE / name).read_text())
    assert [e.message for e in validator.iter_errors(doc)] == []
    doc["webserver"]["listen_prot"] = 8765
    assert [list(e.path) for e in validator.iter_errors(doc)] == [["webserver"]]
