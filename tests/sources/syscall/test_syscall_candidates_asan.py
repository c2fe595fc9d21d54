"""native/candidates.c under AddressSanitizer and UndefinedBehaviorSanitizer.

A driver (native_asan/candidates_driver.c) is built with gcc and
``-fsanitize=address,undefined`` together with candidates.c and run in a subprocess on
programs compiled from Falco's upstream rules and on mutated copies (code words changed,
truncated, atom values replaced), with field values from the fixture captures and random
ones (wrong types, empty, non-UTF-8). It must exit 0 and report nothing, and every
result it prints must equal the Python binding's (``_native.CandidateFilter``), which
must also reject exactly the codes the driver finds invalid.
"""

from __future__ import annotations

import os
import random
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest
from syscall_testutil import ALL_CAPTURES, capture

from helpers import shared_fixture
from lanner.engine.candidates import ReferenceFilter, compile_program, derive_candidates
from lanner.engine.engine import Engine
from lanner.sources.syscall import read_capture, syscall_source
from lanner.sources.syscall._native import CandidateFilter
from lanner.sources.syscall.candidate_fields import CANDIDATE_FIELD_IDS, CANDIDATE_FIELDS

HERE = Path(__file__).resolve().parent
NATIVE = HERE.parents[2] / "src" / "lanner" / "sources" / "syscall" / "native"
RULES = shared_fixture("rules")
GCC = shutil.which("gcc")
SAN_ENV = {
    "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=86",
    "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1:exitcode=87",
}

Atoms = list[tuple[int, int, bool, bool, tuple[Any, ...]]]


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sanitizer build of the driver and candidates.c."""
    assert GCC is not None, "gcc is required (scripts/apt-packages.txt)"
    out = tmp_path_factory.mktemp("asan") / "candidates_driver"
    cmd = [
        GCC, "-g", "-O1", "-fno-omit-frame-pointer", "-fsanitize=address,undefined",
        "-fno-sanitize-recover=all", "-Wall", "-Wextra", "-Werror", "-I", str(NATIVE),
        "-o", str(out), str(HERE / "native_asan" / "candidates_driver.c"),
        str(NATIVE / "candidates.c"),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, check=False)
    assert proc.returncode == 0, proc.stderr
    return out


def run(driver: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the driver with the sanitizer options (120 s at most: a hang fails)."""
    env = {**os.environ, **SAN_ENV}
    return subprocess.run(
        [str(driver), *args], capture_output=True, text=True, timeout=120, env=env, check=False
    )


def _b(v: str | bytes) -> bytes:
    return v if isinstance(v, bytes) else v.encode("utf-8", "surrogateescape")


def encode(atoms: Atoms, codes: list[list[int]], sets: list[dict[int, Any]]) -> bytes:
    """The driver's input format (see candidates_driver.c)."""
    out = [struct.pack("<I", len(atoms))]
    for field, op, negate, missing, vals in atoms:
        ints = (bool(vals) and isinstance(vals[0], int)) or 5 <= op <= 8
        out.append(struct.pack("<IBBBBI", field, op, negate, missing, ints, len(vals)))
        for v in vals:
            out.append(struct.pack("<q", v) if ints else struct.pack("<I", len(_b(v))) + _b(v))
    out.append(struct.pack("<I", len(codes)))
    for code in codes:
        out.append(struct.pack(f"<I{len(code)}I", len(code), *code))
    out.append(struct.pack("<I", len(sets)))
    for s in sets:
        present = {k: v for k, v in s.items() if v is not None}
        out.append(struct.pack("<I", len(present)))
        for field, v in present.items():
            if not isinstance(v, tuple):
                out.append(struct.pack("<I", field) + _plain(v))
            elif any(x is None or isinstance(x, tuple) for x in v):
                out.append(struct.pack("<IB", field, 0))  # unknown (as the binding says)
            else:  # a field with several values
                out.append(struct.pack("<IBI", field, 3, len(v)) + b"".join(map(_plain, v)))
    return b"".join(out)


def _plain(v: int | str | bytes) -> bytes:
    if isinstance(v, int):
        return struct.pack("<Bq", 1, v)
    return struct.pack("<BI", 2, len(_b(v))) + _b(v)


def expected(atoms: Atoms, codes: list[list[int]], sets: list[dict[int, Any]]) -> list[str]:
    """What the driver must print, from the Python binding."""
    lines = []
    for c, code in enumerate(codes):
        try:
            f = CandidateFilter(atoms, {0: code})
        except ValueError:
            lines.append(f"{c} invalid")
            continue
        lines.extend(f"{c} {s} {int(f.accepts(0, values))}" for s, values in enumerate(sets))
    return lines


