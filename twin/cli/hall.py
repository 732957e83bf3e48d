"""``twin run HALL.yaml``: a hall of several lines (:mod:`twin.harness.hall`), with a progress bar and a table."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from rich.console import Console
from rich.table import Table

from twin.contracts import Mode
from twin.harness.hall import HALL_REPORT, HallReport, load_hall, run_hall
from twin.harness.progress import progress_bar


def run_hall_file(path: Path, seed: Optional[int], out: Optional[Path], mode: Mode,
                  duration: Optional[float]) -> HallReport:
    """Load, run and summarise one hall file (raises ``ConfigError`` on an invalid file or line scenario)."""
    hall, lines = load_hall(path)
    together = hall.backend == "together"
    with progress_bar(Console(), "plant s" if together else "lines") as bar:
        task = bar.add_task(f"{hall.name}: {len(lines)} lines ({mode}, {hall.backend})", total=None)
        scale = 1000 if together else 1

        def show(done: int, total: int) -> None:
            bar.update(task, completed=done / scale, total=total / scale)

        report = run_hall(hall, lines, out_dir=out, mode=mode, seed=seed, duration_s=duration, progress=show)
    print_hall(report, out or Path("runs") / hall.name)
    return report


def print_hall(report: HallReport, out: Path) -> None:
    """One row per line (tags, alarms, diagnoses, commands, the cause it named), the totals, and where it is."""
    table = Table(title=f"hall {report.hall} — seed {report.seed}, {report.mode}, {report.backend}")
    for column in ("line", "tags", "samples", "alarms", "diagnoses", "commands", "named cause", "fault (truth)"):
        table.add_column(column, overflow="fold", justify="right" if column in (
            "tags", "samples", "alarms", "diagnoses", "commands") else "left")
    for line in report.lines:
        table.add_row(line.name, f"{line.tags:,}", f"{line.samples:,}", str(line.alarms), str(line.diagnoses),
                      str(line.commands), line.named_cause or "—", "; ".join(line.faults) or "none")
    table.add_row("hall", f"{report.tags:,}", f"{report.samples:,}", str(report.alarms), str(report.diagnoses),
                  str(report.commands), "", "", style="bold")
    console = Console()
    console.print(table)
    console.print(f"{report.plant_s:g} plant s in {report.wall_s:.1f} wall s: {report.plant_per_wall_s:g} plant s "
                  f"per wall s", soft_wrap=True)
    stopped = [line.name for line in report.lines if line.stopped_early]
    if stopped:
        console.print(f"stopped early: {', '.join(stopped)}", style="yellow")
    console.print(f"hall report: {out / HALL_REPORT}; each line's run folder: {out}/<line>/", soft_wrap=True,
                  markup=False)
