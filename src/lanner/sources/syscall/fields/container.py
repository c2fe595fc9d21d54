"""container.* fields known from the capture itself (the id from cgroups); the others,
container.name included, read the metadata store (``containers/fields.py``)."""

from __future__ import annotations

from lanner.engine.fields import FieldType

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
]
