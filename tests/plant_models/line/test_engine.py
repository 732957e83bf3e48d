"""The declarative line engine: dynamics, servo loops, forms, parts and lots, faults, truth."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plant_models.base import FaultSpec
from plant_models.line import starter_template_path
from plant_models.line.compile import form_value
from plant_models.line.model import LineModel
from plant_models.line.template import Input
from twin.harness.scores import expected_answer

SOURCE = """\
line: t
tick_ms: 100
period_ms: 100
assets:
  u:
    conditions:
      wear: {initial: 0, range: [-50, 50], fault_range: [-20, 20]}
    signals:
      sp: {kind: setpoint, range: [-100, 100], nominal: 10}
      y:
        range: [-1000, 1000]
        nominal: 5
        inputs: [INPUT]
"""


def model_with(tmp_path: Path, text: str, seed: int = 0) -> LineModel:
    path = tmp_path / "line.yaml"
    path.write_text(text, encoding="utf-8")
    return LineModel(path, seed)


def value(line: LineModel, name: str) -> float:
    return float(line.x[line.compiled.nodes[name].index])


FORMS = st.sampled_from([
    "{from: sp, gain: G}",
    "{from: sp, form: saturation, low: 0, high: 30, gain: G}",
    "{from: sp, form: hinge, threshold: 15, gain: G}",
    "{from: sp, form: hinge, threshold: 15, below: true, gain: G}",
    "{from: [sp, wear], form: product, gain: G}",
    "{from: sp, form: table, points: [[-100, -3], [0, 0], [20, 8], [100, 9]], gain: G}",
])


@settings(max_examples=30)
@given(form=FORMS, gain=st.floats(-5, 5).filter(lambda g: abs(g) > 1e-3), setpoint=st.floats(-100, 100),
       wear=st.floats(-20, 20))
def test_an_instant_signal_is_its_nominal_plus_what_each_input_moved(
        tmp_path_factory: pytest.TempPathFactory, form: str, gain: float, setpoint: float, wear: float) -> None:
    text = SOURCE.replace("INPUT", form.replace("G", repr(gain)))
    line = model_with(tmp_path_factory.mktemp("f"), text)
    item = Input.model_validate(_input(form, gain))
    line.env.run(until=200)
    assert value(line, "t.u.y") == pytest.approx(5.0)  # at nominal inputs, the nominal
    line.apply_setpoint("t.u.sp", setpoint)
    line.inject(FaultSpec("step", "t.u.wear", start_s=0.3, magnitude=wear))
    line.env.run(until=1_000)
    now = [setpoint, wear][:len(item.sources)]
    nominal = [10.0, 0.0][:len(item.sources)]
    expected = 5.0 + form_value(item, now) - form_value(item, nominal)
    assert value(line, "t.u.y") == pytest.approx(expected, rel=1e-9, abs=1e-9)


def _input(form: str, gain: float) -> dict[str, object]:
    from ruamel.yaml import YAML

    return YAML(typ="safe").load(form.replace("G", repr(gain)))


def test_a_lag_is_first_order_and_a_dead_time_delays(tmp_path: Path) -> None:
    text = SOURCE.replace("        inputs: [INPUT]", "        lag_s: 5\n        dead_time_s: 2\n"
                                                     "        inputs: [{from: sp, gain: 1}]")
    line = model_with(tmp_path, text)
    line.env.run(until=1_000)
    line.apply_setpoint("t.u.sp", 20.0)  # +10 at t = 1 s
    line.env.run(until=2_900)
    assert value(line, "t.u.y") == pytest.approx(5.0)  # still inside the dead time
    line.env.run(until=3_100 + 5_000)  # one time constant after the dead time
    moved = (value(line, "t.u.y") - 5.0) / 10.0
    assert moved == pytest.approx(1 - math.exp(-1), abs=0.03)
    line.env.run(until=60_000)
    assert value(line, "t.u.y") == pytest.approx(15.0, abs=1e-3)


SERVO = """\
line: s
tick_ms: 10
period_ms: 100
assets:
  press:
    conditions:
      leak: {initial: 0, range: [0, 100], fault_range: [0, 100]}
    signals:
      force_sp: {kind: setpoint, range: [0, 20], nominal: 10}
      force:
        range: [0, 50]
        nominal: 10
        lag_s: 0.2
        servo: {setpoint: force_sp, kp: 0.5, ki: 5, gain: 0.2, output_range: [0, 80], output_name: valve,
                output_measured: true}
        inputs: [{from: leak, gain: -0.1}]
