"""``lanner artifact`` against a real registry (Debian's docker-registry on loopback):
push the upstream rules, install them by index name, follow a new version into a running
``lanner run`` that alerts with it, and refuse what must be refused (bad signature,
digest mismatch, unmet requirement, rules that do not load, wrong password, unknown CA)
while the installed rules stay."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from helpers import free_port, shared_fixture, wait_until

from .registry_server import Registry, run_registry

ROOT = Path(__file__).resolve().parents[3]
UPSTREAM = shared_fixture("rules")
ARTIFACT = [sys.executable, "-c", "from lanner.cli import main; main()", "artifact"]
LANNER_RUN = [sys.executable, "-c", "from lanner.cli import main; main()", "run"]


def lanner_artifact(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ARTIFACT, *args], capture_output=True, text=True, timeout=120)


def index_file(tmp: Path, reg: Registry) -> str:
    """A falcoctl index naming the test registry's repositories."""
    entries = [
        {"name": "falco-rules", "type": "rulesfile", "registry": reg.host,
         "repository": "falcosecurity/rules/falco-rules",
         "description": "Falco rules that are loaded by default", "keywords": ["syscall"]},
        {"name": "team-rules", "type": "rulesfile", "registry": reg.host,
         "repository": "team/rules", "description": "our own", "keywords": ["custom"]},
    ]  # fmt: skip
    path = tmp / "index.yaml"
    path.write_text(yaml.safe_dump(entries))
    return f"local=file://{path}"


def team_rules(tmp: Path, version: str, body: str | None = None) -> Path:
    """A rules file whose one rule's output says which version it is."""
    path = tmp / version / "team_rules.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        body
        or (
            "- required_engine_version: 0.26.0\n"
            f"- rule: Team rule {version}\n  desc: d\n"
            "  condition: evt.type = open and fd.name startswith /etc\n"
            f"  output: team-{version} opened %fd.name\n  priority: WARNING\n"
        )
    )
    return path


def test_upstream_rules_push_install_info_search(tmp_path: Path) -> None:
    with run_registry(tmp_path / "reg") as reg:
        ref = f"{reg.host}/falcosecurity/rules/falco-rules:3.2.1"
        rules = UPSTREAM / "falco_rules.yaml"
        res = lanner_artifact("push", ref, str(rules), "--version", "3.2.1",
                              "--add-floating-tags", *reg.args())  # fmt: skip
        assert res.returncode == 0, res.stderr
        pushed = json.loads(res.stdout.splitlines()[-1])
        assert pushed["tags"] == ["3.2.1", "3.2", "3", "latest"]
        index = index_file(tmp_path, reg)
        dest = tmp_path / "rules.d"
        res = lanner_artifact("install", "falco-rules:3", "--index", index,
                              "--rulesfiles-dir", str(dest), *reg.args())  # fmt: skip
        assert res.returncode == 0, res.stderr
        assert (dest / "falco_rules.yaml").read_bytes() == rules.read_bytes()
        state = json.loads((dest / "lanner-artifacts.json").read_text())
        (entry,) = state.values()
        assert entry["digest"] == pushed["digest"] and entry["version"] == "3.2.1"
        # falcoctl's engine requirement, read from the file's required_engine_version
        assert "engine 0." in res.stdout
        info = lanner_artifact("info", "falco-rules", "--index", index, *reg.args())
        assert info.returncode == 0, info.stderr
        assert info.stdout.split()[-4:] == ["3", "3.2", "3.2.1", "latest"]
        found = lanner_artifact("search", "syscall", "--index", index)
        assert "falco-rules" in found.stdout and "team-rules" not in found.stdout
        # a team's artifact that depends on the upstream rules brings them along
        team = f"{reg.host}/team/rules:1.0.0"
        res = lanner_artifact("push", team, str(team_rules(tmp_path, "v1")), "--version",
                              "1.0.0", "--depends-on", "falco-rules:3", *reg.args())  # fmt: skip
        assert res.returncode == 0, res.stderr
        both = tmp_path / "both"
        res = lanner_artifact("install", "team-rules:1.0.0", "--index", index,
                              "--rulesfiles-dir", str(both), *reg.args())  # fmt: skip
        assert res.returncode == 0, res.stderr
        assert sorted(p.name for p in both.glob("*.yaml")) == [
            "falco_rules.yaml",
            "team_rules.yaml",
        ]


