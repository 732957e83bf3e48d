"""Plug-in points (issue 10): outside detectors, diagnosers and control policies in the real runner.

Every test runs real offline episodes; the plug-ins live in :mod:`tests.plugin_examples` and are
named by ``module:attr`` the way a scenario names them.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.conftest import REPO
from twin.edge.plugins import PluginChoice, PluginChoices, PluginError
from twin.edge.plugins.registry import available, resolve
from twin.harness.episode import EpisodeConfig, run_episode
from twin.harness.scenario import load_scenario

DRIFT = REPO / "scenarios" / "coater_blade_drift.yaml"
FAST_DRIFT = {"faults": [{"kind": "blade_pressure_drift", "target": "coater.blade3", "start_s": 125,
                          "magnitude": 0.6, "rate": 0.05}]}


def _run(tmp_path: Path, duration_s: float, overrides: dict | None = None, **plugins: str | PluginChoice):
    scenario = load_scenario(DRIFT, overrides)
    choices = scenario.plugins.model_copy(update={k: PluginChoice(use=v) if isinstance(v, str) else v
                                                  for k, v in plugins.items()})
    config = EpisodeConfig(out_dir=tmp_path, mode="offline", duration_s=duration_s, plugins=choices)
    return asyncio.run(run_episode(scenario, config))


def test_ours_are_registered_by_the_same_entry_points_an_outside_package_uses() -> None:
    assert available("detector")["spc"] != "builtin", "quality-twin's own entry points are installed"
    assert {"graph", "random_walk"} <= set(available("diagnoser")) and "playbook" in available("control_policy")
    assert callable(resolve("detector", "tests.plugin_examples:Crashing"))


@pytest.mark.parametrize(("name", "message"), [
    ("nope", "no detector named 'nope'; known: "),
    ("tests.no_such_module:X", "cannot import module 'tests.no_such_module'"),
    ("tests.plugin_examples:Nothing", "has no attribute 'Nothing'"),
    ("tests.plugin_examples:CRASH_AT_MS", "is a int, not a factory"),
])
def test_a_bad_plugin_name_is_refused_with_what_is_wrong(name: str, message: str) -> None:
    with pytest.raises(PluginError, match=message.replace("(", r"\(").replace(")", r"\)")):
        resolve("detector", name)


def test_a_crashing_detector_fails_its_episode_with_a_message_and_keeps_what_was_collected(tmp_path: Path) -> None:
    with pytest.raises(PluginError) as caught:
        _run(tmp_path, 10.0, detector="tests.plugin_examples:Crashing")
    text = str(caught.value)
    assert "detector plug-in 'tests.plugin_examples:Crashing'" in text
    assert "ZeroDivisionError: the team's detector divided by zero" in text and "plant time 5000 ms" in text
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["stopped_early"].startswith("PluginError")
    assert report["counts"]["frames"] == 501  # every scan up to the one it crashed on (stored before detection)


def test_a_slow_detector_fails_on_its_time_budget(tmp_path: Path) -> None:
    slow = PluginChoice(use="tests.plugin_examples:Slow", options={"sleep_s": 0.3}, timeout_s=0.1)
    with pytest.raises(PluginError, match=r"observe\(\) took 0\.[3-9]\d s, over its timeout_s of 0.1 s"):
        _run(tmp_path, 3.0, detector=slow)


@pytest.mark.parametrize(("plugin", "problem"), [
    ("Malformed", "expected a list of Signal, got str"),
    ("Phantom", "Signal for unknown tag 'coater.blade9.pressure'"),
])
def test_malformed_output_is_named(tmp_path: Path, plugin: str, problem: str) -> None:
    with pytest.raises(PluginError, match=f"returned malformed output at plant time 2000 ms: {problem}"):
        _run(tmp_path, 5.0, detector=f"tests.plugin_examples:{plugin}")


@pytest.mark.slow
def test_an_outside_diagnoser_answers_the_alarms_of_our_detector(tmp_path: Path) -> None:
    report = _run(tmp_path, 230.0, FAST_DRIFT, diagnoser="tests.plugin_examples:Blame")
    assert report.alarms and report.diagnoses
    assert {d["method"] for d in report.diagnoses} == {"blame"}
    assert report.rootcause["diagnoser"] == "tests.plugin_examples:Blame"
    first_alarm = report.alarms[0]["tag"]
    assert report.diagnoses[0]["candidates"][0]["asset"] == first_alarm.rsplit(".", 1)[0]


@pytest.mark.slow
def test_an_outside_policy_cannot_write_past_the_interlocks(tmp_path: Path) -> None:
    overrides = {**FAST_DRIFT, "control": {"policy": "auto"}}
    report = _run(tmp_path, 230.0, overrides, control_policy="tests.plugin_examples:Overreach")
    corrections = [c for c in report.commands if c["kind"] == "correction"]
    assert corrections, "the policy proposed after the diagnosis"
    assert all(c["status"] == "refused" and c["refusal"]["code"] for c in corrections)
    assert all(c["value"] > 10 for c in corrections)  # it really asked for an out-of-range value
    # nothing reached the PLC: the set-point stayed where the plant started it
    from twin.edge.historian import HistorianReader

    with HistorianReader(tmp_path / "historian.duckdb") as reader:
        values = reader.window(tags=[corrections[0]["tag"]]).column("value").to_pylist()
    assert len(set(values)) == 1


def test_plugin_choices_accept_a_bare_name_and_a_cli_override() -> None:
    choices = PluginChoices.model_validate({"detector": "byo:Z", "diagnoser": {"use": "random_walk"}})
    assert choices.detector.use == "byo:Z" and choices.control_policy.use == "playbook"
    assert choices.with_names(detector="spc").detector.use == "spc"
    assert choices.with_names(diagnoser=None).diagnoser.use == "random_walk"


def test_ours_implement_the_protocols(tmp_path: Path) -> None:
    from rootcause.diagnoser import Diagnoser as OurDiagnoser
    from twin.edge.control.policy import ControlPolicy, PlaybookPolicy
    from twin.edge.detection.monitor import SubgroupMonitor
    from twin.edge.plugins import Detector, Diagnoser

    assert issubclass(SubgroupMonitor, Detector) and issubclass(OurDiagnoser, Diagnoser)
    assert issubclass(PlaybookPolicy, ControlPolicy)


def test_the_standalone_edge_takes_its_plugins_from_its_settings_file(tmp_path: Path) -> None:
    """``twin edge run --settings FILE`` (a real line's edge) reads the same ``plugins`` section."""
    from twin.edge.frames import ElementIndex
    from twin.edge.plugins.guard import GuardedDetector
    from twin.edge.plugins.registry import make_detector
    from twin.edge.settings import load_edge_settings
    from twin.harness.binding import plant_tagmap
    from twin.harness.episode import build_episode_plant

    (tmp_path / "edge.yaml").write_text("plugins:\n  detector: {use: 'tests.plugin_examples:Crashing'}\n")
    settings, base = load_edge_settings(tmp_path / "edge.yaml")
    tagmap = plant_tagmap(build_episode_plant(load_scenario(DRIFT), 1), 10)
    detector = make_detector(settings.plugins.detector, settings.detection, tagmap, ElementIndex(tagmap.tags), base)
    assert isinstance(detector, GuardedDetector) and type(detector.inner).__name__ == "Crashing"
    assert settings.plugins.diagnoser.use == "graph"  # the rest stay ours