"""


def test_a_servo_follows_its_setpoint_and_a_disturbance_shows_once_it_saturates(tmp_path: Path) -> None:
    line = model_with(tmp_path, SERVO)
    line.env.run(until=5_000)
    line.apply_setpoint("s.press.force_sp", 12.0)
    line.env.run(until=20_000)
    assert value(line, "s.press.force") == pytest.approx(12.0, abs=0.01)  # a write acts through the loop
    valve_before = value(line, "s.press.valve")
    line.inject(FaultSpec("step", "s.press", start_s=20.0, magnitude=30.0))  # -3 kN the valve can make up
    line.env.run(until=40_000)
    assert value(line, "s.press.force") == pytest.approx(12.0, abs=0.01)
    assert value(line, "s.press.valve") == pytest.approx(valve_before + 15.0, abs=0.1)
    line.inject(FaultSpec("step", "s.press.leak", start_s=40.0, magnitude=70.0))  # more than the valve has
    line.env.run(until=60_000)
    assert value(line, "s.press.valve") == pytest.approx(80.0)  # saturated
    assert value(line, "s.press.force") == pytest.approx(0.2 * 80 - 10.0, abs=0.05)  # the leak shows
    assert "s.press.valve" in line.measurements()


def test_the_same_seed_gives_the_same_run_and_another_seed_another() -> None:
    def run(seed: int) -> dict[str, object]:
        line = LineModel(starter_template_path(), seed)
        line.inject(FaultSpec("condition_drift", "starter.coolant.pump_wear", start_s=10, magnitude=30))
        line.env.run(until=120_000)
        return line.measurements()

    a, b, c = run(4), run(4), run(5)
    for tag in a:
        np.testing.assert_array_equal(a[tag], b[tag])
    assert any(not np.array_equal(a[tag], c[tag]) for tag in a)


def test_condition_faults_have_their_shapes_and_are_recorded(tmp_path: Path) -> None:
    line = model_with(tmp_path, SOURCE.replace("INPUT", "{from: wear, gain: 1}"))
    line.inject(FaultSpec("condition_drift", "t.u", start_s=10, magnitude=6.0, rate=0.1))
    line.inject(FaultSpec("thermal_shock", "t.u.wear", start_s=200, magnitude=8.0, duration_s=10,
                          params={"rise_s": 1.0, "recovery_s": 5.0}))
    offsets = []
    for t in (9, 40, 70, 100, 205, 215, 260, 400):
        line.env.run(until=t * 1000)
        offsets.append(value(line, "t.u.y") - 5.0)
    assert offsets[0] == pytest.approx(0.0)
    assert offsets[1] == pytest.approx(3.0, abs=0.02) and offsets[2] == pytest.approx(6.0)  # 0.1 per s, to 6
    assert offsets[3] == pytest.approx(6.0)
    assert offsets[4] == pytest.approx(14.0, abs=0.01)  # the shock on top, risen
    assert 6.0 < offsets[5] < 14.0 and offsets[6] == pytest.approx(6.0, abs=0.01)  # recovering, then gone
    assert [f["kind"] for f in line.truth()] == ["condition_drift", "thermal_shock"]
    assert line.truth()[0]["rate"] == 0.1 and line.truth()[1]["duration_s"] == 10


def test_an_oscillation_stays_within_its_amplitude_and_ends(tmp_path: Path) -> None:
    line = model_with(tmp_path, SOURCE.replace("INPUT", "{from: wear, gain: 1}"))
    line.inject(FaultSpec("oscillation", "t.u.wear", start_s=1, magnitude=4.0, duration_s=30,
                          params={"period_s": 10}))
    seen = []
    for t in range(1_000, 31_000, 500):
        line.env.run(until=t)
        seen.append(value(line, "t.u.y") - 5.0)
    assert max(seen) == pytest.approx(4.0, abs=0.1) and min(seen) == pytest.approx(-4.0, abs=0.1)
    line.env.run(until=40_000)
    assert value(line, "t.u.y") == pytest.approx(5.0)


def test_bad_faults_are_named(tmp_path: Path) -> None:
    line = model_with(tmp_path, SOURCE.replace("INPUT", "{from: wear, gain: 1}"))
    with pytest.raises(ValueError, match="cannot target 't.u.y'.*valid targets: t.u, t.u.wear"):
        line.inject(FaultSpec("step", "t.u.y", start_s=1, magnitude=1))
    with pytest.raises(ValueError, match="magnitude 30.0 of step on t.u is outside -20..20"):
        line.inject(FaultSpec("step", "t.u", start_s=1, magnitude=30))
    with pytest.raises(ValueError, match="unknown fault kind 'valve_coil_ageing'"):
        line.inject(FaultSpec("valve_coil_ageing", "t.u", start_s=1, magnitude=1))
    with pytest.raises(ValueError, match="unknown parameter 'rise_s' for oscillation"):
        line.inject(FaultSpec("oscillation", "t.u", start_s=1, magnitude=1, params={"rise_s": 1}))


def test_sensor_faults_act_on_the_measured_tag_only(tmp_path: Path) -> None:
    line = LineModel(starter_template_path(), 1)
    line.inject(FaultSpec("sensor_bias", "starter.coolant.flow", start_s=10, magnitude=3.0))
    line.inject(FaultSpec("sensor_dropout", "starter.press.push_out_force", start_s=10))
    line.env.run(until=60_000)
    assert line.measurements()["starter.coolant.flow"] == pytest.approx(23.0, abs=0.5)
    assert value(line, "starter.coolant.flow") == pytest.approx(20.0, abs=0.01)  # the process is untouched
    assert math.isnan(line.measurements()["starter.press.push_out_force"])


def test_lots_number_the_parts_and_a_wider_supplier_spread_shows_from_the_next_lot() -> None:
    line = LineModel(starter_template_path(), 2)
    line.inject(FaultSpec("step", "starter.supplier.spread", start_s=500, magnitude=6.0))
    line.env.run(until=1_400_000)
    log = line.parts_log
    assert [r["bushing_lot"] for r in log] == [(r["part_id"] - 1) // 100 + 1 for r in log]
    onset_lot = next(r["bushing_lot"] for r in log if r["t_s"] >= 500 - 3)  # the part started before the onset
    before = [r["interference"] for r in log if r["bushing_lot"] < onset_lot]
    after = [r["interference"] for r in log if r["bushing_lot"] > onset_lot]
    assert np.std(before) < 2.0 < np.std(after)
    assert line.measurements()["starter.press.bushing_lot"] == log[-1]["bushing_lot"]


def test_per_part_wear_accumulates_and_resets(tmp_path: Path) -> None:
    text = """\
