"""One progress bar for every long command (``twin run``, ``twin rootcause dataset``, ``twin check``)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


def progress_bar(console: Console, unit: str | None = None) -> Progress:
    """A rich bar: description, bar, done/total, ``unit``, elapsed and remaining time."""
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
    if unit:
        columns.append(TextColumn(unit))
    return Progress(*columns, TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False)
