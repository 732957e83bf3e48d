"""The coater plant: contract, determinism, operating point and causal physics."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from plant_models.base import FaultSpec, PlantModel
from plant_models.coater.model import CoaterLine
from plant_models.coater.physics import lane_blades

SEEDS = st.integers(min_value=0, max_value=2**32 - 1)
# each example runs the plant for seconds; shrinking a failure would outlast the timeout
NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)
VALVE = "coater.coolant.valve"


def run_until(line: CoaterLine, until_s: float, every_ms: int = 1000) -> list[dict]:
    """Advance ``line`` to ``until_s`` reading measurements every ``every_ms``."""
    readings = []
    t = int(line.env.now)
    while t < until_s * 1000:
        t += every_ms
        line.env.run(until=t)
        readings.append(line.measurements())
    return readings


def series(readings: list[dict], tag: str) -> np.ndarray:
    """One tag over a list of readings, as an array (rows for array tags)."""
    return np.array([r[tag] for r in readings])


def test_is_a_plant_model_with_the_documented_signals() -> None:
    line = CoaterLine(0)
    assert isinstance(line, PlantModel)
    assert line.name == "coater" and line.env.now == 0
    names = [s.name for s in line.signals()]
    expected = ["coater.line.speed_sp", "coater.line.speed", "coater.unwinder.tension"]
    for i in range(1, 5):
        expected += [f"coater.blade{i}.{q}" for q in ("pressure_sp", "pressure", "temperature")]
    expected += ["coater.coolant.valve.command", "coater.coolant.valve.coil_current",
                 "coater.coolant.flow", "coater.coolant.temperature"]
    for j in range(1, 4):
        expected += [f"coater.oven.zone{j}.temperature_sp", f"coater.oven.zone{j}.temperature"]
    expected += ["coater.ambient.temperature", "coater.ambient.humidity", "coater.slurry.viscosity",
                 "coater.xray.thickness_profile", "coater.xray.thickness_mean",
                 "coater.xray.wrinkles_per_m", "coater.coating_roll.vibration_spectrum",
                 "coater.calender.pressure_sp", "coater.calender.pressure"]
    assert names == expected
    assert names == [s.name for s in CoaterLine(99).signals()], "order must be stable"
    by_name = {s.name: s for s in line.signals()}
    assert by_name["coater.xray.thickness_profile"].shape == (32,)
    assert by_name["coater.coating_roll.vibration_spectrum"].shape == (64,)
    assert by_name["coater.blade3.pressure"].asset == "coater.blade3"
    assert by_name["coater.blade3.pressure"].period_ms == 10
    assert by_name["coater.ambient.humidity"].period_ms == 1000
    for s in line.signals():
        assert s.low < s.high
        assert (s.initial is not None) == (s.kind == "setpoint")
        if s.kind == "setpoint":
            assert s.low <= s.initial <= s.high
            assert line.setpoints()[s.name] == s.initial


def test_measurements_cover_every_measurement_signal_with_its_shape() -> None:
    line = CoaterLine(5)
    line.env.run(until=2_010)
    values = line.measurements()
    for s in line.signals():
        if s.kind == "setpoint":
            assert s.name not in values
            continue
        value = values[s.name]
        if s.shape:
            assert isinstance(value, np.ndarray) and value.shape == s.shape
        else:
            assert isinstance(value, float)
        assert np.all(np.isfinite(value))
    assert set(values) == {s.name for s in line.signals() if s.kind == "measurement"}
    values["coater.xray.thickness_profile"][:] = -1.0
    assert line.measurements()["coater.xray.thickness_profile"].min() > 0, "returns copies"


@settings(max_examples=12, deadline=None, phases=NO_SHRINK)
@given(seed=SEEDS)
def test_same_seed_gives_identical_measurements(seed: int) -> None:
    def episode() -> list[dict]:
        line = CoaterLine(seed)
        line.inject(FaultSpec("valve_coil_ageing", VALVE, 0.3, 4.0, rate=2.0))
        line.inject(FaultSpec("sensor_noise_burst", "coater.blade2.pressure", 0.5, 0.3))
        return run_until(line, 1.5, every_ms=10)

    first, second = episode(), episode()
    assert len(first) == len(second) == 150
    for a, b in zip(first, second):
        assert a.keys() == b.keys()
        for tag in a:
            np.testing.assert_array_equal(a[tag], b[tag], err_msg=tag)


def test_different_seeds_give_different_noise() -> None:
    a = run_until(CoaterLine(1), 2.0)
    b = run_until(CoaterLine(2), 2.0)
    assert series(a, "coater.blade1.pressure").tolist() != series(b, "coater.blade1.pressure").tolist()


def test_nominal_operating_point_is_the_calibrated_one() -> None:
    readings = run_until(CoaterLine(2024), 120.0, every_ms=100)
    mean = {tag: float(np.mean(series(readings, tag))) for tag in readings[0]
            if np.ndim(readings[0][tag]) == 0}
    assert mean["coater.coolant.flow"] == pytest.approx(26.0, abs=0.3)
    assert mean["coater.coolant.valve.coil_current"] == pytest.approx(0.72, abs=0.005)
    assert mean["coater.line.speed"] == pytest.approx(30.0, abs=0.2)
    temps = [mean[f"coater.blade{i}.temperature"] for i in range(1, 5)]
    assert all(20.0 < t < 35.0 for t in temps)
    assert max(temps) == temps[2], "blade 3 sits at the coolant outlet"
    for i in range(1, 5):
        assert mean[f"coater.blade{i}.pressure"] == pytest.approx(8.0, abs=0.05)
    assert mean["coater.xray.thickness_mean"] == pytest.approx(100.0, abs=3.0)
    assert 0.02 < mean["coater.xray.wrinkles_per_m"] < 0.3
    for j, sp in enumerate((110.0, 120.0, 115.0), start=1):
        assert mean[f"coater.oven.zone{j}.temperature"] == pytest.approx(sp, abs=1.5)


def test_valve_current_and_flow_follow_the_command() -> None:
    flows = []
    for command in (10.0, 40.0, 60.0, 80.0, 100.0):
        line = CoaterLine(3)
        line.apply_setpoint("coater.coolant.valve.command", command)
        readings = run_until(line, 3.0, every_ms=100)[-10:]
        current = float(np.mean(series(readings, "coater.coolant.valve.coil_current")))
        assert current == pytest.approx(24.0 * command / 100 / 20.0, abs=0.003)
        flows.append(float(np.mean(series(readings, "coater.coolant.flow"))))
    assert flows[0] < 0.5, "below the cracking current the valve stays shut"
    assert all(a < b for a, b in zip(flows, flows[1:]))


def paired_means(seed: int, fault: FaultSpec, until_s: float, window_s: float,
                 tags: list[str]) -> dict[str, float]:
    """Mean over the last ``window_s`` of faulty minus clean, same seed."""
    clean, faulty = CoaterLine(seed), CoaterLine(seed)
    faulty.inject(fault)
    out = {}
    a, b = run_until(clean, until_s, 100), run_until(faulty, until_s, 100)
    keep = int(window_s * 10)
    for tag in tags:
        out[tag] = float(np.mean(series(b[-keep:], tag)) - np.mean(series(a[-keep:], tag)))
    return out


@pytest.mark.slow
@settings(max_examples=8, deadline=None, phases=NO_SHRINK)
@given(seed=SEEDS, ohms=st.floats(min_value=3.0, max_value=12.0))
def test_coil_ageing_cuts_flow_and_hits_blade3_hardest(seed: int, ohms: float) -> None:
    tags = ["coater.coolant.flow"] + [f"coater.blade{i}.{q}" for i in range(1, 5)
                                      for q in ("temperature", "pressure")]
    fault = FaultSpec("valve_coil_ageing", VALVE, 5.0, ohms, rate=ohms / 10)
    delta = paired_means(seed, fault, 110.0, 30.0, tags)
    assert delta["coater.coolant.flow"] < -2.0
    rise = [delta[f"coater.blade{i}.temperature"] for i in range(1, 5)]
    shift = [abs(delta[f"coater.blade{i}.pressure"]) for i in range(1, 5)]
    assert min(rise) > 0
    assert rise[2] == max(rise) and sorted(rise)[-2] < rise[2]
    assert shift[2] > 2 * sorted(shift)[-2]


def test_flagship_coil_rise_moves_blade3_by_a_few_tenths_of_a_newton() -> None:
    fault = FaultSpec("valve_coil_ageing", VALVE, 10.0, 6.0)
    delta = paired_means(7, fault, 400.0, 60.0, ["coater.blade3.pressure", "coater.coolant.flow"])
    assert 0.3 <= delta["coater.blade3.pressure"] <= 0.5
    assert delta["coater.coolant.flow"] == pytest.approx(-8.0, abs=1.5)


@settings(max_examples=10, deadline=None, phases=NO_SHRINK)
@given(seed=SEEDS, blade=st.integers(1, 4), drift=st.floats(0.1, 0.5))
def test_blade_drift_moves_only_that_blade(seed: int, blade: int, drift: float) -> None:
    tags = [f"coater.blade{i}.pressure" for i in range(1, 5)]
    fault = FaultSpec("blade_pressure_drift", f"coater.blade{blade}", 1.0, drift, rate=drift / 4)
    delta = paired_means(seed, fault, 12.0, 4.0, tags)
    assert delta[f"coater.blade{blade}.pressure"] == pytest.approx(drift, rel=0.02, abs=0.003)
    for i in range(1, 5):
        if i != blade:
            assert abs(delta[f"coater.blade{i}.pressure"]) < 1e-9


@pytest.mark.slow
@pytest.mark.parametrize("seed", [11, 12])
def test_flagship_fault_raises_wrinkles_and_more_coolant_restores(seed: int) -> None:
    clean = run_until(CoaterLine(seed), 600.0)
    baseline = float(np.mean(series(clean, "coater.xray.wrinkles_per_m")))
    assert 0.03 < baseline < 0.25
    line = CoaterLine(seed)
    line.inject(FaultSpec("valve_coil_ageing", VALVE, 50.0, 6.0))
    faulty = run_until(line, 550.0)
    late = series(faulty[450:], "coater.xray.wrinkles_per_m")
    assert float(np.mean(late)) >= 5 * baseline
    flow_before = float(np.mean(series(faulty[:40], "coater.coolant.flow")))
    flow_faulty = float(np.mean(series(faulty[-30:], "coater.coolant.flow")))
    assert flow_faulty < 0.8 * flow_before
    line.apply_setpoint("coater.coolant.valve.command", 78.0)
    restored = run_until(line, 800.0)
    assert float(np.mean(series(restored[-60:], "coater.coolant.flow"))) == pytest.approx(
        flow_before, rel=0.03)
    assert float(np.mean(series(restored[-100:], "coater.xray.wrinkles_per_m"))) < 2.5 * baseline


def test_six_blade_variant_covers_all_lanes() -> None:
    line = CoaterLine(4, blades=6)
    assert [len(p) for p in np.array_split(np.arange(32), 6)] == list(np.bincount(lane_blades(6)))
    assert sorted(set(lane_blades(6).tolist())) == list(range(6))
    names = {s.name for s in line.signals()}
    assert {"coater.blade6.pressure", "coater.blade6.pressure_sp", "coater.blade6.temperature"} <= names
    assert "coater.blade7.pressure" not in names
    assert "coater.blade6" in line.fault_targets()["blade_pressure_drift"]
    readings = run_until(line, 5.0)
    profile = readings[-1]["coater.xray.thickness_profile"]
    assert profile.shape == (32,) and np.all(np.isfinite(profile))
    line.inject(FaultSpec("step", "coater.blade6", 6.0, 2.0))
    after = run_until(line, 9.0)[-1]["coater.xray.thickness_profile"]
    lanes = lane_blades(6) == 5
    assert np.mean(after[lanes]) < np.mean(after[~lanes]) - 5.0, "blade 6 thins its lanes"


def test_humidity_swing_drives_viscosity_and_thickness() -> None:
    line = CoaterLine(8, options={"humidity_period_s": 240.0, "humidity_amplitude": 25.0})
    readings = run_until(line, 480.0)
    humidity = series(readings, "coater.ambient.humidity")
    viscosity = series(readings, "coater.slurry.viscosity")
    thickness = series(readings, "coater.xray.thickness_mean")
    assert np.ptp(humidity) > 35.0
    lag = 40  # the slurry follows the hall with a ~60 s lag
    assert np.corrcoef(humidity[:-lag], viscosity[lag:])[0, 1] > 0.7
    assert np.corrcoef(viscosity, thickness)[0, 1] > 0.5


def test_line_speed_moves_the_vibration_peaks() -> None:
    peaks = []
    for speed in (20.0, 50.0):
        line = CoaterLine(9)
        line.apply_setpoint("coater.line.speed_sp", speed)
        spectrum = run_until(line, 15.0)[-1]["coater.coating_roll.vibration_spectrum"]
        peaks.append(int(np.argmax(spectrum[2:])) + 2)
    assert peaks[1] > peaks[0]
    hz = np.linspace(0, 500, 64)
    roll_hz = 50.0 / 60.0 / (math.pi * 0.25)
    assert abs(hz[peaks[1]] - 20 * roll_hz) < 500 / 63


def test_setpoints_are_validated_and_reach_the_plant() -> None:
    line = CoaterLine(10)
    with pytest.raises(KeyError, match="coater.blade9.pressure_sp"):
        line.apply_setpoint("coater.blade9.pressure_sp", 1.0)
    with pytest.raises(KeyError, match="coater.line.speed'"):
        line.apply_setpoint("coater.line.speed", 1.0)
    with pytest.raises(ValueError, match="coater.calender.pressure_sp"):
        line.apply_setpoint("coater.calender.pressure_sp", 101.0)
    with pytest.raises(ValueError, match="coater.oven.zone1.temperature_sp"):
        line.apply_setpoint("coater.oven.zone1.temperature_sp", math.nan)
    line.apply_setpoint("coater.oven.zone1.temperature_sp", 130.0)
    line.apply_setpoint("coater.calender.pressure_sp", 60.0)
    line.apply_setpoint("coater.blade2.pressure_sp", 9.0)
    assert line.setpoints()["coater.oven.zone1.temperature_sp"] == 130.0
    last = run_until(line, 120.0)[-1]
    assert last["coater.oven.zone1.temperature"] == pytest.approx(130.0, abs=1.5)
    assert last["coater.calender.pressure"] == pytest.approx(60.0, abs=1.0)
    assert last["coater.blade2.pressure"] == pytest.approx(9.0, abs=0.15)


def test_causal_graph_declares_the_ground_truth() -> None:
    line = CoaterLine(0)
    graph = line.causal_graph()
    assert nx.is_directed_acyclic_graph(graph)
    signals = {s.name for s in line.signals()}
    assert signals <= set(graph.nodes)
    for node, attrs in graph.nodes(data=True):
        assert isinstance(attrs["asset"], str) and attrs["asset"] == node.rsplit(".", 1)[0]
        assert attrs["observed"] == (node in signals)
    chain = ["coater.coolant.valve.coil_resistance", "coater.coolant.valve.coil_current",
             "coater.coolant.valve.opening", "coater.coolant.flow", "coater.blade3.temperature",
             "coater.blade3.pressure", "coater.xray.thickness_profile",
             "coater.xray.wrinkles_per_m"]
    assert all(graph.has_edge(a, b) for a, b in zip(chain, chain[1:]))
    assert not graph.nodes["coater.coolant.valve.opening"]["observed"]
    assert graph.has_edge("coater.xray.thickness_profile", "coater.xray.thickness_mean")
    for cause in ("coater.ambient.humidity", "coater.line.speed", "coater.oven.zone2.temperature",
                  "coater.coolant.temperature", "coater.blade3.drift"):
        assert nx.has_path(graph, cause, "coater.xray.thickness_profile"), cause
    for s in line.signals():
        if s.kind == "setpoint":
            actual = s.name.removesuffix("_sp").replace(".command", ".coil_current")
            assert graph.has_edge(s.name, actual), s.name
    assert not nx.has_path(graph, "coater.xray.wrinkles_per_m", "coater.blade3.pressure")


def test_every_fault_enters_the_graph_upstream_of_a_measurement() -> None:
    line = CoaterLine(0, blades=6)
    graph = line.causal_graph()
    measured = {s.name for s in line.signals() if s.kind == "measurement"}
    for kind, targets in line.fault_targets().items():
        for target in targets:
            node = line.cause_node(FaultSpec(kind, target, 0.0))
            assert node in graph, (kind, target)
            assert node in measured or nx.descendants(graph, node) & measured


def test_unknown_or_bad_options_are_named() -> None:
    with pytest.raises(ValueError, match="'humidity_perod_s'.*humidity_period_s"):
        CoaterLine(0, options={"humidity_perod_s": 600})
    with pytest.raises(ValueError, match="humidity_amplitude"):
        CoaterLine(0, options={"humidity_amplitude": -1.0})
    with pytest.raises(ValueError, match="blades"):
        CoaterLine(0, blades=4, options={"blades": 6})
    with pytest.raises(ValueError, match="blades"):
        CoaterLine(0, blades=1)
    with pytest.raises(ValueError, match="seed"):
        CoaterLine(-1)
