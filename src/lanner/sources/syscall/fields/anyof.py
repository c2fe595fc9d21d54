"""The values of a field that stands for several things at once."""

from __future__ import annotations


class AnyOf(tuple):  # type: ignore[type-arg]
    """Values of a multi-valued field (``proc.aname``, ``fd.ip``...) read without an index.

    A plain tuple: comparisons are the rule engine's business. Fields declared with
    ``any_of=True`` are checked value by value, with libsinsp's semantics: a check holds
    when it holds for any value (``proc.aname != sshd``: some ancestor is not sshd), except
    ``!=`` on fields with ``any_of_ne_all=True`` (``fd.ip``, ``fd.port``, ``fd.net``), which
    holds only when no value equals the constant. Outputs print it as a tuple.
    """

    __slots__ = ()
