"""execve's ``flags`` parameter names executable facts, not clone flags."""

from __future__ import annotations

from lanner.sources.syscall.flags import flag_names


def test_execve_flags_are_exe_facts() -> None:
    assert flag_names("execve", "flags", 0, 1 | 4) == ("EXE_WRITABLE", "EXE_FROM_MEMFD")
    assert flag_names("execveat", "flags", 0, 2) == ("EXE_UPPER_LAYER",)


def test_clone_flags_unchanged() -> None:
    names = flag_names("clone", "flags", 0, 1 << 2)
    assert names and all(n.startswith("CLONE_") for n in names)
