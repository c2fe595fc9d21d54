"""container.* fields known from the capture itself (the id from cgroups)."""

from __future__ import annotations

from lanner.engine.fields import FieldType

from ..state.containers import HOST
from ._util import field

S = FieldType.STRING
B = FieldType.BOOL

FIELDS = [
    field(
        "container.id",
        S,
        "12-character container id from the cgroups, 'host' outside containers",
        lambda e, a: None if e.thread is None else e.thread.container_id,
    ),
    field(
        "container.name",
        S,
        "container name ('host' outside containers; unknown otherwise)",
        lambda e, a: (
            None if e.thread is None else (HOST if e.thread.container_id == HOST else None)
        ),
    ),
]
