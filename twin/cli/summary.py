"""What ``twin run`` prints when a run ends: counts, alarms, every diagnosis, commands, scores, and what next.

The table fits the terminal: long values fold onto more lines instead of being cut, and
diagnoses beyond :data:`MAX_DIAGNOSES` are counted, not dropped silently.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from twin.contracts import Diagnosis, RunReport

MAX_DIAGNOSES = 8  # rows of diagnoses before "... and N more"
FLOOD_ALARMS_PER_10_MIN = 10  # ISA-18.2: more than 10 new alarms in 10 minutes is a flood


def print_summary(report: RunReport, out_dir: Path, console: Console | None = None) -> None:
    """A table of the run, scored against the truth when the report has scores, then where to look next."""
    console = console or Console()
    table = Table(title=f"{report.scenario['name']} — seed {report.seed}, {report.mode}")
    table.add_column("what", overflow="fold")
    table.add_column("value", overflow="fold")
    c, d = report.counts, report.durations
    table.add_row("frames", f"{c.frames:,}")
    samples = ", ".join(f"{n:,} {quality}" for quality, n in c.samples_by_quality.items() if n) or "none"
    table.add_row("samples", samples)
    table.add_row("failed polls / reconnects", f"{c.failed_polls} / {c.reconnects}")
    table.add_row("plant time / wall time",
                  f"{d.plant_s:,.1f} s / {d.wall_s:,.1f} s ({d.realtime_factor:g}x real time)")
    table.add_row("faults injected", ", ".join(f"{f.kind} on {f.target} at {f.onset_s:g} s" for f in report.faults)
                  or "none")
    table.add_row("alarms / diagnoses / commands",
                  f"{len(report.alarms)} / {len(report.diagnoses)} / {len(report.commands)}")
    from twin.contracts import by_risk

    _alarm_rows(table, report)
    for i, diagnosis in enumerate(by_risk(report.diagnoses)[:MAX_DIAGNOSES]):  # highest risk first, then time
        _diagnosis_rows(table, diagnosis, with_path=i == 0)
    if len(report.diagnoses) > MAX_DIAGNOSES:
        table.add_row("", f"... and {len(report.diagnoses) - MAX_DIAGNOSES} more diagnoses (report.json)")
    _score_rows(table, report)
    _defect_row(table, out_dir)
    console.print(table)
    run = shlex.quote(str(out_dir))
    for line in (f"run directory: {out_dir}", "next:",
                 f"  twin plot {run} -t TAG ...   (trends, alarms and diagnoses marked)",
                 f"  twin report html {run}   (a one-page report)",
                 f"  twin ledger verify {run}   (the tamper-evident record of alarms and commands)"):
        console.print(line, markup=False, highlight=False, overflow="fold")


def _alarm_rows(table: Table, report: RunReport) -> None:
    """The first alarm and the alarm-flood figures (ISA-18.2)."""
    if not report.alarms:
        return
    first, rates = report.alarms[0], report.detection.get("alarm_rates", {})
    table.add_row("first alarm", f"{first.t_ms / 1000:g} s: {first.tag} ({first.detector} {first.rule})")
    from twin.contracts import by_risk

    riskiest = by_risk(report.alarms)[0]
    if riskiest.severity is not None:
        table.add_row("highest risk", f"severity {riskiest.severity} ({riskiest.effect}): {riskiest.t_ms / 1000:g} s, "
                                      f"{riskiest.tag} ({riskiest.detector} {riskiest.rule})")
    floods, peak = len(rates.get("flood_periods", [])), rates.get("per_10_min_max", 0)
    flood_text = "no flood" if not floods else f"{floods} flood period{'s' if floods > 1 else ''}"
    table.add_row("alarm floods", f"{flood_text} (at most {peak} new alarms in 10 min; a flood is more than "
                                  f"{FLOOD_ALARMS_PER_10_MIN})")


def _diagnosis_rows(table: Table, diagnosis: Diagnosis, *, with_path: bool) -> None:
    """One diagnosis: when, by what, its top candidate; the evidence path of the first one."""
    top = diagnosis.top
    risk = f", severity {diagnosis.severity}" if diagnosis.severity is not None else ""
    table.add_row(f"diagnosis at {diagnosis.t_ms / 1000:g} s ({diagnosis.method}{risk})",
                  (f"{top.asset} ({top.kind}, {top.score:.2f})" if top else "no candidate")
                  + (f"; uncertain: {diagnosis.candidates[1].asset} ({diagnosis.candidates[1].kind}) as likely"
                     if diagnosis.uncertain and len(diagnosis.candidates) > 1 else ""))
    path = diagnosis.evidence_path
    if with_path and path:
        table.add_row("  evidence path", " <- ".join([path[-1].effect, *[step.cause for step in reversed(path)]]))


def _score_rows(table: Table, report: RunReport) -> None:
    """The run scored against the truth: delays from onset, diagnosis hits, quality before and after."""
    s = report.scores
    if s is None:
        return
    applied = sum(1 for c in report.commands if c.status == "applied")
    policy = report.scenario["control"]["policy"]
    table.add_row("commands applied", f"{applied} of {len(report.commands)} (policy {policy})")

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
        table.add_row(f"{q.metric}, pre-fault -> final", f"{_num(q.pre_fault)} -> {_num(q.final)}")


def _defect_row(table: Table, out_dir: Path) -> None:
    """The defect rate the HTML report shows (share of plant seconds out of the quality specification)."""
    from twin.harness.runview.metrics import run_metrics
    from twin.harness.runview.run import load_run

    try:
        metrics = run_metrics(load_run(out_dir))
    except (FileNotFoundError, ValueError):
        return
    rate = metrics.defect_rate
    table.add_row("defect rate", f"{rate:.1%} of plant seconds out of spec" if rate is not None
                  else metrics.notes.get("defect_rate", "-"))


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"
