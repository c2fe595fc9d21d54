"""Requirements on plugins Lanner has built in are met without installing anything: the
falco-rules artifact of Falco 0.41+ requires the container plugin (issue 20)."""

from __future__ import annotations

import pytest

from lanner.services.artifact.requirements import (
    EngineVersions,
    RequirementError,
    check_requirements,
)


def test_the_container_plugin_requirement_is_built_in() -> None:
    config = {"requirements": [{"name": "container", "version": "0.4.0"}]}
    notes = check_requirements("falco-rules:5", config, EngineVersions.local())
    assert notes == ["plugin container 0.4.0: built into Lanner"]


def test_a_plugin_lanner_lacks_is_still_refused() -> None:
    config = {"requirements": [{"name": "nomad", "version": "0.1.0"}]}
    with pytest.raises(RequirementError, match=r"requirement nomad 0\.1\.0 is not something"):
        check_requirements("nomad-rules:1", config, EngineVersions.local())