line: w
period_ms: 1000
assets:
  gun:
    conditions:
      tip: {initial: 0, range: [0, 10], per_part: 0.1, reset_every_parts: 5, count_tag: welds_since_dressing}
parts:
  cycle_s: 1
  stations:
    - asset: gun
      process_s: 0.5
      measure:
        nugget: {kind: quality, range: [0, 10], nominal: 6, spec: [5.0, null], inputs: [{from: tip, gain: -4}]}
"""
    line = model_with(tmp_path, text)
    line.env.run(until=7_100)  # the 7th weld left at 6.5 s, tags sampled at 7 s
    nuggets = [round(r["nugget"], 6) for r in line.parts_log]
    assert nuggets == [6.0, 5.6, 5.2, 4.8, 4.4, 6.0, 5.6]  # wear 0.1 per weld, dressed after the fifth
    assert [r["rejected"] for r in line.parts_log] == [False, False, False, True, True, False, False]
    assert line.measurements()["w.gun.welds_since_dressing"] == 2
    assert line.measurements()["w.gun.reject_rate"] == pytest.approx(100 * 2 / 7)


def test_a_curve_per_part_is_its_base_plus_weighted_inputs() -> None:
    line = LineModel(starter_template_path(), 3)
    line.env.run(until=30_000)
    curve = line.measurements()["starter.press.press_curve"]
    record = line.parts_log[-1]
    expected = np.linspace(0, 12, 20) + 0.1 * (record["interference"] - 20) * np.linspace(0, 1, 20)
    assert curve.shape == (20,)
    assert np.abs(curve - expected).max() < 0.3  # the curve's own noise is 0.05 per point


def test_the_truth_graph_is_derived_from_the_declarations_and_names_the_asset() -> None:
    line = LineModel(starter_template_path(), 0)
    graph = line.causal_graph()
    assert graph.has_edge("starter.coolant.pump_wear", "starter.coolant.flow")
    assert graph.has_edge("starter.press.force_sp", "starter.press.valve")
    assert graph.has_edge("starter.press.valve", "starter.press.force")
    assert graph.has_edge("starter.supplier.spread", "part.interference")
    assert not graph.nodes["starter.coolant.pump_wear"]["observed"]
    drift = FaultSpec("condition_drift", "starter.coolant", start_s=1, magnitude=10)
    assert line.cause_node(drift) == "starter.coolant.pump_wear"
    assert expected_answer(line, drift) == "starter.coolant"
    stuck = FaultSpec("sensor_stuck", "starter.coolant.flow", start_s=1)
    assert expected_answer(line, stuck) == "starter.coolant.flow"


def test_a_setpoint_write_outside_its_range_is_refused() -> None:
    line = LineModel(starter_template_path(), 0)
    with pytest.raises(ValueError, match="outside 0..20"):
        line.apply_setpoint("starter.press.force_sp", 25)
    with pytest.raises(KeyError, match="unknown setpoint"):
        line.apply_setpoint("starter.press.force", 5)


def test_process_noise_is_what_a_servo_works_against(tmp_path: Path) -> None:
    quiet = model_with(tmp_path, SERVO)
    noisy_path = tmp_path / "noisy"
    noisy_path.mkdir()
    noisy_text = SERVO.replace("        lag_s: 0.2\n", "        lag_s: 0.2\n        process_noise: 0.5\n")
    noisy = model_with(noisy_path, noisy_text)
    valves = {id(m): [] for m in (quiet, noisy)}
    for t in range(10_000, 30_000, 500):
        for model in (quiet, noisy):
            model.env.run(until=t)
            valves[id(model)].append(value(model, "s.press.valve"))
    assert np.std(valves[id(quiet)]) < 1e-9 < 0.1 < np.std(valves[id(noisy)])  # the output now moves
    assert abs(np.mean(valves[id(noisy)]) - 50.0) < 2.0  # around its nominal: 10 N / 0.2


def test_part_attributes_resolve_to_the_same_station_first(tmp_path: Path) -> None:
    text = """\
