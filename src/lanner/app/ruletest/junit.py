"""JUnit XML reports of rule tests, the format CI systems display."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

from lanner.app.ruletest.runner import CaseResult


def write_junit(results: list[CaseResult], path: str | Path) -> None:
    """Write one <testsuite> per spec file."""
    by_spec: dict[Path, list[CaseResult]] = defaultdict(list)
    for r in results:
        by_spec[r.spec].append(r)
    root = ET.Element("testsuites", name="lanner rules test")
    for spec, cases in by_spec.items():
        failures = sum(not c.passed for c in cases)
        suite = ET.SubElement(
            root,
            "testsuite",
            name=str(spec),
            tests=str(len(cases)),
            failures=str(failures),
            errors="0",
            time=f"{sum(c.seconds for c in cases):.3f}",
        )
        for c in cases:
            case = ET.SubElement(
                suite, "testcase", name=c.case.name, classname=spec.stem, time=f"{c.seconds:.3f}"
            )
            if not c.passed:
                failure = ET.SubElement(case, "failure", message="; ".join(c.problems))
                failure.text = c.diff()
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
