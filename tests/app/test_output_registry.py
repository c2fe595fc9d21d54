"""The output registry: ``build_outputs`` builds every output whose configuration section
is enabled, from that section, in Falco's order; each output class registers its own
section; httpx is imported only when an http output is built."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lanner.app.config import load_config
from lanner.app.outputs.base import Output
from lanner.app.outputs.file import FileOutput
from lanner.app.outputs.http import HttpOutput
from lanner.app.outputs.manager import build_outputs
from lanner.app.outputs.program import ProgramOutput
from lanner.app.outputs.registry import register, registered
from lanner.app.outputs.stdout import StdoutOutput
from lanner.app.outputs.syslog import SyslogOutput


def test_every_enabled_section_becomes_its_output_with_its_settings(tmp_path: Path) -> None:
    cfg = load_config(
        None,
        [
            "stdout_output.enabled=true",
            "file_output.enabled=true",
            f"file_output.filename={tmp_path / 'alerts.txt'}",
            "file_output.keep_alive=true",
            "syslog_output.enabled=true",
            "syslog_output.address=udp://127.0.0.1:5514",
            "syslog_output.ident=probe",
            "program_output.enabled=true",
            "program_output.program=cat -u",
            "http_output.enabled=true",
            "http_output.url=http://127.0.0.1:9/alerts",
            "http_output.max_retries=2",
        ],
    )
    manager = build_outputs(cfg)
    try:
        outs = manager.outputs
        assert [type(o) for o in outs] == [
            StdoutOutput, FileOutput, SyslogOutput, ProgramOutput, HttpOutput,
        ]  # fmt: skip
        file_out, syslog_out, program_out, http_out = outs[1:]
        assert isinstance(file_out, FileOutput) and file_out.keep_alive
        assert file_out.filename == str(tmp_path / "alerts.txt")
        assert isinstance(syslog_out, SyslogOutput) and syslog_out.ident == "probe"
        assert syslog_out.address == "udp://127.0.0.1:5514"
        assert isinstance(program_out, ProgramOutput) and program_out.argv == ["cat", "-u"]
        assert isinstance(http_out, HttpOutput) and http_out.settings.max_retries == 2
    finally:
        manager.close(1.0)


def test_disabled_sections_build_nothing() -> None:
    cfg = load_config(None, ["stdout_output.enabled=false"])
    assert build_outputs(cfg).outputs == []


def test_each_section_is_registered_once() -> None:
    assert list(registered()) == [
        "stdout_output", "file_output", "syslog_output", "program_output", "http_output",
    ]  # fmt: skip

    class AnotherFile(Output):
        config_key = "file_output"

    with pytest.raises(ValueError, match="file_output is already the section of FileOutput"):
        register(AnotherFile)
    assert registered()["file_output"] is FileOutput


def test_httpx_is_imported_only_when_an_http_output_is_built() -> None:
    code = (
        "import sys\n"
        "from lanner.app.config import load_config\n"
        "from lanner.app.outputs.manager import build_outputs\n"
        "build_outputs(load_config(None, ['stdout_output.enabled=true'])).close(1.0)\n"
        "print('httpx' in sys.modules)\n"
        "build_outputs(load_config(None, ['http_output.enabled=true',"
        " 'http_output.url=http://127.0.0.1:9/'])).close(1.0)\n"
        "print('httpx' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]


def test_only_the_enabled_outputs_modules_are_imported() -> None:
    code = (
        "import sys\n"
        "from lanner.app.config import load_config\n"
        "from lanner.app.outputs.manager import build_outputs\n"
        "from lanner.app.outputs.registry import BUILTIN\n"
        "build_outputs(load_config(None, ['stdout_output.enabled=true'])).close(1.0)\n"
        "print(*[key for key, module in BUILTIN.items() if module in sys.modules])\n"
        "print('ssl' in sys.modules, 'subprocess' in sys.modules)\n"
        "build_outputs(load_config(None, ['program_output.enabled=true',"
        " 'program_output.program=cat'])).close(1.0)\n"
        "print(*[key for key, module in BUILTIN.items() if module in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == [
        "stdout_output",
        "False False",
        "stdout_output program_output",
    ]