@pytest.fixture(scope="module")
def upstream() -> tuple[Atoms, list[list[int]], list[dict[int, Any]]]:
    """Atoms and codes of the three upstream files; value sets from every fixture capture."""
    spec = syscall_source()
    engine = Engine([spec])
    names = ("falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml")
    outcome = engine.load_rules([RULES / n for n in names])
    assert outcome.successful
    cands = derive_candidates(engine.ruleset, spec, CANDIDATE_FIELDS)
    program = compile_program(cands, CANDIDATE_FIELD_IDS)
    codes = list(program.codes.values())
    getters = ReferenceFilter(cands, spec).getters
    sets: list[dict[int, Any]] = []
    seen: set[tuple[Any, ...]] = set()
    for name in ALL_CAPTURES:
        for e in read_capture(capture(name)):
            values = {CANDIDATE_FIELD_IDS[n]: g(e) for n, g in getters.items()}
            key = tuple(sorted(values.items(), key=lambda kv: kv[0]))
            if key not in seen:
                seen.add(key)
                sets.append(values)
    assert len(codes) > 30 and len(sets) > 50
    assert any(isinstance(v, tuple) for s in sets for v in s.values())  # several values too
    return program.atoms, codes, sets


def test_sanitizers_report_a_deliberate_overread(driver: Path) -> None:
    proc = run(driver, "--selftest-overread")
    assert proc.returncode in (86, 87), proc.stderr
    assert "heap-buffer-overflow" in proc.stderr or "runtime error" in proc.stderr


def _check(driver: Path, tmp_path: Path, atoms: Atoms, codes: list, sets: list) -> list[str]:
    path = tmp_path / "program.bin"
    path.write_bytes(encode(atoms, codes, sets))
    proc = run(driver, str(path))
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "Sanitizer" not in proc.stderr and "runtime error" not in proc.stderr, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines == expected(atoms, codes, sets)
    return lines


def test_upstream_program_is_clean_and_agrees(driver: Path, tmp_path: Path, upstream) -> None:  # type: ignore[no-untyped-def]
    atoms, codes, sets = upstream
    lines = _check(driver, tmp_path, atoms, codes, sets)
    results = [line.rsplit(" ", 1)[1] for line in lines]
    assert "invalid" not in results and "0" in results and "1" in results


def _random_value(rng: random.Random) -> Any:
    return rng.choice(
        [None, rng.randint(-3, 3), "", "/", "/etc", "/etc/", "/etc/shadow", "\udcff\udcfe",
         "f", "4", "bash", "x" * rng.randint(0, 300), True, False, 2**62,
         tuple(rng.choice([53, 443, "/etc", ""]) for _ in range(rng.randint(0, 70)))]
    )  # fmt: skip


@pytest.mark.parametrize("seed", range(4))
def test_mutated_programs_are_clean_and_agree(
    driver: Path, tmp_path: Path, upstream: Any, seed: int
) -> None:
    atoms, codes, sets = upstream
    rng = random.Random(f"candidates-asan:{seed}")
    atoms = list(atoms)
    for _ in range(20):  # atoms with other strings: empty, longer than values, not UTF-8
        i = rng.randrange(len(atoms))
        field, op, negate, missing, vals = atoms[i]
        if vals and isinstance(vals[0], str):
            vals = tuple(rng.choice(["", "/", "/etc", "\udcff", "a" * 50]) for _ in vals)
            atoms[i] = (field, op, negate, missing, vals)
    mutated = []
    for code in rng.sample(codes, 20):
        c = list(code)
        for _ in range(rng.randint(1, 4)):
            c[rng.randrange(len(c))] = rng.choice([0, 1, 2, 3, 4, 5, rng.randrange(2**32),
                                                   rng.randrange(len(atoms) + 3)])  # fmt: skip
        mutated.append(c)
        mutated.append(code[: rng.randrange(1, len(code) + 1)])
    ids = list(CANDIDATE_FIELD_IDS.values())
    random_sets = [{f: _random_value(rng) for f in rng.sample(ids, 10)} for _ in range(40)]
    lines = _check(driver, tmp_path, atoms, codes[:10] + mutated, sets[:40] + random_sets)
    assert any(line.endswith("invalid") for line in lines)
    assert any(line.endswith(" 1") for line in lines)
