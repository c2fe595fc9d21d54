"""Load the eBPF probe with libbpf, attach it, and take batches of its ring buffer.

The ring buffer is mmapped (consumer page read-write, producer page and the twice-mapped
data area read-only); ``native/ring.c`` copies the committed records in one piece and
moves the consumer position (``ring_take``), and walks them (``ring_next``). Record layout
(kernel/bpf/ringbuf.c): an 8-byte header ``{u32 len | BUSY | DISCARD, u32 page offset}``,
then ``len`` bytes, padded to 8.
"""

from __future__ import annotations

import ctypes
import logging
import mmap
import os
import platform
import select
import struct
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from lanner.exceptions import ProbeUnavailable

from .._native import ring_take
from . import libbpf
from .syscalls import ANY

log = logging.getLogger(__name__)

BTF_PATH = Path("/sys/kernel/btf/vmlinux")
OBJECT_NAME = "lanner_probe.bpf.o"
RINGBUF_BUSY = 1 << 31
RINGBUF_DISCARD = 1 << 30
PREFIX = 8  # Lanner's per-record prefix: u16 cpu, u16 reserved, u32 reserved
NR_MAX = 512
COUNTERS = ("events", "drops_full", "drops_truncated", "reserved")

_PROG_INFO_LEN = 208  # struct bpf_prog_info up to run_cnt (uapi, stable layout)
_U64 = struct.Struct("<Q")
_U32 = struct.Struct("<I")


def repo_root() -> Path:
    """The source checkout this module lives in (src/lanner/sources/syscall/probe)."""
    return Path(__file__).resolve().parents[5]


def default_object() -> Path:
    """Where ``scripts/build_probe.sh`` puts the probe (``$LANNER_PROBE`` overrides)."""
    env = os.environ.get("LANNER_PROBE")
    if env:
        return Path(env)
    return repo_root() / "build" / "probe" / OBJECT_NAME


def check_requirements(obj: Path | None = None) -> Path:
    """Raise :class:`ProbeUnavailable` naming what is missing; returns the object path."""
    missing = []
    if platform.machine() != "x86_64":
        missing.append(f"an x86_64 kernel (this is {platform.machine()})")
    if os.geteuid() != 0:
        missing.append("root (loading eBPF programs needs CAP_BPF and CAP_PERFMON)")
    if not BTF_PATH.exists():
        missing.append(f"kernel BTF at {BTF_PATH} (a kernel built with CONFIG_DEBUG_INFO_BTF)")
    path = obj or default_object()
    if not path.is_file():
        missing.append(f"the built probe {path} (run scripts/build_probe.sh)")
    try:
        libbpf.lib()
    except ProbeUnavailable:
        missing.append("libbpf.so.1 (the Debian package libbpf1)")
    if missing:
        raise ProbeUnavailable("live capture needs " + "; ".join(missing))
    src = Path(__file__).with_name("lanner_probe.bpf.c")
    if src.exists() and src.stat().st_mtime > path.stat().st_mtime:
        log.warning("%s is older than its source: run scripts/build_probe.sh", path)
    return path


VMLINUX_BTF = "/sys/kernel/btf/vmlinux"