def test_tls_and_basic_auth(tmp_path: Path) -> None:
    with run_registry(tmp_path / "reg", tls=True, auth=True) as reg:
        ref = f"{reg.host}/team/rules:1.0.0"
        rules = team_rules(tmp_path, "v1")
        res = lanner_artifact("push", ref, str(rules), "--version", "1.0.0", *reg.args())
        assert res.returncode == 0, res.stderr
        dest = tmp_path / "rules.d"
        res = lanner_artifact("install", ref, "--rulesfiles-dir", str(dest), *reg.args())
        assert res.returncode == 0, res.stderr
        assert (dest / "team_rules.yaml").read_text() == rules.read_text()
        bad = lanner_artifact("install", ref, "--rulesfiles-dir", str(tmp_path / "x"),
                              *reg.args(password="wrong"))  # fmt: skip
        assert bad.returncode == 1 and bad.stderr.startswith("Error: ")
        assert "401" in bad.stderr or "unauthorized" in bad.stderr.lower(), bad.stderr
        no_ca = lanner_artifact("install", ref, "--rulesfiles-dir", str(tmp_path / "y"),
                                "--username", "ci", "--password", "s3cret-pass")  # fmt: skip
        assert no_ca.returncode == 1 and "certificate" in no_ca.stderr.lower(), no_ca.stderr
        assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
        # the same credentials from a docker config.json
        auth = base64.b64encode(b"ci:s3cret-pass").decode()
        docker = tmp_path / "config.json"
        docker.write_text(json.dumps({"auths": {reg.host: {"auth": auth}}}))
        res = lanner_artifact("install", ref, "--rulesfiles-dir", str(tmp_path / "z"),
                              "--ca-file", str(reg.ca), "--docker-config", str(docker))  # fmt: skip
        assert res.returncode == 0, res.stderr
        assert (tmp_path / "z" / "team_rules.yaml").exists()


def _keys(tmp: Path, name: str) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    priv, pub = tmp / f"{name}.key", tmp / f"{name}.pub"
    priv.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                     serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))  # fmt: skip
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                    serialization.PublicFormat.SubjectPublicKeyInfo))  # fmt: skip
    return str(priv), str(pub)


