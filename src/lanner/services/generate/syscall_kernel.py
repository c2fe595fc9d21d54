"""Syscall actions on processes and the kernel: ptrace and BPF."""

from __future__ import annotations

from lanner.services.generate.action import Action, Outcome, RunContext, token
from lanner.services.generate.sandbox import named, python, run, tool, workdir

# PTRACE_ATTACH (16) a sleeping child, wait for its attach stop, PTRACE_DETACH (17) it
# (the stop signal is dropped: it runs on), then end and reap it.
PTRACE_ATTACH_SCRIPT = """\
import ctypes, os, subprocess, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
child = subprocess.Popen([sys.argv[1], "30"])
try:
    if libc.ptrace(16, child.pid, None, None) != 0:
        sys.exit("ptrace: errno %d" % ctypes.get_errno())
    os.waitpid(child.pid, 0)
    libc.ptrace(17, child.pid, None, None)
finally:
    child.kill()
    child.wait()
"""

# PTRACE_TRACEME (0): ask to be traced by the parent, then exit without exec'ing.
PTRACE_TRACEME_SCRIPT = """\
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
if libc.ptrace(0, 0, None, None) != 0:
    sys.exit("ptrace: errno %d" % ctypes.get_errno())
"""

# BPF_PROG_LOAD of a two-instruction socket filter ("r0 = 0; exit"), attached to nothing
# and unloaded when the process exits.
BPF_SCRIPT = """\
import ctypes, struct, sys
insns = struct.pack("<BBhi", 0xB7, 0, 0, 0) + struct.pack("<BBhi", 0x95, 0, 0, 0)
buf = ctypes.create_string_buffer(insns)
lic = ctypes.create_string_buffer(b"GPL")
attr = struct.pack("<IIQQIIQI", 1, 2, ctypes.addressof(buf), ctypes.addressof(lic), 0, 0, 0, 0)
attr = ctypes.create_string_buffer(attr.ljust(128, b"\\0"), 128)
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.syscall(321, 5, attr, 128)
if fd < 0:
    sys.exit("bpf: errno %d" % ctypes.get_errno())
"""


def ptrace_attach(ctx: RunContext) -> Outcome:
    """PTRACE_ATTACH a ``sleep`` child of a helper process, then end and reap both."""
    out = Outcome(token())
    script = PTRACE_ATTACH_SCRIPT + f"# {out.marker}\n"
    run(out, [python(), "-c", script, tool("sleep")], ctx.timeout, check=True)
    return out


def ptrace_traceme(ctx: RunContext) -> Outcome:
    """A helper process calls PTRACE_TRACEME on itself and exits."""
    out = Outcome(token())
    run(out, [python(), "-c", PTRACE_TRACEME_SCRIPT + f"# {out.marker}\n"], ctx.timeout, check=True)
    return out


def bpf_prog_load(ctx: RunContext) -> Outcome:
    """A program named ``lanner-bpf`` loads a do-nothing socket filter (freed on exit)."""
    out = Outcome(token())
    with workdir(out) as d:
        exe = named(d, "lanner-bpf", python())
        run(out, [exe, "-c", BPF_SCRIPT + f"# {out.marker}\n"], ctx.timeout, check=True)
    return out


ACTIONS: list[Action] = [
    Action(
        "ptrace_attach",
        "Process attached with ptrace",
        "PTRACE_ATTACH a sleep child of a helper process, then end and reap both",
        False,
        ptrace_attach,
        needs=("ptrace",),
    ),
    Action(
        "ptrace_traceme",
        "Ptrace anti-debugging",
        "A helper process calls PTRACE_TRACEME on itself and exits",
        False,
        ptrace_traceme,
        needs=("ptrace",),
    ),
    Action(
        "bpf_prog_load",
        "BPF program loaded by unexpected program",
        "A program named lanner-bpf loads a do-nothing socket filter (freed on exit)",
        True,
        bpf_prog_load,
        needs=("bpf",),
    ),
]
