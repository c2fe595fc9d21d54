"""Which sources and event streams ``lanner run`` can use, and how ``-e`` is recognised.

JSON-lines and structured replays (``-e FILE``) are iterated directly; a capture file goes
through the syscall pipeline (:mod:`lanner.app.replay_progress`); live streams are in
:mod:`lanner.app.live`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from lanner.engine.fields import SourceSpec
from lanner.exceptions import InputError
from lanner.records import Record
from lanner.sources.memory import dict_source, read_json_lines

SCAP_MAGIC = b"\x0a\x0d\x0d\x0a"
GZIP_MAGIC = b"\x1f\x8b"
JSON_SOURCES = ("syscall", "k8s_audit", "aws_cloudtrail", "json")


class Replay(Record):
    """A file to replay: its sources and a (source, event) stream, or a capture file."""

    __slots__ = __match_args__ = ("sources", "events", "capture_path")
    sources: list[SourceSpec]
    events: Iterator[tuple[str, Any]] | None  # None for a capture file: see capture_path
    capture_path: Path | None  # a .scap file: the run reads it through the pipeline

    def __init__(
        self,
        sources: list[SourceSpec],
        events: Iterator[tuple[str, Any]] | None,
        capture_path: Path | None = None,
    ) -> None:
        self.sources = sources
        self.events = events
        self.capture_path = capture_path


def capture_kind(path: Path) -> str:
    """``scap`` for (gzipped) capture files, ``jsonl`` for JSON lines."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
            if head[:2] == GZIP_MAGIC:
                import gzip

                with gzip.open(path, "rb") as gz:
                    head = gz.read(4)
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror or exc}") from None
    return "scap" if head == SCAP_MAGIC else "jsonl"


def syscall_capture_source(store: Any = None) -> tuple[SourceSpec, Any] | None:
    """The real syscall source, its container fields reading ``store`` (a MetadataStore),
    and its capture reader, when the package provides them."""
    try:
        from lanner.sources.syscall import read_capture, syscall_source
    except ImportError:
        return None
    return syscall_source(store), read_capture


def open_replay(path: str | Path, store: Any = None) -> Replay:
    """Prepare the replay of a capture file or a JSON-lines event file. A capture file's
    container events fill ``store``, which its ``container.*`` fields read."""
    p = Path(path)
    kind = capture_kind(p)
    if kind == "scap":
        found = syscall_capture_source(store)
        if found is None:
            raise InputError(f"{p}: reading .scap captures needs the syscall source")
        return Replay([found[0]], None, capture_path=p)
    structured = _structured_replay(p)
    if structured is not None:
        return structured
    sources = [dict_source(name, dynamic=True) for name in JSON_SOURCES]

    def events() -> Iterator[tuple[str, Any]]:
        for obj in read_json_lines(p):
            source = (
                obj.pop("source", "syscall") if isinstance(obj.get("source"), str) else "syscall"
            )
            yield source, obj

    return Replay(sources, events())


def _structured_replay(p: Path) -> Replay | None:
    """Kubernetes audit logs and CloudTrail files, recognised by their content."""
    try:
        from lanner.sources.cloudtrail import (
            cloudtrail_source,
            looks_like_cloudtrail_file,
            read_cloudtrail_events,
        )
        from lanner.sources.k8s_audit import (
            k8s_audit_source,
            looks_like_audit_file,
            read_audit_events,
        )
    except ImportError:
        return None
    if looks_like_audit_file(p):
        return Replay([k8s_audit_source()], (("k8s_audit", e) for e in read_audit_events(p)))
    if looks_like_cloudtrail_file(p):
        return Replay(
            [cloudtrail_source()], (("aws_cloudtrail", e) for e in read_cloudtrail_events(p))
        )
    return None


def json_line_sources() -> list[SourceSpec]:
    """The sources of JSON-lines events: ad-hoc dicts whose ``source`` key names them."""
    return [dict_source(name, dynamic=True) for name in JSON_SOURCES]


# Falco plugin names -> the Lanner source that replaces them (json only extracts fields)
PLUGIN_SOURCES: dict[str, str | None] = {
    "k8saudit": "k8s_audit",
    "k8saudit-eks": "k8s_audit",
    "k8saudit-aks": "k8s_audit",
    "k8saudit-gke": "k8s_audit",
    "cloudtrail": "aws_cloudtrail",
    "github": "github",
    "okta": "okta",
    "gcpaudit": "gcp_auditlog",
    "json": None,
    "k8smeta": None,  # fields of syscall events (lanner.app.k8s_metadata)
}


def plugin_sources(load_plugins: list[str]) -> set[str] | None:
    """The sources ``load_plugins`` enables (with syscall); None when the list is empty.

    Lanner's sources are built in, so an empty list keeps them all; a plugin name Lanner
    has no equivalent for is reported by the caller.
    """
    if not load_plugins:
        return None
    wanted = {"syscall"}
    for name in load_plugins:
        source = PLUGIN_SOURCES.get(name)
        if source:
            wanted.add(source)
    return wanted


def default_sources(store: Any = None) -> list[SourceSpec]:
    """The sources known when no replay file decides them (a live run; -V, -L, --list)."""
    found = syscall_capture_source(store)
    if found is not None:
        return [found[0]] + [dict_source(n, dynamic=True) for n in JSON_SOURCES[1:]]
    return [dict_source(name, dynamic=True) for name in JSON_SOURCES]


def k8s_audit_live() -> tuple[SourceSpec, Callable[[Any], list[Any]]] | None:
    """The real k8s_audit source and a converter of audit JSON into its events."""
    try:
        from lanner.sources.k8s_audit.payload import parse_payload
        from lanner.sources.k8s_audit.source import k8s_audit_source
    except ImportError:
        return None

    def convert(obj: Any) -> list[Any]:
        return list(parse_payload(obj).events)

    return k8s_audit_source(), convert
