"""The control chart as an interactive chart (Vega-Lite through Altair, which Streamlit draws).

The same chart as :func:`twin.harness.runview.charts.control_chart_figure` (the picture the HTML report keeps):
subgroup means on a plant-time axis in h:mm:ss, the centre line, the control limits and the one- and two-sigma
zones, the Phase I (limits learned) span shaded, the points breaking a rule marked (beyond the limits in red,
run rules 2–8 in orange, each with the rules it breaks), the specification limits of a quality characteristic,
fault onsets (the truth) and the event a jump from the timeline landed on; capability (Cp, Cpk, Ppk with
intervals) in the title. Hover a point for its time, value and rules; scroll or drag to zoom and pan.

:func:`overlay_control_chart` draws several runs' charts of one element on one axis (A vs B). Charts drawn one
above the other (:func:`shared_vconcat`) can share a cursor (:func:`time_cursor`, drawn by :func:`cursor_layers`:
a rule and the values at the plant time under the pointer, in every chart at once) and an x zoom.
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
RUN_COLOURS = ("#1f5aa6", "#8c564b", "#17becf", "#e377c2")  # A, B, ...: apart from the lines' colours


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


def time_x(domain: Any = None) -> Any:
    """The plant-time x encoding every chart here shares: ms on Vega-Lite's time axis, read h:mm:ss."""
    import altair as alt

    return alt.X("time:T", axis=alt.Axis(format="%H:%M:%S", title="plant time (h:mm:ss)"),
                 scale=alt.Scale(domain=domain) if domain is not None else alt.Undefined)


def _value_y(series: ChartSeries) -> Any:
    """The y encoding of a control chart: the element's short name, its unit and the subgroup length."""
    import altair as alt

    unit = f" ({series.unit})" if series.unit else ""
    return alt.Y("value:Q", title=f"{series.element.rsplit('.', 1)[-1]}{unit}, {series.subgroup_s:g} s means",
                 scale=alt.Scale(zero=False))


def time_cursor(name: str = "cursor") -> Any:
    """A shared cursor: the plant time nearest the pointer (an Altair point selection on ``time``). Add it to one
    layer of each chart of a view and draw :func:`cursor_layers` in each: they all follow the pointer at once."""
    import altair as alt

    return alt.selection_point(nearest=True, on="pointerover", fields=["time"], empty=False, name=name)


def cursor_layers(rows: list[dict[str, Any]] | None, cursor: Any, y: Any = None, label: str = "") -> list[Any]:
    """What the shared ``cursor`` draws in one chart: a grey vertical rule at the cursor's time (from ``rows``,
    which carry ``time``; None: the data of the layer they are drawn in) and, with ``y`` (the chart's own y
    encoding of ``value``), each row's value at that time written beside it (prefixed by the row's ``label``
    field, e.g. its run, when given)."""
    import altair as alt

    base = (alt.Chart(alt.Data(values=rows)) if rows is not None else alt.Chart()).transform_filter(cursor)
    layers = [base.mark_rule(color="#888888", strokeWidth=1).encode(x="time:T")]
    if y is not None:
        text = f"datum['{label}'] + ': ' + format(datum.value, '.4g')" if label else "format(datum.value, '.4g')"
        layers.append(base.transform_calculate(reading=text)
                      .mark_text(align="left", dx=6, dy=-8, fontSize=11, fontWeight="bold")
                      .encode(x="time:T", y=y, text="reading:N"))
    return layers