class Probe:
    """The loaded and attached probe: ring buffer, selection map, drop counters.

    The ``raw_syscalls:sys_exit`` dispatcher is attached only while a syscall is selected:
    that tracepoint puts every syscall of every task on the kernel's slow exit path, even
    when the program returns at once.
    """

    PROGRAMS = ("lanner_sched_exec", "lanner_sched_fork", "lanner_sched_exit")
    DISPATCHER = "lanner_sys_exit"

    def __init__(self, obj: Path | None = None, ring_size: int = 8 << 20) -> None:
        path = check_requirements(obj)
        if ring_size < mmap.PAGESIZE or ring_size & (ring_size - 1):
            raise ValueError("ring_size must be a power of two of at least one page")
        self._lib = libbpf.lib()
        self._obj: int | None = None
        self._links: dict[str, int] = {}
        self._attached = False
        self._selected: dict[int, int] = {}
        self._maps: list[mmap.mmap] = []
        self._epoll: select.epoll | None = None
        self._path = path
        libbpf.clear_log()
        btf = VMLINUX_BTF if os.access(VMLINUX_BTF, os.R_OK) else None
        self._open_opts = libbpf.open_opts(btf)  # kept alive while the object lives
        try:
            self._open()
            self._setup(ring_size)
        except BaseException:
            self.close()
            raise

    def _open(self) -> None:
        obj_ptr = self._lib.bpf_object__open_file(
            str(self._path).encode(), ctypes.byref(self._open_opts)
        )
        if not obj_ptr:
            err = ctypes.get_errno()
            raise ProbeUnavailable(
                f"cannot open {self._path}: {libbpf.errno_text(err)}\n{libbpf.log_tail()}"
            )
        self._obj = obj_ptr

    def _map(self, name: str) -> int:
        m = self._lib.bpf_object__find_map_by_name(self._obj, name.encode())
        if not m:
            raise ProbeUnavailable(f"probe object has no map {name!r} (rebuild the probe)")
        return int(m)

    def _setup(self, ring_size: int) -> None:
        lib = self._lib
        ring = self._map("events")
        lib.bpf_map__set_max_entries(ring, ring_size)
        rc = lib.bpf_object__load(self._obj)
        if rc:
            raise ProbeUnavailable(
                f"the kernel refused the probe: {libbpf.errno_text(rc)}\n{libbpf.log_tail()}"
            )
        self.ring_fd = lib.bpf_map__fd(ring)
        self.ring_size = lib.bpf_map__max_entries(ring)
        self.interesting_fd = lib.bpf_map__fd(self._map("interesting"))
        self.config_fd = lib.bpf_map__fd(self._map("lanner_config"))
        stats = self._map("stats")
        self.stats_fd = lib.bpf_map__fd(stats)
        self._stats_size = (lib.bpf_map__value_size(stats) + 7) & ~7
        self.ncpus = lib.libbpf_num_possible_cpus()
        self.attach()
        page = mmap.PAGESIZE
        self._page = page
        self._mask = self.ring_size - 1
        self._cons = mmap.mmap(
            self.ring_fd, page, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, offset=0
        )
        self._maps.append(self._cons)
        self._prod = mmap.mmap(
            self.ring_fd, page + 2 * self.ring_size, mmap.MAP_SHARED, mmap.PROT_READ, offset=page
        )
        self._maps.append(self._prod)
        self._epoll = select.epoll()
        self._epoll.register(self.ring_fd, select.EPOLLIN)

    def _attach_one(self, name: str) -> None:
        lib = self._lib
        prog = lib.bpf_object__find_program_by_name(self._obj, name.encode())
        if not prog:
            raise ProbeUnavailable(f"probe object has no program {name!r}")
        link = lib.bpf_program__attach(prog)
        if not link:
            err = ctypes.get_errno()
            raise ProbeUnavailable(
                f"cannot attach {name}: {libbpf.errno_text(err)}\n{libbpf.log_tail()}"
            )
        self._links[name] = int(link)

    def _wanted_links(self) -> set[str]:
        names = set(self.PROGRAMS)
        if self._selected:
            names.add(self.DISPATCHER)
        return names

    def _sync_links(self, drop: bool) -> None:
        """Attach the programs the selection needs; with ``drop``, detach the others."""
        if not self._attached:
            return
        wanted = self._wanted_links()
        try:
            for name in sorted(wanted - self._links.keys()):
                self._attach_one(name)
        except BaseException:
            self.detach()
            raise
        if drop:
            for name in sorted(self._links.keys() - wanted):
                self._lib.bpf_link__destroy(self._links.pop(name))

    def attach(self) -> None:
        """Attach the programs (done on load; again after :meth:`detach`)."""
        if self._attached:
            return
        self._attached = True
        self._sync_links(drop=False)

    def detach(self) -> None:
        """Detach the programs, keeping maps and the ring (no events until :meth:`attach`)."""
        self._attached = False
        for link in self._links.values():
            self._lib.bpf_link__destroy(link)
        self._links.clear()

    @property
    def attached(self) -> bool:
        """Whether the programs are attached."""
        return self._attached

    @property
    def attached_programs(self) -> list[str]:
        """Names of the attached programs."""
        return sorted(self._links)

    # -- configuration --------------------------------------------------------------------
    def set_syscalls(self, selection: Mapping[int, int] | Iterable[int]) -> None:
        """Set the kernel-side selection: ``{syscall number: outcome bits}``
        (``syscalls.OK``, ``FAIL``, ``INPROGRESS``; a plain iterable of numbers selects
        every outcome), and attach (or detach) the programs that emit them."""
        if isinstance(selection, Mapping):
            masks = {n: m & 0xFF for n, m in selection.items() if 0 <= n < NR_MAX and m}
        else:
            masks = {n: ANY for n in selection if 0 <= n < NR_MAX}
        self._selected = masks
        self._sync_links(drop=False)  # new programs first: no event is missed
        key = ctypes.c_uint32()
        val = ctypes.c_uint8()
        for nr in range(NR_MAX):
            key.value = nr
            val.value = masks.get(nr, 0)
            rc = self._lib.bpf_map_update_elem(
                self.interesting_fd, ctypes.byref(key), ctypes.byref(val), 0
            )
            if rc:
                raise OSError(-rc, f"cannot update the syscall selection: {os.strerror(-rc)}")
        self._sync_links(drop=True)

    @property
    def selection(self) -> dict[int, int]:
        """The selection last set: ``{syscall number: outcome bits}``."""
        return dict(self._selected)

    def configure(self, ignore_tgid: int = 0, wake_each: bool = False) -> None:
        """Set the probe's options.

        ``ignore_tgid``: do not emit events of this process (0: emit everything).
        ``wake_each``: wake the reader for every event; otherwise :meth:`wait` finds
        events by checking the ring every ``poll_interval`` seconds (cheaper for the
        traced programs, at most that much latency).
        """
        key = ctypes.c_uint32(0)
        val = (ctypes.c_uint32 * 2)(ignore_tgid, 1 if wake_each else 0)
        rc = self._lib.bpf_map_update_elem(self.config_fd, ctypes.byref(key), ctypes.byref(val), 0)
        if rc:
            raise OSError(-rc, f"cannot configure the probe: {os.strerror(-rc)}")

    # -- counters ---------------------------------------------------------------------------
    def counters_per_cpu(self) -> list[dict[str, int]]:
        """The probe's counters (events, drops_full, drops_truncated) for each CPU."""
        size = self._stats_size
        buf = ctypes.create_string_buffer(size * self.ncpus)
        key = ctypes.c_uint32(0)
        rc = self._lib.bpf_map_lookup_elem(self.stats_fd, ctypes.byref(key), buf)
        if rc:
            return [dict.fromkeys(COUNTERS, 0) for _ in range(self.ncpus)]
        raw = buf.raw
        out = []
        for cpu in range(self.ncpus):
            vals = struct.unpack_from(f"<{len(COUNTERS)}Q", raw, cpu * size)
            out.append(dict(zip(COUNTERS, vals, strict=True)))
        return out

    def run_stats(self, program: str = "lanner_sys_exit") -> tuple[int, int, int]:
        """``(id, run_time_ns, run_cnt)`` of one program; the times count only while
        ``/proc/sys/kernel/bpf_stats_enabled`` is 1. The dispatcher's figures include the
        handlers it tail-calls."""
        prog = self._lib.bpf_object__find_program_by_name(self._obj, program.encode())
        if not prog:
            raise KeyError(program)
        fd = self._lib.bpf_program__fd(prog)
        info = ctypes.create_string_buffer(_PROG_INFO_LEN)
        size = ctypes.c_uint32(_PROG_INFO_LEN)
        if self._lib.bpf_obj_get_info_by_fd(fd, info, ctypes.byref(size)):
            return 0, 0, 0
        prog_id = _U32.unpack_from(info.raw, 4)[0]
        run_ns, run_cnt = struct.unpack_from("<QQ", info.raw, 192)
        return prog_id, run_ns, run_cnt

    # -- ring buffer ------------------------------------------------------------------------
    poll_interval = 0.05

    def wait(self, timeout: float | None) -> bool:
        """Block until the ring has data or ``timeout`` seconds passed; True when readable.

        Unless configured with ``wake_each``, the kernel does not wake the reader, so this
        checks the ring every :attr:`poll_interval` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            epoll = self._epoll
            if epoll is None:
                return False  # closed (possibly by another thread)
            if self.pending():
                return True
            step = self.poll_interval
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                step = min(step, left)
            try:
                epoll.poll(step, 1)
            except (OSError, ValueError):
                return False

    def pending(self) -> int:
        """Bytes between the consumer and producer positions (0 once closed)."""
        try:
            return int(_U64.unpack_from(self._prod, 0)[0] - _U64.unpack_from(self._cons, 0)[0])
        except (AttributeError, ValueError):
            return 0

    def take(self, max_bytes: int = 4 << 20) -> tuple[bytes, int]:
        """Take the committed records (at least one, then up to about ``max_bytes``) and
        move the consumer position past them: ``(data, records)``, ``(b"", 0)`` when none
        (or closed). Walked by ``native/ring.c`` (``ring_next``): each record is the
        ring's 8-byte header, then Lanner's 8-byte prefix and one scap event."""
        if self._epoll is None:
            return b"", 0
        try:
            data, records = ring_take(self._cons, self._prod, self._page, self.ring_size, max_bytes)
        except ValueError:  # unmapped meanwhile
            return b"", 0
        return data, int(records)

    def read(self, max_bytes: int = 4 << 20) -> tuple[bytes, list[int]]:
        """Take the committed records: ``(data, offsets)``, each offset a record's payload
        (Lanner's 8-byte prefix then one scap event; discarded records left out). For
        benchmarks and tests that count records; the pipeline walks :meth:`take`'s bytes
        natively."""
        data, _records = self.take(max_bytes)
        offsets = []
        off, n = 0, len(data)
        u32 = _U32.unpack_from
        while off + 8 <= n:
            hdr = u32(data, off)[0]
            if not hdr & RINGBUF_DISCARD:
                offsets.append(off + 8)
            off += ((hdr & ~(RINGBUF_BUSY | RINGBUF_DISCARD)) + 8 + 7) & ~7
        return data, offsets

    def close(self) -> None:
        """Detach and unload everything."""
        if self._epoll is not None:
            self._epoll.close()
            self._epoll = None
        for m in self._maps:
            m.close()
        self._maps.clear()
        self.detach()
        if self._obj is not None:
            self._lib.bpf_object__close(self._obj)
            self._obj = None
