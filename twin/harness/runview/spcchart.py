"""The control chart as an interactive chart (Vega-Lite through Altair, which Streamlit draws).

The same chart as :func:`twin.harness.runview.charts.control_chart_figure` (the picture the HTML report keeps):
subgroup means on a plant-time axis in h:mm:ss, the centre line, the control limits and the one- and two-sigma
zones, the Phase I (limits learned) span shaded, the points breaking a rule marked (beyond the limits in red,
run rules 2–8 in orange, each with the rules it breaks), the specification limits of a quality characteristic,
fault onsets (the truth) and the event a jump from the timeline landed on; capability (Cp, Cpk, Ppk with
intervals) in the title. Hover a point for its time, value and rules; scroll or drag to zoom and pan.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from twin.harness.runview.charts import ChartSeries
from twin.harness.runview.run import plant_clock

LINES = ("centre line", "control limit", "spec limit", "fault onset (truth)", "the event jumped to")
LINE_COLOURS = ("#2ca02c", "#d62728", "#000000", "#9467bd", "#555555")
LINE_DASHES = ([1, 0], [6, 3], [8, 3, 2, 3], [2, 2], [1, 0])
POINTS = ("in control", "run rule 2–8", "beyond limits")
POINT_COLOURS = ("#1f5aa6", "#ff7f0e", "#d62728")


def point_rows(series: ChartSeries) -> list[dict[str, Any]]:
    """One row per subgroup mean: plant time (ms and h:mm:ss), value, its state and the rules it breaks."""
    broken: dict[int, list[int]] = {}
    for rule, indices in series.violations.items():
        for i in indices:
            broken.setdefault(i, []).append(rule)
    rows = []
    for i, (t, x) in enumerate(zip(series.t_s.tolist(), series.values.tolist())):
        rules = sorted(broken.get(i, []))
        state = POINTS[2] if 1 in rules else POINTS[1] if rules else POINTS[0]
        rows.append({"time": t * 1000, "clock": plant_clock(t * 1000), "value": x, "state": state,
                     "rules": ", ".join(map(str, rules)) or "none", "phase": "I" if i < series.n_phase1 else "II"})
    return rows


def line_rows(series: ChartSeries, onsets_s: Sequence[float], event_s: float | None) -> tuple[list[dict], list[dict]]:
    """Horizontal lines (centre, control and spec limits) and vertical ones (onsets, the jumped-to event)."""
    across = [{"what": LINES[0], "y": series.center, "label": f"CL {series.center:.4g}"}]
    across += [{"what": LINES[1], "y": v, "label": f"{n} {v:.4g}"} for v, n in ((series.ucl, "UCL"),
                                                                                 (series.lcl, "LCL"))]
    across += [{"what": LINES[2], "y": v, "label": f"{n} {v:.4g} (spec)"} for v, n in ((series.lsl, "LSL"),
                                                                                       (series.usl, "USL"))
               if v is not None]
    down = [{"what": LINES[3], "time": t * 1000, "label": f"fault onset {plant_clock(t * 1000)}"} for t in onsets_s]
    if event_s is not None:
        down.append({"what": LINES[4], "time": event_s * 1000, "label": f"the event at {plant_clock(event_s * 1000)}"})
    return across, down


def control_chart_spec(series: ChartSeries, onsets_s: Sequence[float] = (),
                       focus_s: tuple[float, float, float] | None = None) -> Any:
    """The interactive control chart of ``series`` (module docstring); ``focus_s`` ``(start, event, end)`` opens
    it on that window with the event marked."""
    import altair as alt

    points = point_rows(series)
    across, down = line_rows(series, onsets_s, focus_s[1] if focus_s else None)
    sigma = series.sigma
    zones = [{"low": series.center - k * sigma, "high": series.center + k * sigma, "zone": f"±{k}σ"} for k in (2, 1)]
    t = series.t_s
    phase1_end = (float(t[series.n_phase1 - 1]) + series.subgroup_s) * 1000 if series.n_phase1 else 0.0
    domain = [focus_s[0] * 1000, focus_s[2] * 1000] if focus_s else alt.Undefined
    x = alt.X("time:T", axis=alt.Axis(format="%H:%M:%S", title="plant time (h:mm:ss)"), scale=alt.Scale(domain=domain))
    unit = f" ({series.unit})" if series.unit else ""
    y = alt.Y("value:Q", title=f"{series.element.rsplit('.', 1)[-1]}{unit}, {series.subgroup_s:g} s means",
              scale=alt.Scale(zero=False))
    phase = (alt.Chart(alt.Data(values=[{"start": float(t[0]) * 1000 if len(t) else 0.0, "end": phase1_end}]))
             .mark_rect(color="#888888", opacity=0.08).encode(x=alt.X("start:T"), x2="end:T"))
    bands = (alt.Chart(alt.Data(values=zones)).mark_rect(color="#2ca02c", opacity=0.06)
             .encode(y=alt.Y("low:Q"), y2="high:Q", tooltip=["zone:N"]))
    colour = alt.Stroke("what:N", scale=alt.Scale(domain=list(LINES), range=list(LINE_COLOURS)), title="lines")
    dash = alt.StrokeDash("what:N", scale=alt.Scale(domain=list(LINES), range=list(LINE_DASHES)), title="lines")
    hlines = alt.Chart(alt.Data(values=across)).mark_rule().encode(y="y:Q", stroke=colour, strokeDash=dash,
                                                                    tooltip=["label:N"])
    vlines = alt.Chart(alt.Data(values=down)).mark_rule(strokeWidth=1.5).encode(
        x=alt.X("time:T"), stroke=colour, strokeDash=dash, tooltip=["label:N"])
    trend = alt.Chart(alt.Data(values=points)).mark_line(color="#1f5aa6", strokeWidth=0.9).encode(x=x, y=y)
    dots = (alt.Chart(alt.Data(values=points)).mark_point(filled=True)
            .encode(x=x, y=y, color=alt.Color("state:N", scale=alt.Scale(domain=list(POINTS),
                                                                         range=list(POINT_COLOURS)), title="points"),
                    size=alt.condition(f"datum.state != '{POINTS[0]}'", alt.value(60), alt.value(12)),
                    tooltip=[alt.Tooltip("clock:N", title="plant time"), alt.Tooltip("value:Q", format=".4g"),
                             "state:N", "rules:N", "phase:N"]))
    capability = series.capability()
    title = [f"{series.element}: individuals chart of {series.subgroup_s:g} s means, {len(series.flagged)} points "
             f"flagged ({series.rule_set}); shaded: Phase I, where the limits were learned"]
    if capability:
        title.append(capability.text())
    zoom = alt.selection_interval(bind="scales", encodings=["x"], name="chart_zoom")
    return (alt.layer(phase, bands, hlines, vlines, trend, dots.add_params(zoom))
            .properties(title=alt.TitleParams(title, fontSize=12, anchor="start"), width="container", height=300))
