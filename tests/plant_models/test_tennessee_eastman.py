"""The Tennessee Eastman plant: protocol, determinism, disturbances, truth, XMV writes, trips."""

from __future__ import annotations

import json
import math

import networkx as nx
import pytest
from ruamel.yaml import YAML

from plant_models.base import FaultSpec, PlantModel
from plant_models.registry import build_plant
from plant_models.tennessee_eastman.model import PlantShutdown, TennesseeEastmanPlant
from plant_models.tennessee_eastman.signals import DISTURBANCES, GAS_ANALYSER_MS, PRODUCT_ANALYSER_MS, XMEAS, XMV
from tests.conftest import REPO

ONSET_S = 180.0  # before the kernel's first random-walk knot at 0.1 h, so every IDV shows by 0.35 h
END_S = 1260  # 0.35 h: past the first post-onset analysis of the 0.1 h gas analysers
EVERY_S = 18


def trajectory(seed: int = 7, faults: tuple[FaultSpec, ...] = (), end_s: int = END_S) -> list[dict[str, float]]:
    plant = TennesseeEastmanPlant(seed)
    for fault in faults:
        plant.inject(fault)
    rows = []
    for t in range(EVERY_S, end_s + 1, EVERY_S):
        plant.env.run(until=t * 1000)
        rows.append(plant.measurements())
    return rows


@pytest.fixture(scope="module")
def clean() -> list[dict[str, float]]:
    return trajectory()


def test_protocol_signals_measurements_and_setpoints() -> None:
    plant = build_plant("tennessee_eastman", 3)
    assert isinstance(plant, PlantModel) and isinstance(plant, TennesseeEastmanPlant)
    signals = plant.signals()
    names = [s.name for s in signals]
    assert len(names) == len(set(names)) == 41 + 2 * 12
    measured = [s for s in signals if s.kind == "measurement"]
    writable = [s for s in signals if s.kind == "setpoint"]
    assert [s.description.split()[0] for s in measured[:41]] == [f"XMEAS({n})" for n in range(1, 42)]
    assert [s.description.split()[0] for s in writable] == [f"XMV({n})" for n in range(1, 13)]
    assert all(s.low == 0.0 and s.high == 100.0 and s.unit == "%" for s in writable)
    assert set(plant.measurements()) == {s.name for s in measured}
    assert plant.setpoints() == {s.name: s.initial for s in writable}
    plant.env.run(until=36_000)
    values = plant.measurements()
    for s in measured:
        assert math.isfinite(values[s.name]) and s.low <= values[s.name] <= s.high, s.name
    assert abs(values["tep.reactor.pressure"] - 2705) < 30 and abs(values["tep.reactor.temperature"] - 120.4) < 0.5
    for s in signals:  # dotted lowercase names under tep.<unit>
        assert s.name == s.name.lower() and s.name.startswith("tep.") and s.asset.count(".") >= 1


def test_sample_periods_as_the_benchmark_defines_them() -> None:
    periods = {s.name: s.period_ms for s in TennesseeEastmanPlant(1).signals()}
    for row in XMEAS:
        expected = PRODUCT_ANALYSER_MS if row.xmeas >= 37 else GAS_ANALYSER_MS if row.xmeas >= 23 else 180_000
        assert periods[row.tag] == expected, row.tag
    assert {periods[m.tag] for m in XMV} == {periods[m.readback] for m in XMV} == {180_000}
    faster = TennesseeEastmanPlant(1, options={"sample_period_s": 36})
    assert {s.period_ms for s in faster.signals()} == {36_000, GAS_ANALYSER_MS, PRODUCT_ANALYSER_MS}


