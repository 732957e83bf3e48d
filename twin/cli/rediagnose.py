"""``twin rootcause rediagnose RUN_DIR --knowledge FILE [--json]``: a finished run's diagnoses made again with
another knowledge file, beside the recorded ones (what-if on knowledge).

It registers on ``twin rootcause`` (:data:`twin.cli.rootcause.rootcause_app`) when imported; :mod:`twin.cli`
imports it. Everything is in :func:`twin.harness.runview.rediagnose.rediagnose`: the run's own method and model,
the diagnoses at the times the run made them, the run folder only read.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from twin.cli.common import fail
from twin.cli.rootcause import rootcause_app


@rootcause_app.command("rediagnose")
def rediagnose_cmd(
    run_dir: Path = typer.Argument(..., help="a finished run directory (report.json with diagnoses, historian)"),
    knowledge: Path = typer.Option(..., "--knowledge", help="the knowledge file to diagnose with (YAML)"),
    as_json: bool = typer.Option(False, "--json", help="print JSON (the table, notes and new diagnoses in full)"),
    perturb: bool = typer.Option(False, "--perturb", help="drop and add links as the run's scenario did "
                                                          "(rootcause.knowledge_drop/add) [default: as written]"),
) -> None:
    """Diagnose a run's recorded alarms again with another knowledge file (same method and model, at the times the
    run diagnosed) and print recorded against new most likely cause; the run folder is not written."""
    from twin.harness.runview.rediagnose import rediagnose

    if not knowledge.is_file():
        raise fail(f"--knowledge: no file {knowledge}")
    try:
        result = rediagnose(run_dir, knowledge, perturb=perturb)
    except (FileNotFoundError, ValueError) as err:  # a ConfigError (a bad link, named with its line) is a ValueError
        raise fail(str(err)) from None
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    print_comparison(result.rows(), result.summary(), result.notes)


def print_comparison(rows: list[dict], summary: str, notes: list[str]) -> None:
    """The side-by-side table (a changed most likely cause marked), then the summary and any notes."""
    from rich.table import Table

    out = Console()
    table = Table(title="recorded vs new diagnosis")
    for column in ("diagnosis", "plant time", "alarms", "recorded cause", "conf.", "new cause", "conf. ", "changed"):
        table.add_column(column, overflow="fold", justify="right" if column.startswith("conf") else "left")
    for row in rows:
        style = "bold yellow" if row["changed"] else None
        table.add_row(row["diagnosis"], row["plant time"], row["alarms"] or "-", row["recorded cause"],
                      f"{row['recorded confidence']:.3f}", row["new cause"], f"{row['new confidence']:.3f}",
                      "yes" if row["changed"] else "no", style=style)
    out.print(table)
    out.print(summary, markup=False, highlight=False, soft_wrap=True)
    for note in notes:
        out.print(f"note: {note}", markup=False, highlight=False, soft_wrap=True)
