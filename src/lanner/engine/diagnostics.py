"""Load results: errors and warnings with Falco's codes and positions.

Codes, short descriptions and the JSON shape follow falcosecurity/falco
``userspace/engine/falco_load_result.cpp`` and ``rule_loader.cpp``.
"""

from __future__ import annotations

import enum
from typing import Any

from lanner.records import FrozenRecord, Record


class ErrorCode(enum.Enum):
    """Error codes; the value is Falco's short description."""

    LOAD_ERR_FILE_READ = "File read error"
    LOAD_ERR_YAML_PARSE = "YAML parse error"
    LOAD_ERR_YAML_VALIDATE = "Error validating internal structure of YAML file"
    LOAD_ERR_COMPILE_CONDITION = "Error compiling condition"
    LOAD_ERR_COMPILE_OUTPUT = "Error compiling output"
    LOAD_ERR_VALIDATE = "Error validating rule/macro/list/exception objects"
    LOAD_ERR_EXTENSION = "Error in extension item"


class WarningCode(enum.Enum):
    """Warning codes; the value is Falco's short description."""

    LOAD_UNKNOWN_SOURCE = "Unknown event source"
    LOAD_UNSAFE_NA_CHECK = "Unsafe <NA> comparison in condition"
    LOAD_NO_EVTTYPE = "Condition has no event-type restriction"
    LOAD_UNKNOWN_FILTER = "Unknown field or event-type in condition or output"
    LOAD_UNUSED_MACRO = "Unused macro"
    LOAD_UNUSED_LIST = "Unused list"
    LOAD_UNKNOWN_ITEM = "Unknown rules file item"
    LOAD_DEPRECATED_ITEM = "Used deprecated item"
    LOAD_WARNING_EXTENSION = "Warning in extension item"
    LOAD_APPEND_NO_VALUES = "Overriding/appending with no values"
    LOAD_EXCEPTION_NAME_NOT_UNIQUE = "Multiple exceptions defined with the same name"
    LOAD_INVALID_MACRO_NAME = "Invalid macro name"
    LOAD_INVALID_LIST_NAME = "Invalid list name"
    LOAD_COMPILE_CONDITION = "Warning in rule condition"
    LOAD_UNKNOWN_KEY = "Unknown key in item definition"


WARNING_DESCRIPTIONS: dict[WarningCode, str] = {
    WarningCode.LOAD_UNKNOWN_SOURCE: "A rule has a unknown event source. This can occur when "
    "reading rules content without having a corresponding plugin loaded, etc. The rule will "
    "be silently ignored.",
    WarningCode.LOAD_UNSAFE_NA_CHECK: "Comparing a field value with <NA> is unsafe and can "
    "lead to unpredictable behavior of the rule condition. If you need to check for the "
    "existence of a field, consider using the 'exists' operator instead.",
    WarningCode.LOAD_NO_EVTTYPE: "A rule condition matches too many evt.type values. This has "
    "a significant performance penalty. Make the condition more specific by adding an "
    "evt.type field or further restricting the number of evt.type values in the condition.",
    WarningCode.LOAD_UNKNOWN_FILTER: "A rule condition or output refers to a field or evt.type "
    "that does not exist. This is normally an error, but if a rule has a "
    "skip-if-unknown-filter property, the error is downgraded to a warning.",
    WarningCode.LOAD_UNUSED_MACRO: "A macro is defined in the rules content but is not used by "
    "any other macro or rule.",
    WarningCode.LOAD_UNUSED_LIST: "A list is defined in the rules content but is not used by "
    "any other list, macro, or rule.",
    WarningCode.LOAD_UNKNOWN_ITEM: "An unknown top-level object is in the rules content. It "
    "will be ignored.",
    WarningCode.LOAD_DEPRECATED_ITEM: "A deprecated item is employed by lists, macros, or rules.",
    WarningCode.LOAD_WARNING_EXTENSION: "An extension item has a warning",
    WarningCode.LOAD_APPEND_NO_VALUES: "A rule exception is overriding/appending with no values",
    WarningCode.LOAD_EXCEPTION_NAME_NOT_UNIQUE: "A rule is defining multiple exceptions with "
    "the same name",
    WarningCode.LOAD_INVALID_MACRO_NAME: "A macro is defined with an invalid name",
    WarningCode.LOAD_INVALID_LIST_NAME: "A list is defined with an invalid name",
    WarningCode.LOAD_COMPILE_CONDITION: "A rule condition or output have been parsed with a "
    "warning",
    WarningCode.LOAD_UNKNOWN_KEY: "An item in the rules content contains an unrecognized key. "
    "The key will be ignored. This may indicate a typo or a property placed on the wrong item "
    "type.",
}
"""Falco's long descriptions of the warnings (``warning_desc``), used as JSON ``codedesc``."""


