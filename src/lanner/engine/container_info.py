"""``%container.info`` in rule outputs, and Falco's ``-p``/``--print`` extra output.

Falco 0.35-0.40 expanded ``%container.info`` to ``container_id=%container.id
container_name=%container.name``; since its container plugin suggests those fields
(appended by ``append_output: [{suggested_output: true}]``, the shipped default), it
replaces the token with nothing. Lanner does both without ever leaving a gap: the token
becomes nothing when the rule's appended text already carries the container fields, and
the old expansion otherwise. ``-p c`` / ``-p k`` (Falco's ``-pc`` / ``-pk``) replace the
token with their own text; any other ``-p`` text is appended to every syscall output.
"""

from __future__ import annotations

import re

from lanner.records import FrozenRecord

CONTAINER_INFO = "%container.info"
DEFAULT_CONTAINER_INFO = "container_id=%container.id container_name=%container.name"

# Falco's -p shortcuts: (text, replaces %container.info)
_SHORTCUTS = {
    "c": "container=%container.name (id=%container.id)",
    "cg": "container=%container.name (id=%container.id) vpid=%proc.vpid vtid=%thread.vtid",
    "k": "k8s.ns=%k8s.ns.name k8s.pod=%k8s.pod.name container=%container.id",
    "kg": "k8s.ns=%k8s.ns.name k8s.pod=%k8s.pod.name container=%container.id"
    " vpid=%proc.vpid vtid=%thread.vtid",
}
_LONG_NAMES = {
    "container": "c",
    "container-gvisor": "cg",
    "kubernetes": "k",
    "kubernetes-gvisor": "kg",
}
_TOKEN = re.compile(r"([ \t]*)%container\.info\b([ \t]*)")


class PrintOption(FrozenRecord):
    """What ``-p`` asked for: a text, and whether it stands for ``%container.info``."""

    __slots__ = __match_args__ = ("text", "replaces_container_info")
    text: str
    replaces_container_info: bool

    def __init__(self, text: str, replaces_container_info: bool) -> None:
        setattr_ = object.__setattr__
        setattr_(self, "text", text)
        setattr_(self, "replaces_container_info", replaces_container_info)

    @classmethod
    def parse(cls, value: str) -> PrintOption:
        """``c``/``container``, ``cg``, ``k``/``kubernetes``, ``kg``, or a format text."""
        key = _LONG_NAMES.get(value, value)
        if key in _SHORTCUTS:
            return cls(_SHORTCUTS[key], True)
        if not value.strip():
            raise ValueError("-p: expected c, cg, k, kg or an output format, got nothing")
        return cls(value, False)


def expand_container_info(
    output: str,
    *,
    has_container_fields: bool,
    appended: str = "",
    print_option: PrintOption | None = None,
) -> str:
    """``output`` with ``%container.info`` replaced and the ``-p`` text applied.

    ``has_container_fields``: the rule's source knows ``container.id`` (else the token
    and ``-p`` do not apply and the token is removed); ``appended``: the text
    ``append_output`` adds to this rule, which may already name the container."""
    if not has_container_fields:
        return _substitute(output, "") if CONTAINER_INFO in output else output
    if CONTAINER_INFO in output:
        if print_option is not None and print_option.replaces_container_info:
            return _substitute(output, print_option.text)
        names_container = "%container.id" in appended or "%container.name" in appended
        output = _substitute(output, "" if names_container else DEFAULT_CONTAINER_INFO)
    if print_option is not None:
        output = f"{output} {print_option.text}"
    return output


def _substitute(output: str, replacement: str) -> str:
    """Each token replaced; spaces around it kept to one, none beside a bracket or an end."""

    def one(match: re.Match[str]) -> str:
        before = output[match.start() - 1] if match.start() > 0 else ""
        after = output[match.end()] if match.end() < len(output) else ""
        lead = " " if match.group(1) and before not in ("", "(", "[") else ""
        trail = " " if match.group(2) and after not in ("", ")", "]") else ""
        if not replacement:
            return " " if lead and trail else ""
        return f"{lead}{replacement}{trail}"

    return _TOKEN.sub(one, output)
