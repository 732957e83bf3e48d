"""``twin report``: reports of finished runs (registered in :mod:`twin.cli`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from twin.cli.common import command_group

report_app = command_group("Reports of finished runs.")


@report_app.command("html")
def report_html(
    run_dir: Path = typer.Argument(..., help="a run directory (with historian.duckdb and report.json)"),
    out: Optional[Path] = typer.Option(None, help="HTML file (default: RUN_DIR/report.html)"),
) -> None:
    """Write a one-page HTML report of a run, charts embedded."""
    from twin.harness.runview.html import write_html

    console = Console(stderr=True)
    try:
        written = write_html(run_dir, out)
    except (FileNotFoundError, ValueError) as err:
        console.print(f"cannot write the report: {err}", style="red", markup=False, soft_wrap=True)
        raise typer.Exit(2) from None
    console.print(f"wrote {written}")
