"""The native core under AddressSanitizer and UndefinedBehaviorSanitizer.

Plain C: a driver (native_asan/driver.c) is built with gcc and
``-fsanitize=address,undefined`` together with the native sources that use no Python
API, then run in a subprocess on every fixture capture and on truncated and byte-mutated
copies of them: it must finish (no hang), exit 0 and report nothing (no out-of-bounds
access, no undefined behaviour, no leak). Self-tests check the sanitizers are really on.

The whole module: every native source is built into a sanitized ``_native`` extension,
loaded by native_asan/replay_driver.py in a Python subprocess with libasan preloaded and
PYTHONMALLOC=malloc, which replays the same damaged captures through the state engine and
every field getter: no sanitizer report, no crash. (Leak checking is off there: CPython
does not free everything at exit.)
"""

from __future__ import annotations

import io
import os
import random
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from syscall_testutil import ALL_CAPTURES, capture, raw_bytes

from lanner.sources.syscall.scap.reader import _NPARAMS, ScapReader

HERE = Path(__file__).resolve().parent
NATIVE = HERE.parents[2] / "src" / "lanner" / "sources" / "syscall" / "native"
PLAIN_C = ["walk.c"]  # the native sources that use no Python API
GCC = shutil.which("gcc")
SAN_ENV = {
    "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=86:allocator_may_return_null=1",
    "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1:exitcode=87",
}


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sanitizer build of the driver and the native plain-C sources."""
    assert GCC is not None, "gcc is required (scripts/apt-packages.txt)"
    out = tmp_path_factory.mktemp("asan") / "driver"
    cmd = [
        GCC, "-g", "-O1", "-fno-omit-frame-pointer", "-fsanitize=address,undefined",
        "-fno-sanitize-recover=all", "-Wall", "-Wextra", "-Werror", "-I", str(NATIVE),
        "-o", str(out), str(HERE / "native_asan" / "driver.c"),
        *(str(NATIVE / f) for f in PLAIN_C),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, check=False)
    assert proc.returncode == 0, proc.stderr
    return out


def run(driver: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the driver with the sanitizer options (60 s at most: a hang fails)."""
    env = {**os.environ, **SAN_ENV}
    return subprocess.run(
        [str(driver), *args], capture_output=True, text=True, timeout=60, env=env, check=False
    )


def test_sanitizers_report_a_deliberate_overread_and_leak(driver: Path) -> None:
    proc = run(driver, "--selftest-overread")
    assert proc.returncode in (86, 87), proc.stderr  # ASan or UBSan, whichever sees it first
    assert "heap-buffer-overflow" in proc.stderr or "runtime error" in proc.stderr
    proc = run(driver, "--selftest-leak")
    assert proc.returncode == 86, proc.stderr
    assert "detected memory leaks" in proc.stderr


def tables() -> bytes:
    """reader.py's type table and v1 parameter-count table, as the driver reads them."""
    return ScapReader(b"")._walk_types() + bytes(_NPARAMS)


