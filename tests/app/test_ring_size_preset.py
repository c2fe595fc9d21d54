"""Falco's ``engine.modern_ebpf.buf_size_preset`` sizes the probe's ring, as Falco's index does
(1 MB << (preset - 1)); Lanner's probe has one ring for all CPUs, which takes the whole size.
The size is read back from the kernel (the ring map's ``/proc/PID/fdinfo``): what it allocated."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import wait_until

from .helpers import capturing_lanner, needs_probe, run_lanner

BPF_MAP_TYPE_RINGBUF = 27  # linux/bpf.h


def _lanner_rings(pid: int) -> dict[int, int]:
    """{map_id: max_entries} of the ring buffer maps (map_type 27) ``pid`` holds open."""
    sizes = {}
    for info in Path(f"/proc/{pid}/fdinfo").iterdir():
        try:
            fields = dict(
                line.split(":", 1) for line in info.read_text().splitlines() if ":" in line
            )
        except OSError:  # an fd closed meanwhile
            continue
        if fields.get("map_type", "").strip() == str(BPF_MAP_TYPE_RINGBUF):
            sizes[int(fields["map_id"])] = int(fields["max_entries"])
    return sizes


@needs_probe()
@pytest.mark.parametrize(("preset", "size"), [(None, 8 << 20), (6, 32 << 20)])
def test_preset_sizes_the_ring(preset: int | None, size: int) -> None:
    args = ["-o", "stdout_output.enabled=false", "-o", "webserver.enabled=false"]
    if preset is not None:
        args += ["-o", f"engine.modern_ebpf.buf_size_preset={preset}"]
    proc, _out, err = capturing_lanner(*args)
    try:
        wait_until(lambda: _lanner_rings(proc.pid), 20, "the probe's ring among lanner's fds")
        assert list(_lanner_rings(proc.pid).values()) == [size]
        assert "buf_size_preset" not in err.text()  # honoured: not named as without effect
    finally:
        proc.terminate()
        proc.wait(30)


@pytest.mark.parametrize("value", ["0", "11", "big"])
def test_presets_outside_falcos_table_are_refused(value: str) -> None:
    done = run_lanner("-o", f"engine.modern_ebpf.buf_size_preset={value}", "--dry-run")
    assert done.returncode == 1
    assert b"Error: " in done.stderr and b"buf_size_preset" in done.stderr
