"""Ending a finished ``lanner run`` without the interpreter's teardown.

Once a run has closed its outputs and printed its summary, what is left of the process is
the interpreter taking itself apart: every module, class and compiled rule freed one by
one and a last garbage collection, about 6 ms of CPU that nobody sees (2 % of a replay
of a million events with the upstream rules). The run calls :func:`arm` when it has
written everything; the ``lanner`` entry point hands the exit status to :func:`leave`,
which does what the interpreter does at exit that anyone can see (the ``atexit``
handlers, logging's flush and close among them, then flushing stdout and stderr) and ends
the process with ``os._exit`` and the same status.

:func:`leave` declines, and the interpreter exits as usual, when the run did not arm it,
when a thread that is not a daemon is still running (the interpreter would wait for it),
when the status is not an integer (the interpreter prints it), or when stdout or stderr
cannot be flushed (the interpreter reports that and exits with status 120).
"""

from __future__ import annotations

import atexit
import os
import sys
import threading

_armed = False


def arm() -> None:
    """Mark the run as finished: every output is closed and the summary is written."""
    global _armed
    _armed = True


def leave(code: object) -> None:
    """End the process with the status of ``SystemExit(code)`` if :func:`arm` was called;
    return (the caller re-raises) when it was not or when the normal exit is needed."""
    if not _armed:
        return
    if code is None:
        status = 0
    elif isinstance(code, int) and -(2**31) <= code < 2**31:
        status = code
    else:
        return
    main = threading.main_thread()
    if any(t is not main and not t.daemon and t.is_alive() for t in threading.enumerate()):
        return
    atexit._run_exitfuncs()  # once: they are cleared, a normal exit would not run them again
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except (OSError, ValueError):
        return
    os._exit(status)
