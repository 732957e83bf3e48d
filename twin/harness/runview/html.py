"""The one-page HTML report of a run: summary, outcome, charts (embedded PNG), alarms, diagnoses,
commands, ledger and scores. Self-contained: one file, no scripts, no outside resources."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from twin.contracts import RunFiles, by_risk
from twin.harness.runview.charts import chart_series, control_chart_figure, figure_png, rootcause_figure, trends_png
from twin.harness.runview.metrics import METRIC_LABELS, run_metrics
from twin.harness.runview.run import NO_ALARMS, NO_LEDGER, NO_SCORES, RunData, load_run, plant_clock

MAX_ALARM_ROWS = 50
DRAWN_DIAGNOSES = 2  # a picture for the two most at stake; the rest in one table (pages stay short)
TOP_CANDIDATE_ROWS = 5
STYLE = ("body{font-family:sans-serif;max-width:980px;margin:1.5em auto;color:#222}"
         "table{border-collapse:collapse;font-size:13px;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 6px}"
         "th{background:#f2f2f2}img{max-width:100%}.note{color:#8a5a00;font-style:italic}")


def render_html(run: RunData) -> str:
    """The report page as a string."""
    metrics = run_metrics(run)
    parts = [f"<h1>{_e(run.name)} — seed {run.seed}, {_e(run.report['mode'])}, policy {_e(run.policy)}</h1>",
             _table(["what", "value"], _summary_rows(run)),
             "<h2>Injected faults (truth)</h2>",
             _table(["kind", "target", "onset (s)", "magnitude"],
                    [[f["kind"], f["target"], f["onset_s"], f.get("magnitude")] for f in run.faults])
             if run.faults else _note("no fault injected"),
             "<h2>Outcome</h2>",
             _table(["metric", "value"], [[label, _value(getattr(metrics, key), metrics.notes.get(key))]
                                          for key, label in METRIC_LABELS.items()]),
             "<h2>Trends</h2>", _img(trends_png(run, run.chart_elements(6) or ["*"])),
             "<h2>Control charts</h2>", *_charts(run),
             "<h2>Alarms (ISA-18.2)</h2>", _alarms(run),
             "<h2>Diagnoses</h2>", *_diagnoses(run),
             "<h2>Commands</h2>", _commands(run),
             "<h2>Ledger</h2>", _p(run.ledger.summary()) if run.ledger else _note(NO_LEDGER),
             "<h2>Scores against the truth</h2>",
             f"<pre>{_e(json.dumps(run.scores, indent=2))}</pre>" if run.scores else _note(NO_SCORES)]
    body = "\n".join(parts)
    return (f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>{_e(run.name)} — Quality Twin"
            f"</title><style>{STYLE}</style></head><body>\n{body}\n</body></html>\n")


def write_html(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the report page of ``run_dir`` (default: ``RUN_DIR/report.html``)."""
    run = load_run(run_dir)
    path = Path(out) if out else run.run_dir / RunFiles.HTML
    path.write_text(render_html(run), encoding="utf-8")
    return path


def _summary_rows(run: RunData) -> list[list[Any]]:
    counts, durations = run.report["counts"], run.report["durations"]
    rows = [["scenario file", run.report["scenario"].get("file")], ["plant", run.plant],
            ["plant time (s)", durations["plant_s"]], ["frames", counts["frames"]]]
    rows += [[f"samples {q}", n] for q, n in counts.get("samples_by_quality", {}).items()]
    return rows + [["stopped early", run.report.get("stopped_early") or "no"]]


def _charts(run: RunData) -> Iterable[str]:
    onsets = [float(f["onset_s"]) for f in run.faults]
    for element in run.chart_elements():
        try:
            series = chart_series(run, element)
        except ValueError as err:
            yield _note(str(err))
            continue
        yield _img(figure_png(control_chart_figure(series, onsets)))


def _diagnoses(run: RunData) -> Iterable[str]:
    if not run.diagnoses:
        yield _note(run.no_diagnoses_note())
        return
    ranked = by_risk(run.diagnoses)  # highest risk first, then time
    for d in ranked[:DRAWN_DIAGNOSES]:
        if d.severity is not None:
            yield _note(f"{d.id} at {plant_clock(d.t_ms)}: severity {d.severity}, threatens {d.effect}")
        yield _img(figure_png(rootcause_figure(d)))
        yield _table(["asset", "score", "kind", "signal"],
                     [[c.asset, c.score, c.kind, c.signal] for c in d.candidates[:TOP_CANDIDATE_ROWS]])
    if len(ranked) > DRAWN_DIAGNOSES:  # the rest in one table, not a picture each
        yield _note(f"{len(ranked) - DRAWN_DIAGNOSES} more diagnoses:")
        yield _table(["id", "plant time", "most likely cause", "kind", "confidence", "severity"],
                     [[d.id, plant_clock(d.t_ms), d.top.asset if d.top else "-", d.top.kind if d.top else "-",
                       f"{d.confidence:.0%}", d.severity] for d in ranked[DRAWN_DIAGNOSES:]])


def _alarms(run: RunData) -> str:
    """The alarm list (:meth:`RunData.alarm_rows`: ranked by priority, then time), at most MAX_ALARM_ROWS."""
    alarms = run.alarm_rows()
    if not alarms:
        return _note(NO_ALARMS)
    more = _note(f"{len(alarms) - MAX_ALARM_ROWS} more in report.json") if len(alarms) > MAX_ALARM_ROWS else ""
    rated = any(a.get("severity") is not None for a in run.alarms)
    intro = _note("Ranked by priority (the severity, FMEA 1-10, of the customer-facing effect each threatens), then "
                  "by time." if rated else "In time order: the knowledge file rates no effect's severity.")
    header = list(alarms[0])
    return intro + _table(header, [list(a.values()) for a in alarms[:MAX_ALARM_ROWS]]) + more


def _commands(run: RunData) -> str:
    commands = run.commands
    if not commands:
        return _note(run.no_commands_note())
    return _table(["id", "t (s)", "kind", "tag", "value", "status", "reason"],
                  [[c.get("id"), c.get("t_ms", 0) / 1000, c.get("kind"), c.get("tag"), c.get("value"),
                    c.get("status"), c.get("reason")] for c in commands])


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(_value(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _value(value: Any, note: str | None = None) -> str:
    if value is None:
        return note or "—"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _img(png: bytes) -> str:
    return f"<img alt='chart' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"


def _note(text: str) -> str:
    return f"<p class='note'>{_e(text)}</p>"


def _p(text: str) -> str:
    return f"<p>{_e(text)}</p>"


def _e(value: Any) -> str:
    return html.escape(str(value))
