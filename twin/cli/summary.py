"""What ``twin run`` prints when a run ends: counts, first alarm, diagnoses, scores."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from twin.contracts import RunReport


def print_summary(report: RunReport, out_dir: Path) -> None:
    """A table of the run, scored against the truth when the report has scores."""
    table = Table(title=f"{report.scenario['name']} — seed {report.seed}, {report.mode}")
    table.add_column("what")
    table.add_column("value", justify="right")
    c, d = report.counts, report.durations
    table.add_row("frames", f"{c.frames:,}")
    for quality, n in c.samples_by_quality.items():
        table.add_row(f"samples {quality}", f"{n:,}")
    table.add_row("failed polls / reconnects", f"{c.failed_polls} / {c.reconnects}")
    table.add_row("plant time", f"{d.plant_s:,.1f} s")
    table.add_row("wall time", f"{d.wall_s:,.1f} s ({d.realtime_factor:g}x real time)")
    table.add_row("faults injected", ", ".join(f"{f.kind}@{f.target}" for f in report.faults) or "none")
    table.add_row(
        "alarms / diagnoses / commands", f"{len(report.alarms)} / {len(report.diagnoses)} / {len(report.commands)}"
    )
    if report.alarms:
        first, rates = report.alarms[0], report.detection.get("alarm_rates", {})
        table.add_row("first alarm", f"{first.t_ms / 1000:g} s: {first.tag} ({first.detector} {first.rule})")
        floods = len(rates.get("flood_periods", []))
        table.add_row("alarm floods", f"{floods} (max {rates.get('per_10_min_max', 0)} new alarms in 10 min)")
    for diagnosis in report.diagnoses[:1] + report.diagnoses[-1:] if len(report.diagnoses) > 1 else report.diagnoses:
        top, path = diagnosis.top, diagnosis.evidence_path
        route = " <- ".join([path[-1].effect, *[step.cause for step in reversed(path)]]) if path else "-"
        table.add_row(f"diagnosis at {diagnosis.t_ms / 1000:g} s ({diagnosis.method})",
                      f"{top.asset} ({top.kind}, {top.score:.2f})" if top else "no candidate")
        table.add_row("  evidence path", route)
    _score_rows(table, report)
    Console().print(table)
    Console().print(f"run directory: {out_dir}")


def _score_rows(table: Table, report: RunReport) -> None:
    """The run scored against the truth: delays from onset, diagnosis hits, quality before and after."""
    s = report.scores
    if s is None:
        return
    applied = sum(1 for c in report.commands if c.status == "applied")
    table.add_row("commands applied", f"{applied} of {len(report.commands)} ({report.scenario['control']['policy']})")

    def secs(value: float | None) -> str:
        return "never" if value is None else f"{value:g} s"

    table.add_row("onset -> alarm / diagnosis", f"{secs(s.detection_delay_s)} / {secs(s.diagnosis_delay_s)}")
    table.add_row("onset -> applied / verified", f"{secs(s.command_delay_s)} / {secs(s.verified_delay_s)}")
    hits = {True: "yes", False: "no", None: "-"}
    table.add_row("diagnosis top-1 / top-3 right", f"{hits[s.top1_correct]} / {hits[s.top3_correct]}")
    if s.analysis_wall_ms_per_alarm is not None:
        table.add_row("analysis wall time per alarm", f"{s.analysis_wall_ms_per_alarm:g} ms")
    q = s.quality
    if q.metric is not None:
        table.add_row(f"{q.metric} pre-fault -> final", f"{_num(q.pre_fault)} -> {_num(q.final)}")


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"
