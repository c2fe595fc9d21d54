"""Load results: errors and warnings with Falco's codes and positions.

Codes, short descriptions and the JSON shape follow falcosecurity/falco
``userspace/engine/falco_load_result.cpp`` and ``rule_loader.cpp``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


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


@dataclass(frozen=True, slots=True)
class Location:
    """One step of a diagnostic's context: an item and where it is."""

    item_type: str
    item_name: str
    file: str
    line: int = 1
    column: int = 1
    offset: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Falco's JSON shape of a location."""
        return {
            "item_type": self.item_type,
            "item_name": self.item_name,
            "position": {
                "name": self.file,
                "line": self.line,
                "column": self.column,
                "offset": self.offset,
            },
        }

    def describe(self) -> str:
        """``rule 'X' (file:line:col)``."""
        name = f" '{self.item_name}'" if self.item_name else ""
        if self.item_type == "condition expression":
            return f"{self.item_type} (line {self.line}, column {self.column} of the condition)"
        return f"{self.item_type}{name} ({self.file}:{self.line}:{self.column})"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """An error or a warning with its code, message and location chain (outermost first)."""

    code: ErrorCode | WarningCode
    message: str
    locations: tuple[Location, ...] = ()
    snippet: str = ""

    @property
    def is_error(self) -> bool:
        """True for errors, False for warnings."""
        return isinstance(self.code, ErrorCode)

    def as_dict(self) -> dict[str, Any]:
        """Falco's JSON shape of an error or warning."""
        context: dict[str, Any] = {"locations": [loc.as_dict() for loc in self.locations]}
        if self.snippet:
            context["snippet"] = self.snippet
        return {
            "code": self.code.name,
            "codedesc": self.code.value,
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


@dataclass(slots=True)
class LoadResult:
    """The outcome of loading one rules file."""

    name: str
    errors: list[Diagnostic] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)

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
