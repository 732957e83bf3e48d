"""``twin line check|graph|new``, and a line run end to end over real sockets."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from plant_models.line import starter_template_path
from plant_models.line.tools import check_template
from twin.cli import app

runner = CliRunner()

DRIFTING = """\
line: d
assets:
  tank:
    signals:
      sp: {kind: setpoint, range: [0, 100], nominal: 50}
      level:
        range: [0, 60]
        nominal: 50
        lag_s: 1
        inputs: [{from: ambient.temperature, gain: 2}]
environment:
  temperature: {mean: 20, amplitude: 10, period_s: 40, range: [0, 40]}
"""


def test_check_reports_a_signal_that_leaves_its_range(tmp_path: Path) -> None:
    path = tmp_path / "d.yaml"
    path.write_text(DRIFTING, encoding="utf-8")
    result = check_template(path, seconds=60)
    assert not result.ok
    (item,) = result.out_of_range
    assert item.name == "d.tank.level" and item.seen_max > 60 and item.seen_min < 50
    cli = runner.invoke(app, ["line", "check", str(path), "--seconds", "60"])
    assert cli.exit_code == 1 and "out of range d.tank.level" in cli.output


def test_check_passes_the_starter_and_counts_what_it_has() -> None:
    result = check_template(starter_template_path())
    assert result.ok and result.parts > 10
    assert result.counts["stations"] == 1 and result.counts["conditions"] == 3
    assert result.fault_kinds["condition_drift"] == 6


def test_check_names_a_broken_template_and_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(DRIFTING.replace("lag_s: 1", "lag_s: -1"), encoding="utf-8")
    cli = runner.invoke(app, ["line", "check", str(path)])
    assert cli.exit_code == 2
    assert "bad.yaml" in cli.output and "assets.tank.signals.level.lag_s" in cli.output and "(line 9)" in cli.output
    path.write_text(DRIFTING.replace("ambient.temperature", "ambient.pressure"), encoding="utf-8")
    cli = runner.invoke(app, ["line", "graph", str(path), "--out", str(tmp_path / "g.png")])
    assert cli.exit_code == 2 and "unknown input 'ambient.pressure'" in cli.output


def test_graph_draws_the_declared_structure(tmp_path: Path) -> None:
    out = tmp_path / "graph.png"
    cli = runner.invoke(app, ["line", "graph", str(starter_template_path()), "--out", str(out)])
    assert cli.exit_code == 0, cli.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 20_000


def test_new_writes_a_starter_that_checks_and_never_overwrites(tmp_path: Path) -> None:
    cli = runner.invoke(app, ["line", "new", "sealer_7", "--folder", str(tmp_path)])
    assert cli.exit_code == 0, cli.output
    written = tmp_path / "sealer_7.yaml"
    assert "line: sealer_7" in written.read_text() and "# " in written.read_text()
    assert check_template(written, seconds=30).line == "sealer_7"
    again = runner.invoke(app, ["line", "new", "sealer_7", "--folder", str(tmp_path)])
    assert again.exit_code == 2 and "already exists" in again.output
    bad = runner.invoke(app, ["line", "new", "7up", "--folder", str(tmp_path)])
    assert bad.exit_code == 2 and "must be letters" in bad.output


@pytest.mark.slow
def test_a_line_runs_end_to_end_over_sockets_and_is_scored(tmp_path: Path) -> None:
    (tmp_path / "line.yaml").write_text(starter_template_path().read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "scenario.yaml").write_text("""\
name: starter_pump_wear
plant: line
plant_options: {template: line.yaml}
seed: 3
duration_s: 260
scan_ms: 100
faults:
  - {kind: condition_drift, target: starter.coolant, start_s: 130, magnitude: 50, rate: 0.5}
detection:
  warmup_s: 120
  monitor:
    - {name: level, tags: ["starter.coolant.*"], detector: shewhart, rules: [1], L: 8, prewhiten: false}
""", encoding="utf-8")
    cli = runner.invoke(app, ["run", str(tmp_path / "scenario.yaml"), "--out", str(tmp_path / "run")])
    assert cli.exit_code == 0, cli.output
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["faults"][0]["answer"] == "starter.coolant"  # the asset of the condition the fault moved
    assert report["counts"]["samples_by_quality"].get("good", 0) > 0
    assert report["scores"]["detection_delay_s"] is not None  # the flow falls 0.1 L/min per s
    assert report["scores"]["quality"]["metric"] == "starter.press.push_out_force"
    parts = pq.read_table(tmp_path / "run" / report["outputs"]["parts"]).to_pylist()
    assert len(parts) >= 60 and [p["part_id"] for p in parts] == list(range(1, len(parts) + 1))
    assert all(p["bushing_lot"] == (p["part_id"] - 1) // 100 + 1 and p["interference"] > 0 for p in parts)