def damaged_copies(data: bytes, rng: random.Random, count: int) -> list[bytes]:
    """Truncated copies, byte-flipped copies, and copies with corrupted block lengths."""
    out = [data[: rng.randrange(len(data))] for _ in range(count)]
    for _ in range(count):
        b = bytearray(data)
        for _ in range(rng.randint(1, 12)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        out.append(bytes(b))
    for _ in range(count):
        b = bytearray(data[: rng.randrange(len(data))])
        if len(b) > 16:
            at = rng.randrange(len(b) - 4)
            b[at : at + 4] = rng.choice([b"\xff\xff\xff\xff", b"\x0c\0\0\0", b"\0\0\0\0"])
        out.append(bytes(b))
    return out


@pytest.mark.parametrize("name", ALL_CAPTURES)
def test_walk_on_damaged_captures_is_clean(driver: Path, name: str, tmp_path: Path) -> None:
    data = raw_bytes(name)
    rng = random.Random(f"asan:{name}")
    (tmp_path / "tables").write_bytes(tables())
    files = [tmp_path / "tables", tmp_path / "whole.scap"]
    files[1].write_bytes(data)
    for i, copy in enumerate(damaged_copies(data, rng, 40)):
        p = tmp_path / f"damaged{i}.scap"
        p.write_bytes(copy)
        files.append(p)
    proc = run(driver, *map(str, files))
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "Sanitizer" not in proc.stderr and "runtime error" not in proc.stderr, proc.stderr
    # the undamaged file was walked through: most events by the C walk (the rest are v1
    # events whose parameter count reader.py searches)
    first = proc.stdout.splitlines()[0]
    total = sum(1 for _ in ScapReader(io.BytesIO(data)).events())
    assert int(first.split(": ")[1].split()[0]) >= 0.8 * total, first


@pytest.fixture(scope="module")
def sanitized_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every native source built into one sanitized extension."""
    assert GCC is not None, "gcc is required (scripts/apt-packages.txt)"
    out = tmp_path_factory.mktemp("asan-ext") / "_native_asan.so"
    cmd = [
        GCC, "-shared", "-fPIC", "-g", "-O1", "-fno-omit-frame-pointer",
        "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
        "-I", str(NATIVE), "-I", sysconfig.get_paths()["include"], "-o", str(out),
        *sorted(str(p) for p in NATIVE.glob("*.c")),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.mark.parametrize("name", ALL_CAPTURES)
def test_module_replaying_damaged_captures_is_clean(
    sanitized_module: Path, name: str, tmp_path: Path
) -> None:
    assert GCC is not None
    data = raw_bytes(name)
    rng = random.Random(f"asan-ext:{name}")
    files = [tmp_path / "whole.scap"]
    files[0].write_bytes(data)
    for i, copy in enumerate(damaged_copies(data, rng, 8)):
        p = tmp_path / f"damaged{i}.scap"
        p.write_bytes(copy)
        files.append(p)
    libasan = subprocess.run(
        [GCC, "-print-file-name=libasan.so"], capture_output=True, text=True, check=True
    ).stdout.strip()
    env = {
        **os.environ,
        **SAN_ENV,
        "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0:exitcode=86",
        "LD_PRELOAD": libasan,
        "PYTHONMALLOC": "malloc",
    }
    proc = subprocess.run(
        [sys.executable, str(HERE / "native_asan" / "replay_driver.py"), str(sanitized_module)]
        + [str(f) for f in files],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-6000:]
    assert "Sanitizer" not in proc.stderr and "runtime error" not in proc.stderr, proc.stderr
    events = int(proc.stdout.split()[1])
    assert events > 300, proc.stdout  # at least the undamaged capture went through


@pytest.mark.parametrize("name", ALL_CAPTURES[:4])
def test_ring_walk_of_damaged_records_is_clean(
    sanitized_module: Path, name: str, tmp_path: Path
) -> None:
    """The live probe's ring records (native/ring.c), whole, truncated and mutated."""
    assert GCC is not None
    libasan = subprocess.run(
        [GCC, "-print-file-name=libasan.so"], capture_output=True, text=True, check=True
    ).stdout.strip()
    env = {
        **os.environ,
        **SAN_ENV,
        "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0:exitcode=86",
        "LD_PRELOAD": libasan,
        "PYTHONMALLOC": "malloc",
    }
    driver = HERE / "native_asan" / "ring_driver.py"
    proc = subprocess.run(
        [sys.executable, str(driver), str(sanitized_module), f"ring:{name}", str(capture(name))],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-6000:]
    assert "Sanitizer" not in proc.stderr and "runtime error" not in proc.stderr, proc.stderr
    events = int(proc.stdout.split()[1])
    assert events > 100, proc.stdout  # the undamaged records were walked and handed out
