"""``lanner dump -e FILE [-p FORMAT] [FILTER]``: print a capture's events as ``sysdig -r``.

Each event shown is printed as sysdig's default line (``default_line``), or with ``-p`` in
a format of ``%field`` tokens as sysdig's ``-p`` (and Falco's outputs): an event is
printed only when every field of the format has a value, unless the format starts with
``*``; ``\t`` and ``\n`` stand for a tab and a newline. FILTER is a Falco condition over
the syscall source's fields, compiled by the rule engine.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

Predicate = Callable[[Any], bool]


def compile_filter(
    words: tuple[str, ...] | list[str] | str | None, store: Any = None
) -> Predicate | None:
    """Compile a Falco condition against the syscall source (None for no filter); its
    container fields read ``store`` (a MetadataStore).

    Raises :class:`click.BadParameter` with the engine's message on a bad condition.
    """
    text = words if isinstance(words, str) else " ".join(words or ())
    if not text.strip():
        return None
    from lanner.engine.compiler import ConditionCompiler
    from lanner.engine.parser import parse_condition
    from lanner.exceptions import CompileError, ConditionSyntaxError
    from lanner.sources.syscall import syscall_source

    src = syscall_source(store)
    try:
        expr = parse_condition(text)
        return ConditionCompiler(src.fields, src.event_type_field, src.event_types).compile(expr)
    except (ConditionSyntaxError, CompileError) as exc:
        raise click.BadParameter(f"{exc}", param_hint="FILTER") from exc


def compile_format(fmt: str, store: Any = None) -> Callable[[Any], str | None]:
    """sysdig's ``-p FORMAT`` as ``event -> line``, None when the event is not printed.

    Raises :class:`click.BadParameter` naming the bad token.
    """
    from lanner.engine.compiler import ConditionCompiler
    from lanner.engine.formatter import compile_template, to_text
    from lanner.exceptions import FormatError
    from lanner.sources.syscall import syscall_source
    from lanner.sources.syscall.dump import is_shown

    print_all = fmt.startswith("*")
    text = (fmt[1:] if print_all else fmt).replace("\\t", "\t").replace("\\n", "\n")
    src = syscall_source(store)
    compiler = ConditionCompiler(src.fields, src.event_type_field, src.event_types)
    try:
        pieces = compile_template(text, compiler).pieces
    except FormatError as exc:
        raise click.BadParameter(str(exc), param_hint="-p") from exc

    def line(event: Any) -> str | None:
        if not is_shown(event):
            return None
        out: list[str] = []
        for piece in pieces:
            if isinstance(piece, str):
                out.append(piece)
                continue
            try:
                value = piece[1](event)
            except Exception:  # one event's broken value is shown as missing
                value = None
            if value is None and not print_all:
                return None
            out.append(to_text(value))
        return "".join(out)

    return line


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-e", "capture", required=True, help="Capture file (.scap, plain or gzip).")
@click.option(
    "-p",
    "fmt",
    help="Output format, as sysdig -p: %field tokens; a leading * also prints events "
    "whose fields are missing (<NA>).",
)
@click.argument("filter_words", nargs=-1, metavar="[FILTER]")
def dump(capture: str, fmt: str | None, filter_words: tuple[str, ...]) -> None:
    """Print the events of a capture file, one line each, like ``sysdig -r FILE [FILTER]``."""
    from lanner.exceptions import ScapError
    from lanner.sources.syscall.containers.store import MetadataStore
    from lanner.sources.syscall.dump import default_line
    from lanner.sources.syscall.pipeline import CaptureFile, SyscallPipeline

    store = MetadataStore()  # the capture's container events fill it: container.* fields
    pred = compile_filter(filter_words, store)
    render = default_line if fmt is None else compile_format(fmt, store)
    out = sys.stdout
    lines: list[str] = []
    try:
        for event in SyscallPipeline(CaptureFile(capture), store):
            if pred is not None and not pred(event):
                continue
            line = render(event)
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
