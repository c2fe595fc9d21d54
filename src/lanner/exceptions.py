"""Every error Lanner raises on purpose, under one base, :class:`LannerError`.

``except lanner.LannerError`` catches any of them. Each carries its message and, where
the error is about a place in a file, a :class:`ErrorLocation` (``location``); errors
about a place inside a rule condition carry ``pos`` (offset, line and column within
the condition) instead. Errors that also mean a built-in kind (a bad value, a failed
connection) keep that kind as a second base, so ``except ValueError`` still catches
``ConfigError``.

This module sits at the bottom of the layers with :mod:`lanner.contract` and imports
nothing of Lanner at run time (the engine's types only for annotations), so every layer
can raise and catch these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: the engine's types are never imported here
    from lanner.engine.ast import Pos
    from lanner.engine.diagnostics import ErrorCode, Location

__all__ = [
    "ActionError",
    "AlertError",
    "ArtifactError",
    "BadRequest",
    "BodyError",
    "CompileError",
    "ConditionError",
    "ConditionSyntaxError",
    "ConfigError",
    "ConnectError",
    "DeliveryError",
    "DuplicateFieldError",
    "ErrorLocation",
    "FieldValueError",
    "FormatError",
    "IndexLookupError",
    "InputError",
    "LannerError",
    "ListBudgetError",
    "LoadError",
    "LookupFailed",
    "MacroError",
    "NotAuditEvent",
    "NotifierError",
    "Overloaded",
    "PermanentError",
    "ProbeUnavailable",
    "ProtocolError",
    "RefError",
    "RegistryError",
    "RequirementError",
    "RulesError",
    "ScapError",
    "SignatureError",
    "SpecError",
    "SpoolError",
    "TemplateError",
    "WebhookError",
]


@dataclass(frozen=True, slots=True)
class ErrorLocation:
    """Where in a file an error is: ``file:line:column`` (line and column 1-based, 0 when
    unknown)."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        parts = [self.file or "<input>"]
        if self.line:
            parts.append(str(self.line))
            if self.column:
                parts.append(str(self.column))
        return ":".join(parts)


class LannerError(Exception):
    """The base of every error Lanner raises on purpose; ``location`` is where, if known."""

    location: ErrorLocation | None = None

    def __init__(self, *args: object, location: ErrorLocation | None = None) -> None:
        super().__init__(*args)
        if location is not None:
            self.location = location


# --- the contract -------------------------------------------------------------------


class AlertError(LannerError, ValueError):
    """An alert (or a part of one) that does not follow the contract; the message says why."""


# --- the engine: rules files and the condition language -------------------------------


class ConditionError(LannerError):
    """An error at a place inside a rule condition: ``pos`` (offset, line, column)."""

    def __init__(self, message: str, pos: Pos) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


class ConditionSyntaxError(ConditionError):
    """A condition that does not parse; ``pos`` says where the parser stopped."""


class CompileError(ConditionError):
    """A condition that parses but cannot be compiled (unknown field, bad value...)."""


