"""The `lanner` command: one entry point whose subcommands live in their own layers.

Subcommands are imported only when invoked, so `lanner run` never loads the web stack.
"""

from __future__ import annotations

import gc
import importlib
from typing import Any

import click

from lanner.app import quick_exit

# subcommand name -> "module:attribute" of a click.Command
SUBCOMMANDS: dict[str, str] = {
    "run": "lanner.app.run_command:run",
    "rules": "lanner.app.rules_command:rules",
    "sidekick": "lanner.services.sidekick.cli:sidekick",
    "respond": "lanner.services.respond.cli:respond",
    "ui": "lanner.services.ui.cli:ui",
    "generate": "lanner.services.generate.cli:generate",
    "capture": "lanner.app.capture_command:capture",
    "dump": "lanner.app.dump_command:dump",
    "artifact": "lanner.services.artifact.cli:artifact",
}


class LazyGroup(click.Group):
    """A click group that imports each subcommand's module on first use."""

    def main(self, args: Any = None, *rest: Any, **kwargs: Any) -> Any:
        """Run the command line; a finished ``lanner run`` of this process's own command
        line (not a test runner's ``args``) ends without the interpreter's teardown."""
        try:
            return super().main(args, *rest, **kwargs)
        except SystemExit as exc:
            if args is None:
                quick_exit.leave(exc.code)
            raise

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = SUBCOMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        # An import makes modules, classes and functions that live as long as the process:
        # collecting while they are made finds next to nothing (tens of ms for `run`).
        collecting = gc.isenabled()
        gc.disable()
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            raise click.ClickException(
                f"'{cmd_name}' is not available: {exc.name} is not installed"
            ) from exc
        finally:
            if collecting:
                gc.enable()
        return getattr(module, attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lanner")
def main() -> None:
    """Lanner: runtime threat detection and response, compatible with Falco."""
