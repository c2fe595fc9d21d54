"""Container metadata carried by capture files.

libsinsp writes what it knows of each container into a capture as a ``container`` event
(``PPME_CONTAINER_JSON_E`` / ``PPME_CONTAINER_JSON_2_E``) whose one parameter is the JSON of
``sinsp_container_manager::container_to_json``: ``{"container": {"id", "type", "name",
"image", "imageid", "imagerepo", "imagetag", "imagedigest", "privileged", "Mounts": [...],
"ip", ...}}``, newer versions adding ``full_id``, ``labels``, ``cni_json``,
``created_time``, ``Healthcheck`` / ``LivenessProbe`` / ``ReadinessProbe``
(``{"exe", "args"}``). Replaying such a capture fills the metadata cache from them, so
``container.*`` and ``k8s.*`` fields have values without asking any runtime.

:func:`container_json` is the inverse, for the captures Lanner writes (``lanner capture``):
libsinsp's keys, plus a ``lanner`` object with what they cannot carry (published ports, the
pod sandbox's ip and labels, a start time finer than a second...), which libsinsp ignores;
:func:`container_event` wraps it in a ``PPME_CONTAINER_JSON_2_E`` event as libsinsp does.
"""

from __future__ import annotations

import json
import struct
import time
from collections.abc import Iterable, Iterator
from typing import Any

from ..event import Event
from ..event_table import PPME_CONTAINER_JSON_2_E, PPME_CONTAINER_JSON_E
from .info import ContainerInfo, Mount
from .store import MetadataStore

CONTAINER_EVENTS = (PPME_CONTAINER_JSON_E, PPME_CONTAINER_JSON_2_E)

# sinsp_container_type
_TYPES = {
    0: "docker",
    1: "lxc",
    2: "libvirt-lxc",
    3: "mesos",
    4: "rkt",
    5: "custom",
    6: "cri",
    7: "containerd",
    8: "cri-o",
    9: "bpm",
    10: "static",
    11: "podman",
}
_TYPE_NUMBERS = {name: number for number, name in _TYPES.items()}


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _probe(doc: dict[str, Any], key: str) -> list[str]:
    probe = doc.get(key)
    if not isinstance(probe, dict) or not probe.get("exe"):
        return []
    args = probe.get("args")
    return (
        [str(probe["exe"]), *(str(a) for a in args)]
        if isinstance(args, list)
        else [str(probe["exe"])]
    )


# Lanner's own key in the container object: the fields libsinsp's keys cannot carry
EXTENSION = "lanner"
_FIELDS = ContainerInfo.__match_args__
# sinsp_container_lookup_state: SUCCESSFUL (the metadata is there)
_LOOKUP_SUCCESSFUL = 1


def _apply_extension(info: ContainerInfo, extra: dict[str, Any]) -> None:
    for name, value in extra.items():
        if name not in _FIELDS or name == "id":
            continue
        if name == "mounts":
            if not isinstance(value, list):
                continue
            value = [
                Mount(
                    source=str(m.get("source", "")),
                    dest=str(m.get("dest", "")),
                    mode=str(m.get("mode", "")),
                    rw=bool(m.get("rw", True)),
                    propagation=str(m.get("propagation", "")),
                )
                for m in value
                if isinstance(m, dict)
            ]
        elif isinstance(getattr(info, name), list):
            if not isinstance(value, list):
                continue
            value = [str(v) for v in value]
        elif isinstance(getattr(info, name), dict):
            if not isinstance(value, dict):
                continue
            value = {str(k): str(v) for k, v in value.items()}
        setattr(info, name, value)


def _probe_json(command: list[str]) -> dict[str, Any] | None:
    return {"exe": command[0], "args": command[1:]} if command else None