class MacroError(LannerError):
    """A condition that cannot use its macros, with the position of the offending reference.

    ``pos`` is within the condition being expanded, or None when the condition as a whole
    is at fault (too large). ``root`` is False when the reference is fine but the macro it
    names is invalid for a reason written elsewhere; ``cause`` then tells that reason and
    where it is.
    """

    def __init__(self, message: str, pos: Pos | None, root: bool = True, cause: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos
        self.root = root
        self.cause = cause or message


class ListBudgetError(LannerError):
    """Substituting a list would copy more items into conditions than the limit allows."""

    def __init__(self, name: str, size: int, times: int) -> None:
        super().__init__(name)
        self.name, self.size, self.times = name, size, times


class FieldValueError(LannerError):
    """A constant that cannot be read as the field's type."""


class FormatError(LannerError):
    """An output template that names a field the source does not have."""


class DuplicateFieldError(LannerError):
    """A source's field table defining the same field name twice."""


class LoadError(LannerError):
    """An error that stops reading the current rules file (Falco stops at the first one);
    ``locations`` is the item's context, innermost last; ``code`` is Falco's error code
    (None: LOAD_ERR_VALIDATE)."""

    def __init__(
        self,
        message: str,
        locations: tuple[Location, ...],
        code: ErrorCode | None = None,
    ) -> None:
        where = locations[-1] if locations else None
        super().__init__(
            message,
            location=ErrorLocation(where.file, where.line, where.column) if where else None,
        )
        self.message = message
        self.locations = locations
        self.code = code


# --- the sources ----------------------------------------------------------------------


class ScapError(LannerError):
    """A capture file is corrupt, truncated or not a capture at all.

    ``offset`` is the byte offset in the (decompressed) stream where the problem was found.
    """

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(f"{message} (at byte offset {offset})")
        self.reason = message
        self.offset = offset


class ProbeUnavailable(LannerError, RuntimeError):
    """Live capture cannot start; the message says exactly what is missing."""


class LookupFailed(LannerError):
    """A container runtime could not answer; the message is the reason, without container
    ids (so the same outage is logged once, not once per container)."""


class NotAuditEvent(LannerError, ValueError):
    """A JSON value that is neither a Kubernetes audit Event nor an EventList."""


class BadRequest(LannerError):
    """A request refused with a 4xx ``status`` and a ``reason``."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


# --- the app: configuration, inputs, outputs, rule tests ------------------------------


class ConfigError(LannerError, ValueError):
    """A configuration value of the wrong type or shape, naming its key.

    ``ConfigError(path, reason)`` reads ``"path: reason"``; ``ConfigError(message)``
    takes a message that already names the key.
    """

    def __init__(self, path_or_message: str, reason: str | None = None) -> None:
        if reason is None:
            super().__init__(path_or_message)
            self.path, self.reason = "", path_or_message
        else:
            super().__init__(f"{path_or_message}: {reason}")
            self.path, self.reason = path_or_message, reason


class InputError(LannerError):
    """An input (capture, log file, webhook) that cannot be read, with the reason."""


class SpecError(LannerError):
    """A rule-test spec file that cannot be used, naming the file, line and test."""


class DeliveryError(LannerError):
    """A delivery the receiving end did not accept and that may succeed later: it is
    retried, after ``retry_after`` seconds when the receiver said so (HTTP
    ``Retry-After``)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(DeliveryError):
    """A delivery the target refused for good (e.g. HTTP 400): dropped, counted and logged."""


class StanError(LannerError):
    """A NATS Streaming server refused a connect or a message, did not acknowledge it in
    time, or the connection to it was lost; the message says which."""


# --- the services ---------------------------------------------------------------------


class BodyError(BadRequest, ValueError):
    """A request refused for its body or its framing: ``status`` (400 or 413) and why."""


class ConnectError(LannerError, OSError):
    """The connection (TCP or TLS handshake) could not be made; the message says why."""


class ProtocolError(LannerError, OSError):
    """The server answered something that is not HTTP/1.x, or closed mid-answer."""


class TemplateError(LannerError, ValueError):
    """A template that cannot be compiled or evaluated."""


class SpoolError(LannerError, RuntimeError):
    """The spool could not store an alert, so it is not accepted."""


class RulesError(LannerError, ValueError):
    """One or more problems in response rules files; each names file:line and rule."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class ActionError(LannerError, RuntimeError):
    """An action (a response, or a generator's behaviour) could not do its job; the
    message says why. ``transient`` failures are worth retrying; ``target`` and
    ``changes`` say what a response acted on."""

    def __init__(
        self,
        message: str,
        *,
        transient: bool = False,
        target: str = "",
        changes: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.transient = transient
        self.target = target
        self.changes = changes or {}


class Overloaded(LannerError):
    """The alert queue is full: the sender should retry later."""


class WebhookError(LannerError, RuntimeError):
    """The audit webhook refused the generator's events or could not be reached."""


class NotifierError(LannerError):
    """A response notification (webhook, Slack, Loki, Kubernetes event) was not delivered."""


# --- lanner artifact: rules artifacts over OCI ------------------------------------------


class ArtifactError(LannerError):
    """Base of every ``lanner artifact`` error; each names the artifact, file or server at
    fault (the CLI prints it as one ``Error:`` line)."""


class RefError(ArtifactError):
    """A reference that names nothing."""


class IndexLookupError(ArtifactError):
    """An index that cannot be read, or a name no index has."""


class RegistryError(ArtifactError):
    """The registry refused or failed a request, or served something else."""


class SignatureError(ArtifactError):
    """A signature is missing or does not verify."""


class RequirementError(ArtifactError):
    """An artifact needs what this Lanner does not have, or its rules do not load."""
