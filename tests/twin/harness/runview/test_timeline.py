"""One timeline per run: every event on one plant-time axis, truth hideable, above the quality characteristic."""

from __future__ import annotations

import json

from tests.app.fixtures import full_run
from twin.harness.runview.run import load_run
from twin.harness.runview.timeline import LANES, default_signal, timeline_chart, timeline_events


def test_every_event_of_the_run_is_on_its_lane_in_time_order() -> None:
    run = load_run(full_run())
    events = timeline_events(run)
    assert [e.t_s for e in events] == sorted(e.t_s for e in events)
    by_lane = {lane: [e for e in events if e.lane == lane] for lane in LANES}
    assert len(by_lane["alarms"]) == len(run.alarms) and len(by_lane["diagnoses"]) == len(run.diagnoses)
    assert len(by_lane["commands"]) == len(run.commands) and len(by_lane["fault (truth)"]) == len(run.faults) > 0
    assert [e.t_s for e in by_lane["fault (truth)"]] == [f["onset_s"] for f in run.faults]
    top = run.diagnoses[0].top
    assert top is not None and top.asset in by_lane["diagnoses"][0].label
    assert all(e.lane != "fault (truth)" for e in timeline_events(run, truth=False))  # the truth can be hidden


def test_the_chart_shares_one_clock_axis_and_shows_the_quality_characteristic() -> None:
    run = load_run(full_run())
    signal = default_signal(run)
    assert signal is not None and signal in run.elements
    spec = timeline_chart(run).to_dict()
    strip, trend = spec["vconcat"]
    assert spec["resolve"]["scale"]["x"] == "shared"
    text = json.dumps(spec)
    assert "%H:%M:%S" in text and "plant time (h:mm:ss)" in text
    assert any(p.get("select", {}).get("type") == "interval" and p.get("bind") == "scales"
               for p in spec.get("params", []))  # wheel and drag zoom both charts
    assert signal in json.dumps(trend)
    lanes = {row["lane"] for values in _inline_values(spec) for row in values if "lane" in row}
    assert lanes and lanes <= set(LANES)


def test_compare_overlays_two_runs_of_one_signal_on_one_axis() -> None:
    from tests.app.fixtures import bare_run
    from twin.harness.runview.timeline import overlay_chart, signal_rows

    a, b = load_run(full_run()), load_run(bare_run())
    element = "coater.blade3.pressure"
    spec = overlay_chart({"A": a, "B": b}, element).to_dict()
    rows = [row for values in _inline_values(spec) for row in values if "value" in row]
    assert {row["run"] for row in rows} == {"A", "B"}
    assert sum(row["run"] == "A" for row in rows) == len(signal_rows(a, element)) > 0
    assert "%H:%M:%S" in json.dumps(spec) and element in json.dumps(spec)


def _inline_values(spec: object) -> list[list[dict]]:
    """Every inline data table (``data.values``) anywhere in a Vega-Lite spec."""
    found: list[list[dict]] = []
    if isinstance(spec, dict):
        if isinstance(spec.get("values"), list):
            found.append(spec["values"])
        for value in spec.values():
            found += _inline_values(value)
    elif isinstance(spec, list):
        for item in spec:
            found += _inline_values(item)
    return found


def test_a_click_on_an_event_jumps_the_charts_to_its_window_and_tag() -> None:
    from twin.harness.runview.charts import chart_series, control_chart_figure
    from twin.harness.runview.timeline import jump_to

    run = load_run(full_run())
    alarm = next(e for e in timeline_events(run) if e.lane == "alarms")
    jump = jump_to(run, [{"time": alarm.t_s * 1000 + 400, "lane": "alarms"}], half_window_s=30)  # near the mark
    assert jump is not None and jump.event == alarm
    assert jump.element is not None and jump.element in alarm.label  # the alarm's own tag
    assert jump.window_s == (max(0.0, alarm.t_s - 30), min(run.plant_s, alarm.t_s + 30))
    assert "Jumped to alarm" in jump.caption() and jump.element in jump.caption()
    spec = timeline_chart(run, window_s=jump.window_s).to_dict()
    assert [jump.window_s[0] * 1000, jump.window_s[1] * 1000] in _domains(spec)  # both charts open on it
    assert any(p.get("name") == "pick" and p.get("select", {}).get("on") == "click"
               and "lane" in p["select"]["fields"] for p in spec.get("params", []))  # Vega-Lite lifts params up
    figure = control_chart_figure(chart_series(run, jump.element), focus_s=(*jump.window_s[:1], alarm.t_s,
                                                                               jump.window_s[1]))
    assert tuple(figure.axes[0].get_xlim()) == jump.window_s
    assert jump_to(run, []) is None


def _domains(spec: dict) -> list:
    found = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("scale"), dict) and "domain" in node["scale"]:
                found.append(node["scale"]["domain"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(spec)
    return found
