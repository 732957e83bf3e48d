"""The panels of a run, drawn with Streamlit. Each panel calls ``twin.harness.runview`` and shows what it returns."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from twin.contracts import by_risk
from twin.harness.runview import RunData, load_run
from twin.harness.runview.charts import chart_series, figure_png, rootcause_figure, trends_png
from twin.harness.runview.html import render_html
from twin.harness.runview.metrics import METRIC_LABELS, run_metrics
from twin.harness.runview.rcgraph import diagnosis_sentence, graph_chart
from twin.harness.runview.rediagnose import run_graph
from twin.harness.runview.roles import PANEL_TITLES, ROLES, panels_for
from twin.harness.runview.run import NO_ALARMS, NO_GUIDANCE, NO_LEDGER, NO_SCORES, plant_clock
from twin.harness.runview.spcchart import control_chart_spec
from twin.harness.runview.timeline import default_signal, jump_to, linked_timeline_and_chart, timeline_chart
from twin.harness.runview.whatif import FINISHED_NOTE


@st.cache_data(show_spinner=False, max_entries=32)
def _chart_spec(run_dir: str, element: str, mtime: float, focus: tuple[float, float, float] | None = None) -> dict:
    run = load_run(run_dir)
    series = chart_series(run, element)
    return control_chart_spec(series, [float(f["onset_s"]) for f in run.faults], focus).to_dict()


@st.cache_data(show_spinner=False, max_entries=32)
def _timeline_spec(run_dir: str, signal: str, truth: bool, mtime: float,
                   window: tuple[float, float] | None = None) -> dict:
    return timeline_chart(load_run(run_dir), signal, truth=truth, window_s=window).to_dict()


@st.cache_data(show_spinner=False, max_entries=32)
def _linked_spec(run_dir: str, signal: str, element: str, truth: bool, mtime: float,
                 focus: tuple[float, float, float] | None = None) -> dict:
    """The timeline above the trend and the control chart, one cursor and one zoom for the three."""
    return linked_timeline_and_chart(load_run(run_dir), element, truth=truth, signal=signal, focus_s=focus).to_dict()


@st.cache_resource(show_spinner=False, max_entries=8)
def _plant_graph(run_dir: str, mtime: float) -> Any:
    """The knowledge graph the run's diagnoses ranked on (:func:`twin.harness.runview.rediagnose.run_graph`)."""
    return run_graph(load_run(run_dir)).graph


def _jump_key(run: RunData) -> str:
    """Where the run's last jump from the timeline is kept (a :class:`~twin.harness.runview.timeline.Jump`)."""
    return f"timeline-jump-{run.run_dir}"


def _linked_key(run: RunData) -> str:
    """Set by the timeline when it offers the control chart linked under it (the Control charts panel then does
    not draw a second one); the Control charts panel takes it down."""
    return f"chart-linked-{run.run_dir}"


def _chart_choices(run: RunData) -> list[str]:
    """The elements offered for a control chart: those worth one first (:meth:`RunData.chart_elements`)."""
    return run.chart_elements() + [e for e in run.elements if e not in run.chart_elements()]


def _take_jump_element(run: RunData, choices: list[str]) -> None:
    """After a click on the timeline, the control chart takes the event's tag (once)."""
    jump = st.session_state.get(_jump_key(run))
    if jump is not None and st.session_state.pop(f"chart-jump-{run.run_dir}", False) and jump.element in choices:
        st.session_state[f"chart-element-{run.run_dir}"] = jump.element


@st.cache_data(show_spinner=False, max_entries=32)
def _trends_png(run_dir: str, tags: tuple[str, ...], mtime: float) -> bytes:
    return trends_png(load_run(run_dir), tags)


def _mtime(run: RunData) -> float:
    """Cache key part: a rerun into the same directory must not show the old pictures."""
    return run.report_file.stat().st_mtime


def render_run(run: RunData, role: str) -> None:
    """Every panel ``role`` sees, in order, each under its title."""
    st.caption(f"{run.run_dir} — viewed as {ROLES[role].label.lower()}: {ROLES[role].purpose}")  # type: ignore[index]
    for panel in panels_for(role):
        with st.container(key=f"panel-{panel}"):
            st.subheader(PANEL_TITLES[panel])
            RENDERERS[panel](run)


