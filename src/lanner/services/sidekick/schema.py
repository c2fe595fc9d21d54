"""Typed configuration options: one `Opt` per key, parsed from YAML values or env strings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lanner.exceptions import ConfigError, TemplateError

from .alert import Priority
from .template import compile_template


@dataclass(frozen=True)
class Opt:
    """One configuration key: its kind, default and constraints."""

    kind: str  # str int float bool list map priority choice template templates
    default: Any = None
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    secret: bool = False

    def initial(self) -> Any:
        """The default value, with a fresh copy for mutable kinds."""
        if self.kind in ("list",):
            return list(self.default or [])
        if self.kind in ("map", "templates"):
            return dict(self.default or {})
        if self.kind == "priority":
            return None
        return self.default

    def parse(self, path: str, value: Any, from_env: bool = False) -> Any:
        """Coerce `value` (a YAML value, or an env string when `from_env`) or raise."""
        kind = self.kind
        if value is None:
            return self.initial()
        if kind == "str":
            if isinstance(value, bool | dict | list):
                raise ConfigError(path, f"expected a string, got {type(value).__name__}")
            return str(value)
        if kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("true", "1", "yes", "on"):
                return True
            if text in ("false", "0", "no", "off", ""):
                return False
            raise ConfigError(path, f"expected true or false, got {value!r}")
        if kind in ("int", "float"):
            return self._number(path, value)
        if kind == "priority":
            text = str(value).strip()
            if not text:
                return None
            try:
                return Priority.parse(text)
            except ValueError:
                names = "|".join(p.name.lower() for p in Priority)
                raise ConfigError(path, f"{value!r} is not a priority ({names})") from None
        if kind == "choice":
            text = str(value).strip().lower()
            if text not in self.choices:
                raise ConfigError(path, f"{value!r} is not one of {', '.join(self.choices)}")
            return text
        if kind == "template":
            if not str(value).strip():
                return None
            try:
                return compile_template(str(value))
            except TemplateError as exc:
                raise ConfigError(path, str(exc)) from None
        if kind == "list":
            return self._list(path, value)
        if kind in ("map", "templates"):
            mapping = self._map(path, value)
            if kind == "templates":
                out = {}
                for key, text in mapping.items():
                    try:
                        out[key] = compile_template(text)
                    except TemplateError as exc:
                        raise ConfigError(f"{path}.{key}", str(exc)) from None
                return out
            return mapping
        raise ConfigError(path, f"internal: unknown kind {kind}")

    def _number(self, path: str, value: Any) -> int | float:
        if isinstance(value, bool):
            raise ConfigError(path, f"expected a number, got {value!r}")
        try:
            number: int | float = int(value) if self.kind == "int" else float(value)
        except (TypeError, ValueError):
            raise ConfigError(
                path,
                f"expected {'an integer' if self.kind == 'int' else 'a number'}, got {value!r}",
            ) from None
        if self.minimum is not None and number < self.minimum:
            raise ConfigError(path, f"must be at least {self.minimum:g}, got {number}")
        if self.maximum is not None and number > self.maximum:
            raise ConfigError(path, f"must be at most {self.maximum:g}, got {number}")
        return number

    @staticmethod
    def _list(path: str, value: Any) -> list[str]:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
            return [str(v) for v in value]
        raise ConfigError(path, "expected a list of strings or a comma-separated string")

    @staticmethod
    def _map(path: str, value: Any) -> dict[str, str]:
        if isinstance(value, str):
            out: dict[str, str] = {}
            for item in value.split(","):
                if not item.strip():
                    continue
                key, sep, val = item.partition(":")
                if not sep or not key.strip():
                    raise ConfigError(path, f"expected key:value pairs, got {item.strip()!r}")
                out[key.strip()] = val.strip()
            return out
        if isinstance(value, dict):
            for key, val in value.items():
                if isinstance(val, dict | list):
                    raise ConfigError(f"{path}.{key}", "expected a scalar value")
            return {str(k): "" if v is None else str(v) for k, v in value.items()}
        raise ConfigError(path, "expected a mapping or key:value,key:value")


Schema = dict[str, "Opt | Schema"]


def env_name(path: str) -> str:
    """The environment variable of a key path: `slack.webhookurl` → `SLACK_WEBHOOKURL`."""
    return path.replace(".", "_").upper()
