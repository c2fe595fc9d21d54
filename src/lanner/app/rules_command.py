"""``lanner rules``: test rules against expected alerts, and lint rules files."""

from __future__ import annotations

import sys

import click

from lanner.app.ruletest.junit import write_junit
from lanner.app.ruletest.lint import lint as lint_files
from lanner.app.ruletest.runner import SpecRunner, real_sources
from lanner.app.ruletest.spec import load_spec
from lanner.exceptions import SpecError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def rules() -> None:
    """Test and lint rules files."""


@rules.command("test")
@click.argument("specs", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--junit", "junit_path", type=click.Path(), help="Write a JUnit XML report.")
@click.option("-q", "quiet", is_flag=True, help="Only print failures and the totals.")
def test_cmd(specs: tuple[str, ...], junit_path: str | None, quiet: bool) -> None:
    """Run rule test SPECS (YAML files, or directories of them)."""
    from pathlib import Path

    files: list[Path] = []
    for s in specs:
        p = Path(s)
        files.extend(sorted(p.rglob("*.yaml")) if p.is_dir() else [p])
    try:
        loaded = [load_spec(f) for f in files]
    except SpecError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    runner = SpecRunner()
    results = runner.run(loaded)
    for err in runner.load_errors:
        click.echo(err, err=True)
    failed = [r for r in results if not r.passed]
    for r in results:
        if r.passed and not quiet:
            click.echo(f"PASS {r.spec}:{r.case.line} {r.case.name}")
        elif not r.passed:
            click.echo(f"FAIL {r.spec}:{r.case.line} {r.case.name}\n{r.diff()}")
    click.echo(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    if junit_path:
        write_junit(results, junit_path)
    sys.exit(1 if failed else 0)


@rules.command("lint")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True))
def lint_cmd(files: tuple[str, ...]) -> None:
    """Report load warnings and conditions that can never be true."""
    diags, findings, ok = lint_files(files, real_sources())
    for d in diags:
        click.echo(d.describe())
    for f in findings:
        click.echo(str(f))
    click.echo(
        f"{sum(d.is_error for d in diags)} errors, "
        f"{sum(not d.is_error for d in diags) + len(findings)} warnings"
    )
    sys.exit(0 if ok and not findings else 1)
