"""Timestamp agreement: a station's inspection records against its part log, on hand-built historians and a run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tests.conftest import REPO
from tests.twin.assets.support import Row, write_historian
from twin.cli import app
from twin.edge.assets.health import historian_health, run_health
from twin.edge.frames import Quality
from twin.edge.historian import HistorianReader
from virtual_plc.tagmap import Tag

PERIOD = 1000  # ms: every tag sampled each second
CYCLE = 8  # samples per part
END = 400  # samples: 50 parts


def station_rows(lag: int, from_sample: int, seed: int) -> dict[str, list[Row]]:
    """A station ``l.st`` logging a new part every 8 s: its id, a per-part result that changes with each part
    (``lag`` samples late from ``from_sample`` on), a lot number (a new lot every 20 parts) and a continuous
    temperature (new at every sample)."""
    rng = np.random.default_rng(seed)
    results = rng.normal(5, 1, END // CYCLE + 2)
    rows: dict[str, list[Row]] = {"l.st.part_id": [], "l.st.result": [], "l.st.bearing_lot": [], "l.st.temp": []}
    for k in range(END):
        part = k // CYCLE + 1
        late = lag if k >= from_sample else 0
        shown = max(0, (k - late)) // CYCLE + 1
        t = k * PERIOD
        rows["l.st.part_id"].append((t, float(part), Quality.GOOD, 0))
        rows["l.st.result"].append((t, float(results[shown]), Quality.GOOD, 0))
        rows["l.st.bearing_lot"].append((t, float((part - 1) // 20 + 1), Quality.GOOD, 0))
        rows["l.st.temp"].append((t, float(rng.normal(40, 0.1)), Quality.GOOD, 0))
    return rows


def agreement_of(tmp_path: Path, rows: dict[str, list[Row]]) -> float | None:
    tags = [Tag(name=name, period_ms=PERIOD) for name in rows]
    path = write_historian(tmp_path / "historian.duckdb", tags, rows)
    with HistorianReader(path) as reader:
        steps = {s.step: s for s in historian_health(reader, "hand-built", plant_s=END * PERIOD / 1000).steps}
    return steps["l.st"].timestamps


@settings(max_examples=15, deadline=None)
@given(lag=st.integers(2, CYCLE - 1), onset_part=st.integers(15, 45), seed=st.integers(0, 1000))
def test_a_record_that_runs_late_agrees_only_on_the_parts_before(tmp_path_factory, lag: int, onset_part: int,
                                                                  seed: int) -> None:
    tmp = tmp_path_factory.mktemp("ts")
    from_sample = onset_part * CYCLE - CYCLE // 2  # mid-part: the next part's record is the first late one
    found = agreement_of(tmp, station_rows(lag, from_sample, seed))
    warm_end = int(END * 0.25) * PERIOD
    parts = [k * CYCLE * PERIOD for k in range(1, END // CYCLE)]  # each new part's log time
    judged = [t for t in parts if t >= warm_end]
    on_time = [t for t in judged if t < from_sample * PERIOD]
    assert found == pytest.approx(len(on_time) / len(judged))


def test_records_on_time_agree_and_lots_and_continuous_signals_are_not_judged(tmp_path: Path) -> None:
    rows = station_rows(0, 0, seed=3)
    assert agreement_of(tmp_path, rows) == 1.0  # the lot number, new every 20 parts, is not held against it
    del rows["l.st.temp"]
    rows["l.st.result"] = [(t, 5.0, q, o) for t, _, q, o in rows["l.st.result"]]  # a result that never moves
    assert agreement_of(tmp_path / "flat", rows) is None  # no per-part record left: nothing to judge


@pytest.mark.slow
def test_a_skewed_test_bench_closes_the_gate_naming_its_station(tmp_path: Path) -> None:
    text = (REPO / "scenarios/lines/motor_assembly/motor_assembly_clean.yaml").read_text()
    text = text.replace("template: line.yaml", f"template: {REPO / 'scenarios/lines/motor_assembly/line.yaml'}")
    text += ("faults:\n  - {kind: sensor_clock_skew, target: motor.eol_test.vibration, start_s: 900, "
             "magnitude: 3}\n")
    (tmp_path / "skew.yaml").write_text(text)
    runner = CliRunner()
    done = runner.invoke(app, ["run", str(tmp_path / "skew.yaml"), "--offline", "--out", str(tmp_path / "run")])
    assert done.exit_code == 0, done.output
    steps = {s.step: s for s in run_health(tmp_path / "run").steps}
    assert steps["motor.eol_test"].weakest() == "timestamps" and steps["motor.eol_test"].timestamps < 0.5
    assert all(s.timestamps == 1.0 for name, s in steps.items() if name != "motor.eol_test")
    gate = runner.invoke(app, ["rootcause", "dataset", "--health-run", str(tmp_path / "run"), "--episodes", "1",
                               "--out", str(tmp_path / "ds.pkl")], env={"COLUMNS": "200"})
    assert gate.exit_code != 0 and "motor.eol_test" in gate.output and "timestamps" in gate.output