def control_chart_layers(series: ChartSeries, onsets_s: Sequence[float] = (),
                         focus_s: tuple[float, float, float] | None = None) -> list[Any]:
    """The layers of the control chart of ``series``, back to front: Phase I shading, the sigma zones, the
    horizontal lines (centre, control and spec limits), the vertical ones (``onsets_s``, the event of
    ``focus_s``), the line of means and the points (last: the one to add selections to). The line and the points
    draw the data of the layer they are put in: ``point_rows(series)`` (:func:`control_chart_spec`), held once."""
    import altair as alt

    across, down = line_rows(series, onsets_s, focus_s[1] if focus_s else None)
    sigma = series.sigma
    zones = [{"low": series.center - k * sigma, "high": series.center + k * sigma, "zone": f"±{k}σ"} for k in (2, 1)]
    t = series.t_s
    phase1_end = (float(t[series.n_phase1 - 1]) + series.subgroup_s) * 1000 if series.n_phase1 else 0.0
    x = time_x([focus_s[0] * 1000, focus_s[2] * 1000] if focus_s else None)
    y = _value_y(series)
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
    trend = alt.Chart().mark_line(color="#1f5aa6", strokeWidth=0.9).encode(x=x, y=y)
    dots = (alt.Chart().mark_point(filled=True)
            .encode(x=x, y=y, color=alt.Color("state:N", scale=alt.Scale(domain=list(POINTS),
                                                                         range=list(POINT_COLOURS)), title="points"),
                    size=alt.condition(f"datum.state != '{POINTS[0]}'", alt.value(60), alt.value(12)),
                    tooltip=[alt.Tooltip("clock:N", title="plant time"), alt.Tooltip("value:Q", format=".4g"),
                             "state:N", "rules:N", "phase:N"]))
    return [phase, bands, hlines, vlines, trend, dots]


def control_chart_title(series: ChartSeries) -> list[str]:
    """The chart's title lines: what is charted, how many points are flagged, Phase I; its capability."""
    capability = series.capability()
    title = [f"{series.element}: individuals chart of {series.subgroup_s:g} s means, {len(series.flagged)} points "
             f"flagged ({series.rule_set}); shaded: Phase I, where the limits were learned"]
    return title + [capability.text()] if capability else title


def control_chart_spec(series: ChartSeries, onsets_s: Sequence[float] = (),
                       focus_s: tuple[float, float, float] | None = None, *, cursor: Any = None, zoom: Any = None,
                       height: int = 300) -> Any:
    """The interactive control chart of ``series`` (module docstring); ``focus_s`` ``(start, event, end)`` opens
    it on that window with the event marked. ``cursor`` (:func:`time_cursor`) and ``zoom`` (an x interval bound
    to the scales) are selections shared with other charts of a view; without ``zoom`` the chart zooms alone."""
    import altair as alt

    layers = control_chart_layers(series, onsets_s, focus_s)
    zoom = zoom if zoom is not None else alt.selection_interval(bind="scales", encodings=["x"], name="chart_zoom")
    layers[-1] = layers[-1].add_params(zoom, *([cursor] if cursor is not None else []))
    if cursor is not None:
        layers += cursor_layers(None, cursor, _value_y(series))
    title = alt.TitleParams(control_chart_title(series), fontSize=12, anchor="start")
    return (alt.layer(*layers, data=alt.Data(values=point_rows(series)))
            .properties(title=title, width="container", height=height))


def run_colours(names: Sequence[str]) -> Any:
    """One colour per run (A, B, ...), the same in every chart of a comparison: an Altair colour scale."""
    import altair as alt

    return alt.Scale(domain=list(names), range=[RUN_COLOURS[i % len(RUN_COLOURS)] for i in range(len(names))])


