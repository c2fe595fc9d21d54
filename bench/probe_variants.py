"""Where the probe's time goes on the open/close loop: measurement builds of the probe with
one piece of work removed, paired round by round with the probe as it is (bench/probe_ab.py).

The builds are made here from the current source by text substitution (the script stops with
the anchor it could not find when the source has moved on):

- ``as-is``: the probe as built by scripts/build_probe.sh;
- ``no-timestamp``: the fast-path events carry 0 instead of ``bpf_ktime_get_boot_ns()``;
- ``read-path-only``: an open reads its user-space path (into the per-CPU path buffer) and
  emits nothing, a close emits nothing: the least any in-kernel filter on the path can cost;
- ``dispatch-only``: opens and closes return right after the selection and config checks.

They are measurement builds only (no reader could use the last two). The figures answer how
far the open/close overhead can come down while every open is read (see docs/performance.md).

Run (root): .venv/bin/python bench/probe_variants.py [--rounds R] [--iterations N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src/lanner/sources/syscall/probe/lanner_probe.bpf.c"
OUT = ROOT / "build/bench/probe-variants"

FAST_HDR_TS = "*(u64 *)&b[PREFIX + 0] = bpf_ktime_get_boot_ns();\n\t*(s64 *)&b[PREFIX + 8] = tid;"
CLOSE_HEAD = (
    "static __always_inline int fast_close(struct pt_regs *regs, long ret, u32 tid, u64 wake)\n{"
)
OPEN_HEAD = (
    "static __always_inline int fast_open(struct task_struct *t, struct pt_regs *regs, long ret,\n"
    "\t\t\t\t     u32 tid, u64 wake, const int at, const u32 path)\n{"
)
READ_ONLY = """
	{
		u32 k0 = 0;
		struct pathbuf *pb = bpf_map_lookup_elem(&path_map, &k0);
		if (pb)
			bpf_probe_read_user_str(pb->b, path, (const void *)(at ? regs->si : regs->di));
		return 0;
	}"""

VARIANTS: dict[str, list[tuple[str, str]]] = {
    "no-timestamp": [(FAST_HDR_TS, "*(u64 *)&b[PREFIX + 0] = 0;\n\t*(s64 *)&b[PREFIX + 8] = tid;")],
    "read-path-only": [
        (OPEN_HEAD, OPEN_HEAD + READ_ONLY),
        (CLOSE_HEAD, CLOSE_HEAD + "\n\treturn 0;"),
    ],
    "dispatch-only": [
        (OPEN_HEAD, OPEN_HEAD + "\n\treturn 0;"),
        (CLOSE_HEAD, CLOSE_HEAD + "\n\treturn 0;"),
    ],
}


def build(name: str, edits: list[tuple[str, str]], source: str) -> Path:
    """Compile one variant with scripts/build_probe.sh (its compiler and flags)."""
    text = source
    for anchor, replacement in edits:
        if anchor not in text:
            sys.exit(f"probe_variants: {name}: anchor not found in {SRC}:\n{anchor}")
        text = text.replace(anchor, replacement, 1)
    out = OUT / name
    out.mkdir(parents=True, exist_ok=True)
    c_file = OUT / f"{name}.bpf.c"
    c_file.write_text(text)
    env = {**os.environ, "LANNER_PROBE_SRC": str(c_file), "LANNER_PROBE_BUILD": str(out)}
    subprocess.run(["bash", str(ROOT / "scripts/build_probe.sh")], check=True, env=env)
    obj = OUT / f"{name}.bpf.o"  # named after the variant in probe_ab's table
    obj.write_bytes((out / "lanner_probe.bpf.o").read_bytes())
    return obj


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iterations", type=int, default=200_000)
    args = ap.parse_args()
    subprocess.run(["bash", str(ROOT / "scripts/build_probe.sh")], check=True)
    built = ROOT / "build/probe"
    OUT.mkdir(parents=True, exist_ok=True)
    as_is = OUT / "as-is.bpf.o"
    as_is.write_bytes((built / "lanner_probe.bpf.o").read_bytes())
    source = SRC.read_text()
    objects = [as_is] + [build(n, e, source) for n, e in VARIANTS.items()]
    subprocess.run(
        [sys.executable, str(ROOT / "bench/probe_ab.py"), *map(str, objects),
         "--rounds", str(args.rounds), "--iterations", str(args.iterations)],
        check=True,
    )  # fmt: skip


if __name__ == "__main__":
    main()
