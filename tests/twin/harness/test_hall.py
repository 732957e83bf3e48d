"""A hall: several lines in one scenario, each with its own PLC and edge; a line in a hall stores exactly what it
stores alone, whatever the backend, and the hall's report adds the lines up."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qtconfig import ConfigError
from tests.conftest import RAY_MISSING, REPO
from tests.support import flat
from twin.cli import app
from twin.contracts import RunFiles
from twin.edge.historian import HistorianReader
from twin.edge.historian_set import HistorianSet
from twin.harness.episode import EpisodeConfig, run_episode
from twin.harness.hall import HALL_REPORT, HallReport, load_hall, run_hall
from twin.harness.scenario import load_scenario

runner = CliRunner()
COATER = REPO / "scenarios" / "coater_blade_drift.yaml"
MOTOR = REPO / "scenarios" / "lines" / "motor_assembly" / "motor_assembly_bearing_lot_spread.yaml"
SECONDS = 20


def hall_file(folder: Path, backend: str = "together", extra: str = "") -> Path:
    """A hall of the coater (scan 100 ms) and two motor lines (scan 200 ms), one with its own seed."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "hall.yaml"
    path.write_text(f"""\
kind: hall
name: test_hall
seed: 3
duration_s: {SECONDS}
backend: {backend}
lines:
  - scenario: {COATER}
  - {{scenario: {MOTOR}, name: motor_a}}
  - {{scenario: {MOTOR}, name: motor_b, seed: 40}}
{extra}""", encoding="utf-8")
    return path


def content(run_dir: Path) -> str:
    with HistorianReader(run_dir / RunFiles.HISTORIAN) as reader:
        return reader.content_hash()


def alone(scenario: Path, seed: int, out: Path) -> str:
    """The historian of one line run on its own, at ``seed``."""
    asyncio.run(run_episode(load_scenario(scenario), EpisodeConfig(seed=seed, out_dir=out, mode="offline",
                                                                    duration_s=SECONDS, lineage=False)))
    return content(out)


@pytest.fixture(scope="module")
def together(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, HallReport]:
    folder = tmp_path_factory.mktemp("hall")
    hall, lines = load_hall(hall_file(folder, extra="partitions: parquet\n"))
    return folder, run_hall(hall, lines, out_dir=folder / "out", mode="offline")


