"""sysdig's default event line, for dumping captures the way ``sysdig -r FILE`` does.

``%evt.num %evt.time %evt.cpu %proc.name (%thread.tid) %evt.dir %evt.type %evt.args``;
internal events (procinfo...) are not shown, like sysdig.
"""

from __future__ import annotations

from . import event_table as et
from .event import Event
from .render import render_args

_INTERNAL = tuple(bool(c & et.EC_INTERNAL) for c in et.EVENT_CATEGORIES)


def is_shown(event: Event) -> bool:
    """Whether sysdig prints this event by default (internal events are hidden)."""
    return not _INTERNAL[event.type]


def default_line(event: Event) -> str | None:
    """The event as sysdig prints it without ``-p``; None for hidden events."""
    if _INTERNAL[event.type]:
        return None
    from .fields.evt import event_time  # local: fields import the engine package

    t = event.thread
    name = t.comm if t is not None else "<NA>"
    return (
        f"{event.num} {event_time(event.ts)} {event.cpu} {name} ({event.tid}) "
        f"{event.dir} {event.name} {render_args(event)}"
    )