def container_json(info: ContainerInfo) -> str:
    """libsinsp's container JSON for ``info``: what ``info_from_container_json`` reads back.

    The keys are those of ``sinsp_container_manager::container_to_json`` in
    falcosecurity/libs ``userspace/libsinsp/container.cpp`` (``id``, ``full_id``, ``type``
    (``sinsp_container_type``), ``name``, ``image``, ``imageid``, ``imagerepo``,
    ``imagetag``, ``imagedigest``, ``privileged``, ``is_pod_sandbox``, ``lookup_state``,
    ``created_time``, ``Mounts`` [``Source``, ``Destination``, ``Mode``, ``RW``,
    ``Propagation``], ``Healthcheck``/``LivenessProbe``/``ReadinessProbe``
    (``container_health_probe::add_health_probes``: ``{"exe", "args"}``), ``ip``,
    ``port_mappings``, ``labels``, ``env``, and ``cni_json`` /
    ``pod_sandbox_labels`` of later versions). What those cannot carry goes in a
    ``lanner`` object (only the fields that differ from what the keys give back).
    """
    c: dict[str, Any] = {
        "id": info.id,
        "full_id": info.full_id or "",
        "type": _TYPE_NUMBERS.get(info.runtime or "", 0),
        "name": info.name or "",
        "image": info.image or "",
        "imageid": info.image_id or "",
        "imagerepo": info.image_repository or "",
        "imagetag": info.image_tag or "",
        "imagedigest": info.image_digest or "",
        "privileged": bool(info.privileged),
        "is_pod_sandbox": False,
        "lookup_state": _LOOKUP_SUCCESSFUL,
        "created_time": (info.start_ts or 0) // 1_000_000_000,
        "Mounts": [
            {
                "Source": m.source,
                "Destination": m.dest,
                "Mode": m.mode,
                "RW": m.rw,
                "Propagation": m.propagation,
            }
            for m in info.mounts
        ],
        "ip": info.ip or "0.0.0.0",
        "port_mappings": [],
        "labels": dict(info.labels),
        "env": [],
        "cni_json": info.cni_json or "",
        "pod_sandbox_labels": dict(info.pod_labels) or None,
    }
    for key, command in (
        ("Healthcheck", info.healthcheck),
        ("LivenessProbe", info.liveness_probe),
        ("ReadinessProbe", info.readiness_probe),
    ):
        probe = _probe_json(command)
        if probe is not None:
            c[key] = probe
    doc = {"container": c}
    back = info_from_container_json(json.dumps(doc))
    extra: dict[str, Any] = {}
    for name in _FIELDS:
        value = getattr(info, name)
        if back is None or getattr(back, name) != value:
            if name == "mounts":
                value = [{k: getattr(m, k) for k in Mount.__match_args__} for m in value]
            extra[name] = value
    extra.pop("id", None)
    if extra:
        c[EXTENSION] = extra
    return json.dumps(doc, separators=(",", ":"))


def container_event(info: ContainerInfo, ts: int = 0) -> Event:
    """The ``container`` event libsinsp writes for a container
    (``sinsp_container_manager::container_to_sinsp_event``): ``PPME_CONTAINER_JSON_2_E``,
    tid -1, one parameter (32-bit length) holding the JSON and its NUL."""
    data = container_json(info).encode("utf-8") + b"\0"
    buf = struct.pack("<I", len(data)) + data
    return Event(0, ts or time.time_ns(), -1, PPME_CONTAINER_JSON_2_E, 1, buf, 0, len(buf), True)


def info_from_container_json(text: str | bytes) -> ContainerInfo | None:
    """A ContainerInfo from libsinsp's container JSON; None when it is not one."""
    if isinstance(text, bytes):
        text = text.rstrip(b"\0").decode("utf-8", "replace")
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    c = doc.get("container") if isinstance(doc, dict) else None
    if not isinstance(c, dict) or not c.get("id"):
        return None
    labels_raw = c.get("labels")
    labels = {str(k): str(v) for k, v in labels_raw.items()} if isinstance(labels_raw, dict) else {}
    mounts = [Mount.from_engine_json(m) for m in c.get("Mounts") or [] if isinstance(m, dict)]
    pod_labels_raw = c.get("pod_sandbox_labels")
    pod_labels = (
        {str(k): str(v) for k, v in pod_labels_raw.items()}
        if isinstance(pod_labels_raw, dict)
        else {}
    )
    created = c.get("created_time")
    ip = _text(c.get("ip"))
    cni = _text(c.get("cni_json"))
    ctype = c.get("type")
    privileged = c.get("privileged")
    info = ContainerInfo(
        id=str(c["id"])[:12],
        full_id=_text(c.get("full_id")),
        name=_text(c.get("name")),
        image=_text(c.get("image")),
        image_repository=_text(c.get("imagerepo")),
        image_tag=_text(c.get("imagetag")),
        image_digest=_text(c.get("imagedigest")),
        image_id=_text(c.get("imageid")),
        runtime=_TYPES.get(ctype, str(ctype)) if isinstance(ctype, int) else _text(ctype),
        labels=labels,
        privileged=privileged if isinstance(privileged, bool) else None,
        mounts=mounts,
        start_ts=int(created) * 1_000_000_000 if isinstance(created, int) and created else None,
        healthcheck=_probe(c, "Healthcheck"),
        liveness_probe=_probe(c, "LivenessProbe"),
        readiness_probe=_probe(c, "ReadinessProbe"),
        ip=None if ip in (None, "0.0.0.0") else ip,
        cni_json=cni,
        pod_name=labels.get("io.kubernetes.pod.name"),
        pod_namespace=labels.get("io.kubernetes.pod.namespace"),
        pod_uid=labels.get("io.kubernetes.pod.uid"),
        pod_labels=pod_labels,
        pod_cni_json=cni,
    )
    extra = c.get(EXTENSION)
    if isinstance(extra, dict):
        _apply_extension(info, extra)
    return info