def test_signatures_digests_and_requirements_are_checked(tmp_path: Path) -> None:
    signer, signer_pub = _keys(tmp_path, "team")
    _, other_pub = _keys(tmp_path, "other")
    with run_registry(tmp_path / "reg") as reg:
        ref = f"{reg.host}/team/rules:1.0.0"
        res = lanner_artifact("push", ref, str(team_rules(tmp_path, "v1")), "--version",
                              "1.0.0", "--sign-key", signer, *reg.args())  # fmt: skip
        assert res.returncode == 0, res.stderr
        digest = json.loads(res.stdout.splitlines()[-1])["digest"]
        dest = tmp_path / "rules.d"
        ok = lanner_artifact("install", ref, "--rulesfiles-dir", str(dest),
                             "--verify-key", signer_pub, *reg.args())  # fmt: skip
        assert ok.returncode == 0, ok.stderr
        other = lanner_artifact("install", ref, "--rulesfiles-dir", str(tmp_path / "o"),
                                "--verify-key", other_pub, *reg.args())  # fmt: skip
        assert other.returncode == 1 and "no signature verifies" in other.stderr, other.stderr
        # an unsigned artifact is refused when a key is required
        unsigned = f"{reg.host}/team/unsigned:1.0.0"
        assert lanner_artifact("push", unsigned, str(team_rules(tmp_path, "u")), "--version",
                               "1.0.0", *reg.args()).returncode == 0  # fmt: skip
        res = lanner_artifact("install", unsigned, "--rulesfiles-dir", str(tmp_path / "u2"),
                              "--verify-key", signer_pub, *reg.args())  # fmt: skip
        assert res.returncode == 1 and "no signature found" in res.stderr, res.stderr
        # a pinned digest the registry does not serve
        wrong = f"{reg.host}/team/rules@sha256:{'0' * 64}"
        res = lanner_artifact("install", wrong, "--rulesfiles-dir", str(tmp_path / "w"),
                              *reg.args())  # fmt: skip
        assert res.returncode == 1 and res.stderr.startswith("Error: "), res.stderr
        pinned = f"{reg.host}/team/rules@{digest}"
        res = lanner_artifact("install", pinned, "--rulesfiles-dir", str(tmp_path / "p"),
                              *reg.args())  # fmt: skip
        assert res.returncode == 0, res.stderr
        # an engine requirement newer than Lanner's
        future = f"{reg.host}/team/future:9.0.0"
        assert lanner_artifact("push", future, str(team_rules(tmp_path, "f")), "--version",
                               "9.0.0", "--requires", "engine_version_semver:0.999.0",
                               *reg.args()).returncode == 0  # fmt: skip
        res = lanner_artifact("install", future, "--rulesfiles-dir", str(tmp_path / "f2"),
                              *reg.args())  # fmt: skip
        assert res.returncode == 1 and "needs engine 0.999.0" in res.stderr, res.stderr
        for d in ("o", "u2", "w", "f2"):
            assert not (tmp_path / d).exists(), d


def _open_event(seq: int) -> bytes:
    return b'{"evt.type": "open", "fd.name": "/etc/seq-%d", "evt.time": %d}' % (
        seq,
        1_700_000_000_000_000_000 + seq,
    )


