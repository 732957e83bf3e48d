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
    report = run_supply(spec, seed=seed, out_dir=out)
    print_summary(report)
    return report


def print_summary(report: SupplyReport) -> None:
    """A table of the headline scores."""
    s = report.scores
    table = Table(title=f"{report.scenario['name']} — seed {report.seed}, supply chain")
    table.add_column("what", overflow="fold")
    table.add_column("value", justify="right", overflow="fold")
    for d in report.detection:
        found = f"after {d.delay_days:g} d ({d.first_warning['kind']})" if d.detected else "not detected"
        table.add_row(f"fault {d.fault}: {d.kind} at {d.supplier}", found)
        table.add_row("  lots affected / identified / correct",
                      f"{d.lots_affected_truth} / {d.lots_identified} / {d.lots_identified_correct}")
    effort, cost, esc = s["inspection_effort"], s["quality_cost"], s["escapes"]
    table.add_row("samples adaptive / fixed", f"{effort['adaptive_samples']:,} / {effort['fixed_samples']:,} "
                                              f"({effort['samples_change_pct']} %)")
    table.add_row("escapes adaptive / fixed", f"{esc['adaptive']} / {esc['fixed']}")
    table.add_row("quality cost adaptive / fixed", f"{cost['adaptive']:,.0f} / {cost['fixed']:,.0f} "
                                                   f"({cost['change_pct']} %)")
    table.add_row("warnings / tasks", f"{s['warnings']} / {len(report.tasks)}")
    table.add_row("ledger", "verified" if report.ledger["ok"] else f"BROKEN: {report.ledger['reason']}")
    console = Console()
    console.print(table)
    console.print(f"run directory: {report.outputs.get('dir', '')}")
