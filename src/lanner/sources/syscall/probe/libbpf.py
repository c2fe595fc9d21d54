"""A thin ctypes binding of the few libbpf (libbpf.so.1) calls the probe loader needs."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from typing import Any

from lanner.exceptions import ProbeUnavailable

_lib: ctypes.CDLL | None = None
_libc: ctypes.CDLL | None = None
_log: list[str] = []

_PRINT_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)


def _on_print(level: int, fmt: bytes, va: int) -> int:
    """libbpf's log callback: format with vsnprintf and keep the last lines."""
    assert _libc is not None
    buf = ctypes.create_string_buffer(1 << 20)
    _libc.vsnprintf(buf, len(buf), fmt, ctypes.c_void_p(va))
    _log.append(buf.value.decode("utf-8", "replace"))
    del _log[:-400]
    return 0


_print_cb = _PRINT_FN(_on_print)


def lib() -> ctypes.CDLL:
    """Load libbpf.so.1 once and declare the signatures used here."""
    global _lib, _libc
    if _lib is not None:
        return _lib
    try:
        libbpf = ctypes.CDLL("libbpf.so.1", use_errno=True)
    except OSError as exc:
        raise ProbeUnavailable(
            f"libbpf.so.1 not found ({exc}): install the Debian package libbpf1"
        ) from exc
    _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    _libc.vsnprintf.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_void_p]
    p = ctypes.c_void_p
    sigs: dict[str, tuple[Any, list[Any]]] = {
        "libbpf_set_print": (p, [p]),
        "bpf_object__open_file": (p, [ctypes.c_char_p, p]),
        "bpf_object__load": (ctypes.c_int, [p]),
        "bpf_object__close": (None, [p]),
        "bpf_object__find_map_by_name": (p, [p, ctypes.c_char_p]),
        "bpf_object__find_program_by_name": (p, [p, ctypes.c_char_p]),
        "bpf_map__fd": (ctypes.c_int, [p]),
        "bpf_map__set_max_entries": (ctypes.c_int, [p, ctypes.c_uint32]),
        "bpf_map__max_entries": (ctypes.c_uint32, [p]),
        "bpf_map__value_size": (ctypes.c_uint32, [p]),
        "bpf_program__attach": (p, [p]),
        "bpf_program__fd": (ctypes.c_int, [p]),
        "bpf_obj_get_info_by_fd": (ctypes.c_int, [ctypes.c_int, p, p]),
        "bpf_link__destroy": (ctypes.c_int, [p]),
        "bpf_map_update_elem": (ctypes.c_int, [ctypes.c_int, p, p, ctypes.c_uint64]),
        "bpf_map_lookup_elem": (ctypes.c_int, [ctypes.c_int, p, p]),
        "libbpf_num_possible_cpus": (ctypes.c_int, []),
        "libbpf_get_error": (ctypes.c_long, [p]),
    }
    for name, (res, args) in sigs.items():
        fn = getattr(libbpf, name)
        fn.restype = res
        fn.argtypes = args
    libbpf.libbpf_set_print(ctypes.cast(_print_cb, p))
    _lib = libbpf
    return libbpf


def log_tail(n: int = 40, max_chars: int = 6000) -> str:
    """The end of what libbpf logged (verifier output on a load failure)."""
    return "".join(_log[-n:])[-max_chars:]


def clear_log() -> None:
    """Forget libbpf's log lines."""
    _log.clear()


def errno_text(code: int) -> str:
    """``strerror`` of a (positive or negative) errno value."""
    return os.strerror(abs(code)) if code else "unknown error"


class ObjectOpenOpts(ctypes.Structure):
    """libbpf's ``struct bpf_object_open_opts`` (libbpf 1.x layout)."""

    _fields_ = [
        ("sz", ctypes.c_size_t),
        ("object_name", ctypes.c_char_p),
        ("relaxed_maps", ctypes.c_bool),
        ("pin_root_path", ctypes.c_char_p),
        ("_attach_prog_fd", ctypes.c_uint32),  # removed field, kept as padding
        ("kconfig", ctypes.c_char_p),
        ("btf_custom_path", ctypes.c_char_p),
        ("kernel_log_buf", ctypes.c_char_p),
        ("kernel_log_size", ctypes.c_size_t),
        ("kernel_log_level", ctypes.c_uint32),
    ]


def open_opts(btf_path: str | None) -> ObjectOpenOpts:
    """Open options; with ``btf_path`` CO-RE relocates against that BTF only.

    Giving the kernel's own vmlinux BTF keeps libbpf from walking kernel-module BTFs for
    types the running kernel lacks (``struct mm_rss_stat`` on newer kernels), which needs
    CAP_SYS_ADMIN: the probe then loads with CAP_BPF and CAP_PERFMON alone.
    """
    opts = ObjectOpenOpts()
    opts.sz = ctypes.sizeof(ObjectOpenOpts)
    if btf_path:
        opts.btf_custom_path = btf_path.encode()
    return opts