def test_analysers_refresh_exactly_at_their_sample_marks() -> None:
    plant = TennesseeEastmanPlant(2)
    changed: dict[str, list[int]] = {"gas": [], "product": []}
    previous = plant.measurements()
    for t in range(1_800, 1_800_001, 1_800):  # 0.5 h in kernel steps
        plant.env.run(until=t)
        now = plant.measurements()
        if now["tep.analyser.purge.b_pct"] != previous["tep.analyser.purge.b_pct"]:
            changed["gas"].append(t)
        if now["tep.analyser.product.g_pct"] != previous["tep.analyser.product.g_pct"]:
            changed["product"].append(t)
        previous = now
    assert changed == {"gas": [360_000, 720_000, 1_080_000, 1_440_000, 1_800_000], "product": [900_000, 1_800_000]}


def test_same_seed_same_measurements_other_seed_other_noise(clean: list[dict[str, float]]) -> None:
    assert trajectory(end_s=360) == clean[:20]
    other = trajectory(seed=8, end_s=360)
    assert other[-1]["tep.reactor.pressure"] != clean[19]["tep.reactor.pressure"]


@pytest.mark.parametrize("dist", DISTURBANCES, ids=[d.name.split(".")[1] for d in DISTURBANCES])
def test_each_disturbance_reaches_its_entry_point_after_onset_only(clean, dist) -> None:
    rows = trajectory(faults=(FaultSpec("step", dist.name, ONSET_S, 1.0),))
    onset_row = int(ONSET_S // EVERY_S)  # rows before it are the plant at t <= onset
    assert rows[:onset_row] == clean[:onset_row], "nothing may change before the onset"
    entry = dist.entry[0]
    moved = [abs(a[entry] - b[entry]) for a, b in zip(rows[onset_row:], clean[onset_row:])]
    assert max(moved) > 1e-6, f"{dist.name} never reached {entry}"


def test_a_disturbance_from_time_zero_acts_on_the_first_step(clean) -> None:
    plant = TennesseeEastmanPlant(7)
    plant.inject(FaultSpec("step", "tep.idv06_a_feed_loss", 0.0, 1.0))
    plant.env.run(until=1_800)
    assert plant.measurements()["tep.feed_a.flow"] < 0.5 * clean[0]["tep.feed_a.flow"]


def test_a_disturbance_scales_with_its_magnitude_and_ends_with_its_duration(clean) -> None:
    def offset(rows: list[dict[str, float]], tag: str) -> float:
        return rows[11][tag] - clean[11][tag]  # 36 s after the onset

    full = trajectory(faults=(FaultSpec("step", "tep.idv04_reactor_cw_inlet_temp", ONSET_S, 1.0),))
    half = trajectory(faults=(FaultSpec("step", "tep.idv04_reactor_cw_inlet_temp", ONSET_S, 0.5),))
    for tag in ("tep.reactor.cw_outlet_temperature", "tep.reactor.cw_valve_out"):  # warmer water: the loop opens
        assert offset(full, tag) > 0.5 and 0.4 < offset(half, tag) / offset(full, tag) < 0.6
    plant = TennesseeEastmanPlant(7)
    plant.inject(FaultSpec("step", "tep.idv06_a_feed_loss", ONSET_S, 1.0, duration_s=36.0))
    plant.env.run(until=int(ONSET_S * 1000) + 18_000)
    assert plant._idv[5] == 1.0
    plant.env.run(until=int(ONSET_S * 1000) + 54_000)
    assert plant._idv[5] == 0.0


def test_truth_names_the_disturbance_its_kernel_number_and_seed() -> None:
    plant = TennesseeEastmanPlant(4)
    plant.inject(FaultSpec("step", "tep.idv04_reactor_cw_inlet_temp", 3600.0, 1.0))
    plant.inject(FaultSpec("step", "tep.idv11_reactor_cw_inlet_temp_random", 7200.0, 0.5, duration_s=600.0))
    step, walk = json.loads(json.dumps(plant.truth()))
    assert step == {"kind": "step", "target": "tep.idv04_reactor_cw_inlet_temp", "onset_s": 3600.0,
                    "magnitude": 1.0, "rate": None, "duration_s": None, "params": {"idv": 4.0}}
    assert walk["params"]["idv"] == 11.0 and walk["duration_s"] == 600.0
    seed = walk["params"]["seed"]
    assert seed == int(seed) and int(seed) % 2 == 1
    again = TennesseeEastmanPlant(4)
    again.inject(FaultSpec("step", "tep.idv04_reactor_cw_inlet_temp", 3600.0, 1.0))
    again.inject(FaultSpec("step", "tep.idv11_reactor_cw_inlet_temp_random", 7200.0, 0.5, duration_s=600.0))
    assert again.truth()[1]["params"]["seed"] == seed
    assert TennesseeEastmanPlant(5).cause_node(FaultSpec("step", walk["target"], 0.0, 1.0)) == walk["target"]


def test_a_random_disturbance_follows_its_own_seed() -> None:
    fault = FaultSpec("step", "tep.idv12_condenser_cw_inlet_temp_random", ONSET_S, 1.0)
    a, b = trajectory(faults=(fault,), end_s=3600), trajectory(faults=(fault,), end_s=3600)
    later = FaultSpec("step", "tep.idv11_reactor_cw_inlet_temp_random", 1008.0, 1.0)  # re-seeds at its onset
    c = trajectory(faults=(fault, later), end_s=3600)
    assert a == b
    assert a[:56] == c[:56] and a[56:] != c[56:]  # the plant at t <= 1008 s is untouched by the later fault


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"target": "tep.idv29_meteor"}, "cannot target 'tep.idv29_meteor'; valid targets: \\['tep.idv01"),
        ({"kind": "thermal_shock"}, "fault kind 'thermal_shock' does not apply.*valid kinds: \\['step'\\]"),
        ({"magnitude": 1.5}, "magnitude 1.5 of tep.idv04_reactor_cw_inlet_temp is outside 0 < magnitude <= 1"),
        ({"magnitude": 0.0}, "magnitude 0.0 .* is outside"),
        ({"magnitude": float("nan")}, "magnitude of tep.idv04_reactor_cw_inlet_temp must be finite"),
        ({"rate": 0.1}, "rate does not apply to tep.idv04_reactor_cw_inlet_temp"),
        ({"duration_s": -5.0}, "duration_s of tep.idv04_reactor_cw_inlet_temp must be > 0"),
        ({"params": {"rise_s": 2.0}}, "unknown parameter 'rise_s' for tep.idv04_reactor_cw_inlet_temp"),
    ],
)
def test_bad_faults_are_named(changes: dict, message: str) -> None:
    spec = {"kind": "step", "target": "tep.idv04_reactor_cw_inlet_temp", "start_s": 60.0, "magnitude": 1.0}
    with pytest.raises(ValueError, match=message):
        TennesseeEastmanPlant(1).inject(FaultSpec(**{**spec, **changes}))


