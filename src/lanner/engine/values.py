"""Right-hand values: parsing constants for a field's type, and the string matchers.

Upstream reference for the semantics: libsinsp ``sinsp_filter_check::compare_rhs`` and
``flt_compare`` (falcosecurity/libs).
"""

from __future__ import annotations

import base64
import fnmatch
import functools
import ipaddress
import os
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from lanner.engine.fields import FieldType
from lanner.exceptions import FieldValueError

if TYPE_CHECKING:
    import re2

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_number(text: str) -> int | float:
    """Read a number as libsinsp does for integer fields (decimal or 0x hex)."""
    t = text.strip()
    try:
        return int(t, 0) if t.lower().startswith(("0x", "-0x", "+0x")) else int(t)
    except ValueError:
        pass
    try:
        return float(t)
    except ValueError:
        raise FieldValueError(f"'{text}' is not a valid number") from None


def parse_bool(text: str) -> bool:
    """Read ``true`` / ``false``."""
    if text == "true":
        return True
    if text == "false":
        return False
    raise FieldValueError(f"'{text}' is not a valid boolean (true or false)")


def parse_ip(text: str) -> IpAddress | IpNetwork:
    """Read an address, or a network when the text has a prefix length."""
    try:
        if "/" in text:
            return ipaddress.ip_network(text, strict=False)
        return ipaddress.ip_address(text)
    except ValueError:
        raise FieldValueError(f"'{text}' is not a valid IP address or network") from None


def parse_net(text: str) -> IpNetwork:
    """Read a network; a bare address is a host network."""
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise FieldValueError(f"'{text}' is not a valid IP network") from None


def parse_hex_bytes(text: str) -> bytes:
    """Read the hex string that ``bcontains``/``bstartswith`` take."""
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise FieldValueError(f"'{text}' is not a valid hex string") from None


def parse_constant(text: str, ftype: FieldType) -> Any:
    """Convert a constant from a condition to the comparable value for ``ftype``."""
    if ftype in (FieldType.NUMBER, FieldType.PORT):
        return parse_number(text)
    if ftype is FieldType.BOOL:
        return parse_bool(text)
    if ftype is FieldType.IPADDR:
        return parse_ip(text)
    if ftype is FieldType.IPNET:
        return parse_net(text)
    if ftype is FieldType.BYTES:
        return text.encode()
    return text


def ip_matcher(constants: Iterable[Any]) -> Callable[[Any], bool]:
    """Membership test of an address against addresses and networks."""
    addrs = frozenset(c for c in constants if not isinstance(c, IpNetwork))
    nets = tuple(c for c in constants if isinstance(c, IpNetwork))

    def match(value: Any) -> bool:
        if value in addrs:
            return True
        return any(value.version == n.version and value in n for n in nets)

    return match


def glob_matcher(pattern: str, ignore_case: bool = False) -> Callable[[str], bool]:
    """fnmatch-style glob where ``*`` also crosses ``/``, as libsinsp's glob does."""
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    rx = re.compile(fnmatch.translate(pattern), flags)
    return lambda value: rx.match(value) is not None


@functools.cache
def _re2_options() -> re2.Options:
    import re2  # only rules with the regex operator need it (its import costs start-up)

    opts = re2.Options()
    opts.posix_syntax = True  # libsinsp compiles with RE2::POSIX
    opts.longest_match = True
    opts.log_errors = False
    return opts


def regex_matcher(pattern: str) -> Callable[[str], bool]:
    """Whole-string match with RE2 in POSIX mode, as libsinsp's ``regex`` operator.

    RE2 runs in linear time, so a hostile pattern cannot stall the event loop.
    """
    import re2

    try:
        rx = re2.compile(pattern, options=_re2_options())
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        raise FieldValueError(f"invalid regular expression '{pattern}': {reason}") from None
    return lambda value: rx.fullmatch(value) is not None


def pmatch_matcher(prefixes: Iterable[str]) -> Callable[[str], bool]:
    """Path-prefix match: ``/usr`` matches ``/usr`` and ``/usr/bin/x`` but not ``/usrx``."""
    exact: set[str] = set()
    dirs: list[str] = []
    for p in prefixes:
        trimmed = p.rstrip("/") if p != "/" else "/"
        exact.add(trimmed)
        dirs.append("/" if trimmed == "/" else trimmed + "/")
    dir_tuple = tuple(dirs)

    def match(value: str) -> bool:
        v = value.rstrip("/") if value != "/" else "/"
        return v in exact or value.startswith(dir_tuple)

    return match


def as_bytes(value: Any) -> bytes:
    """The bytes a ``b*`` operator compares: raw buffers as-is, text as UTF-8."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value).encode()


# -- transformers ------------------------------------------------------------------------


def _b64(value: Any) -> Any:
    try:
        raw = base64.b64decode(as_bytes(value), validate=True)
    except (ValueError, TypeError):
        return None
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return raw


def _basename(value: Any) -> Any:
    return os.path.basename(str(value))


TRANSFORMER_FUNCS: dict[str, Callable[[Any], Any]] = {
    "tolower": lambda v: v.lower(),
    "toupper": lambda v: v.upper(),
    "b64": _b64,
    "basename": _basename,
    "len": len,
}
"""Per-value transformer functions, applied element-wise to list fields except ``len``."""

TRANSFORMER_INPUT_TYPES: dict[str, frozenset[FieldType]] = {
    "tolower": frozenset({FieldType.STRING}),
    "toupper": frozenset({FieldType.STRING}),
    "b64": frozenset({FieldType.STRING, FieldType.BYTES}),
    "basename": frozenset({FieldType.STRING}),
    "len": frozenset({FieldType.STRING, FieldType.BYTES}),
}
