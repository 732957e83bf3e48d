"""Linked charts: A vs B control charts on one axis, and one shared cursor and x zoom across the charts of a view
(the run view's timeline above its trend and control chart; Compare's raw-signal and control-chart overlays)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import duckdb
import pytest

from tests.app.fixtures import bare_run, full_run
from twin.contracts import RunFiles
from twin.harness.runview.charts import ChartSeries, chart_series
from twin.harness.runview.run import load_run
from twin.harness.runview.spcchart import LINES, overlay_control_chart
from twin.harness.runview.timeline import LANES, linked_overlays, linked_timeline_and_chart

ELEMENT = "coater.blade3.pressure"  # the fault's signal: charted in both fixture runs


def rows(spec: object) -> list[dict]:
    """The rows of every distinct inline data table (``data.values`` and ``datasets``) of a Vega-Lite spec (layers
    drawing the same table repeat it: counted once)."""
    distinct = {json.dumps(t, sort_keys=True): t for t in _tables(spec)}
    return [r for table in distinct.values() for r in table if isinstance(r, dict)]


def _tables(spec: object) -> list[list]:
    found: list[list] = []
    if isinstance(spec, dict):
        for key, value in spec.items():
            if key == "values" and isinstance(value, list):
                found.append(value)
            elif key == "datasets" and isinstance(value, dict):
                found += list(value.values())
            else:
                found += _tables(value)
    elif isinstance(spec, list):
        for item in spec:
            found += _tables(item)
    return found


def view_names(spec: object) -> set[str]:
    """The names of the unit views (a mark and a name) anywhere in a spec."""
    names: set[str] = set()
    if isinstance(spec, dict):
        if "mark" in spec and isinstance(spec.get("name"), str):
            names.add(spec["name"])
        for value in spec.values():
            names |= view_names(value)
    elif isinstance(spec, list):
        for item in spec:
            names |= view_names(item)
    return names


def cursor_rules(view: dict, name: str = "cursor") -> list[dict]:
    """The rule layers of one sub-chart that the ``name`` selection filters (the cursor's vertical rule)."""
    return [layer for layer in view.get("layer", [view]) if _mark(layer) == "rule"
            and any(isinstance(t.get("filter"), dict) and t["filter"].get("param") == name
                    for t in layer.get("transform", []))]


def _mark(layer: dict) -> str | None:
    mark = layer.get("mark")
    return mark.get("type") if isinstance(mark, dict) else mark


def assert_one_shared_cursor_and_zoom(spec: dict, n_views: int) -> dict:
    """One ``cursor`` (pointer over, nearest, on plant time) and one x zoom bound to the scales, both naming only
    views the spec holds; a cursor rule in every sub-chart; x resolved shared. Returns the params by name."""
    assert len(spec["vconcat"]) == n_views
    assert spec["resolve"]["scale"]["x"] == "shared"
    params = {p["name"]: p for p in spec["params"]}
    cursors = [p for p in spec["params"] if p.get("select", {}).get("on") == "pointerover"]
    assert [p["name"] for p in cursors] == ["cursor"]
    cursor = params["cursor"]
    assert cursor["select"] == {"type": "point", "fields": ["time"], "nearest": True, "on": "pointerover"}
    zooms = [p for p in spec["params"] if p.get("bind") == "scales"]
    assert len(zooms) == 1 and zooms[0]["select"] == {"type": "interval", "encodings": ["x"]}
    names = view_names(spec)
    for param in (cursor, zooms[0]):
        assert param["views"] and set(param["views"]) <= names  # no view Altair renamed away
    for view in spec["vconcat"]:
        assert cursor_rules(view), f"no cursor rule in {json.dumps(view)[:200]}"
    return params


def synthetic(series: ChartSeries, shift: float, lsl: float | None, usl: float | None) -> ChartSeries:
    """``series`` moved by ``shift`` (its limits too) with the given spec limits: another run's chart."""
    return dataclasses.replace(series, values=series.values + shift, center=series.center + shift,
                               lcl=series.lcl + shift, ucl=series.ucl + shift, lsl=lsl, usl=usl)


def test_a_vs_b_control_chart_puts_both_runs_on_one_axis_each_with_its_own_limits() -> None:
    a = chart_series(load_run(full_run()), ELEMENT)
    b = synthetic(a, 0.25, 7.0, 9.0)
    a = dataclasses.replace(a, lsl=7.5, usl=8.6)
    spec = overlay_control_chart({"A: one": a, "B: two": b}).to_dict()
    data = rows(spec)
    points = [r for r in data if "state" in r]
    for name, series in (("A: one", a), ("B: two", b)):
        mine = [r for r in points if r["run"] == name]
        assert [r["value"] for r in mine] == series.values.tolist()
        assert [r["time"] for r in mine] == (series.t_s * 1000).tolist()
        lines = {(r["what"], r["y"]) for r in data if r.get("run") == name and "y" in r}
        assert lines == {(LINES[0], series.center), (LINES[1], series.ucl), (LINES[1], series.lcl),
                         (LINES[2], series.lsl), (LINES[2], series.usl)}  # different specs: each run's own
        flagged = {i for i, r in enumerate(mine) if r["state"] != "in control"}
        assert flagged == set(series.flagged) and flagged  # the out-of-control points, marked
    assert not [r for r in data if r.get("what") == LINES[3]]  # no onsets unless the caller passes them
    text = json.dumps(spec)
    assert "%H:%M:%S" in text and "A: one vs B: two" in text
    colours = [layer["encoding"]["color"] for layer in spec["layer"] if "color" in layer.get("encoding", {})]
    assert colours and all(c["field"] == "run" and c["scale"]["domain"] == ["A: one", "B: two"] for c in colours)
    assert any(p.get("bind") == "scales" and p["select"]["encodings"] == ["x"] for p in spec["params"])


def test_shared_spec_limits_are_drawn_once_and_onsets_only_when_passed() -> None:
    a = dataclasses.replace(chart_series(load_run(full_run()), ELEMENT), lsl=7.5, usl=8.6)
    b = synthetic(a, -0.1, 7.5, 8.6)
    spec = overlay_control_chart({"A": a, "B": b}, {"A": [20.0], "B": [25.0, 30.0]}).to_dict()
    data = rows(spec)
    specs = [r for r in data if r.get("what") == LINES[2]]
    assert sorted(r["y"] for r in specs) == [7.5, 8.6] and not [r for r in specs if "run" in r]
    onsets = sorted((r["run"], r["time"]) for r in data if r.get("what") == LINES[3])
    assert onsets == [("A", 20_000.0), ("B", 25_000.0), ("B", 30_000.0)]
    assert {r["y"] for r in data if r.get("run") == "B" and r.get("what") == LINES[1]} == {b.ucl, b.lcl}


def test_the_timeline_trend_and_control_chart_share_one_cursor_and_zoom_and_keep_the_pick() -> None:
    run = load_run(full_run())
    series = chart_series(run, ELEMENT)
    spec = linked_timeline_and_chart(run, ELEMENT, truth=True).to_dict()
    params = assert_one_shared_cursor_and_zoom(spec, 3)
    strip, trend, chart = spec["vconcat"]
    assert params["pick"]["select"]["on"] == "click" and params["pick"]["select"]["fields"] == ["time", "lane"]
    assert set(params["pick"]["views"]) <= view_names(strip)  # the click selects an event: jump_to reads it
    cursor_views = set(params["cursor"]["views"])
    assert cursor_views <= view_names(trend) | view_names(chart)  # the pointer over the trend or the chart ...
    assert cursor_views & view_names(trend) and cursor_views & view_names(chart)  # ... moves it in all three
    chart_rows = rows(chart)
    assert {(r["what"], r["y"]) for r in chart_rows if "y" in r and r["what"] != LINES[2]} == {
        (LINES[0], series.center), (LINES[1], series.ucl), (LINES[1], series.lcl)}
    assert [r["time"] for r in chart_rows if r.get("what") == LINES[3]] == [f["onset_s"] * 1000 for f in run.faults]
    assert {r["lane"] for r in rows(strip) if "lane" in r} >= {LANES[0], LANES[1]}
    for channel in ("color", "shape", "stroke"):
        assert spec["resolve"]["scale"][channel] == "independent"  # lanes and point states keep their colours
    hidden = linked_timeline_and_chart(run, ELEMENT, truth=False).to_dict()
    assert not [r for r in rows(hidden) if r.get("lane") == LANES[0] or r.get("what") == LINES[3]]


def test_a_jump_opens_the_linked_charts_on_its_window_with_the_event_marked() -> None:
    run = load_run(full_run())
    spec = linked_timeline_and_chart(run, ELEMENT, focus_s=(10.0, 21.0, 40.0)).to_dict()
    text = json.dumps(spec)
    assert text.count("[10000.0, 40000.0]") >= 3  # every sub-chart opens on the window
    assert [r["time"] for r in rows(spec["vconcat"][2]) if r.get("what") == LINES[4]] == [21_000.0]


def test_compare_overlays_share_one_cursor_and_zoom_and_say_which_run_has_no_chart(tmp_path: Path) -> None:
    a, b = load_run(full_run()), load_run(bare_run())
    chart, notes = linked_overlays({"A": a, "B": b}, ELEMENT)
    spec = chart.to_dict()
    assert notes == []
    assert_one_shared_cursor_and_zoom(spec, 2)
    raw, control = spec["vconcat"]
    assert {r["run"] for r in rows(raw) if "value" in r} == {r["run"] for r in rows(control) if "state" in r} == {
        "A", "B"}
    series = chart_series(a, ELEMENT)
    assert {r["y"] for r in rows(control) if r.get("run") == "A" and r.get("what") == LINES[1]} == {
        series.ucl, series.lcl}
    assert [r for r in rows(spec) if r.get("what") == LINES[3]]  # onsets shown by default ...
    hidden = linked_overlays({"A": a, "B": b}, ELEMENT, truth=False)[0].to_dict()
    assert not [r for r in rows(hidden) if r.get("what") == LINES[3] or "fault" in r]  # ... and hideable
    # B's element does not move in Phase I: no control chart of B, said; A's is still overlaid on the signal
    flat_b = tmp_path / "flat"
    shutil.copytree(bare_run(), flat_b)
    with duckdb.connect(str(flat_b / RunFiles.HISTORIAN)) as con:
        con.execute("UPDATE samples SET value = 8.0 WHERE tag = ?", [ELEMENT])
    chart, notes = linked_overlays({"A": a, "B": load_run(flat_b)}, ELEMENT)
    assert len(notes) == 1 and notes[0].startswith("B: no control chart") and "does not move" in notes[0]
    raw, control = chart.to_dict()["vconcat"]
    assert {r["run"] for r in rows(control) if "state" in r} == {"A"}
    assert {r["run"] for r in rows(raw) if "value" in r} == {"A", "B"}


@pytest.mark.parametrize("element", ["coater.blade1.pressure_sp"])
def test_compare_leaves_out_the_control_chart_when_no_run_can_chart_the_signal(element: str) -> None:
    a, b = load_run(full_run()), load_run(bare_run())
    chart, notes = linked_overlays({"A": a, "B": b}, element)
    assert len(notes) == 2 and len(chart.to_dict()["vconcat"]) == 1
