"""Replay damaged captures through a sanitizer build of the native module.

Run by test_syscall_native_asan.py in a subprocess with libasan preloaded:
``python replay_driver.py SANITIZED_SO CAPTURE...``. The sanitized module is loaded as
lanner.sources.syscall._native before the package, so every native part (walk, records,
events, state dispatch, the candidate filter) runs instrumented, with
PYTHONMALLOC=malloc so that Python objects freed too early are caught too. Every event
goes through the state engine, the upstream rules' candidate filter and every field
getter; damaged input may raise ScapError (or, for the Python handlers, what they raise
today), never corrupt memory.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import io
import sys
from pathlib import Path

NAME = "lanner.sources.syscall._native"


def load_sanitized(path: str) -> None:
    """Import the sanitized build under the real module's name."""
    loader = importlib.machinery.ExtensionFileLoader(NAME, path)
    spec = importlib.util.spec_from_file_location(NAME, path, loader=loader)
    assert spec is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[NAME] = mod
    loader.exec_module(mod)


def candidate_filter():  # type: ignore[no-untyped-def]
    """The upstream rules' candidate conditions as the native event filter."""
    from lanner.engine.candidates import derive_candidates
    from lanner.engine.engine import Engine
    from lanner.sources.syscall import syscall_source
    from lanner.sources.syscall.candidate_fields import CANDIDATE_FIELDS, event_filter

    rules = Path(__file__).resolve().parents[5] / "shared" / "fixtures" / "rules"
    engine = Engine([syscall_source()])
    outcome = engine.load_rules([rules / "falco_rules.yaml", rules / "falco-sandbox_rules.yaml"])
    assert outcome.successful
    return event_filter(derive_candidates(engine.ruleset, syscall_source(), CANDIDATE_FIELDS))


def main() -> int:
    load_sanitized(sys.argv[1])
    from lanner.exceptions import ScapError
    from lanner.sources.syscall import _native, read_capture, syscall_source

    assert _native.__file__ == sys.argv[1], _native.__file__
    getters = [f.bind(None) for f in syscall_source().fields if not f.arg_required]
    accepts = candidate_filter().accepts
    events = errors = 0
    for path in sys.argv[2:]:
        with open(path, "rb") as f:
            data = f.read()
        try:
            for e in read_capture(io.BytesIO(data)):
                accepts(e)  # first, before a getter fills the event's caches
                for g in getters:
                    g(e)
                events += 1
        except ScapError:
            errors += 1
    print(f"events {events} errors {errors}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