def test_a_fault_in_the_past_and_bad_options_are_named() -> None:
    plant = TennesseeEastmanPlant(1)
    plant.env.run(until=36_000)
    with pytest.raises(ValueError, match="start_s=10.0 of tep.idv01_ac_feed_ratio is before the plant's current"):
        plant.inject(FaultSpec("step", "tep.idv01_ac_feed_ratio", 10.0, 1.0))
    with pytest.raises(ValueError, match="unknown tennessee_eastman option 'blades'; valid options: \\['sample_"):
        build_plant("tennessee_eastman", 1, {"blades": 4})
    with pytest.raises(ValueError, match="option 'sample_period_s'=0.5 is outside 1.8..3600"):
        build_plant("tennessee_eastman", 1, {"sample_period_s": 0.5})


def test_an_xmv_write_puts_its_loop_in_manual_and_is_bounded() -> None:
    plant = TennesseeEastmanPlant(6)
    plant.env.run(until=36_000)
    auto = plant.measurements()["tep.reactor.cw_valve_out"]
    assert auto != plant.setpoints()["tep.reactor.cw_valve"] and plant.manual() == []
    plant.apply_setpoint("tep.reactor.cw_valve", 45.0)
    plant.env.run(until=54_000)
    assert plant.measurements()["tep.reactor.cw_valve_out"] == 45.0
    assert plant.manual() == ["tep.reactor.cw_valve"] and plant.setpoints()["tep.reactor.cw_valve"] == 45.0
    before = plant.setpoints()
    for value in (100.5, -1.0, float("nan")):
        with pytest.raises(ValueError, match="setpoint tep.reactor.cw_valve=.* is outside 0..100"):
            plant.apply_setpoint("tep.reactor.cw_valve", value)
    with pytest.raises(KeyError, match="unknown setpoint 'tep.reactor.pressure'"):
        plant.apply_setpoint("tep.reactor.pressure", 2700.0)
    assert plant.setpoints() == before


