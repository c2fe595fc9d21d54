"""Without root, BTF or the built probe, live capture says exactly what is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from lanner.sources.syscall.probe import LiveCapture, ProbeUnavailable, loader
from lanner.sources.syscall.probe.syscalls import ANY, BASE_EVENT_TYPES, SYSCALL_NR, select


def test_not_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader.os, "geteuid", lambda: 1000)
    with pytest.raises(ProbeUnavailable, match=r"needs root"):
        LiveCapture().start()


def test_no_btf(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(loader, "BTF_PATH", tmp_path / "vmlinux")
    with pytest.raises(ProbeUnavailable, match=r"kernel BTF at .*vmlinux"):
        LiveCapture().start()


def test_probe_not_built(tmp_path: Path) -> None:
    missing = tmp_path / "lanner_probe.bpf.o"
    with pytest.raises(ProbeUnavailable, match=r"scripts/build_probe\.sh") as exc:
        LiveCapture(probe_path=missing).start()
    assert str(missing) in str(exc.value)


def test_everything_missing_is_listed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(loader.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(loader, "BTF_PATH", tmp_path / "vmlinux")
    with pytest.raises(ProbeUnavailable) as exc:
        loader.check_requirements(tmp_path / "probe.o")
    msg = str(exc.value)
    assert "root" in msg and "BTF" in msg and "build_probe.sh" in msg


def test_no_libbpf(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> None:
        raise ProbeUnavailable("libbpf.so.1 not found")

    monkeypatch.setattr(loader.libbpf, "lib", missing)
    with pytest.raises(ProbeUnavailable, match=r"libbpf\.so\.1 \(the Debian package libbpf1\)"):
        loader.check_requirements()


def test_env_overrides_probe_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LANNER_PROBE", str(tmp_path / "x.o"))
    assert loader.default_object() == tmp_path / "x.o"


def test_selection_adds_the_base_set() -> None:
    numbers, unsupported = select({"mkdir", "pwrite64"})
    assert SYSCALL_NR["mkdir"] in numbers
    assert SYSCALL_NR["execve"] in numbers and SYSCALL_NR["openat"] in numbers
    assert unsupported == {"pwrite64"}
    only, _ = select({"mkdir"}, base=False)
    assert only == {SYSCALL_NR["mkdir"]: ANY}
    assert "procexit" in BASE_EVENT_TYPES
