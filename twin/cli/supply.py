"""``twin run`` for supply scenarios: run, write the run directory, print a summary."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from rich.console import Console
from rich.table import Table

from twin.harness.supply.report import SupplyReport
from twin.harness.supply.runner import run_supply
from twin.harness.supply.scenario import load_supply_scenario


def run_supply_file(path: Path, seed: Optional[int], out: Optional[Path]) -> SupplyReport:
    """Load, run and summarise one supply scenario (raises ``ConfigError`` on an invalid file)."""
    spec = load_supply_scenario(path)
    report = run_supply(spec, seed=seed, out_dir=out, source=path)
    print_summary(report)
    return report


def print_summary(report: SupplyReport) -> None:
    """A table of the headline scores (:meth:`SupplyReport.summary_rows`)."""
    table = Table(title=f"{report.scenario['name']} — seed {report.seed}, supply chain")
    table.add_column("what", overflow="fold")
    table.add_column("value", justify="right", overflow="fold")
    for what, value in report.summary_rows():
        table.add_row(what, value)
    console = Console()
    console.print(table)
    console.print(f"run directory: {report.outputs.get('dir', '')}")
