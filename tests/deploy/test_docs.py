"""The deployment docs: their commands run (where they can without root, a kernel probe or
a cluster), the generated configuration reference is up to date, links resolve, and the
Falco flag table matches `lanner run`'s options."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lanner.app.run_command import run as run_command

from .helpers import DEPLOY, DOCS, KUBE, ROOT, lanner, rendered

OWN_DOCS = [
    "getting-started.md",
    "rules-guide.md",
    "response.md",
    "architecture.md",
    "falco-users.md",
]
SHIPPED = ROOT / "src/lanner/rules"


def _blocks(doc: str, lang: str = "sh") -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", (DOCS / doc).read_text(), flags=re.S)


def _section(doc: str, heading: str) -> str:
    text = (DOCS / doc).read_text()
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start : end if end > 0 else None]


def _commands(block: str) -> list[str]:
    return [ln.split("  #")[0].strip() for ln in block.splitlines() if ln.strip()]


def test_configuration_reference_is_generated_from_the_current_schema() -> None:
    sys.path.insert(0, str(DEPLOY / "tools"))
    try:
        import gen_config_doc
    finally:
        sys.path.pop(0)
    doc = (DOCS / "configuration.md").read_text()
    assert gen_config_doc.BEGIN in doc, "run: python deploy/tools/gen_config_doc.py"
    assert gen_config_doc.updated(doc) == doc, "run: python deploy/tools/gen_config_doc.py"
    # every key of the schema has a row
    from lanner.app.config_keys import Section, walk

    for path, node in walk():
        if not isinstance(node, Section):
            assert f"| `{path}` |" in doc, path


def test_try_it_commands_run() -> None:
    block = re.search(r"```sh\n(.*?)```", _section("getting-started.md", "## Try it"), re.S)
    assert block
    ran = 0
    for line in _commands(block.group(1)):
        if not line.startswith(".venv/bin/lanner "):
            continue
        out = lanner(*shlex.split(line)[1:])
        assert out.returncode == 0, f"{line}\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}"
        ran += 1
        if " -V " in line:
            assert out.stdout.strip().endswith("lanner_rules.yaml: Ok")
        if " -e " in line:
            assert "Events detected:" in out.stdout
        if "--help" in line:
            assert "Usage: " in out.stdout
        if "--check" in line:
            assert "OK" in out.stdout
    assert ran == 5


def test_host_install_lays_out_a_configuration_that_loads(tmp_path: Path) -> None:
    """The host section's install commands, run under a temporary root instead of /."""
    block = re.search(
        r"```sh\n(.*?)```", _section("getting-started.md", "## On a host (systemd)"), re.S
    )[1]
    assert "systemctl enable --now lanner" in block
    root = tmp_path / "root"
    (root / "etc/systemd/system").mkdir(parents=True)  # there on any systemd host
    have_probe_tools = (
        all(shutil.which(t) for t in ("clang", "bpftool"))
        and Path("/sys/kernel/btf/vmlinux").exists()
    )
    check = None
    installed = 0
    for line in _commands(block):
        words = shlex.split(line.removeprefix("sudo "))
        if line.startswith("/opt/lanner/bin/lanner"):
            check = words
            continue
        if "build_probe.sh" in line or "lanner_probe.bpf.o" in line:
            if not have_probe_tools:
                continue
        elif words[0] not in ("install", "touch"):
            continue  # apt-get, venv, pip, systemctl, journalctl: not here
        words = [str(root) + w if w.startswith(("/etc/", "/usr/share/")) else w for w in words]
        subprocess.run(words, cwd=ROOT, check=True, timeout=300)
        installed += 1
    assert installed >= 5 and check is not None
    etc = root / "etc/lanner"
    assert (etc / "rules.d").is_dir()
    assert (root / "etc/systemd/system/lanner.service").read_text() == (
        DEPLOY / "systemd/lanner.service"
    ).read_text()
    # lanner.yaml's absolute paths, re-rooted as a chroot would see them
    conf = etc / "lanner.yaml"
    conf.write_text(conf.read_text().replace("/etc/lanner", str(etc)))
    args = [a if a != "/etc/lanner/lanner.yaml" else str(conf) for a in check[1:]]
    out = lanner(*args)
    assert out.returncode == 0, out.stderr
    assert "Sensitive file read by untrusted program" in out.stdout
    if have_probe_tools:
        assert (root / "usr/share/lanner/lanner_probe.bpf.o").is_file()


def test_kubernetes_commands_name_real_paths() -> None:
    text = (DOCS / "getting-started.md").read_text()
    for path in re.findall(r"kubectl (?:apply|kustomize) -k? ?(deploy/kubernetes/\S+)", text):
        assert (ROOT / path / "kustomization.yaml").is_file(), path
    for name in re.findall(r"svc/([a-z-]+)", text) + re.findall(r"service ([a-z-]+) -o", text):
        assert any(
            o["kind"] == "Service" and o["metadata"]["name"] == name
            for o in rendered("overlays/full")
        ), name
    # the apiserver flags are the ones the policy's header documents
    (flags,) = _blocks("getting-started.md", "text")
    policy = (KUBE / "apiserver/audit-policy.yaml").read_text()
    for flag in flags.split():
        assert flag.split("=")[0] in policy