def test_follow_updates_a_running_lanner_and_keeps_rules_on_a_bad_update(tmp_path: Path) -> None:
    with run_registry(tmp_path / "reg") as reg:
        ref = f"{reg.host}/team/rules:1"
        dest = tmp_path / "rules.d"

        def push(version: str, body: str | None = None) -> None:
            res = lanner_artifact("push", ref, str(team_rules(tmp_path, version, body)),
                                  "--version", f"1.{version[1:]}.0", *reg.args())  # fmt: skip
            assert res.returncode == 0, res.stderr

        def follow_once() -> subprocess.CompletedProcess[str]:
            return lanner_artifact("follow", ref, "--once", "--rulesfiles-dir", str(dest),
                                   *reg.args())  # fmt: skip

        push("v1")
        assert lanner_artifact("install", ref, "--rulesfiles-dir", str(dest),
                               *reg.args()).returncode == 0  # fmt: skip
        cfg = tmp_path / "lanner.yaml"
        cfg.write_text(yaml.safe_dump({"rules_files": [str(dest)], "watch_config_files": True,
                                       "json_output": True, "log_level": "info"}))  # fmt: skip
        proc = subprocess.Popen([*LANNER_RUN, "-c", str(cfg), "-e", "-"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        assert proc.stdin is not None and proc.stdout is not None
        seq = 0

        def alert_from(version: str) -> bool:
            nonlocal seq
            seq += 1
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(_open_event(seq) + b"\n")
            proc.stdin.flush()
            line = proc.stdout.readline()
            return f"team-{version} opened /etc/seq-{seq}".encode() in line

        try:
            assert alert_from("v1")
            unchanged = follow_once()
            assert unchanged.returncode == 0, unchanged.stderr
            push("v2")
            res = follow_once()
            assert res.returncode == 0, res.stderr
            assert "team-v2" in (dest / "team_rules.yaml").read_text()
            wait_until(
                lambda: alert_from("v2"), timeout=30, what="the running lanner to alert with v2"
            )
            # an update whose rules do not load: refused, the files and the running rules stay
            push("v3", "- rule: Broken\n  desc: d\n  condition: evt.type = = open\n"
                       "  output: x\n  priority: WARNING\n")  # fmt: skip
            res = follow_once()
            assert res.returncode == 1 and "the rules do not load" in res.stderr, res.stderr
            assert "team-v2" in (dest / "team_rules.yaml").read_text()
            assert alert_from("v2")
        finally:
            proc.kill()
            proc.wait(10)


def test_falcoctl_config_from_falcos_chart_loads_and_unknown_keys_are_refused(
    tmp_path: Path,
) -> None:
    with run_registry(tmp_path / "reg") as reg:
        ref = f"{reg.host}/falcosecurity/rules/falco-rules:3.0.0"
        rules = str(UPSTREAM / "falco_rules.yaml")
        res = lanner_artifact("push", ref, rules, "--version", "3.0.0", "--add-floating-tags",
                              *reg.args())  # fmt: skip
        assert res.returncode == 0, res.stderr
        index = tmp_path / "index.yaml"
        entry = {"name": "falco-rules", "type": "rulesfile", "registry": reg.host,
                 "repository": "falcosecurity/rules/falco-rules"}  # fmt: skip
        index.write_text(yaml.safe_dump([entry]))
        # the shape of the falcoctl.yaml Falco's Helm chart writes (its values' defaults)
        cfg = tmp_path / "falcoctl.yaml"
        cfg.write_text(f"""
artifact:
  allowedTypes: [rulesfile, plugin]
  install:
    resolveDeps: true
    refs: [falco-rules:3]
    rulesfilesDir: {tmp_path / "rulesfiles"}
    pluginsDir: /plugins
  follow:
    refs: [falco-rules:3]
    every: 6h
    falcoversions: http://localhost:8765/versions
    rulesfilesDir: {tmp_path / "rulesfiles"}
    pluginsDir: /plugins
indexes:
- name: falcosecurity
  url: file://{index}
registry:
  plainHttp: [{reg.host}]
""")
        res = lanner_artifact("install", "--config", str(cfg))
        assert res.returncode == 0, res.stderr
        assert (tmp_path / "rulesfiles" / "falco_rules.yaml").exists()
        assert "pluginsdir is not used" in res.stderr
        cfg.write_text(cfg.read_text() + "artifactz: {}\n")
        res = lanner_artifact("install", "--config", str(cfg))
        assert res.returncode == 1 and "unknown key artifactz" in res.stderr, res.stderr


@pytest.mark.parametrize("ref", ["", "UPPER:1", "reg/x@sha256:abc", "name:"])
def test_bad_references_are_one_line_errors(ref: str) -> None:
    res = lanner_artifact("install", ref, "--rulesfiles-dir", "/nonexistent")
    assert res.returncode == 1 and res.stderr.startswith("Error: ") and res.stderr.count("\n") == 1


def test_follow_serves_its_outcomes_as_prometheus_metrics(tmp_path: Path) -> None:
    with run_registry(tmp_path / "reg") as reg:
        ref = f"{reg.host}/team/rules:1"
        body = "- rule: Broken\n  desc: d\n  condition: evt.type = = x\n  output: x\n"
        broken = team_rules(tmp_path, "v9", body + "  priority: WARNING\n")
        res = lanner_artifact("push", ref, str(broken), "--version", "1.9.0", *reg.args())
        assert res.returncode == 0, res.stderr
        port = free_port()
        proc = subprocess.Popen([*ARTIFACT, "follow", ref, "--every", "1s", "--rulesfiles-dir",
                                 str(tmp_path / "rd"), "--metrics-address", f"127.0.0.1:{port}",
                                 *reg.args()], stderr=subprocess.PIPE, text=True)  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}/metrics"

            def refused() -> str | None:
                text = httpx.get(url).text
                return text if 'outcome="refused"' in text else None

            text = wait_until(refused, timeout=60, what="a refused update in the metrics")
            assert f'lanner_artifact_follow_failing{{ref="{ref}"}} 1.0' in text, text
            assert f'lanner_artifact_follow_checks_total{{outcome="refused",ref="{ref}"}}' in text
        finally:
            proc.terminate()
            proc.wait(20)
        assert not (tmp_path / "rd" / "team_rules.yaml").exists()
