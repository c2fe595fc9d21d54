"""A damaged capture replayed with ``lanner run -e``: the alerts and the summary of what
came before the damage, then the error (file, byte offset, what is wrong), exit 1."""

from __future__ import annotations

import gzip
import re
import struct
from pathlib import Path

import pytest

from .helpers import FIXTURES, run_lanner

CAPTURE = FIXTURES / "captures" / "curl_google.scap"
RULE = """
- rule: Open below etc
  desc: test rule
  condition: evt.type in (open, openat) and fd.name startswith /etc
  output: opened %fd.name by %proc.name
  priority: WARNING
"""


def _plain() -> bytes:
    data = CAPTURE.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def _blocks(data: bytes) -> list[int]:
    """Byte offsets of the blocks."""
    out, pos = [], 0
    while pos + 8 <= len(data):
        out.append(pos)
        pos += struct.unpack_from("<I", data, pos + 4)[0]
    return out


def _replay(path: Path, rules: Path) -> tuple[int, str, str]:
    res = run_lanner("-r", str(rules), "-e", str(path), "-o", "json_output=true")
    return res.returncode, res.stdout.decode(), res.stderr.decode()


def _alerts_before(offset: int, rules: Path, tmp_path: Path) -> int:
    """Alerts of the intact file's blocks that end before ``offset``."""
    data = _plain()
    ends = [b for b in _blocks(data) if b <= offset]
    head = tmp_path / "head.scap"
    head.write_bytes(data[: ends[-1]])
    code, out, err = _replay(head, rules)
    assert code == 0, err
    return int(re.search(r"Events detected: (\d+)", out)[1])  # type: ignore[index]


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(RULE)
    return path


def _check(path: Path, rules: Path, tmp_path: Path, reason: str) -> int:
    code, out, err = _replay(path, rules)
    assert code == 1, (out, err)
    assert "Traceback" not in err, err
    m = re.search(
        rf"Error: {re.escape(str(path))}: corrupt capture at byte offset (\d+): (.+)", err
    )
    assert m, err
    assert reason in m[2], m[2]
    offset = int(m[1])
    # the summary of what was replayed before the damage, and its alerts
    detected = int(re.search(r"Events detected: (\d+)", out)[1])  # type: ignore[index]
    assert detected == out.count('"rule":"Open below etc"') > 0
    assert detected == _alerts_before(offset, rules, tmp_path)
    replayed = re.search(r"Replayed ([\d,]+) events \(([\d,]+) evaluated", err)
    assert replayed, err
    return offset


def test_truncated_capture(tmp_path: Path, rules: Path) -> None:
    data = _plain()
    cut = len(data) * 2 // 3
    path = tmp_path / "truncated.scap"
    path.write_bytes(data[:cut])
    offset = _check(path, rules, tmp_path, "truncated block")
    assert offset == max(b for b in _blocks(data) if b < cut)  # the block cut in two


def test_truncated_gzip_capture(tmp_path: Path, rules: Path) -> None:
    packed = gzip.compress(_plain())
    path = tmp_path / "truncated.scap.gz"
    path.write_bytes(packed[: len(packed) * 2 // 3])
    _check(path, rules, tmp_path, "")


def test_byte_flipped_capture(tmp_path: Path, rules: Path) -> None:
    data = bytearray(_plain())
    starts = _blocks(bytes(data))
    victim = starts[len(starts) * 2 // 3]  # a block past the first alerts
    length = struct.unpack_from("<I", data, victim + 4)[0]
    data[victim + length - 4] ^= 0xFF  # its trailing length no longer matches
    path = tmp_path / "flipped.scap"
    path.write_bytes(bytes(data))
    offset = _check(path, rules, tmp_path, "differs from header length")
    assert offset == victim
