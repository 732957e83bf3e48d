"""Coater faults: validation, truth records, sensor faults, process faults and ranges."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from plant_models.base import SENSOR_FAULT_KINDS, FaultSpec
from plant_models.coater.model import CoaterLine

SEEDS = st.integers(min_value=0, max_value=2**32 - 1)
# each example runs the plant for seconds; shrinking a failure would outlast the timeout
NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)
FAST_TAGS = ["coater.line.speed", "coater.blade2.pressure", "coater.blade4.temperature",
             "coater.coolant.flow", "coater.coolant.valve.coil_current"]
SLOW_TAGS = ["coater.oven.zone2.temperature", "coater.xray.thickness_profile",
             "coater.slurry.viscosity", "coater.coating_roll.vibration_spectrum"]


def run_until(line: CoaterLine, until_s: float, every_ms: int = 1000) -> list[tuple[float, dict]]:
    """(time in s, measurements) every ``every_ms`` until ``until_s``."""
    out = []
    t = int(line.env.now)
    while t < until_s * 1000:
        t += every_ms
        line.env.run(until=t)
        out.append((t / 1000, line.measurements()))
    return out


def values(readings: list[tuple[float, dict]], tag: str, start: float = -1.0,
           stop: float = math.inf) -> np.ndarray:
    """``tag`` over readings with ``start < t <= stop``."""
    return np.array([m[tag] for t, m in readings if start < t <= stop])


# -- validation and truth ---------------------------------------------------------------
def test_fault_targets_list_every_kind_and_its_assets() -> None:
    targets = CoaterLine(0).fault_targets()
    assert set(targets) == {"valve_coil_ageing", "blade_pressure_drift", "step", "thermal_shock",
                            *SENSOR_FAULT_KINDS}
    assert targets["valve_coil_ageing"] == ["coater.coolant.valve"]
    assert targets["blade_pressure_drift"] == [f"coater.blade{i}" for i in range(1, 5)]
    assert {"coater.blade1", "coater.oven.zone3", "coater.slurry", "coater.coolant",
            "coater.line"} <= set(targets["step"])
    assert set(targets["thermal_shock"]) == {"coater.head", "coater.oven.zone1",
                                             "coater.oven.zone2", "coater.oven.zone3"}
    measured = [s.name for s in CoaterLine(0).signals() if s.kind == "measurement"]
    for kind in SENSOR_FAULT_KINDS:
        assert targets[kind] == measured


@pytest.mark.parametrize(
    ("spec", "pattern"),
    [
        (FaultSpec("melt", "coater.blade1", 1.0), "'melt'.*valid kinds"),  # type: ignore[arg-type]
        (FaultSpec("blade_pressure_drift", "coater.blade5", 1.0, 0.2), "'coater.blade5'.*coater.blade4"),
        (FaultSpec("valve_coil_ageing", "coater.blade1", 1.0, 2.0), "'coater.blade1'.*coater.coolant.valve"),
        (FaultSpec("sensor_stuck", "coater.line.speed_sp", 1.0), "'coater.line.speed_sp'"),
        (FaultSpec("thermal_shock", "coater.slurry", 1.0, 5.0), "'coater.slurry'.*coater.head"),
        (FaultSpec("valve_coil_ageing", "coater.coolant.valve", 1.0, -2.0), "magnitude -2.0"),
        (FaultSpec("blade_pressure_drift", "coater.blade1", 1.0, 50.0), "magnitude 50.0"),
        (FaultSpec("step", "coater.line", 1.0, 1.0, rate=0.5), "rate applies only"),
        (FaultSpec("blade_pressure_drift", "coater.blade1", 1.0, 0.2, rate=0.0), "rate"),
        (FaultSpec("step", "coater.line", 1.0, 1.0, duration_s=-3.0), "duration_s"),
        (FaultSpec("step", "coater.line", math.nan, 1.0), "start_s"),
        (FaultSpec("thermal_shock", "coater.head", 1.0, 5.0, params={"rize_s": 1.0}), "'rize_s'.*rise_s"),
        (FaultSpec("sensor_clock_skew", "coater.line.speed", 1.0, 3600.0), "clock skew"),
    ],
)
def test_bad_faults_are_refused_with_a_message_naming_them(spec: FaultSpec, pattern: str) -> None:
    line = CoaterLine(0)
    with pytest.raises(ValueError, match=pattern):
        line.inject(spec)
    assert line.truth() == []


def test_faults_cannot_start_in_the_past() -> None:
    line = CoaterLine(0)
    line.env.run(until=5_000)
    with pytest.raises(ValueError, match="before the plant's current time"):
        line.inject(FaultSpec("step", "coater.line", 4.0, 1.0))
    line.inject(FaultSpec("step", "coater.line", 5.0, 1.0))


def test_truth_is_json_ready_with_defaults_resolved() -> None:
    line = CoaterLine(0)
    line.inject(FaultSpec("valve_coil_ageing", "coater.coolant.valve", 100.0, 6.0))
    line.inject(FaultSpec("blade_pressure_drift", "coater.blade3", np.float64(50.0), -0.3))
    line.inject(FaultSpec("thermal_shock", "coater.head", 10.0, 8.0, params={"rise_s": 1}))
    line.inject(FaultSpec("sensor_noise_burst", "coater.coolant.flow", 2.5, 1.0))
    line.inject(FaultSpec("sensor_dropout", "coater.ambient.humidity", 3.0))
    truth = line.truth()
    assert json.loads(json.dumps(truth)) == truth
    assert [t["kind"] for t in truth] == ["valve_coil_ageing", "blade_pressure_drift",
                                          "thermal_shock", "sensor_noise_burst", "sensor_dropout"]
    assert set(truth[0]) == {"kind", "target", "onset_s", "magnitude", "rate", "duration_s", "params"}
    assert truth[0]["rate"] == pytest.approx(6.0 / 300) and truth[0]["duration_s"] is None
    assert truth[1]["rate"] == pytest.approx(0.3 / 120) and type(truth[1]["onset_s"]) is float
    assert truth[2]["duration_s"] == 20.0 and truth[2]["params"] == {"rise_s": 1.0}
    assert truth[3]["duration_s"] == 30.0 and truth[3]["rate"] is None
    assert truth[4]["duration_s"] is None


# -- sensor faults ----------------------------------------------------------------------
@settings(max_examples=10, deadline=None, phases=NO_SHRINK)
@given(seed=SEEDS, tag=st.sampled_from(FAST_TAGS + SLOW_TAGS), onset=st.integers(2, 6))
def test_stuck_sensor_holds_its_value_at_onset(seed: int, tag: str, onset: int) -> None:
    line = CoaterLine(seed)
    line.inject(FaultSpec("sensor_stuck", tag, float(onset)))
    readings = run_until(line, onset + 5.0, every_ms=10)
    at_onset = values(readings, tag, onset - 0.01, onset)[0]
    held = values(readings, tag, onset)
    assert len(held) > 400
    assert np.all(held == at_onset)
    assert not np.all(values(readings, tag, 0.0, onset) == at_onset), "it moved before"


def test_stuck_sensor_with_a_duration_comes_back() -> None:
    line = CoaterLine(1)
    line.inject(FaultSpec("sensor_stuck", "coater.blade1.pressure", 1.0, duration_s=1.0))
    readings = run_until(line, 3.0, every_ms=10)
    assert len(set(values(readings, "coater.blade1.pressure", 1.0, 2.0).tolist())) == 1
    assert len(set(values(readings, "coater.blade1.pressure", 2.0).tolist())) > 50


@pytest.mark.parametrize("tag", ["coater.coolant.flow", "coater.xray.thickness_profile"])
def test_dropout_reads_nan_while_active(tag: str) -> None:
    line = CoaterLine(2)
    line.inject(FaultSpec("sensor_dropout", tag, 3.0, duration_s=4.0))
    readings = run_until(line, 10.0, every_ms=10)
    assert np.all(np.isfinite(values(readings, tag, 0.0, 3.0)))
    assert np.all(np.isnan(values(readings, tag, 3.0, 7.0)))
    assert np.all(np.isfinite(values(readings, tag, 8.01)))
    other = values(readings, "coater.blade1.pressure")
    assert np.all(np.isfinite(other))


@settings(max_examples=6, deadline=None, phases=NO_SHRINK)
@given(seed=SEEDS, skew=st.sampled_from([0.5, 1.0, 2.5]))
def test_clock_skew_delays_what_the_sensor_reports(seed: int, skew: float) -> None:
    def first_time_above(line: CoaterLine, tag: str, level: float) -> float:
        line.apply_setpoint("coater.line.speed_sp", 50.0)
        readings = run_until(line, 12.0, every_ms=10)
        return next(t for t, m in readings if m[tag] > level)

    tag = "coater.line.speed"
    clean, skewed = CoaterLine(seed), CoaterLine(seed)
    skewed.inject(FaultSpec("sensor_clock_skew", tag, 0.0, skew))
    delay = first_time_above(skewed, tag, 40.0) - first_time_above(clean, tag, 40.0)
    assert delay == pytest.approx(skew, abs=0.06)


def test_clock_skew_on_a_slow_array_sensor_reports_the_past() -> None:
    tag = "coater.coating_roll.vibration_spectrum"
    clean, skewed = CoaterLine(3), CoaterLine(3)
    skewed.inject(FaultSpec("sensor_clock_skew", tag, 0.0, 5.0))
    for line in (clean, skewed):
        run_until(line, 10.0)
        line.apply_setpoint("coater.line.speed_sp", 55.0)  # the spectrum grows with speed
    now = {t: m[tag] for t, m in run_until(clean, 30.0)}
    late = {t: m[tag] for t, m in run_until(skewed, 30.0)}
    for t in range(16, 31):
        # only the sensor's own noise (sigma 0.01 per bin) differs from 5 s ago
        np.testing.assert_allclose(late[float(t)], now[t - 5.0], atol=0.1)
    assert not np.allclose(late[13.0], now[13.0], atol=0.1)


def test_bias_shifts_only_its_sensor_and_perturbs_nothing_else() -> None:
    tag = "coater.blade1.pressure"
    clean, biased = CoaterLine(4), CoaterLine(4)
    biased.inject(FaultSpec("sensor_bias", tag, 2.0, 0.25))
    a, b = run_until(clean, 5.0, every_ms=10), run_until(biased, 5.0, every_ms=10)
    for (t, ma), (_, mb) in zip(a, b):
        for name in ma:
            if name == tag and t > 2.0:
                assert mb[name] - ma[name] == pytest.approx(0.25, abs=1e-12)
            else:
                np.testing.assert_array_equal(ma[name], mb[name], err_msg=name)


def test_noise_burst_adds_noise_for_its_duration_only() -> None:
    tag = "coater.coolant.flow"
    clean, noisy = CoaterLine(5), CoaterLine(5)
    noisy.inject(FaultSpec("sensor_noise_burst", tag, 1.0, 2.0, duration_s=2.0))
    a, b = run_until(clean, 5.0, every_ms=10), run_until(noisy, 5.0, every_ms=10)
    diff = values(b, tag) - values(a, tag)
    times = np.array([t for t, _ in a])
    during = diff[(times > 1.0) & (times <= 3.0)]
    assert np.std(during) == pytest.approx(2.0, rel=0.15)
    assert np.all(diff[(times <= 1.0) | (times > 3.0)] == 0.0)


# -- process faults ---------------------------------------------------------------------
def test_step_with_duration_is_taken_back() -> None:
    clean, stepped = CoaterLine(6), CoaterLine(6)
    stepped.inject(FaultSpec("step", "coater.line", 2.0, 5.0, duration_s=10.0))
    a, b = run_until(clean, 40.0, every_ms=100), run_until(stepped, 40.0, every_ms=100)
    diff = values(b, "coater.line.speed") - values(a, "coater.line.speed")
    times = np.array([t for t, _ in a])
    assert np.max(diff[(times > 9) & (times <= 12)]) == pytest.approx(5.0, abs=0.1)
    assert np.all(np.abs(diff[times > 35]) < 0.02)


def test_thermal_shock_on_the_head_is_a_held_excursion_then_recovers() -> None:
    clean, shocked = CoaterLine(7), CoaterLine(7)
    shocked.inject(FaultSpec("thermal_shock", "coater.head", 5.0, 15.0, duration_s=10.0))
    a, b = run_until(clean, 120.0, every_ms=100), run_until(shocked, 120.0, every_ms=100)
    for i in range(1, 5):
        tag = f"coater.blade{i}.temperature"
        diff = values(b, tag) - values(a, tag)
        times = np.array([t for t, _ in a])
        assert np.all(np.abs(diff[(times > 8) & (times <= 15)] - 15.0) < 0.05)
        assert 0.0 < np.mean(diff[(times > 20) & (times <= 25)]) < 14.0, "recovering"
        assert np.all(np.abs(diff[times > 110]) < 1.0)


def test_oven_zone_step_moves_that_zone_only() -> None:
    clean, stepped = CoaterLine(8), CoaterLine(8)
    stepped.inject(FaultSpec("step", "coater.oven.zone2", 5.0, 10.0))
    a, b = run_until(clean, 90.0), run_until(stepped, 90.0)
    late = slice(-20, None)
    for j, expected in ((1, 0.0), (2, 10.0), (3, 0.0)):
        tag = f"coater.oven.zone{j}.temperature"
        diff = values(b, tag)[late] - values(a, tag)[late]
        assert np.mean(diff) == pytest.approx(expected, abs=0.5), tag


def test_drifts_on_one_blade_stack() -> None:
    clean, drifted = CoaterLine(9), CoaterLine(9)
    drifted.inject(FaultSpec("blade_pressure_drift", "coater.blade2", 1.0, 0.2, rate=0.2))
    drifted.inject(FaultSpec("step", "coater.blade2", 1.0, -0.5))
    a, b = run_until(clean, 5.0, every_ms=100), run_until(drifted, 5.0, every_ms=100)
    diff = values(b, "coater.blade2.pressure")[-10:] - values(a, "coater.blade2.pressure")[-10:]
    assert np.mean(diff) == pytest.approx(-0.3, abs=0.005)


def test_a_process_fault_leaves_unrelated_streams_untouched() -> None:
    clean, faulty = CoaterLine(10), CoaterLine(10)
    faulty.inject(FaultSpec("valve_coil_ageing", "coater.coolant.valve", 1.0, 6.0, rate=1.0))
    a, b = run_until(clean, 20.0), run_until(faulty, 20.0)
    for tag in ("coater.ambient.humidity", "coater.slurry.viscosity", "coater.coolant.temperature",
                "coater.line.speed", "coater.oven.zone1.temperature"):
        np.testing.assert_array_equal(values(a, tag), values(b, tag), err_msg=tag)
    assert not np.array_equal(values(a, "coater.coolant.flow"), values(b, "coater.coolant.flow"))


# -- ranges -----------------------------------------------------------------------------
def assert_in_range(line: CoaterLine, readings: list[tuple[float, dict]], strict: bool,
                    nan_ok: frozenset[str] = frozenset()) -> None:
    for signal in line.signals():
        if signal.kind != "measurement":
            continue
        x = np.array([m[signal.name] for _, m in readings], dtype=float)
        if signal.name in nan_ok:
            x = x[np.isfinite(x)]
        assert np.all(np.isfinite(x)), signal.name
        if strict:  # no saturation; only a count may sit at its natural zero
            above = x >= signal.low if signal.name == "coater.xray.wrinkles_per_m" else x > signal.low
            assert np.all(above & (x < signal.high)), signal.name
        else:
            assert np.all((x >= signal.low) & (x <= signal.high)), signal.name


def test_a_clean_run_stays_strictly_inside_every_range() -> None:
    line = CoaterLine(11, options={"humidity_period_s": 300.0, "humidity_amplitude": 20.0})
    assert_in_range(line, run_until(line, 300.0, every_ms=50), strict=True)


EXTREME_FAULTS = [
    FaultSpec("valve_coil_ageing", "coater.coolant.valve", 1.0, 20.0, rate=2.0),
    FaultSpec("blade_pressure_drift", "coater.blade3", 1.0, 5.0, rate=1.0),
    FaultSpec("blade_pressure_drift", "coater.blade1", 1.0, -5.0, rate=1.0),
    FaultSpec("step", "coater.oven.zone2", 1.0, 30.0),
    FaultSpec("step", "coater.slurry", 1.0, 3000.0),
    FaultSpec("step", "coater.coolant", 1.0, 15.0),
    FaultSpec("step", "coater.line", 1.0, -20.0),
    FaultSpec("thermal_shock", "coater.head", 1.0, 60.0),
    FaultSpec("thermal_shock", "coater.oven.zone3", 1.0, -30.0),
    FaultSpec("sensor_bias", "coater.ambient.humidity", 1.0, 500.0),
    FaultSpec("sensor_noise_burst", "coater.blade2.temperature", 1.0, 100.0),
    FaultSpec("sensor_stuck", "coater.xray.thickness_profile", 1.0),
    FaultSpec("sensor_dropout", "coater.coolant.flow", 1.0, duration_s=5.0),
    FaultSpec("sensor_clock_skew", "coater.line.speed", 1.0, 10.0),
]


@pytest.mark.parametrize("fault", EXTREME_FAULTS, ids=lambda f: f"{f.kind}-{f.target}")
def test_measurements_stay_in_range_under_each_fault(fault: FaultSpec) -> None:
    line = CoaterLine(12)
    line.inject(fault)
    line.apply_setpoint("coater.line.speed_sp", 55.0)
    readings = run_until(line, 60.0, every_ms=50)
    nan_ok = frozenset({fault.target}) if fault.kind == "sensor_dropout" else frozenset()
    assert_in_range(line, readings, strict=False, nan_ok=nan_ok)
