"""What every command shares: the error console, quiet protocol libraries, a plain-text failure, and the
checks of numeric flags and ports that turn a bad value into that failure."""

from __future__ import annotations

import difflib
import errno
import logging
import math
import socket
from pathlib import Path

import click
import typer
from rich.console import Console
from typer.core import TyperGroup

console = Console(stderr=True)
MAX_PORT = 65535


def quiet_libraries() -> None:
    """Protocol libraries log every connection at INFO; keep the terminal for our output."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for name in ("asyncua", "pymodbus"):
        logging.getLogger(name).setLevel(logging.ERROR)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print an error as plain text (no wrapping, no markup: it may quote a user's file)."""
    console.print(message, style="red", markup=False, soft_wrap=True, highlight=False)
    return typer.Exit(code)


def check_number(flag: str, value: float | None, *, above: float | None = None, at_least: float | None = None,
                 at_most: float | None = None, limit: str = "") -> None:
    """Refuse a numeric flag that is not finite or out of bounds with one line naming it (exit 2); None passes.

    ``above`` is an open lower bound (``above=0``: positive), ``at_least`` and ``at_most`` closed ones;
    ``limit`` says what the upper bound is, in words, when it is not plain.
    """
    if value is None:
        return
    if not isinstance(value, int) and not math.isfinite(value):  # an int is finite (and may be too big for a float)
        wanted = "a finite number"
    elif above is not None and not value > above:
        wanted = "positive" if above == 0 else f"above {above:g}"
    elif at_least is not None and value < at_least:
        wanted = "zero or more" if at_least == 0 else f"at least {at_least:g}"
    elif at_most is not None and value > at_most:
        wanted = limit or f"at most {at_most:g}"
    else:
        return
    shown = value if isinstance(value, int) else f"{value:g}"
    raise fail(f"{flag} must be {wanted}, not {shown}")


def host_port(flag: str, text: str) -> tuple[str, int]:
    """``HOST:PORT`` of a broker flag, the port 1-65535; one line naming the flag otherwise (exit 2)."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) <= MAX_PORT:
        raise fail(f"{flag} must be HOST:PORT with a port from 1 to {MAX_PORT}, not {text!r}")
    return host, int(port)


def password_from(flag: str, path: Path | None) -> str | None:
    """The password a ``--password-file`` holds (stripped), None without the flag; one line when it is missing."""
    if path is None:
        return None
    if not path.is_file():
        raise fail(f"{flag}: no file {path}")
    return path.read_text(encoding="utf-8").strip()


def check_duration(flag: str, seconds: float | None) -> None:
    """A flag of plant seconds: positive, finite and no longer than a scenario may run
    (:data:`twin.harness.scenario.MAX_DURATION_S`); None passes."""
    from twin.harness.scenario import DURATION_LIMIT, MAX_DURATION_S

    check_number(flag, seconds, above=0, at_most=MAX_DURATION_S, limit=DURATION_LIMIT)


def check_port(flag: str, port: int, protocol: str, host: str = "127.0.0.1") -> None:
    """Refuse a TCP port out of 0-65535 (0: any free port), or one ``protocol``'s server could not listen on
    right now (another program has it), with one line naming the flag, the port and the protocol (exit 2)."""
    if not 0 <= port <= MAX_PORT:
        raise fail(f"{flag} must be a TCP port, 0 to {MAX_PORT} (0: any free port), not {port}")
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as asyncio's servers bind: TIME_WAIT is fine
        try:
            sock.bind((host, port))
        except OSError as err:
            why = "in use by another program" if err.errno == errno.EADDRINUSE else (err.strerror or str(err))
            raise fail(f"{flag} {port}: the {protocol} server cannot listen on {host}:{port}: {why}") from None


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