def remember_containers(events: Iterable[Any], store: MetadataStore) -> Iterator[Any]:
    """Pass ``events`` through, putting the metadata of their container events in ``store``
    (before the events that follow are evaluated)."""
    for ev in events:
        if ev.type in CONTAINER_EVENTS and ev.nparams:
            raw = ev.raw(0)
            info = info_from_container_json(raw) if raw else None
            if info is not None:
                store.put(info)
        yield ev


def _cgroup_params() -> dict[int, int]:
    from ..event import PARAM_INDEX

    return {t: names["cgroups"] for t, names in enumerate(PARAM_INDEX) if "cgroups" in names}


class ContainerRecorder:
    """The ``container`` events a capture writer owes, as libsinsp writes them.

    :meth:`see` (a container id, e.g. from the /proc snapshot) and :meth:`see_event` (the
    ``cgroups`` parameter of clone/fork/execve exits: no thread table needed) start the
    metadata lookup of a container not seen yet; :meth:`due` returns one container event
    for each container whose metadata arrived since, once. A container no runtime knows
    gets no event (there is nothing to carry); one whose runtime is failing, hangs or is
    not up yet gets its event when the metadata comes (the store retries; :meth:`due`
    asks again at most every ``retry_interval`` seconds). At most ``limit`` containers are
    waited for.

    As a pipeline's inserter (``lanner capture``): :meth:`see_record` sees the containers
    of the /proc snapshot, :meth:`check` each event and returns the container events due.
    """

    def __init__(self, store: MetadataStore, limit: int = 100_000, retry_interval: float = 1.0):
        from ..state.containers import HOST

        self.store = store
        self.limit = limit
        self.retry_interval = retry_interval
        self.cgroup_params = _cgroup_params()
        self.written = 0
        self._host = HOST
        self._seen: set[str] = set()
        self._waiting: set[str] = set()
        self._next_retry = 0.0
        self._arrivals = -1  # store.arrivals at the last check() that asked due()
        self._next_check = 0  # event time (ns) after which check() asks due() anyway

    CHECK_INTERVAL_NS = 50_000_000

    def see_record(self, rec: Any) -> None:
        """The containers of a process list (the /proc snapshot); other records: nothing."""
        threads = getattr(rec, "threads", None)
        if threads is None:
            return
        from ..state.containers import container_id

        for p in threads:
            self.see(container_id(p.cgroups))

    def check(self, ev: Any) -> list[Event]:
        """See ``ev``'s cgroups; the container events due now (when metadata arrived, or
        every ``CHECK_INTERVAL_NS`` of event time while containers wait)."""
        if ev.type in self.cgroup_params:
            self.see_event(ev)
        if not self._waiting:
            return []
        arrivals = self.store.arrivals
        if arrivals == self._arrivals and ev.ts < self._next_check:
            return []
        self._arrivals = arrivals
        self._next_check = ev.ts + self.CHECK_INTERVAL_NS
        return self.due(ev.ts)

    def see(self, container_id: str) -> None:
        """A container id was seen: look it up (once)."""
        if container_id == self._host or container_id in self._seen:
            return
        if len(self._seen) >= self.limit:
            self._seen.clear()
        self._seen.add(container_id)
        if len(self._waiting) < self.limit:
            self._waiting.add(container_id)
            self.store.get(container_id)  # starts the lookup, never waits (deadline 0)

    def see_event(self, ev: Any) -> None:
        """Look at the cgroups of a clone/fork/execve exit (other events: nothing)."""
        idx = self.cgroup_params.get(ev.type)
        if idx is None or idx >= ev.nparams:
            return
        raw = ev.raw(idx)
        if raw:
            from ..scap.metadata import parse_cgroups
            from ..state.containers import container_id

            self.see(container_id(parse_cgroups(bytes(raw))))

    def waiting(self) -> bool:
        """Some container seen has no event yet and may still get its metadata."""
        return bool(self._waiting)

    def settled(self) -> bool:
        """Every lookup started is over (metadata or not)."""
        return all(self.store.settled(cid) for cid in self._waiting)

    def due(self, ts: int = 0) -> list[Event]:
        """Container events for the containers whose metadata is known now."""
        if not self._waiting:
            return []
        out = []
        for cid in [c for c in self._waiting if self.store.peek(c) is not None]:
            self._waiting.discard(cid)
            info = self.store.peek(cid)
            if info is not None:
                out.append(container_event(info, ts))
        self.written += len(out)
        if not self._waiting:
            return out
        if not self.store.may_learn():
            self._waiting.clear()  # no runtime to ask, none to come
            return out
        now = time.monotonic()
        if now >= self._next_retry:  # failed lookups are retried when asked again
            self._next_retry = now + self.retry_interval
            self.store.poll()
            for cid in self._waiting:
                if self.store.settled(cid):
                    self.store.get(cid)
        return out