line: r
assets:
  a: {}
  b: {}
parts:
  cycle_s: 1
  stations:
    - asset: a
      process_s: 0.5
      measure:
        x: {range: [0, 100], nominal: 10}
        y: {range: [0, 100], nominal: 1}
    - asset: b
      process_s: 0.5
      measure:
        x: {range: [0, 100], nominal: 20}
        z: {range: [0, 100], nominal: 5, inputs: [{from: part.x}]}
        w: {range: [0, 100], nominal: 5, inputs: [{from: part.y}]}
"""
    line = model_with(tmp_path, text)
    nodes = line.compiled.nodes
    assert nodes["r.b.z"].inputs[0][1] == ["r.b.x"]  # b's own x, not a's
    assert nodes["r.b.w"].inputs[0][1] == ["r.a.y"]  # an earlier station's, when b has none


def test_the_scored_quality_metric_can_be_chosen(tmp_path: Path) -> None:
    from plant_models.line.compile import TemplateError, quality_characteristics

    text = starter_template_path().read_text(encoding="utf-8")
    chosen = model_with(tmp_path, text.replace("line: starter ",
                                               "quality_metric: starter.press.scratches\nline: starter "))
    assert quality_characteristics(chosen.compiled)[0].tag == "starter.press.scratches"
    assert quality_characteristics(LineModel(starter_template_path(), 0).compiled)[0].tag == \
        "starter.press.push_out_force"  # default: the first with spec limits
    with pytest.raises(TemplateError, match="quality_metric 'starter.press.force' is not a kind: quality"):
        model_with(tmp_path, text.replace("line: starter ", "quality_metric: starter.press.force\nline: starter "))
