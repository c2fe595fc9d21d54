"""``lanner dump -e FILE [FILTER]``: print a capture's events the way ``sysdig -r`` does.

Each event shown is printed as sysdig's default line (``default_line``); FILTER is a Falco
condition over the syscall source's fields, compiled by the rule engine.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

Predicate = Callable[[Any], bool]


def compile_filter(words: tuple[str, ...] | list[str] | str | None) -> Predicate | None:
    """Compile a Falco condition against the syscall source (None for no filter).

    Raises :class:`click.BadParameter` with the engine's message on a bad condition.
    """
    text = words if isinstance(words, str) else " ".join(words or ())
    if not text.strip():
        return None
    from lanner.engine.compiler import CompileError, ConditionCompiler
    from lanner.engine.parser import ConditionSyntaxError, parse_condition
    from lanner.sources.syscall import syscall_source

    src = syscall_source()
    try:
        expr = parse_condition(text)
        return ConditionCompiler(src.fields, src.event_type_field, src.event_types).compile(expr)
    except (ConditionSyntaxError, CompileError) as exc:
        raise click.BadParameter(f"{exc}", param_hint="FILTER") from exc


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-e", "capture", required=True, help="Capture file (.scap, plain or gzip).")
@click.argument("filter_words", nargs=-1, metavar="[FILTER]")
def dump(capture: str, filter_words: tuple[str, ...]) -> None:
    """Print the events of a capture file, one line each, like ``sysdig -r FILE [FILTER]``."""
    from lanner.sources.syscall import read_capture
    from lanner.sources.syscall.dump import default_line
    from lanner.sources.syscall.scap import ScapError

    pred = compile_filter(filter_words)
    out = sys.stdout
    lines: list[str] = []
    try:
        for event in read_capture(capture):
            if pred is not None and not pred(event):
                continue
            line = default_line(event)
            if line is not None:
                lines.append(line)
                if len(lines) >= 4096:
                    out.write("\n".join(lines) + "\n")
                    lines.clear()
    except ScapError as exc:
        out.write("".join(s + "\n" for s in lines))
        out.flush()
        raise click.ClickException(f"{capture}: {exc}") from exc
    except BrokenPipeError:  # pragma: no cover - `lanner dump | head`
        sys.stderr.close()
        return
    try:
        out.write("".join(s + "\n" for s in lines))
        out.flush()
    except BrokenPipeError:  # pragma: no cover
        sys.stderr.close()
