"""The interactive control chart: the same limits, flags and spec limits as the picture, on the h:mm:ss axis."""

from __future__ import annotations

import json

from tests.app.fixtures import full_run
from twin.harness.runview.charts import chart_series
from twin.harness.runview.run import load_run
from twin.harness.runview.spcchart import LINES, POINTS, control_chart_spec, line_rows, point_rows


def test_every_mean_is_a_point_with_its_rules_and_every_limit_a_line() -> None:
    run = load_run(full_run())
    element = next(e for e in run.chart_elements() if chart_series(run, e).lsl is not None
                   or chart_series(run, e).usl is not None)  # a quality characteristic with spec limits
    series = chart_series(run, element)
    points = point_rows(series)
    assert [p["value"] for p in points] == series.values.tolist() and len(points) == len(series.t_s)
    beyond = set(series.violations.get(1, []))
    for i, p in enumerate(points):
        assert (p["state"] == POINTS[2]) == (i in beyond)
        assert (p["state"] == POINTS[0]) == (i not in series.flagged)
        assert p["phase"] == ("I" if i < series.n_phase1 else "II")
    across, down = line_rows(series, [20.0], 33.0)
    assert {r["y"] for r in across if r["what"] == LINES[1]} == {series.ucl, series.lcl}
    assert {r["y"] for r in across if r["what"] == LINES[2]} == {v for v in (series.lsl, series.usl) if v is not None}
    assert [(r["what"], r["time"]) for r in down] == [(LINES[3], 20_000.0), (LINES[4], 33_000.0)]
    spec = control_chart_spec(series, [20.0], (10.0, 33.0, 60.0)).to_dict()
    text = json.dumps(spec)
    assert "%H:%M:%S" in text and "[10000.0, 60000.0]" in text  # the clock axis, opened on the jump's window
    assert element in text and "Phase I" in text
    capability = series.capability()
    assert capability is not None and capability.text() in text
