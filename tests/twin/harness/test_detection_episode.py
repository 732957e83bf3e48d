"""Detection in the runner: alarms on injected faults, silence on clean runs (offline episodes)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.conftest import REPO
from twin.contracts import RunReport
from twin.harness.episode import EpisodeConfig, run_episode
from twin.harness.scenario import Scenario, load_scenario

pytestmark = pytest.mark.slow  # whole offline episodes per example, about 65 s

FLAGSHIP = load_scenario(REPO / "scenarios" / "coater_coil_ageing.yaml")
DRIFT = load_scenario(REPO / "scenarios" / "coater_blade_drift.yaml")
# whole episodes: few examples, and no shrinking (a failing seed is reported as found)
SLOW = settings(max_examples=3, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture],
                phases=[Phase.explicit, Phase.reuse, Phase.generate])


def run(spec: Scenario, out: Path, **config: object) -> RunReport:
    return asyncio.run(run_episode(spec, EpisodeConfig(out_dir=out, mode="offline", **config)))


def test_the_flagship_alarms_after_onset_on_the_coolant_path(tmp_path: Path) -> None:
    report = run(FLAGSHIP, tmp_path, duration_s=300)
    onset_ms = FLAGSHIP.faults[0].start_s * 1000
    assert report.alarms, "coil ageing went unnoticed"
    assert all(a["t_ms"] > onset_ms for a in report.alarms)
    first = report.alarms[0]
    assert first["tag"] in {"coater.coolant.valve.coil_current", "coater.coolant.flow"}
    assert first["t_ms"] - onset_ms <= 30_000
    assert set(first) >= {"id", "t_ms", "tag", "detector", "rule", "value", "limit", "state", "history"}
    assert first["history"][0]["state"] == "unack_active"
    rates = report.detection["alarm_rates"]
    assert rates["alarms"] == len(report.alarms) and "flood_periods" in rates and "per_10_min_max" in rates
    assert report.detection["monitored"]["change"] > 50 and report.detection["monitored"]["level"] > 50


@SLOW
@given(seed=st.integers(0, 2**31 - 1))
def test_a_clean_run_raises_no_alarm(tmp_path_factory, seed: int) -> None:  # noqa: ANN001
    clean = FLAGSHIP.model_copy(update={"faults": []})
    report = run(clean, tmp_path_factory.mktemp("clean"), seed=seed, duration_s=300)
    assert report.alarms == [], [(a["t_ms"], a["tag"], a["rule"]) for a in report.alarms]


@SLOW
@given(seed=st.integers(0, 2**31 - 1), magnitude=st.floats(0.1, 0.5), sign=st.sampled_from([1, -1]),
       blade=st.integers(1, 4))
def test_every_blade_drift_from_a_tenth_of_a_newton_is_caught_on_that_blade_before_it_completes(
    tmp_path_factory, seed: int, magnitude: float, sign: int, blade: int  # noqa: ANN001
) -> None:
    fault = DRIFT.faults[0].model_copy(update={"target": f"coater.blade{blade}", "magnitude": sign * magnitude,
                                               "rate": None})
    # with no rate given, the drift reaches its full size 120 s after onset
    report = run(DRIFT.model_copy(update={"faults": [fault]}), tmp_path_factory.mktemp("drift"), seed=seed,
                 duration_s=fault.start_s + 150)
    hits = [a for a in report.alarms if a["tag"] == f"coater.blade{blade}.pressure"]
    assert hits, [(a["t_ms"], a["tag"]) for a in report.alarms]
    assert hits[0]["t_ms"] - fault.start_s * 1000 <= 150_000
    assert hits[0]["value"] > hits[0]["limit"] if sign > 0 else hits[0]["value"] < hits[0]["limit"]


def test_detection_can_be_switched_off(tmp_path: Path) -> None:
    quiet = FLAGSHIP.model_copy(update={"detection": FLAGSHIP.detection.model_copy(update={"enabled": False})})
    report = run(quiet, tmp_path, duration_s=200)
    assert report.alarms == [] and report.detection["enabled"] is False


STUCK = load_scenario(REPO / "scenarios" / "coater_sensor_stuck.yaml")
FAST_SENSORS = ["coater.blade1.pressure", "coater.blade3.temperature", "coater.coolant.flow",
                "coater.coolant.valve.coil_current", "coater.unwinder.tension", "coater.line.speed"]


@SLOW
@given(seed=st.integers(0, 2**31 - 1), tag=st.sampled_from(FAST_SENSORS), onset=st.integers(125, 170))
def test_a_stuck_sensor_is_reported_stuck_and_only_that_sensor_alarms(tmp_path_factory, seed: int, tag: str,  # noqa: ANN001
                                                                       onset: int) -> None:
    """The frozen value is one raw sample, so a noisy sensor may also show a step: on that tag only."""
    fault = STUCK.faults[0].model_copy(update={"target": tag, "start_s": float(onset)})
    report = run(STUCK.model_copy(update={"faults": [fault]}), tmp_path_factory.mktemp("stuck"), seed=seed,
                 duration_s=onset + 30)
    assert {a["tag"] for a in report.alarms} == {tag}, [(a["tag"], a["detector"]) for a in report.alarms]
    stuck = [a for a in report.alarms if (a["detector"], a["rule"]) == ("flatline", "stuck")]
    assert len(stuck) == 1 and 0 < stuck[0]["t_ms"] - onset * 1000 <= 10_000
