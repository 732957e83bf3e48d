"""``twin check SUITE``: run a scenario suite with score gates; JUnit XML and a JSON summary; exit 1 on a failure."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.console import Console

if TYPE_CHECKING:
    from twin.harness.suite.runner import SuiteResult

console = Console(stderr=True)
out_console = Console()


def check(
    suite_file: Path = typer.Argument(..., help="suite file, e.g. scenarios/suites/smoke.yaml"),
    detector: Optional[str] = typer.Option(None, help="detector plug-in: registered name or module:attr"),
    diagnoser: Optional[str] = typer.Option(None, help="diagnoser plug-in: registered name or module:attr"),
    control_policy: Optional[str] = typer.Option(None, help="control-policy plug-in: registered name or module:attr"),
    jobs: int = typer.Option(1, min=1, help="episodes run at once (worker processes)"),
    backend: Optional[str] = typer.Option(None, help="serial | pool | ray (default: pool when --jobs > 1, else "
                                                    "serial; ray: a local Ray, or the cluster RAY_ADDRESS names)"),
    out: Optional[Path] = typer.Option(None, help="output folder (default runs/check-<suite>)"),
    junit: Optional[Path] = typer.Option(None, help="JUnit XML path (default OUT/junit.xml)"),
    baseline: Optional[Path] = typer.Option(None, help="RUN_DIR of an earlier check: fail on regressions"),
) -> None:
    """Run a suite (scenarios × seeds × overrides) and hold its gates; exit 1 when a gate, an episode or a
    regression fails."""
    from qtconfig import ConfigError
    from twin.harness.progress import progress_bar
    from twin.harness.suite.junit import write_junit
    from twin.harness.suite.runner import JUNIT_FILE, load_baseline, run_suite, write_summary
    from twin.harness.suite.spec import load_suite

    if backend is not None and backend not in ("serial", "pool", "ray"):
        console.print(f"--backend must be serial, pool or ray, not {backend!r}", style="red", markup=False)
        raise typer.Exit(2)
    try:
        suite = load_suite(suite_file)
    except ConfigError as err:
        console.print(f"invalid suite: {err}", style="red", markup=False, soft_wrap=True)
        raise typer.Exit(2) from None
    stored = None
    if baseline is not None:
        try:
            stored = load_baseline(baseline)
        except (FileNotFoundError, ValueError) as err:
            console.print(str(err), style="red", markup=False, soft_wrap=True)
            raise typer.Exit(2) from None
    out = out or Path("runs") / f"check-{suite.name}"
    plugins = {"detector": detector, "diagnoser": diagnoser, "control_policy": control_policy}
    n = sum(len(e.seeds) for e in suite.entries)
    with progress_bar(console, "episodes") as bar:
        task = bar.add_task(f"suite {suite.name} ({jobs} at once)", total=n)
        result = run_suite(suite, out, plugins=plugins, jobs=jobs, baseline=stored, backend=backend,
                           baseline_name=str(baseline) if baseline else None,
                           progress=lambda done, total: bar.update(task, completed=done))
    summary = write_summary(result, out)
    xml = write_junit(result, junit or out / JUNIT_FILE)
    print_result(result)
    out_console.print(f"summary: {summary}\nJUnit:   {xml}")
    if not result.passed:
        raise typer.Exit(1)


def print_result(result: SuiteResult) -> None:
    """Tables: episodes, gates, regressions."""
    from rich.table import Table

    from twin.harness.suite.gates import format_value
    from twin.harness.suite.runner import metric_table

    episodes = Table(title=f"suite {result.suite}: episodes")
    for column in ("episode", "status", "detection delay s", "false alarms/h", "top-1", "wall s", "note"):
        episodes.add_column(column, justify="left" if column in ("episode", "status", "note") else "right",
                            overflow="fold")
    for case in result.cases:
        m = case.metrics
        status = "[red]error[/red]" if case.status != "ok" else ("[red]fail[/red]" if case.failed_gates
                                                                 else "[green]ok[/green]")
        note = case.message.splitlines()[0] if case.message else "; ".join(
            f"{f['gate']}: {format_value(f['value'])}" for f in case.failed_gates)
        episodes.add_row(case.name, status, format_value(m.get("detection_delay_s")),
                         format_value(m.get("false_alarms_per_hour")), format_value(m.get("top1_accuracy")),
                         f"{case.wall_s:.1f}", note)
    out_console.print(episodes)
    gates = Table(title="gates")
    for column in ("gate", "measured", "episodes", "result"):
        gates.add_column(column, overflow="fold")
    for gate in result.gates:
        gates.add_row(gate.gate, format_value(gate.value), str(gate.episodes),
                      "[green]pass[/green]" if gate.passed else "[red]FAIL[/red]")
    out_console.print(gates)
    for regression in result.regressions:
        out_console.print(f"[red]regression[/red] {regression.message}")
    figures = metric_table(result)
    if figures:
        table = Table(title="figures over ok episodes")
        for column in ("metric", "n", "mean", "p50", "p90", "max"):
            table.add_column(column, justify="left" if column == "metric" else "right", overflow="fold")
        for name, row in figures.items():
            table.add_row(name, f"{row['n']:.0f}", *(format_value(row[k]) for k in ("mean", "p50", "p90", "max")))
        out_console.print(table)
    verdict = "[green]PASSED[/green]" if result.passed else "[red]FAILED[/red]"
    out_console.print(f"{verdict} in {result.wall_s:.1f} s")