def test_each_line_stores_in_the_hall_exactly_what_it_stores_alone(together, tmp_path: Path) -> None:
    folder, report = together
    assert [line.name for line in report.lines] == ["coater_blade_drift", "motor_a", "motor_b"]
    assert [line.seed for line in report.lines] == [3, 4, 40]  # the hall's seed + index, or the line's own
    for line, scenario in zip(report.lines, (COATER, MOTOR, MOTOR)):
        assert content(Path(line.run_dir)) == alone(scenario, line.seed, tmp_path / line.name), line.name
    # each line scanned at its own period on the hall's clock (the coater faster than the motor line)
    periods = [load_scenario(scenario).scan_ms for scenario in (COATER, MOTOR, MOTOR)]
    assert periods[0] < periods[1]
    frames = [json.loads((Path(line.run_dir) / RunFiles.REPORT).read_text())["counts"]["frames"]
              for line in report.lines]
    assert frames == [SECONDS * 1000 // period for period in periods]


def test_the_hall_report_adds_up_its_lines_and_keeps_them_apart(together) -> None:
    folder, report = together
    on_disk = HallReport.model_validate_json((folder / "out" / HALL_REPORT).read_text())
    assert on_disk == report
    for field in ("tags", "samples", "alarms", "diagnoses", "commands"):
        assert getattr(report, field) == sum(getattr(line, field) for line in report.lines)
    assert report.plant_s == SECONDS and report.plant_per_wall_s > 0
    for line in report.lines:
        run = json.loads((Path(line.run_dir) / RunFiles.REPORT).read_text())
        assert line.samples == run["counts"]["samples"] and line.alarms == len(run["alarms"])
        tags = {row.split(",")[0] for row in (Path(line.run_dir) / RunFiles.TAGS).read_text().splitlines()[1:]}
        assert len(tags) == line.tags
        assert all(alarm["tag"] in tags for alarm in run["alarms"])  # a line's alarms are its own tags'
    assert report.lines[2].faults == ["step motor.bearing_supplier.clearance_spread"]


def test_the_partitions_read_as_one_table_of_every_line(together) -> None:
    folder, report = together
    with HistorianSet(folder / "parquet") as hall:
        assert hall.lines() == sorted(line.name for line in report.lines)
        table = hall.window().to_pydict()
    for line in report.lines:
        assert table["line"].count(line.name) == line.samples


@pytest.mark.slow
def test_a_pool_and_lockstep_over_sockets_store_the_same(together, tmp_path: Path) -> None:
    _, report = together
    hall, lines = load_hall(hall_file(tmp_path / "pool", backend="pool"))
    pooled = run_hall(hall, lines, out_dir=tmp_path / "pool" / "out", mode="offline")
    assert [content(Path(x.run_dir)) for x in pooled.lines] == [content(Path(x.run_dir)) for x in report.lines]
    hall, lines = load_hall(hall_file(tmp_path / "sockets"))
    over_sockets = run_hall(hall, lines, out_dir=tmp_path / "sockets" / "out", mode="lockstep")
    assert [content(Path(x.run_dir)) for x in over_sockets.lines] == [content(Path(x.run_dir)) for x in report.lines]
    ports = [(Path(line.run_dir) / RunFiles.ENDPOINTS).read_text()
             for line in over_sockets.lines]
    assert len(set(ports)) == 3  # each line behind its own PLC, on its own ports


@pytest.mark.slow
def test_lines_as_ray_actors_store_the_same_and_write_their_partitions(together, tmp_path: Path) -> None:
    pytest.importorskip("ray", reason=RAY_MISSING)
    _, report = together
    hall, lines = load_hall(hall_file(tmp_path, backend="ray", extra="partitions: parquet\n"))
    on_ray = run_hall(hall, lines, out_dir=tmp_path / "out", mode="offline")  # a Ray actor per line
    assert [content(Path(x.run_dir)) for x in on_ray.lines] == [content(Path(x.run_dir)) for x in report.lines]
    with HistorianSet(tmp_path / "parquet") as partitions:  # each actor wrote its own line's partition
        assert partitions.lines() == sorted(x.name for x in on_ray.lines)
        rows = partitions.window().to_pydict()["line"]
    assert [rows.count(x.name) for x in on_ray.lines] == [x.samples for x in on_ray.lines]


@pytest.mark.parametrize(("edit", "said"), [
    ("  - {scenario: MOTOR, name: motor_a}", "given twice"),
    ("  - scenario: nowhere.yaml", "lines[3].scenario"),
    ("  - scenario: COATER", "two lines are called ['coater_blade_drift']"),
    ("backend: fast", "backend"),
])
def test_a_bad_hall_is_refused_naming_the_field(tmp_path: Path, edit: str, said: str) -> None:
    path = hall_file(tmp_path)
    text = path.read_text()
    if edit.startswith("backend"):
        text = text.replace("backend: together", edit)
    else:
        text += edit.replace("MOTOR", str(MOTOR)).replace("COATER", str(COATER)) + "\n"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_hall(path)
    assert str(path) in str(err.value) and said in str(err.value)


def test_twin_run_runs_a_hall_and_prints_its_lines(tmp_path: Path) -> None:
    path = hall_file(tmp_path)
    done = runner.invoke(app, ["run", str(path), "--offline", "--duration", "4", "--out", str(tmp_path / "out")],
                         env={"COLUMNS": "200"})
    assert done.exit_code == 0, done.output
    assert "motor_a" in done.output and "motor_b" in done.output and "plant s per wall s" in done.output
    report = HallReport.model_validate_json((tmp_path / "out" / HALL_REPORT).read_text())
    assert report.plant_s == 4 and report.mode == "offline"
    bad = runner.invoke(app, ["run", str(hall_file(tmp_path / "bad", backend="fast"))], env={"COLUMNS": "200"})
    assert bad.exit_code == 2 and "invalid hall" in bad.output


def test_the_shipped_hall_is_valid_and_scenario_check_reads_halls() -> None:
    shipped = REPO / "scenarios" / "halls" / "assembly_hall.yaml"
    hall, lines = load_hall(shipped)
    assert [name for name, _ in lines] == ["coater_blade_drift", "motor_1", "motor_2"]
    checked = runner.invoke(app, ["scenario", "check", str(shipped)], env={"COLUMNS": "200"})
    assert checked.exit_code == 0 and "valid (hall of 3 lines)" in flat(checked.output)
