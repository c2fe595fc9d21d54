"""Without ``-c``, ``lanner run`` reads Falco's default file ``/etc/falco/falco.yaml`` when it
exists, as Falco does, so a swapped image keeps the configuration mounted there.

The file is put in place inside a private mount namespace (``unshare -m``) by an overlay
on ``/etc``: the test's processes see it, the machine's ``/etc`` is not written."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

from .helpers import LANNER, ROOT

RULE = """\
- rule: Rule only the default configuration names
  desc: loaded only through /etc/falco/falco.yaml
  condition: evt.type = open and fd.name = /nonexistent-marker
  output: marker (file=%fd.name)
  priority: WARNING
"""


def _in_namespace(tmp_path: Path, config: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``lanner run ARGS`` where /etc/falco/falco.yaml holds ``config``."""
    unshare = shutil.which("unshare")
    assert unshare, "unshare (util-linux) is needed to mount the test's /etc overlay"
    upper, work = tmp_path / "upper", tmp_path / "work"
    (upper / "falco").mkdir(parents=True)
    work.mkdir()
    (upper / "falco" / "falco.yaml").write_text(config)
    mount = f"mount -t overlay overlay -o lowerdir=/etc,upperdir={upper},workdir={work} /etc"
    command = " ".join(shlex.quote(a) for a in [*LANNER, *args])
    return subprocess.run(
        [unshare, "-m", "--propagation", "private", "sh", "-c", f"{mount} && exec {command}"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def test_falco_default_file_is_read_without_c(tmp_path: Path) -> None:
    rules = tmp_path / "only.yaml"
    rules.write_text(RULE)
    config = f"rules_files:\n  - {rules}\n"
    done = _in_namespace(tmp_path, config, "-L")
    assert done.returncode == 0, done.stderr
    assert "Rule only the default configuration names" in done.stdout
    assert "Configuration: /etc/falco/falco.yaml" in done.stderr


def test_c_wins_over_the_default_file(tmp_path: Path) -> None:
    rules = tmp_path / "only.yaml"
    rules.write_text(RULE)
    other = tmp_path / "other.yaml"
    other.write_text("json_output: false\n")
    done = _in_namespace(tmp_path, f"rules_files:\n  - {rules}\n", "-c", str(other), "-L")
    assert done.returncode == 0, done.stderr
    assert "Rule only the default configuration names" not in done.stdout
    assert "/etc/falco/falco.yaml" not in done.stderr