def summary(run: RunData) -> None:
    """Scenario, seed, counts and the injected faults."""
    counts = run.report["counts"]
    st.markdown(f"**{run.name}** ({run.plant}), {run.report['mode']}, control policy {run.policy}")
    cols = st.columns(4)
    cols[0].metric("seed", run.seed)
    cols[1].metric("plant time", f"{run.plant_s:g} s")
    cols[2].metric("frames", f"{counts['frames']:,}")
    cols[3].metric("alarms", len(run.alarms))
    st.write("Injected faults (truth):")
    st.dataframe([{k: f.get(k) for k in ("kind", "target", "onset_s", "magnitude", "rate")} for f in run.faults]
                 or [{"fault": "none"}], hide_index=True)
    if run.report.get("stopped_early"):
        st.warning(f"stopped early: {run.report['stopped_early']}")


def metrics(run: RunData) -> None:
    """Defect rate, detection delay, time to correction (notes where a figure does not apply)."""
    m = run_metrics(run)
    cols = st.columns(3)
    for col, key in zip(cols, ("defect_rate", "detection_delay_s", "time_to_correction_s")):
        value = getattr(m, key)
        col.metric(METRIC_LABELS[key], "—" if value is None else f"{value:.3g}")
        if key in m.notes:
            col.caption(m.notes[key])


def trends(run: RunData) -> None:
    """Raw signals with quality flags and fault onsets (``twin plot``'s picture)."""
    default = list(dict.fromkeys(e.split("[", 1)[0] for e in run.chart_elements()))
    chosen = st.multiselect("tags", run.tags, default=default, key=f"trend-tags-{run.run_dir}")
    if chosen:
        st.image(_trends_png(str(run.run_dir), tuple(chosen), _mtime(run)))


def control_charts(run: RunData) -> None:
    """An individuals chart of one element: limits from the warm-up, rule violations marked. Where the timeline
    above drew it, linked to the events, a note says so instead of a second copy."""
    if st.session_state.pop(_linked_key(run), False):
        st.caption("The control chart is drawn under the timeline above, on its plant-time axis: one cursor and "
                   "one zoom for the events, the trend and the chart; choose its element there (*control chart "
                   "of*). The picture for a report: the HTML export.")
        return
    choices = _chart_choices(run)
    _take_jump_element(run, choices)
    jump = st.session_state.get(_jump_key(run))
    element = st.selectbox("element", choices, key=f"chart-element-{run.run_dir}")
    focus = (jump.window_s[0], jump.event.t_s, jump.window_s[1]) if jump is not None else None
    with st.container(key="control-chart"):
        try:
            st.vega_lite_chart(_chart_spec(str(run.run_dir), element, _mtime(run), focus), width="stretch")
        except ValueError as err:
            st.info(str(err))
        else:
            st.caption("Hover a point for its time, value and the rules it breaks; scroll or drag to zoom and pan. "
                       "The picture for a report: the HTML export.")


