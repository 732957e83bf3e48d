"""What every command shares: the error console, quiet protocol libraries, a plain-text failure."""

from __future__ import annotations

import logging

import typer
from rich.console import Console

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
