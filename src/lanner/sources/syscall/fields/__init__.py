"""Field classes of the ``syscall`` source: evt, proc, thread, fd, fs.path, user, group."""

from __future__ import annotations

from lanner.engine.fields import FieldTable

from ..containers.fields import metadata_fields
from ..containers.store import MetadataStore
from . import container, evt, fd, fspath, proc, user


def syscall_fields(store: MetadataStore | None = None) -> FieldTable:
    """Every field of the syscall source; ``container.*``/``k8s.*`` read ``store``."""
    table = FieldTable("syscall")
    for module in (evt, proc, fd, fspath, user, container):
        table.extend(module.FIELDS)
    table.extend(metadata_fields(store))
    return table


__all__ = ["syscall_fields"]
