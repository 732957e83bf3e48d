"""Scenario suites with score gates (issue 10): ``twin check`` over real offline episodes.

Plug-ins: ours, :mod:`tests.plugin_examples` by ``module:attr``, and the outside package
``examples/byo_detector`` installed into a scratch folder and found by its entry points.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from qtconfig import ConfigError
from tests.conftest import RAY_MISSING, REPO
from twin.cli import app
from twin.harness.suite import load_suite, parse_gate

runner = CliRunner()
DRIFT = REPO / "scenarios" / "coater_blade_drift.yaml"
FAST = {"faults": [{"kind": "blade_pressure_drift", "target": "coater.blade3", "start_s": 125, "magnitude": 0.6,
                    "rate": 0.05}]}


def write_suite(path: Path, entries: list[dict], gates: list[str], **extra: object) -> Path:
    path.write_text(yaml.safe_dump({"name": "t", "entries": entries, "gates": gates, **extra}))
    return path


@given(st.floats(-1e6, 1e6, allow_nan=False), st.sampled_from(["<=", "<", ">=", ">", "==", "!="]))
def test_a_gate_holds_exactly_when_its_comparison_does(threshold: float, op: str) -> None:
    gate = parse_gate(f"detection_delay_s.max {op} {threshold!r}")
    for value in (threshold - 1.0, threshold, threshold + 1.0):
        assert gate.holds(value) == eval(f"{value!r} {op} {threshold!r}")  # noqa: S307 - the reference


@pytest.mark.parametrize(("text", "message"), [
    ("detection_delay <= ", "write metric[.aggregate] op number"),
    ("detection_delay_s.p42 <= 3", "unknown aggregate 'p42'"),
])
def test_a_bad_gate_is_named(tmp_path: Path, text: str, message: str) -> None:
    path = write_suite(tmp_path / "s.yaml", [{"scenario": str(DRIFT), "seeds": [1]}], [text])
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_suite(path)


def test_a_missing_scenario_is_named(tmp_path: Path) -> None:
    path = write_suite(tmp_path / "s.yaml", [{"scenario": "nowhere.yaml", "seeds": [1]}], [])
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 2 and "no scenario file nowhere.yaml" in result.output


@pytest.mark.slow
def test_a_crashing_plugin_fails_only_its_episodes_and_junit_says_why(tmp_path: Path) -> None:
    crash = {"plugins": {"detector": "tests.plugin_examples:Crashing"}}
    path = write_suite(tmp_path / "s.yaml", [
        {"scenario": str(DRIFT), "seeds": [1], "duration_s": 200, "overrides": FAST, "label": "ours"},
        {"scenario": str(DRIFT), "seeds": [1, 2], "duration_s": 20, "overrides": crash, "label": "crashing"},
    ], ["detection_delay_s.max <= 60"])
    result = runner.invoke(app, ["check", str(path), "--out", str(tmp_path / "out"), "--jobs", "2"])
    assert result.exit_code == 1, result.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    status = {(c["label"], c["seed"]): c["status"] for c in summary["cases"]}
    assert status == {("ours", 1): "ok", ("crashing", 1): "error", ("crashing", 2): "error"}
    assert summary["gates"][0]["passed"] and summary["passed"] is False
    cases = ET.parse(tmp_path / "out" / "junit.xml").getroot().iter("testcase")
    errors = {c.get("name"): c.find("error") for c in cases}
    assert errors["ours[seed=1]"] is None
    assert "ZeroDivisionError: the team's detector divided by zero" in errors["crashing[seed=2]"].get("message")


@pytest.mark.slow
def test_a_hanging_plugin_is_stopped_by_the_episode_timeout(tmp_path: Path) -> None:
    hang = {"plugins": {"detector": {"use": "tests.plugin_examples:Hanging", "timeout_s": 100}}}
    path = write_suite(tmp_path / "s.yaml", [{"scenario": str(DRIFT), "seeds": [1], "duration_s": 20,
                                              "overrides": hang}], [], episode_timeout_s=3)
    result = runner.invoke(app, ["check", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    (case,) = json.loads((tmp_path / "out" / "summary.json").read_text())["cases"]
    assert case["status"] == "error" and "episode_timeout_s of 3 s" in case["message"]


@pytest.mark.slow
def test_a_baseline_regression_fails_with_the_old_and_new_figures(tmp_path: Path) -> None:
    entries = [{"scenario": str(DRIFT), "seeds": [1], "duration_s": 200, "overrides": FAST}]
    path = write_suite(tmp_path / "s.yaml", entries, ["top1_accuracy.mean >= 0", "detection_delay_s.max <= 200"])
    first = runner.invoke(app, ["check", str(path), "--out", str(tmp_path / "base")])
    assert first.exit_code == 0, first.output
    same = runner.invoke(app, ["check", str(path), "--out", str(tmp_path / "again"),
                               "--baseline", str(tmp_path / "base")])
    assert same.exit_code == 0, same.output  # the same seed: no regression
    # a deliberately worse diagnoser: it blames the line drive whatever alarmed
    worse = runner.invoke(app, ["check", str(path), "--out", str(tmp_path / "worse"), "--diagnoser",
                                "tests.plugin_examples:Misdirected", "--baseline", str(tmp_path / "base")])
    assert worse.exit_code == 1, worse.output
    summary = json.loads((tmp_path / "worse" / "summary.json").read_text())
    old = json.loads((tmp_path / "base" / "summary.json").read_text())["gates"][0]["value"]
    (regression,) = summary["regressions"]
    assert old > 0 and summary["gates"][0]["value"] == 0.0
    assert regression["message"] == f"top1_accuracy.mean fell from {old:.4g} to 0 (tolerance {0.05 * old:.3g})"
    assert "top1_accuracy.mean fell from" in worse.output


@pytest.fixture(scope="module")
def byo_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """examples/byo_detector installed (no dependencies, no network) into a scratch folder."""
    target = tmp_path_factory.mktemp("byo")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(REPO / "examples" / "byo_detector")],
                   check=True, timeout=300, capture_output=True)
    return target


def _with(package: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(package), str(REPO)])}


@pytest.mark.slow
@pytest.mark.parametrize(("detector", "passes"), [("zscore", True), ("zscore_lazy", False)])
def test_the_example_package_is_gated_by_twin_check(byo_package: Path, tmp_path: Path, detector: str,
                                                    passes: bool) -> None:
    path = write_suite(tmp_path / "s.yaml", [{"scenario": str(DRIFT), "seeds": [4], "duration_s": 240}],
                       ["detection_delay_s <= 60"])
    twin = Path(sys.executable).with_name("twin")
    done = subprocess.run([str(twin), "check", str(path), "--detector", detector, "--out", str(tmp_path / "o")],
                          env=_with(byo_package), capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == (0 if passes else 1), done.stdout + done.stderr
    (case,) = [c for c in ET.parse(tmp_path / "o" / "junit.xml").getroot().iter("testcase")
               if c.get("name") == "coater_blade_drift[seed=4]"]
    failure = case.find("failure")
    if passes:
        assert failure is None
    else:
        assert failure is not None and failure.get("message") == "detection_delay_s <= 60: measured never"


WORKED_EXAMPLE = '''
import os

def test_my_detector_catches_a_03_newton_blade_drift_within_60_s(virtual_plant):
    plant = virtual_plant("coater_blade_drift", seed=5, detector=os.environ["BYO_DETECTOR"],
                          overrides={"faults": []})
    plant.run(130)                                  # warm-up (120 s) and a little more
    assert plant.alarms == []                       # quiet before the fault
    plant.inject("blade_pressure_drift", "coater.blade3", magnitude=0.3, rate=0.0025)
    new = plant.run(60)
    assert any(a["tag"].startswith("coater.blade3") for a in new), "missed a 0.3 N drift within 60 s"


def test_the_report_and_the_historian(run_episode, historian):
    report = run_episode("coater_sensor_stuck", seed=2, detector=os.environ["BYO_DETECTOR"], duration_s=200)
    reader = historian(report)
    assert "coater.blade3.pressure" in reader.tags()
    assert report.scenario["plugins"]["detector"]["use"] == os.environ["BYO_DETECTOR"]
'''


@pytest.mark.slow
@pytest.mark.parametrize(("detector", "passes"), [("zscore", True), ("zscore_lazy", False)])
def test_the_pytest_plugin_runs_the_example_package(byo_package: Path, tmp_path: Path, detector: str,
                                                    passes: bool) -> None:
    (tmp_path / "test_team.py").write_text(WORKED_EXAMPLE)
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_team.py"],
                          env={**_with(byo_package), "BYO_DETECTOR": detector}, capture_output=True, text=True,
                          timeout=900, cwd=tmp_path)
    if passes:
        assert done.returncode == 0, done.stdout[-3000:]
        assert "2 passed" in done.stdout
    else:
        assert done.returncode == 1 and "missed a 0.3 N drift within 60 s" in done.stdout
        assert "1 failed, 1 passed" in done.stdout


def test_entry_gates_judge_only_their_own_episodes(tmp_path: Path) -> None:
    from twin.harness.suite.runner import CaseResult, judge

    path = write_suite(tmp_path / "s.yaml", [
        {"scenario": str(DRIFT), "seeds": [1, 2], "label": "loop", "gates": ["verified_delay_s.max <= 120"]},
        {"scenario": str(DRIFT), "seeds": [3], "label": "plain"},
    ], ["detection_delay_s.p90 <= 60"])
    suite = load_suite(path)
    cases = [CaseResult("loop", 1, "ok", metrics={"detection_delay_s": 5.0, "verified_delay_s": 70.0}),
             CaseResult("loop", 2, "ok", metrics={"detection_delay_s": 7.0, "verified_delay_s": 130.0}),
             CaseResult("plain", 3, "ok", metrics={"detection_delay_s": 9.0, "verified_delay_s": float("inf")})]
    gates = {g.gate: g for g in judge(suite, cases)}
    assert gates["detection_delay_s.p90 <= 60"].passed and gates["detection_delay_s.p90 <= 60"].episodes == 3
    loop = gates["loop: verified_delay_s.max <= 120"]
    assert (loop.value, loop.passed, loop.episodes) == (130.0, False, 2)  # the plain run's ∞ is not its business
    assert [c.failed_gates for c in cases] == [[], [{"gate": "verified_delay_s.max <= 120", "value": 130.0}], []]


def test_a_sentinel_score_is_gateable() -> None:
    from twin.harness.suite.metrics import episode_metrics

    report = {"faults": [{"onset_s": 10.0}], "durations": {"plant_s": 100.0},
              "scores": {"sentinel": {"recall": 0.93, "false_per_1000": 0.4}, "quality": {}}}
    metrics = episode_metrics(report)
    assert (metrics["sentinel_recall"], metrics["sentinel_false_per_1000"]) == (0.93, 0.4)
    assert parse_gate("sentinel_recall >= 0.9").holds(metrics["sentinel_recall"])
    assert "sentinel_recall" not in episode_metrics({**report, "scores": {"quality": {}}})


@pytest.mark.slow
def test_ray_gives_the_same_suite_results_as_the_local_pool(tmp_path: Path) -> None:
    """`twin check --backend ray` on a local Ray of two CPUs: the same episodes, metrics and gates as the pool."""
    pytest.importorskip("ray", reason=RAY_MISSING)
    entries = [{"scenario": str(DRIFT), "seeds": [1, 2], "duration_s": 20, "label": "drift"}]
    path = write_suite(tmp_path / "s.yaml", entries, ["false_alarms_per_hour.mean >= 0"])
    summaries = {}
    for backend in ("pool", "ray"):
        done = runner.invoke(app, ["check", str(path), "--jobs", "2", "--backend", backend, "--out",
                                   str(tmp_path / backend)])
        assert done.exit_code == 0, done.output
        summary = json.loads((tmp_path / backend / "summary.json").read_text())
        cases = [(c["label"], c["seed"], c["status"], c["metrics"]) for c in summary["cases"]]
        summaries[backend] = cases, summary["gates"]
    assert summaries["ray"] == summaries["pool"] and len(summaries["pool"][0]) == 2
    bad = runner.invoke(app, ["check", str(path), "--backend", "spark"])
    assert bad.exit_code == 2 and "--backend must be serial, pool or ray" in bad.output