def test_a_trip_stops_the_plant_and_says_why() -> None:
    plant = TennesseeEastmanPlant(7)
    plant.apply_setpoint("tep.reactor.cw_valve", 0.0)  # no cooling: the reactor runs away
    with pytest.raises(PlantShutdown, match="shut down at t = .* Shutting down"):
        plant.env.run(until=3_600_000)
    assert plant.shutdown is not None and plant.shutdown["code"] > 0


def test_causal_graph_has_flow_sheet_loops_and_every_disturbance_entry() -> None:
    plant = TennesseeEastmanPlant(1)
    graph = plant.causal_graph()
    assert all({"asset", "observed"} <= set(attrs) for _, attrs in graph.nodes(data=True))
    assert {s.name for s in plant.signals()} <= {n for n, a in graph.nodes(data=True) if a["observed"]}
    for path in (["tep.feed_a", "tep.reactor_feed", "tep.reactor", "tep.condenser", "tep.separator",
                  "tep.stripper", "tep.product"], ["tep.separator", "tep.compressor", "tep.reactor_feed"]):
        assert nx.is_path(graph, path)
    assert graph.edges["tep.reactor.temperature", "tep.reactor.cw_valve_out"]["kind"] == "control"
    for dist in DISTURBANCES:
        node = graph.nodes[dist.name]
        assert node["role"] == "disturbance" and not node["observed"] and node["idv"] == dist.idv
        assert sorted(graph.successors(dist.name)) == sorted(dist.entry)
        assert all(graph.nodes[tag]["observed"] for tag in dist.entry)
    assert [d.idv for d in DISTURBANCES] == list(range(1, 29)) and len({d.name for d in DISTURBANCES}) == 28


def test_the_knowledge_file_links_known_tags_assets_and_declared_nodes() -> None:
    doc = YAML(typ="safe").load((REPO / "plant_models" / "tennessee_eastman" / "knowledge.yaml").read_text())
    assert doc["plant"] == "tennessee_eastman" and doc["source"].strip()
    assert {n["kind"] for n in doc["nodes"]} <= {"equipment", "process_variable", "quality", "environment"}
    tags = {s.name for s in TennesseeEastmanPlant(1).signals()}
    known = tags | {t.rsplit(".", 1)[0] for t in tags} | {n["name"] for n in doc["nodes"]}
    assert not {n["name"] for n in doc["nodes"]} & tags, "nodes lists only names that are not tags"
    for link in doc["links"]:
        assert set(link) == {"cause", "effect", "note"} and link["note"], link
        assert link["cause"] in known and link["effect"] in known, link
        assert "idv" not in link["cause"] + link["effect"], "an engineer's flow sheet knows no disturbance ids"
    for unit in ("tep.feed_a", "tep.reactor", "tep.condenser", "tep.separator", "tep.stripper"):
        assert any(unit in (link["cause"], link["effect"]) for link in doc["links"]), unit