class Location(FrozenRecord):
    """One step of a diagnostic's context: an item and where it is."""

    __slots__ = __match_args__ = ("item_type", "item_name", "file", "line", "column", "offset")
    item_type: str
    item_name: str
    file: str
    line: int
    column: int
    offset: int

    def __init__(
        self,
        item_type: str,
        item_name: str,
        file: str,
        line: int = 1,
        column: int = 1,
        offset: int = 0,
    ) -> None:
        setattr_ = object.__setattr__
        setattr_(self, "item_type", item_type)
        setattr_(self, "item_name", item_name)
        setattr_(self, "file", file)
        setattr_(self, "line", line)
        setattr_(self, "column", column)
        setattr_(self, "offset", offset)

    def as_dict(self) -> dict[str, Any]:
        """Falco's JSON shape of a location: line and column 0-based, as yaml-cpp marks."""
        return {
            "item_type": self.item_type,
            "item_name": self.item_name,
            "position": {
                "name": self.file,
                "line": max(self.line - 1, 0),
                "column": max(self.column - 1, 0),
                "offset": self.offset,
            },
        }

    def describe(self) -> str:
        """``rule 'X' (file:line:col)``."""
        name = f" '{self.item_name}'" if self.item_name else ""
        if self.item_type == "condition expression":
            return f"{self.item_type} (line {self.line}, column {self.column} of the condition)"
        return f"{self.item_type}{name} ({self.file}:{self.line}:{self.column})"


class Diagnostic(FrozenRecord):
    """An error or a warning with its code, message and location chain (outermost first)."""

    __slots__ = __match_args__ = ("code", "message", "locations", "snippet")
    code: ErrorCode | WarningCode
    message: str
    locations: tuple[Location, ...]
    snippet: str

    def __init__(
        self,
        code: ErrorCode | WarningCode,
        message: str,
        locations: tuple[Location, ...] = (),
        snippet: str = "",
    ) -> None:
        setattr_ = object.__setattr__
        setattr_(self, "code", code)
        setattr_(self, "message", message)
        setattr_(self, "locations", locations)
        setattr_(self, "snippet", snippet)

    @property
    def is_error(self) -> bool:
        """True for errors, False for warnings."""
        return isinstance(self.code, ErrorCode)

    def as_dict(self) -> dict[str, Any]:
        """Falco's JSON shape of an error or warning (``rule_loader::result::as_json``).

        As in Falco, the chain starts at the whole rules content, a position inside a
        condition is the parser's 1-based position added to the 0-based position of the
        item holding the condition, and ``codedesc`` is the short text for errors and the
        long description for warnings.
        """
        locations: list[dict[str, Any]] = []
        if not self.locations or self.locations[0].item_type != "rules content":
            file = self.locations[0].file if self.locations else ""
            locations.append(Location("rules content", "", file).as_dict())
        prev: Location | None = None
        for loc in self.locations:
            entry = loc.as_dict()
            if loc.item_type == "condition expression" and prev is not None:
                entry["position"].update(
                    line=loc.line + prev.line - 1,
                    column=loc.column + prev.column - 1,
                    offset=loc.offset + prev.offset,
                )
            locations.append(entry)
            prev = loc
        context: dict[str, Any] = {"locations": locations}
        if self.snippet:
            context["snippet"] = self.snippet
        desc = self.code.value
        if isinstance(self.code, WarningCode):
            desc = WARNING_DESCRIPTIONS[self.code]
        return {
            "code": self.code.name,
            "codedesc": desc,
            "message": self.message,
            "context": context,
        }

    def describe(self) -> str:
        """A human line: code, message, then where."""
        where = "; ".join(loc.describe() for loc in self.locations)
        text = f"{self.code.name} ({self.code.value}): {self.message}"
        if where:
            text += f"\n    in {where}"
        if self.snippet:
            text += "\n" + "\n".join("    | " + s for s in self.snippet.splitlines())
        return text


class LoadResult(Record):
    """The outcome of loading one rules file."""

    __slots__ = __match_args__ = ("name", "errors", "warnings")
    name: str
    errors: list[Diagnostic]
    warnings: list[Diagnostic]

    def __init__(
        self,
        name: str,
        errors: list[Diagnostic] | None = None,
        warnings: list[Diagnostic] | None = None,
    ) -> None:
        self.name = name
        self.errors = [] if errors is None else errors
        self.warnings = [] if warnings is None else warnings

    @property
    def successful(self) -> bool:
        """True when the file loaded without errors."""
        return not self.errors

    def add(self, diag: Diagnostic) -> None:
        """Record an error or a warning."""
        (self.errors if diag.is_error else self.warnings).append(diag)

    def as_dict(self) -> dict[str, Any]:
        """Falco's JSON shape of one entry of ``falco_load_results``."""
        return {
            "name": self.name,
            "successful": self.successful,
            "errors": [d.as_dict() for d in self.errors],
            "warnings": [d.as_dict() for d in self.warnings],
        }

    def as_text(self, verbose: bool = False) -> str:
        """Falco's summary line (``file: Ok`` / ``Invalid``) and, if asked, the details."""
        status = "Ok" if self.successful else "Invalid"
        if self.successful and self.warnings:
            status = "Ok, with warnings"
        lines = [f"{self.name}: {status}"]
        shown = self.errors + (self.warnings if verbose else [])
        if shown:
            lines.append(f"{len(self.errors)} Errors:" if self.errors else "")
            lines.extend(d.describe() for d in self.errors)
            if verbose and self.warnings:
                lines.append(f"{len(self.warnings)} Warnings:")
                lines.extend(d.describe() for d in self.warnings)
        return "\n".join(line for line in lines if line)
