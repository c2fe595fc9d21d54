"""What an artifact asks of the engine (its config's ``requirements``, as falcoctl and
the falcosecurity artifacts write them), checked against this Lanner or against a
running one's ``/versions``; and whether its rules files load in Lanner's engine."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from lanner.engine.loader import ENGINE_VERSION
from lanner.exceptions import RequirementError

# plugin names whose events Lanner reads with a built-in source (no plugin to install)
# (container: Falco 0.41+'s container plugin, which falco_rules.yaml requires; Lanner's
# container metadata is built in)
BUILTIN_PLUGINS = frozenset(
    {
        "k8saudit", "k8saudit-eks", "k8saudit-aks", "k8saudit-gke", "json", "cloudtrail",
        "gcpaudit", "container",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class EngineVersions:
    """The engine version to check against, and where it was read."""

    semver: tuple[int, int, int]
    origin: str

    @classmethod
    def local(cls) -> EngineVersions:
        """This Lanner's engine."""
        return cls(ENGINE_VERSION, "this Lanner")

    @classmethod
    def from_url(cls, url: str, token: str | None = None) -> EngineVersions:
        """A running engine's ``/versions`` (Falco's ``falcoversions`` setting)."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            resp = httpx.get(url, headers=headers, timeout=10)
            resp.raise_for_status()
            doc = resp.json()
            return cls(_semver(str(doc["engine_version_semver"])), url)
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            raise RequirementError(f"{url}: cannot read the engine's versions: {exc}") from None


def _semver(text: str) -> tuple[int, int, int]:
    parts = text.strip().lstrip("v").split("-")[0].split(".")
    try:
        nums = [int(p) for p in parts]
    except ValueError:
        raise ValueError(f"not a version: {text!r}") from None
    while len(nums) < 3:
        nums.append(0)
    return nums[0], nums[1], nums[2]


def check_requirements(name: str, config: dict[str, Any], engine: EngineVersions) -> list[str]:
    """Raise RequirementError for an unmet requirement; return notes on what was met."""
    notes = []
    for req in config.get("requirements") or []:
        if not isinstance(req, dict) or "name" not in req:
            raise RequirementError(f"{name}: malformed requirement {req!r}")
        rname, version = str(req["name"]), str(req.get("version", ""))
        if rname in ("engine_version_semver", "engine_version"):
            try:
                want = (0, int(version), 0) if rname == "engine_version" else _semver(version)
            except ValueError as exc:
                raise RequirementError(f"{name}: requirement {rname}: {exc}") from None
            have = engine.semver
            if want[0] != have[0] or want > have:
                raise RequirementError(
                    f"{name}: needs engine {'.'.join(map(str, want))}; {engine.origin} has "
                    f"{'.'.join(map(str, have))}"
                )
            notes.append(f"engine {'.'.join(map(str, want))} <= {'.'.join(map(str, have))}")
        elif rname in BUILTIN_PLUGINS:
            notes.append(f"plugin {rname} {version}: built into Lanner")
        else:
            raise RequirementError(
                f"{name}: requirement {rname} {version} is not something Lanner has "
                f"(it provides the engine and the built-in sources {sorted(BUILTIN_PLUGINS)})"
            )
    return notes


def check_rules_load(files: list[Path]) -> None:
    """Raise RequirementError unless the rules files load without errors in Lanner."""
    from lanner.app.inputs import default_sources  # the sources lanner run has
    from lanner.engine.engine import Engine

    outcome = Engine(default_sources()).load_rules(files)
    if not outcome.successful:
        text = "; ".join(r.as_text(verbose=False) for r in outcome.results if not r.successful)
        raise RequirementError(f"the rules do not load: {text[:2000]}")
