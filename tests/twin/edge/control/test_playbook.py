"""Playbooks: the shipped ones fit their plants' tag maps; a broken one names field and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from plant_models.registry import plant_spec
from qtconfig import ConfigError
from tests.conftest import REPO
from tests.mqtt_support import toy_tagmap
from twin.contracts import Candidate
from twin.edge.control.playbook import expand, load_playbook
from twin.harness.episode import build_episode_plant, scenario_tagmap
from twin.harness.scenario import load_scenario


@pytest.mark.parametrize("scenario", ["coater_coil_ageing.yaml", "tep_idv04.yaml"])
def test_shipped_playbooks_fit_their_plants(scenario) -> None:
    spec = load_scenario(REPO / "scenarios" / scenario)
    tagmap = scenario_tagmap(spec, build_episode_plant(spec, spec.seed))
    playbook = load_playbook(plant_spec(tagmap.plant).playbook_file(), tagmap)
    assert playbook.plant == tagmap.plant and playbook.rules


def test_coater_playbook_answers_each_kind_of_diagnosis() -> None:
    playbook = load_playbook(plant_spec("coater").playbook_file())
    coil = playbook.rule_for(Candidate(asset="coater.coolant.valve", score=0.8))
    assert [expand(a.tag, Candidate(asset="x", score=1)) for a in coil.actions] == ["coater.coolant.valve.command"]
    blade = Candidate(asset="coater.blade3", score=0.7)
    (trim,) = playbook.rule_for(blade).actions
    assert expand(trim.tag, blade) == "coater.blade3.pressure_sp"
    assert expand(trim.signal, blade) == "coater.blade3.pressure"
    sensor = Candidate(asset="coater.blade3", score=0.9, kind="sensor", signal="coater.blade3.pressure")
    stuck = playbook.rule_for(sensor)
    assert not stuck.actions and "coater.blade3.pressure" in expand(stuck.work_order, Candidate(
        asset="coater.blade3", score=1, signal="coater.blade3.pressure"))
    assert playbook.rule_for(Candidate(asset="coater.unwinder", score=0.9)) is None
    assert playbook.rule_for(None) is None


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "t.yaml"
    path.write_text(text)
    return path


GOOD = """\
plant: t
rules:
  - name: coil
    match: {asset: t.coolant.valve}
    actions:
      - kind: restore
        tag: t.coolant.valve.command
        signal: t.coolant.flow
        gain: 2.0
        max_move: 10
"""


def test_a_good_toy_playbook_loads(tmp_path) -> None:
    assert load_playbook(write(tmp_path, GOOD), toy_tagmap()).rules[0].actions[0].gain == 2.0


@pytest.mark.parametrize(("edit", "message"), [
    (("kind: restore", "kind: nudge"), "field rules[0].actions[0].kind (line 6): Input should be 'step', 'set'"),
    (("max_move: 10", "max_move: -1"), "field rules[0].actions[0].max_move (line 10): Input should be greater than 0"),
    (("gain: 2.0", "gain: 2.0\n        colour: red"),
     "field rules[0].actions[0].colour (line 10): unknown key 'colour'"),
    (("        gain: 2.0\n", ""), "field rules[0].actions[0] (line 6): Value error, a restore action needs gain"),
    (("gain: 2.0", "gain: 2.0\n        by: 1"), "a restore action does not take by"),
    (("  - name: coil\n    match", "  - match"), "field rules[0].name (line 3): Field required"),
])
def test_schema_errors_name_field_and_line(tmp_path, edit, message) -> None:
    with pytest.raises(ConfigError) as err:
        load_playbook(write(tmp_path, GOOD.replace(*edit)))
    assert message in str(err.value)


@pytest.mark.parametrize(("edit", "message"), [
    (("tag: t.coolant.valve.command", "tag: t.coolant.flow"),
     "field rules[0].actions[0].tag (line 7): t.coolant.flow is not a read-write tag"),
    (("signal: t.coolant.flow", "signal: t.coolant.flw"),
     "field rules[0].actions[0].signal (line 8): t.coolant.flw is not a tag"),
    (("asset: t.coolant.valve", "asset: t.pump"), "field rules[0].match.asset (line 4): 't.pump' matches no asset"),
    (("plant: t", "plant: coater"), "field plant (line 1): playbook is for 'coater'"),
])
def test_tag_map_errors_name_field_and_line(tmp_path, edit, message) -> None:
    with pytest.raises(ConfigError) as err:
        load_playbook(write(tmp_path, GOOD.replace(*edit)), toy_tagmap())
    assert message in str(err.value)


def test_a_rule_that_does_nothing_is_an_error(tmp_path) -> None:
    text = "plant: t\nrules:\n  - name: idle\n    match: {asset: t.oven}\n"
    with pytest.raises(ConfigError, match=r"rules\[0\] \(line 3\).*neither actions nor a work_order"):
        load_playbook(write(tmp_path, text))


def test_a_rule_may_match_a_tagless_asset_the_knowledge_file_declares(tmp_path: Path) -> None:
    spec = load_scenario(REPO / "scenarios" / "coater_coil_ageing.yaml")
    tagmap = scenario_tagmap(spec, build_episode_plant(spec, spec.seed))
    path = tmp_path / "playbook.yaml"
    path.write_text("plant: coater\nrules:\n  - name: a bad slurry batch -> tell the supplier\n"
                    "    match: {asset: coater.slurry_supplier, kind: process}\n"
                    "    work_order: \"quarantine the batch; {asset} to investigate\"\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="'coater.slurry_supplier' matches no asset of the coater tag map"):
        load_playbook(path, tagmap)
    playbook = load_playbook(path, tagmap, extra_assets=["coater.slurry_supplier"])
    assert playbook.rule_for(Candidate(asset="coater.slurry_supplier", score=0.9)) is not None
    with pytest.raises(ConfigError, match="nor a node of the knowledge file"):
        load_playbook(path, tagmap, extra_assets=["coater.other_supplier"])