def overlay_control_chart(series: dict[str, ChartSeries], onsets: dict[str, Sequence[float]] | None = None, *,
                          cursor: Any = None, zoom: Any = None, height: int = 320) -> Any:
    """Several runs' control charts of one element on one plant-time axis (A vs B): each run's subgroup means in
    its own colour (legend beside the chart), its centre line and control limits (dashed) in that colour, the
    specification limits once when every run has the same ones (black; else each run's in its colour), the
    points breaking a rule ringed (red: beyond the limits, orange: run rules 2–8) and, only when ``onsets`` gives
    them (plant seconds per run; the truth), each run's fault onsets as rules in its colour. Drag or scroll to
    zoom and pan in x; ``cursor`` and ``zoom`` as in :func:`control_chart_spec`."""
    import altair as alt

    if not series:
        raise ValueError("an overlay needs at least one run's chart")
    names = list(series)
    colour = alt.Color("run:N", scale=run_colours(names), title="run")
    lines = [w for w in LINES if w != LINES[4]]
    dash = alt.StrokeDash("what:N", scale=alt.Scale(domain=lines, range=[LINE_DASHES[LINES.index(w)] for w in lines]),
                          title="lines")
    specs = {(s.lsl, s.usl) for s in series.values()}
    shared_spec = len(specs) == 1
    points, own, common, down = [], [], [], []
    for name, s in series.items():
        points += [{**p, "run": name} for p in point_rows(s)]
        across, vertical = line_rows(s, (onsets or {}).get(name, ()), None)
        for row in across:
            row = {**row, "run": name, "label": f"{name}: {row['label']}"}
            if row["what"] != LINES[2] or not shared_spec:
                own.append(row)
            elif name == names[0]:
                common.append({k: v for k, v in row.items() if k != "run"} | {"label": row["label"].split(": ", 1)[1]})
        down += [{**row, "run": name, "label": f"{name}: {row['label']}"} for row in vertical]
    first = series[names[0]]
    x, y = time_x(), _value_y(first)
    base = alt.Chart()  # the points: the layer's data, held once
    zoom = zoom if zoom is not None else alt.selection_interval(bind="scales", encodings=["x"], name="overlay_zoom")
    trend = base.mark_line(strokeWidth=0.9).encode(x=x, y=y, color=colour)
    dots = base.mark_point(filled=True, size=14).encode(
        x=x, y=y, color=colour, tooltip=["run:N", alt.Tooltip("clock:N", title="plant time"),
                                         alt.Tooltip("value:Q", format=".4g"), "state:N", "rules:N", "phase:N"],
    ).add_params(zoom, *([cursor] if cursor is not None else []))
    flagged = (base.transform_filter(f"datum.state != '{POINTS[0]}'")
               .mark_point(filled=False, size=90, strokeWidth=1.6)
               .encode(x=x, y=y, stroke=alt.Stroke("state:N", scale=alt.Scale(domain=list(POINTS[1:]),
                                                                              range=list(POINT_COLOURS[1:])),
                                                   title="out of control"),
                       tooltip=["run:N", alt.Tooltip("clock:N", title="plant time"),
                                alt.Tooltip("value:Q", format=".4g"), "rules:N"]))
    layers = [alt.Chart(alt.Data(values=own)).mark_rule(strokeWidth=1.2).encode(
        y="y:Q", color=colour, strokeDash=dash, tooltip=["label:N"])]
    if common:
        layers.append(alt.Chart(alt.Data(values=common)).mark_rule(color="#000000", strokeWidth=1.3).encode(
            y="y:Q", strokeDash=dash, tooltip=["label:N"]))
    if down:
        layers.append(alt.Chart(alt.Data(values=down)).mark_rule(strokeWidth=1.5).encode(
            x="time:T", color=colour, strokeDash=dash, tooltip=["label:N"]))
    layers += [trend, flagged, dots]
    if cursor is not None:
        layers += cursor_layers(None, cursor, y, label="run")
    title = [f"{first.element}: {' vs '.join(names)}, individuals charts of {first.subgroup_s:g} s means on one "
             "plant-time axis; each run's centre line and control limits (dashed) in its colour"]
    for name, s in series.items():
        capability = s.capability()
        title.append(f"{name}: CL {s.center:.4g}, LCL {s.lcl:.4g}, UCL {s.ucl:.4g}, {len(s.flagged)} points flagged"
                     + (f"; {capability.text()}" if capability else ""))
    return (alt.layer(*layers, data=alt.Data(values=points)).resolve_scale(color="shared")
            .properties(title=alt.TitleParams(title, fontSize=12, anchor="start"), width="container", height=height))


def shared_vconcat(*charts: Any, **resolve: str) -> Any:
    """``charts`` one above the other (Vega-Lite ``vconcat``) sharing their selections (the same cursor and zoom
    added to several charts are one selection over their views), with ``resolve`` as the scale resolution (e.g.
    ``x="shared"``); each shared selection names only views the chart holds (Altair names a layer's view by its
    place in the layer, then renames it by its place in the concatenation, and can leave the first name in a
    selection's ``views``)."""
    import warnings

    import altair as alt

    with warnings.catch_warnings():  # the same selection in several views is the point here, not a mistake
        warnings.filterwarnings("ignore", message="Automatically deduplicated selection parameter")
        chart = alt.vconcat(*charts).resolve_scale(**resolve)
    names: set[str] = set()

    def collect(node: Any) -> None:
        if isinstance(getattr(node, "name", None), str):
            names.add(node.name)
        for key in ("layer", "vconcat", "hconcat", "concat"):
            for child in getattr(node, key, None) or []:
                if not isinstance(child, str):
                    collect(child)

    collect(chart)
    for param in chart.params if isinstance(chart.params, list) else []:
        if isinstance(getattr(param, "views", None), list):
            param.views = [v for v in param.views if v in names]
    return chart
