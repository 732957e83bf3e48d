"""Lineage: recorded from real runs (a supply chain, the motor assembly line, a coater run) and walked up and down;
every unit reaches the lot it was truly built from, a field failure its lot, supplier and design parameter."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tests.conftest import REPO
from twin.cli import app
from twin.edge.assets.catalogue import Catalogue
from twin.edge.assets.fmea import read_fmea
from twin.edge.assets.lineage import walk
from twin.harness.supply.runner import run_episode, run_supply
from twin.harness.supply.scenario import load_supply_scenario

runner = CliRunner()
WIDE = {"COLUMNS": "200"}
SUPPLY = REPO / "scenarios" / "supply_brake_disc_runout.yaml"
# scenarios/supply_fmea.csv: the line for each failure model of the supply scenarios (read off the sheet)
# scenarios/lines/motor_assembly/fmea.csv: the process FMEA line each field failure mode of the motor line escaped by
MOTOR_FMEA_LINE = {"excess_vibration": "Motor with bearing play passes the vibration test",
                   "seizure": "Mounted radial clearance too small (bearing preloaded)"}
FMEA_LINE = {"coffin_manson": "fmea:supply_fmea#2", "disc_wear": "fmea:supply_fmea#4", "esd": "fmea:supply_fmea#6"}


# ------------------------------------------------------------------ walking a hand-built graph
def catalogue_with(tmp_path: Path, edges: list[tuple[str, str, str]]) -> Catalogue:
    catalogue = Catalogue(tmp_path / "assets.duckdb")
    catalogue.link(edges, run="hand")
    return catalogue


def test_walk_goes_up_down_or_both_to_a_depth_and_a_cycle_ends(tmp_path: Path) -> None:
    edges = [("a", "b", "made"), ("b", "c", "made"), ("c", "d", "made"), ("x", "c", "fed"), ("d", "b", "loops")]
    with catalogue_with(tmp_path, edges) as cat:
        up = walk(cat.con, "c", "upstream")
        assert set(up.nodes()) == {"a", "b", "c", "d", "x"}  # through the cycle d -> b, once
        assert [(s.upstream, s.depth) for s in up.steps if s.depth == 1] == [("b", 1), ("x", 1)]
        assert walk(cat.con, "c", "upstream", depth=1).nodes() == ["c", "b", "x"]
        down = walk(cat.con, "a", "downstream")
        assert set(down.nodes()) == {"a", "b", "c", "d"} and not down.of_kind("x")
        both = walk(cat.con, "b", "both", depth=1)
        assert {(s.near, s.far, s.way) for s in both.steps} == {("b", "a", "upstream"), ("b", "d", "upstream"),
                                                                ("b", "c", "downstream")}
        with pytest.raises(KeyError, match="no lineage recorded for 'nowhere'"):
            walk(cat.con, "nowhere")


def test_the_cli_prints_json_draws_and_names_an_unknown_asset(tmp_path: Path) -> None:
    with catalogue_with(tmp_path, [("lot:L1", "unit:7", "shipped"), ("unit:7", "field_failure:7", "failed_in")]):
        pass
    db = str(tmp_path / "assets.duckdb")
    shown = runner.invoke(app, ["assets", "lineage", "field_failure:7", "--catalogue", db, "--json"], env=WIDE)
    assert shown.exit_code == 0, shown.output
    found = json.loads(shown.output)
    assert [(e["upstream"], e["depth"]) for e in found["edges"]] == [("unit:7", 1), ("lot:L1", 2)]
    drawn = runner.invoke(app, ["assets", "lineage", "lot:L1", "--downstream", "--catalogue", db, "--plot",
                                str(tmp_path / "l.png")], env=WIDE)
    assert drawn.exit_code == 0 and (tmp_path / "l.png").stat().st_size > 1000
    assert "failed_in" in drawn.output and "field_failure:7" in drawn.output
    missing = runner.invoke(app, ["assets", "lineage", "unit:8", "--catalogue", db], env=WIDE)
    assert missing.exit_code == 2 and "no lineage recorded for 'unit:8'" in missing.output


# ------------------------------------------------------------------ a supply run: field failure to design
@pytest.mark.slow
@settings(max_examples=3, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_every_field_failure_reaches_its_true_lot_supplier_and_design(seed: int, tmp_path_factory) -> None:
    spec = load_supply_scenario(SUPPLY)
    out = tmp_path_factory.mktemp("supply")
    run_supply(spec, seed=seed, out_dir=out / "run", transport="inprocess")
    truth = run_episode(spec, seed, True, out / "truth-ledger.jsonl", transport="inprocess")  # the same episode
    lot_of = {int(serial): lot.id for lot in truth.chain.lots.values() if lot.serials is not None
              for serial in lot.serials}
    design = {s.name: f"design:{s.part}/{s.characteristic.name}" for s in spec.chain.suppliers}
    with Catalogue(out / "assets.duckdb") as cat:
        cat.put_fmea(read_fmea(REPO / "scenarios" / "supply_fmea.csv"))  # first: the scan links repairs to it
        cat.scan(out / "run")
        failures = pq.read_table(out / "run" / "returns.parquet").to_pylist()
        assert failures == truth.returns
        for failure in failures:
            serial = failure["serial"]
            up = walk(cat.con, f"field_failure:{serial}")
            lot = truth.chain.lots[lot_of[serial]]
            assert up.of_kind("lot") == [f"lot:{lot.id}"] and up.of_kind("unit") == [f"unit:{serial}"]
            assert up.of_kind("supplier") == [f"supplier:{lot.supplier}"]
            assert up.of_kind("design") == [design[lot.supplier]]
            # the FMEA line that names this part and this way of failing (the sheet's rows, by hand)
            assert [n for n in up.of_kind("fmea") if "#" in n] == [FMEA_LINE[failure["mode"]]]
            down = walk(cat.con, f"field_failure:{serial}", "downstream")
            assert down.nodes() == [f"field_failure:{serial}", f"repair:{serial}"]
        units = cat.con.execute("SELECT count(*) FROM lineage WHERE downstream LIKE 'unit:%'").fetchone()[0]
        assert units == sum(len(lot.serials) for lot in truth.chain.lots.values() if lot.serials is not None)


# ------------------------------------------------------------------ a line run: units, lots, curves
@pytest.fixture(scope="module")
def motor_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("motor") / "run"
    scenario = REPO / "scenarios/lines/motor_assembly/motor_assembly_bearing_lot_spread.yaml"
    done = runner.invoke(app, ["run", str(scenario), "--offline", "--out", str(out)], env=WIDE)
    assert done.exit_code == 0, done.output
    return out


@pytest.mark.slow
def test_each_motor_reaches_the_bearing_lot_it_was_built_from_and_its_curves(motor_run: Path, tmp_path) -> None:
    truth = {}  # part id -> bearing lot, from the plant's own record (truth side)
    for row in pq.read_table(motor_run / "parts.parquet").to_pylist():
        truth[row["part_id"]] = int(row["bearing_lot"])
    with duckdb.connect(str(motor_run / "historian.duckdb"), read_only=True) as con:
        seen = {int(v) for (v,) in con.execute("SELECT DISTINCT value FROM samples WHERE tag = "
                                              "'motor.bearing_press.part_id' AND value > 0").fetchall()}
    with Catalogue(tmp_path / "assets.duckdb") as cat:
        cat.scan(motor_run)
        units = [u for (u,) in cat.con.execute("SELECT DISTINCT downstream FROM lineage WHERE downstream LIKE "
                                               "'unit:motor-%'").fetchall()]
        assert {int(u.rsplit("-", 1)[1]) for u in units} >= seen
        for unit in units:
            part = int(unit.rsplit("-", 1)[1])
            up = walk(cat.con, unit)
            assert f"lot:motor.bearing_lot-{truth[part]}" in up.of_kind("lot")
            assert len([n for n in up.of_kind("lot") if "bearing_lot" in n]) == 1
        up = walk(cat.con, units[-1])
        assert {n.split("/")[-1].split("#")[0] for n in up.of_kind("curve")} <= {
            "motor.bearing_press.force_curve", "motor.screwdriver.torque_curve"}
        # the run's diagnoses read the historian its tags were stored in, with the line's knowledge file
        diagnoses = [d for (d,) in cat.con.execute("SELECT DISTINCT downstream FROM lineage WHERE downstream LIKE "
                                                   "'diagnosis:%'").fetchall()]
        assert diagnoses  # the wide box from 930 s is diagnosed
        for diagnosis in diagnoses:
            up = walk(cat.con, diagnosis)
            assert up.of_kind("historian") and up.of_kind("knowledge") and "tag:motor.eol_test.vibration" in up.nodes()


@pytest.mark.slow
def test_one_walk_from_a_motor_field_failure_reaches_its_lots_design_suppliers_curves_and_fmea_line(
        motor_run: Path, tmp_path: Path) -> None:
    parts = {}  # part id -> its records (truth side): which boxes it was truly built from, whether it shipped
    for row in pq.read_table(motor_run / "parts.parquet").to_pylist():
        parts.setdefault(row["part_id"], []).append(row)
    failures = pq.read_table(motor_run / "returns.parquet").to_pylist()
    assert failures, "the wide box of bearings must send some motors back from the field"
    with Catalogue(tmp_path / "assets.duckdb") as cat:
        cat.put_fmea(read_fmea(REPO / "scenarios/lines/motor_assembly/fmea.csv"))  # first: the scan links to it
        cat.scan(motor_run)
        for failure in failures:
            records = parts[failure["serial"]]
            assert len(records) == 4 and not any(r["rejected"] for r in records)  # only shipped motors fail
            unit = f"unit:motor-{failure['serial']}"
            up = walk(cat.con, f"field_failure:motor-{failure['serial']}")
            assert up.of_kind("unit") == [unit]
            assert set(up.of_kind("lot")) == {f"lot:motor.bearing_lot-{records[0]['bearing_lot']:.0f}",
                                              f"lot:motor.rotor_lot-{records[0]['rotor_lot']:.0f}"}
            assert set(up.of_kind("design")) == {"design:bearing/clearance", "design:shaft/shaft_dev"}
            assert set(up.of_kind("supplier")) == {"supplier:motor.bearing_supplier", "supplier:motor.rotor_supplier"}
            assert {c.rsplit("/", 1)[1] for c in up.of_kind("curve")} == {
                f"motor.bearing_press.force_curve#{failure['serial']}",
                f"motor.screwdriver.torque_curve#{failure['serial']}"}
            lines = [r.failure_mode for r in cat.fmea_rows() if r.id in up.of_kind("fmea")]
            assert lines == [MOTOR_FMEA_LINE[failure["mode"]]]
            down = walk(cat.con, unit, "downstream")
            assert f"repair:motor-{failure['serial']}" in down.nodes()
