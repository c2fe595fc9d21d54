"""CPU time and resident memory of a process, from /proc (for ``lanner generate bench``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Sample:
    """One reading: CPU seconds used so far (user + system) and RSS in bytes."""

    cpu_seconds: float
    rss_bytes: int


def sample(pid: int) -> Sample:
    """Read /proc/PID/stat and /proc/PID/status (FileNotFoundError when it is gone)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    rss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) * 1024
            break
    return Sample((utime + stime) / CLK_TCK, rss)


def cpu_percent(before: Sample, after: Sample, wall_seconds: float) -> float:
    """CPU use between two samples, in percent of one CPU."""
    if wall_seconds <= 0:
        return 0.0
    return 100.0 * (after.cpu_seconds - before.cpu_seconds) / wall_seconds


def find_lanner_pids() -> list[int]:
    """The pids of the running ``lanner run`` processes, oldest first.

    Wrappers (``timeout 60 lanner run``, ``sudo lanner run``) are not taken for it.
    """
    found: list[tuple[float, int]] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            start = float((entry / "stat").read_text().rsplit(")", 1)[1].split()[19])
        except (OSError, IndexError, ValueError):
            continue
        words = [os.path.basename(a.decode(errors="replace")) for a in argv if a]
        if is_lanner_run(words):
            found.append((start, int(entry.name)))
    return [pid for _, pid in sorted(found)]


def is_lanner_run(words: list[str]) -> bool:
    """True for the argv (base names) of ``lanner run ...`` or ``python .../lanner run``."""
    if words and words[0].startswith("python"):
        words = words[1:]
        if words[:1] == ["-m"]:
            words = ["lanner", *words[2:]] if words[1:2] == ["lanner.cli"] else []
    return len(words) >= 2 and words[0] == "lanner" and words[1] == "run"