def test_rules_guide_commands_and_snippets(tmp_path: Path) -> None:
    blocks = _blocks("rules-guide.md", "yaml")
    # the tuning snippets load on top of the defaults
    for i, snippet in enumerate(blocks[:2]):
        (tmp_path / f"{i}.yaml").write_text(snippet)
    out = lanner(
        "run", "-r", str(SHIPPED / "lanner_rules.yaml"),
        "-r", str(SHIPPED / "lanner_k8s_audit_rules.yaml"),
        "-r", str(tmp_path / "0.yaml"), "-r", str(tmp_path / "1.yaml"), "-L",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    # the example rule is the one in the lanner-rules ConfigMap
    local = rendered("overlays/minimal")
    cm = next(o for o in local if o["metadata"]["name"] == "lanner-rules")["data"]
    shipped_rule = next(r for r in yaml.safe_load(cm["50-local.yaml"]) if "rule" in r)
    assert yaml.safe_load(blocks[2]) == [shipped_rule]
    # the ConfigMap's rules load after the defaults, as the engine loads them
    rules_d = tmp_path / "rules.d"
    rules_d.mkdir()
    for name, text in cm.items():
        (rules_d / name).write_text(text)
    out = lanner(
        "run", "-r", str(SHIPPED / "lanner_rules.yaml"),
        "-r", str(SHIPPED / "lanner_k8s_audit_rules.yaml"), "-r", str(rules_d), "-L",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "Shell in the lanner namespace" in out.stdout
    # validation commands
    (validate,) = [c for c in _commands(_blocks("rules-guide.md")[0]) if " -V " in c and "src" in c]
    out = lanner(*shlex.split(validate)[1:])
    assert out.returncode == 0
    assert out.stdout.split() == [
        "src/lanner/rules/lanner_rules.yaml:", "Ok",
        "src/lanner/rules/lanner_k8s_audit_rules.yaml:", "Ok",
    ]  # fmt: skip
    # and -V alone refuses an appending file, as the guide says
    out = lanner("run", "-V", str(tmp_path / "0.yaml"))
    assert out.returncode == 1 and "no list by that name already exists" in out.stdout


def test_response_commands_run(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    objs = rendered("overlays/standard")
    cm = next(o for o in objs if o["metadata"]["name"] == "lanner-respond-rules")
    rules.write_text(cm["data"]["rules.yaml"])
    for line in _commands(_blocks("response.md")[0]):
        words = shlex.split(line.split(">")[0])
        words = [str(rules) if w == "rules.yaml" else w for w in words]
        if "--replay" in words:
            alerts = tmp_path / "alerts.jsonl"
            alerts.write_text(
                '{"rule": "Crypto miner launched", "priority": "Critical", "source": "syscall",'
                ' "time": "2026-11-25T10:00:00Z", "output": "x", "hostname": "n",'
                ' "output_fields": {"k8s.ns.name": "shop", "k8s.pod.name": "miner-1"}}\n'
            )
            words = [str(alerts) if w == "alerts.jsonl" else w for w in words]
            words += ["--retries", "0"]  # no API server here: fail fast
        out = lanner(*words[1:])
        if "--replay" in words:
            # no API server here: the dry-run scale still has to read the Deployment
            records = [yaml.safe_load(ln) for ln in out.stdout.splitlines() if ln]
            assert [r["action"] for r in records][:1] == ["kubernetes:scale-to-zero"]
            assert all(r["dry_run"] for r in records)
        else:
            assert out.returncode == 0, out.stderr


def _slug(heading: str) -> str:
    return re.sub(r"[^a-z0-9 _-]", "", heading.lower()).strip().replace(" ", "-")


@pytest.mark.parametrize("doc", [*(DOCS / d for d in OWN_DOCS), DEPLOY / "README.md"])
def test_links_resolve(doc: Path) -> None:
    text = doc.read_text()
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if target.startswith(("http://", "https://")):
            continue
        path, _, anchor = target.partition("#")
        file = (doc.parent / path).resolve() if path else doc
        assert file.exists(), f"{doc.name}: {target}"
        if anchor and file.suffix == ".md":
            headings = re.findall(r"^#+ (.*)$", file.read_text(), flags=re.M)
            assert anchor in {_slug(h) for h in headings}, f"{doc.name}: {target}"


def test_falco_flag_table_matches_lanner_run() -> None:
    options = {opt for param in run_command.params for opt in param.opts}
    options |= set(run_command.context_settings["help_option_names"])
    rows = _section("falco-users.md", "## Command-line flags").splitlines()
    same = next(r for r in rows if r.startswith("| `-r`"))
    refused = next(r for r in rows if "not accepted" in r)
    for flag in re.findall(r"`(-[^` ]+)", same.split("|")[1]):
        for single in flag.split("/"):
            assert single in options, single
    for flag in re.findall(r"`(-[^` ]+)", refused.split("|")[1]):
        for single in flag.split("/"):
            if not single.endswith("*"):
                assert single not in options, single