def timeline(run: RunData) -> None:
    """Fault onset, alarms, diagnoses and commands on one zoomable plant-time axis, above a signal's trend and
    the control chart of an element, the three linked: one cursor, one zoom; a click on an event jumps there."""
    cols = st.columns([2, 2, 1])
    default = default_signal(run)
    signal = cols[0].selectbox("signal under the events", run.elements,
                               index=run.elements.index(default) if default in run.elements else 0,
                               key=f"timeline-signal-{run.name}")
    choices = _chart_choices(run)
    _take_jump_element(run, choices)  # before the selectbox: a click on an event chose the control chart's tag
    element = cols[1].selectbox("control chart of", choices, key=f"chart-element-{run.run_dir}")
    st.session_state[_linked_key(run)] = True  # the element is chosen here: the Control charts panel says so
    truth = cols[2].checkbox("show the fault onset (truth)", value=True, key=f"timeline-truth-{run.name}")
    jump = st.session_state.get(_jump_key(run))
    window = jump.window_s if jump is not None else None
    focus = (jump.window_s[0], jump.event.t_s, jump.window_s[1]) if jump is not None else None
    try:
        if element is None or signal is None:
            raise ValueError("the run stores no element to chart")
        spec = _linked_spec(str(run.run_dir), signal, element, truth, _mtime(run), focus)
    except ValueError as err:
        st.info(f"No control chart under the timeline: {err}")
        spec = _timeline_spec(str(run.run_dir), signal, truth, _mtime(run), window)
    with st.container(key="control-chart"):
        chosen = st.vega_lite_chart(spec, width="stretch", on_select="rerun", selection_mode="pick",
                                    key=f"timeline-chart-{run.run_dir}")
    selection = (chosen or {}).get("selection", {}).get("pick") or []
    if selection and selection != st.session_state.get(f"timeline-picked-{run.run_dir}"):  # a new click
        st.session_state[f"timeline-picked-{run.run_dir}"] = selection
        picked = jump_to(run, selection, truth=truth)
        if picked is not None:
            st.session_state[_jump_key(run)] = picked
            st.session_state[f"chart-jump-{run.run_dir}"] = True  # the control chart takes the event's tag once
            st.rerun()
    if jump is not None:
        st.info(jump.caption())
        if st.button("Show the whole run", key=f"timeline-whole-{run.run_dir}"):
            del st.session_state[_jump_key(run)]
            st.rerun()
    st.caption("Hover an event for its details; click one to jump there (the charts open on its window, the "
               "control chart on its tag). The three charts share one plant-time axis: scroll or drag on the trend "
               "or the control chart to zoom and pan all three, and a grey rule with the values at that time "
               "follows the cursor through all three (a shared cursor).")


def alarms(run: RunData) -> None:
    """The alarm list with ISA-18.2 states and each alarm's history."""
    if not run.alarms:
        st.info(NO_ALARMS)
        return
    if any(a.get("severity") is not None for a in run.alarms):
        st.caption("Ranked by priority: the severity (FMEA 1-10) of the customer-facing effect each threatens, "
                   "then by time.")
    st.dataframe(run.alarm_rows(), hide_index=True)
    with st.expander("state history"):
        st.dataframe([{"id": a["id"], "plant time": plant_clock(h.get("t_ms")), **{k: v for k, v in h.items()
                                                                                  if k != "t_ms"}}
                      for a in run.alarms for h in a.get("history", [])], hide_index=True)
    st.caption(FINISHED_NOTE)


def detector(run: RunData) -> None:
    """What was monitored and how: the detection summary of the report."""
    st.json(run.detection, expanded=1)


def rootcause(run: RunData) -> None:
    """Each diagnosis: the graph with its evidence path, candidate scores and evidence scores."""
    if run.rootcause_info:
        with st.expander("how diagnoses are made"):
            st.json(run.rootcause_info)
    if not run.diagnoses:
        st.info(run.no_diagnoses_note())
        return
    ranked = by_risk(run.diagnoses)  # highest risk first, then time
    st.dataframe([{"id": d.id, "plant time": plant_clock(d.t_ms), "most likely cause": d.top.asset if d.top else "-",
                   "confidence": round(d.confidence, 2), "severity": d.severity, "alarms": ", ".join(d.alarm_ids)}
                  for d in ranked], hide_index=True)
    picked = st.selectbox("diagnosis to draw", [d.id for d in ranked], key="rootcause_pick")
    d = next(d for d in ranked if d.id == picked)
    risk = f"; severity {d.severity}, threatens {d.effect}" if d.severity is not None else ""
    st.markdown(f"**{d.id}** at {plant_clock(d.t_ms)} for alarms {', '.join(d.alarm_ids)} "
                f"({d.method}, model {d.model_version}{risk})")
    st.markdown(diagnosis_sentence(d))
    try:
        graph = _plant_graph(str(run.run_dir), _mtime(run))
    except (ValueError, FileNotFoundError) as err:  # the knowledge file is gone: the plain picture
        st.caption(f"The plant graph is not available ({err}); the evidence path alone:")
        st.image(figure_png(rootcause_figure(d)))
    else:
        st.altair_chart(graph_chart(graph, d), width="stretch")
        st.caption("A column per unit, causes left of effects; red: the evidence path with each link's evidence "
                   "score; node colour: its role, size: its candidate score; squares are instruments. Hover for "
                   "details, scroll or drag to zoom and pan.")
    st.dataframe([c.model_dump() for c in d.candidates], hide_index=True)
    st.dataframe([s.model_dump() for s in d.evidence_path], hide_index=True)


