"""Live syscall capture with Lanner's CO-RE eBPF probe.

``LiveCapture(event_types=...)`` loads ``build/probe/lanner_probe.bpf.o`` (built by
``scripts/build_probe.sh``) and yields decoded :class:`~lanner.sources.syscall.event.Event`
objects, the same class capture files give, plus a /proc snapshot as capture records: the
ring byte source of ``SyscallPipeline`` (``pipeline.py``), which applies the state.
"""

from __future__ import annotations

from .live import LiveCapture
from .loader import check_requirements, default_object
from .syscalls import BASE_EVENT_TYPES, SUPPORTED

__all__ = [
    "BASE_EVENT_TYPES",
    "SUPPORTED",
    "LiveCapture",
    "check_requirements",
    "default_object",
]
