"""What every command shares: the error console, quiet protocol libraries, a plain-text failure."""

from __future__ import annotations

import difflib
import logging

import click
import typer
from rich.console import Console
from typer.core import TyperGroup

console = Console(stderr=True)


def quiet_libraries() -> None:
    """Protocol libraries log every connection at INFO; keep the terminal for our output."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for name in ("asyncua", "pymodbus"):
        logging.getLogger(name).setLevel(logging.ERROR)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print an error as plain text (no wrapping, no markup: it may quote a user's file)."""
    console.print(message, style="red", markup=False, soft_wrap=True, highlight=False)
    return typer.Exit(code)


class SuggestingGroup(TyperGroup):
    """A command group that answers a misspelled subcommand with the closest one."""

    def resolve_command(self, ctx: click.Context,
                        args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        """Find the subcommand; on an unknown name, say which known one it was probably meant to be."""
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as err:
            name = args[0] if args else ""
            close = difflib.get_close_matches(name, self.list_commands(ctx), n=1, cutoff=0.5)
            if close and not name.startswith("-"):
                raise click.UsageError(f"{err.message} Did you mean {close[0]!r}?", ctx) from None
            raise


def command_group(help: str) -> typer.Typer:  # noqa: A002 - typer's own name for it
    """A typer app whose misspelled subcommands get a suggestion, and that shows help when called bare."""
    return typer.Typer(cls=SuggestingGroup, help=help, no_args_is_help=True)
