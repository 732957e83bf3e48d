"""One timeline per run: what happened, on one plant-time axis, above the signal it happened to.

Lanes, top to bottom: the fault onset (the injected truth; hideable), alarms, diagnoses (their most likely cause
and confidence) and commands (their value, outcome and verified effect). Below them, the trend of one signal on
the same axis — by default the quality characteristic the first alarm threatened, else the first alarmed tag.
The chart is interactive (Vega-Lite through Altair, which Streamlit draws): hover an event for its details,
drag on the trend to zoom both, a rule follows the cursor across both (a shared cursor), click an event to jump
there (:func:`jump_to`: the charts open on its window, the control chart on its tag). Times read h:mm:ss.
:func:`linked_timeline_and_chart` adds the control chart of an element below, in the same cursor and zoom;
:func:`linked_overlays` is Compare's A vs B view (raw signal and control chart, one cursor and zoom for both).

>>> rows = [TimelineEvent(12.0, "alarms", "A00001 coater.coolant.flow", "shewhart 1").row()]
>>> rows[0]["lane"], rows[0]["clock"]
('alarms', '12.0 s')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twin.contracts import RunFiles
from twin.edge.historian import HistorianReader
from twin.harness.runview.run import RunData, plant_clock
from twin.harness.runview.spcchart import cursor_layers, run_colours, shared_vconcat, time_cursor, time_x

LANES = ("fault (truth)", "alarms", "diagnoses", "commands")
JUMP_HALF_WINDOW_S = 60.0  # a click on an event shows this long either side of it
ONE_OF = {"fault (truth)": "the fault onset", "alarms": "alarm", "diagnoses": "diagnosis", "commands": "command"}
EPOCH = "1970-01-01T00:00:00Z"  # plant time 0 on Vega-Lite's time axis (formatted h:mm:ss, never as a date)


@dataclass(frozen=True)
class TimelineEvent:
    """One mark on the timeline: plant seconds, its lane, a label, and the details a hover shows."""

    t_s: float
    lane: str
    label: str
    detail: str = ""

    def row(self) -> dict[str, Any]:
        """The event as a chart row (``time`` is plant time on Vega-Lite's time axis)."""
        return {"t_s": self.t_s, "time": self.t_s * 1000, "clock": plant_clock(self.t_s * 1000), "lane": self.lane,
                "label": self.label, "detail": self.detail}


def timeline_events(run: RunData, *, truth: bool = True) -> list[TimelineEvent]:
    """The run's events in time order: fault onsets (with ``truth``), alarms, diagnoses, commands."""
    events = [TimelineEvent(float(f["onset_s"]), LANES[0], f"{f['kind']} on {f['target']}",
                            f"magnitude {f.get('magnitude')}") for f in run.faults] if truth else []
    for a in run.alarms:
        risk = f"; severity {a['severity']} ({a['effect']})" if a.get("severity") is not None else ""
        events.append(TimelineEvent(a["t_ms"] / 1000, LANES[1], f"{a['id']} {a['tag']}",
                                    f"{a['detector']} {a['rule']}, {a['state']}{risk}"))
    for d in run.diagnoses:
        top = f"{d.top.asset} ({d.top.kind})" if d.top else "no candidate"
        events.append(TimelineEvent(d.t_ms / 1000, LANES[2], f"{d.id}: {top}",
                                    f"confidence {d.confidence:.0%}, {d.method}"
                                    + (f"; uncertain: {d.uncertain}" if d.uncertain else "")))
    for c in run.commands:
        verified = (c.get("verification") or {}).get("effect")
        effect = f", verified effect {verified:.0%}" if isinstance(verified, int | float) else ""
        events.append(TimelineEvent(c.get("t_ms", 0) / 1000, LANES[3], f"{c.get('id')} {c.get('tag') or ''}",
                                    f"{c.get('kind')} -> {c.get('value')}: {c.get('status')}{effect}"))
    return sorted(events, key=lambda e: (e.t_s, LANES.index(e.lane)))


def default_signal(run: RunData) -> str | None:
    """The signal to show under the events — the quality characteristic, not the fault's own signal: the effect
    the riskiest alarm threatens if the historian holds it, else the first quality characteristic (as the run's
    knowledge file marks them) that alarmed, else the first one stored, else the first alarmed element."""
    effects = [r["threatens"] for r in run.alarm_rows() if r["threatens"] in run.elements]
    if effects:
        return effects[0]
    quality = [e for e in run.elements if e.split("[", 1)[0] in _quality_nodes(run)]
    alarmed = [a["tag"] for a in run.alarms if a["tag"] in quality]
    if alarmed or quality:
        return (alarmed or quality)[0]
    return run.alarms[0]["tag"] if run.alarms else (run.elements[0] if run.elements else None)


def _quality_nodes(run: RunData) -> set[str]:
    """The names the run's knowledge file marks as quality characteristics (none without a knowledge file)."""
    from qtconfig import load_yaml_model
    from rootcause.knowledge import KnowledgeFile

    path = (run.rootcause_info or {}).get("knowledge")
    if not path or not Path(path).is_file():
        return set()
    try:
        return {n.name for n in load_yaml_model(KnowledgeFile, Path(path)).nodes if n.kind == "quality"}
    except ValueError:
        return set()


def signal_rows(run: RunData, element: str, every_ms: int = 1000) -> list[dict[str, Any]]:
    """The element's good samples averaged per ``every_ms``: rows of plant time and value."""
    with HistorianReader(run.run_dir / RunFiles.HISTORIAN) as reader:
        rows = reader.con.execute(
            "SELECT ts_ms // ? * ? AS t, avg(value) FROM samples WHERE tag = ? AND quality = 'good' "
            "GROUP BY t ORDER BY t", [every_ms, every_ms, element]).fetchall()
    return [{"time": int(t), "value": float(v), "clock": plant_clock(t)} for t, v in rows]


@dataclass(frozen=True)
class Jump:
    """Where a click on an event takes the charts: the event, the element to chart (its tag, when it has one)
    and the plant-time window around it."""

    event: TimelineEvent
    element: str | None
    window_s: tuple[float, float]

    def caption(self) -> str:
        """What the page says after the jump."""
        return (f"Jumped to {ONE_OF[self.event.lane]} {self.event.label} at {plant_clock(self.event.t_s * 1000)}: "
                f"the charts show {plant_clock(self.window_s[0] * 1000)} to {plant_clock(self.window_s[1] * 1000)}"
                + (f", the control chart {self.element}" if self.element else ""))


def jump_to(run: RunData, picked: Sequence[dict[str, Any]], *, truth: bool = True,
            half_window_s: float = JUMP_HALF_WINDOW_S) -> Jump | None:
    """The :class:`Jump` for a click on the timeline (``picked``: the chart's ``pick`` selection, rows with the
    event's ``time`` in ms and its ``lane``): the event of that lane nearest that time, its tag if the run charts
    it (an alarm's tag, a command's, a diagnosis's strongest signal) and ``half_window_s`` either side. None when
    nothing was picked."""
    rows = [row for row in picked if isinstance(row, dict) and row.get("time") is not None]
    events = timeline_events(run, truth=truth)
    if not rows or not events:
        return None
    time, lane = float(rows[0]["time"]), rows[0].get("lane")
    event = min(events, key=lambda e: (e.lane != lane, abs(e.t_s * 1000 - time)))
    element = next((e for e in run.elements if e in event.label.split() or e.split("[", 1)[0] in event.label.split()),
                   None) or _diagnosed_signal(run, event)
    end = event.t_s + half_window_s
    return Jump(event, element, (max(0.0, event.t_s - half_window_s), min(run.plant_s, end) if run.plant_s else end))


def _diagnosed_signal(run: RunData, event: TimelineEvent) -> str | None:
    """A diagnosis event's strongest signal of its top candidate, where the run charts it."""
    if event.lane != LANES[2]:
        return None
    for d in run.diagnoses:
        if event.label.startswith(f"{d.id}:") and d.top is not None and d.top.signal in run.elements:
            return d.top.signal
    return None


def event_strip(run: RunData, *, truth: bool = True, window_s: tuple[float, float] | None = None) -> Any:
    """The event lanes of the run (:func:`timeline_events`) on the plant-time axis; a click on an event selects
    it (the ``pick`` selection: :func:`jump_to`); ``window_s`` opens it on that plant-time window."""
    import altair as alt

    events = [e.row() for e in timeline_events(run, truth=truth)]
    lanes = [lane for lane in LANES if any(e["lane"] == lane for e in events)]
    pick = alt.selection_point(on="click", fields=["time", "lane"], empty=False, name="pick")
    return (alt.Chart(alt.Data(values=events)).mark_point(filled=True, size=90)
            .encode(x=_x(window_s), y=alt.Y("lane:N", sort=lanes, title=None),
                    color=alt.Color("lane:N", sort=list(LANES), legend=None),
                    shape=alt.Shape("lane:N", sort=list(LANES), legend=None),
                    tooltip=[alt.Tooltip("clock:N", title="plant time"), "lane:N", "label:N", "detail:N"])
            .properties(height=max(60, 28 * len(lanes)), width="container")).add_params(pick)


def signal_trend(run: RunData, element: str, rows: list[dict[str, Any]], *, zoom: Any, cursor: Any,
                 window_s: tuple[float, float] | None = None) -> Any:
    """The trend of ``element`` (``rows``: :func:`signal_rows`) with the view's ``zoom`` and ``cursor`` on it
    and the cursor's rule and value drawn."""
    import altair as alt

    unit = run.units.get(element, "")
    y = alt.Y("value:Q", title=element + (f" ({unit})" if unit else ""), scale=alt.Scale(zero=False))
    line = (alt.Chart().mark_line(color="#1f5aa6", point=alt.OverlayMarkDef(size=8, opacity=0))
            .encode(x=_x(window_s), y=y,
                    tooltip=[alt.Tooltip("clock:N", title="plant time"), alt.Tooltip("value:Q", format=".4g")])
            .add_params(zoom, cursor))
    return (alt.layer(line, *cursor_layers(None, cursor, y), data=alt.Data(values=rows))
            .properties(height=220, width="container"))


def _x(window_s: tuple[float, float] | None) -> Any:
    """The h:mm:ss plant-time x encoding, opened on ``window_s`` when given."""
    return time_x([window_s[0] * 1000, window_s[1] * 1000] if window_s else None)


def timeline_chart(run: RunData, element: str | None = None, *, truth: bool = True,
                   window_s: tuple[float, float] | None = None) -> Any:
    """The interactive chart: event lanes above the trend of ``element`` (default :func:`default_signal`) on one
    shared time axis; wheel or drag zooms and pans both, a rule follows the cursor across both, a click on an
    event selects it (the ``pick`` selection: :func:`jump_to`); ``window_s`` opens both on that plant-time
    window."""
    import altair as alt

    element = element or default_signal(run)
    strip = event_strip(run, truth=truth, window_s=window_s)
    zoom = alt.selection_interval(bind="scales", encodings=["x"], name="zoom")
    if element is None:
        return strip.add_params(zoom)
    rows = signal_rows(run, element)
    cursor = time_cursor()
    return shared_vconcat(alt.layer(strip, *cursor_layers(rows, cursor)),
                          signal_trend(run, element, rows, zoom=zoom, cursor=cursor, window_s=window_s), x="shared")


def linked_timeline_and_chart(run: RunData, element: str, *, truth: bool = True, signal: str | None = None,
                              focus_s: tuple[float, float, float] | None = None) -> Any:
    """The run's timeline linked to the charts below it, as one chart (Vega-Lite ``vconcat``): the event lanes,
    the trend of ``signal`` (default :func:`default_signal`; none when the run has no signal) and the control
    chart of ``element`` (:func:`~twin.harness.runview.spcchart.control_chart_spec`, its fault onsets only with
    ``truth``). They share one x scale and zoom (wheel or drag on a chart zooms and pans all) and one cursor
    (the ``cursor`` selection: a rule and the values at the plant time under the pointer in every chart); a click
    on an event selects it (``pick``: :func:`jump_to`). ``focus_s`` ``(start, event, end)`` (a :class:`Jump`'s
    window and event) opens all on that window, the event marked on the control chart. Raises ValueError when
    ``element`` cannot be charted (:func:`~twin.harness.runview.charts.chart_series`)."""
    import altair as alt

    from twin.harness.runview.charts import chart_series
    from twin.harness.runview.spcchart import control_chart_spec, point_rows

    series = chart_series(run, element)
    signal = signal or default_signal(run)
    window = (focus_s[0], focus_s[2]) if focus_s else None
    zoom = alt.selection_interval(bind="scales", encodings=["x"], name="zoom")
    cursor = time_cursor()
    chart = control_chart_spec(series, [float(f["onset_s"]) for f in run.faults] if truth else [], focus_s,
                               cursor=cursor, zoom=zoom, height=260)
    views = [chart]
    grid = point_rows(series)
    if signal is not None:
        rows = signal_rows(run, signal)
        views.insert(0, signal_trend(run, signal, rows, zoom=zoom, cursor=cursor, window_s=window))
        grid = rows
    strip = alt.layer(event_strip(run, truth=truth, window_s=window), *cursor_layers(grid, cursor))
    independent = {channel: "independent" for channel in ("color", "shape", "size", "stroke", "strokeDash")}
    return shared_vconcat(strip, *views, x="shared", **independent)


def overlay_chart(runs: dict[str, RunData], element: str, *, truth: bool = True, cursor: Any = None,
                  zoom: Any = None) -> Any:
    """Several runs' trend of ``element`` on one plant-time axis (A vs B), each its own colour, with its fault
    onsets as dashed rules (only with ``truth``); wheel or drag zooms, hover reads every run at that time.
    ``cursor`` (:func:`~twin.harness.runview.spcchart.time_cursor`) and ``zoom`` are shared with other charts of
    a view (:func:`linked_overlays`)."""
    import altair as alt

    rows, onsets = [], []
    for name, run in runs.items():
        rows += [{**r, "run": name} for r in signal_rows(run, element)]
        onsets += [{"time": float(f["onset_s"]) * 1000, "run": name, "clock": plant_clock(float(f["onset_s"]) * 1000),
                    "fault": f"{f['kind']} on {f['target']}"} for f in run.faults] if truth else []
    unit = next((r.units.get(element, "") for r in runs.values() if r.units.get(element)), "")
    cursor = cursor if cursor is not None else time_cursor("overlay_cursor")
    zoom = zoom if zoom is not None else alt.selection_interval(bind="scales", encodings=["x"], name="overlay_zoom")
    colour = alt.Color("run:N", scale=run_colours(list(runs)), title="run")
    y = alt.Y("value:Q", title=element + (f" ({unit})" if unit else ""), scale=alt.Scale(zero=False))
    lines = alt.Chart().mark_line(point=alt.OverlayMarkDef(size=8, opacity=0)).encode(
        x=_x(None), y=y, color=colour,
        tooltip=["run:N", alt.Tooltip("clock:N", title="plant time"), alt.Tooltip("value:Q", format=".4g")],
    ).add_params(zoom, cursor)
    layers = [lines, *cursor_layers(None, cursor, y, label="run")]
    if onsets:
        layers.append(alt.Chart(alt.Data(values=onsets)).mark_rule(strokeDash=[4, 3])
                      .encode(x="time:T", color=colour, tooltip=["run:N", "fault:N", "clock:N"]))
    return alt.layer(*layers, data=alt.Data(values=rows)).properties(height=260, width="container")


def linked_overlays(runs: dict[str, RunData], element: str, *, truth: bool = True) -> tuple[Any, list[str]]:
    """Compare's A vs B view as one chart (Vega-Lite ``vconcat``): the runs' raw trend of ``element``
    (:func:`overlay_chart`) above their control charts of it on one axis
    (:func:`~twin.harness.runview.spcchart.overlay_control_chart`), sharing one x zoom and one cursor (the
    ``cursor`` selection: a rule and each run's value at the plant time under the pointer, in both), each run the
    same colour in both; fault onsets only with ``truth``. Also returns why a run has no control chart (then the
    control chart overlays the others, or is left out when none can be charted)."""
    import altair as alt

    from twin.harness.runview.charts import chart_series
    from twin.harness.runview.spcchart import overlay_control_chart

    zoom = alt.selection_interval(bind="scales", encodings=["x"], name="zoom")
    cursor = time_cursor()
    series, notes, onsets = {}, [], {}
    for name, run in runs.items():
        try:
            series[name] = chart_series(run, element)
        except ValueError as err:
            notes.append(f"{name}: no control chart ({err})")
        onsets[name] = [float(f["onset_s"]) for f in run.faults]
    views = [overlay_chart(runs, element, truth=truth, cursor=cursor, zoom=zoom)]
    if series:
        views.append(overlay_control_chart(series, onsets if truth else None, cursor=cursor, zoom=zoom))
    independent = {channel: "independent" for channel in ("stroke", "strokeDash")}
    return shared_vconcat(*views, x="shared", color="shared", **independent), notes
