"""Hidden variants, small: each shipped coater fault starting in the first 30 s, with a baseline and without.

A small draw of ``benchmarks/hidden_variants.py`` (the full benchmark and its results:
``docs/results/hidden-variants.md``): one variant of each of the four shipped coater scenarios'
faults, on its shipped target, with an onset uniform in [0, 30] s, a magnitude ×0.6–1.6 of the
shipped (or catalogue) one and a new plant seed, run offline with a baseline learned once from a
separate clean run: every fault is detected, and the first diagnosis after the onset names it
among its first three, first for all but the stuck sensor, whose 30 s revision names it first. The
stuck sensor also runs on the warm-up fallback (120 s), which learns the stuck value as normal:
no alarm on it, and the sensor is not named.

Why top-3 for the stuck sensor: on eight other draws of this test (seeds 100-107) the first
diagnosis (5 s after the ``stuck`` alarm) named ``coater.blade3`` (process) first and the sensor
second in two, each revised to the sensor 30 s after the alarm; the other three kinds were named
first in all eight. The draw is seeded (the issue's number), not tuned.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.hidden_variants import Job, draw_variants, learn, run_job, side_seeds

pytestmark = pytest.mark.slow  # 1 learning run and 5 offline episodes, about 20 s

SEED = 25
SHIPPED = {"valve_coil_ageing": ["coater.coolant.valve"],        # scenarios/coater_coil_ageing.yaml
           "blade_pressure_drift": ["coater.blade3"],            # scenarios/coater_blade_drift.yaml
           "sensor_stuck": ["coater.blade3.pressure"],           # scenarios/coater_sensor_stuck.yaml
           "sensor_bias": ["coater.xray.thickness_mean"]}        # scenarios/coater_humidity_swing.yaml
DURATION_S = 200.0  # long enough past the 120 s warm-up for the fallback to have had its chance
SCAN_MS = 100


def test_faults_from_the_first_30_s_are_found_and_named_with_a_baseline_and_the_stuck_sensor_not_by_the_warm_up(
        tmp_path: Path) -> None:
    variants = draw_variants(SEED, 1, list(SHIPPED), onset_max_s=30.0, targets=SHIPPED, zero=False)
    assert [v.kind for v in variants] == list(SHIPPED) and all(0 <= v.onset_s <= 30 for v in variants)
    baseline, said = learn(side_seeds(SEED, 1), 150.0, SCAN_MS, tmp_path, 1)
    assert "learned" in said, said
    for v in variants:
        o = run_job(Job("baseline", v.seed, v, str(baseline), DURATION_S, SCAN_MS))
        case = f"{v.kind} on {v.target}, onset {v.onset_s} s, magnitude {v.magnitude}, seed {v.seed}"
        assert o.error is None and o.learned_from == "baseline", (case, o.error)
        assert o.detection_delay_s is not None, f"{case}: no alarm"
        assert o.top3, f"{case}: the first diagnosis after the onset named {o.named}, not {o.answer}"
        if v.kind == "sensor_stuck":
            assert (o.revision or o.named[0]) == o.answer, f"{case}: revised to {o.revision}, not {o.answer}"
        else:
            assert o.top1, f"{case}: the first diagnosis after the onset named {o.named}, not {o.answer}"
    stuck = next(v for v in variants if v.kind == "sensor_stuck")
    warm = run_job(Job("warmup", stuck.seed, stuck, None, DURATION_S, SCAN_MS))
    assert warm.error is None and warm.learned_from == "warmup"
    assert not [a for a in warm.alarm_list if a.startswith(f"{stuck.target} ")], warm.alarm_list
    assert not warm.top1  # the stuck value became the warm-up's normal