def commands(run: RunData) -> None:
    """The command log: status, ack and verified effect of each command."""
    if not run.commands:
        st.info(run.no_commands_note())
        return
    st.dataframe([{
        "id": c.get("id"), "t_ms": c.get("t_ms"), "kind": c.get("kind"), "tag": c.get("tag"), "value": c.get("value"),
        "status": c.get("status"), "ack": (c.get("ack") or {}).get("status"),
        "effect": (c.get("verification") or {}).get("outcome"), "reason": c.get("reason"),
        "approved by": c.get("approved_by"),
    } for c in run.commands], hide_index=True)
    if run.policy == "recommend":
        st.caption(FINISHED_NOTE)


def ledger(run: RunData) -> None:
    """Whether the hash-chained ledger verifies."""
    if run.ledger is None:
        st.info(NO_LEDGER)
    elif run.ledger.ok:
        st.success(run.ledger.summary())
    else:
        st.error(run.ledger.summary())


def scores(run: RunData) -> None:
    """Scores against the injected truth, as the run reported them."""
    if run.scores is None:
        st.info(NO_SCORES)
    else:
        st.json(run.scores)


def diagnosis(run: RunData) -> None:
    """For after-sales: the cause most diagnoses name (not only the last), how sure, what it threatens, and the
    chain of evidence of the surest diagnosis that names it, in words."""
    if not run.diagnoses:
        st.info(run.no_diagnoses_note())
        return
    ranked = run.consensus()
    if not ranked:
        st.info(f"The run's {len(run.diagnoses)} diagnoses found no candidate cause.")
        return
    best = ranked[0]
    instrument = " — the measuring instrument, not the process" if best.kind == "sensor" else ""
    st.markdown(f"**Most likely cause:** {best.asset}{instrument}  \n"
                f"named first by {best.count} of {best.total} diagnoses, mean confidence {best.confidence:.0%}")
    if len(ranked) > 1:
        st.markdown("**Also named:** " + ", ".join(f"{c.asset} ({c.count} of {c.total})" for c in ranked[1:4]))
    d = max((d for d in run.diagnoses if d.top is not None and d.top.asset == best.asset),
            key=lambda d: d.confidence)
    if d.uncertain:
        st.warning(f"Not certain: {d.uncertain}")
    if d.severity is not None:
        st.markdown(f"**At stake:** {d.effect} (severity {d.severity} of 10)")
    st.markdown(f"**Evidence** ({d.id}, at {plant_clock(d.t_ms)}):\n"
                + "\n".join(f"1. {s.cause} → {s.effect} (seen in {s.signal})" for s in d.evidence_path))


def guidance(run: RunData) -> None:
    """Repair guidance: what the playbook did or asked for."""
    lines = run.guidance()
    if not lines:
        st.info(NO_GUIDANCE)
    for line in lines:
        st.markdown(f"- {line}")


def exports(run: RunData) -> None:
    """Parquet frames, the report JSON and the one-page HTML report."""
    cols = st.columns(3)
    cols[0].download_button("frames.parquet", run.frames_file.read_bytes(), file_name=f"{run.name}-frames.parquet",
                            mime="application/octet-stream", on_click="ignore")
    cols[1].download_button("report.json", run.report_file.read_bytes(), file_name=f"{run.name}-report.json",
                            mime="application/json", on_click="ignore")
    cols[2].download_button("HTML report", lambda: render_html(run), file_name=f"{run.name}-report.html",
                            mime="text/html", on_click="ignore")


RENDERERS: dict[str, Callable[[RunData], None]] = {
    "summary": summary, "metrics": metrics, "timeline": timeline, "trends": trends, "control_charts": control_charts,
    "alarms": alarms,
    "detector": detector, "rootcause": rootcause, "commands": commands, "ledger": ledger, "scores": scores,
    "diagnosis": diagnosis, "guidance": guidance, "exports": exports,
}
