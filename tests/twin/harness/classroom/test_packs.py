"""Exercise packs: the shipped ones validate (without running), and a broken pack is refused with an error naming
its file, the field and the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from qtconfig import ConfigError
from tests.conftest import REPO
from twin.harness.classroom.exercise import exercises_dir
from twin.harness.classroom.packs import list_builds, load_pack, shipped_packs, start_build
from twin.harness.scenario import load_scenario

SCENARIOS = REPO / "scenarios"


def test_every_shipped_pack_validates() -> None:
    packs = shipped_packs(REPO)
    assert {p.stem for p in packs} >= {"coater", "tennessee_eastman", "leak_test"}
    plants = {}
    for path in packs:
        pack = load_pack(path)
        assert 2 <= len(pack.exercises) <= 3, path
        for spec in pack.exercises:
            scenario = load_scenario((path.parent / spec.scenario).resolve())
            plants.setdefault(path.stem, set()).add(scenario.plant_options.get("template", scenario.plant))
            assert spec.duration_s is None or spec.duration_s > min(f.start_s for f in scenario.faults)
            assert scenario.name not in spec.name and scenario.name not in spec.question  # the name tells nothing
    assert plants["coater"] == {"coater"} and plants["tennessee_eastman"] == {"tennessee_eastman"}
    assert {Path(t).name for t in plants["leak_test"]} == {"line.yaml"}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pack.yaml"
    path.write_text(text)
    return path


GOOD = f"""\
name: trial
exercises:
  - name: one
    scenario: {SCENARIOS / 'coater_blade_drift.yaml'}
    duration_s: 240
"""


def refusal(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_pack(path)
    message = str(err.value)
    assert message.startswith(f"{path}:"), message
    return message


def test_a_good_pack_loads(tmp_path: Path) -> None:
    pack = load_pack(write(tmp_path, GOOD))
    assert pack.exercises[0].roles == ["test", "process", "after_sales"] and pack.exercises[0].max_attempts == 3


@pytest.mark.parametrize(("change", "expected"), [
    (("    duration_s: 240\n", "    duraton_s: 240\n"),
     "field exercises[0].duraton_s (line 5): unknown key 'duraton_s'; did you mean 'duration_s'?"),
    (("coater_blade_drift.yaml", "no_such.yaml"), "field exercises[0].scenario (line 4): no scenario file"),
    (("    duration_s: 240\n", "    duration_s: 100\n"),
     "field exercises[0].duration_s (line 5): the run ends at 100 s, before the fault starts at 150 s"),
    (("    duration_s: 240\n", "    duration_s: 240\n    roles: [test, boss]\n"),
     "field exercises[0].roles[1] (line 6)"),
    (("  - name: one\n", "  - name: ../one\n"), "field exercises[0].name (line 3): Value error, 1 to 60 letters"),
    (("    duration_s: 240\n", "    duration_s: 240\n    accept_actions: [pray]\n"),
     "field exercises[0].accept_actions (line 6): ['pray'] are not rules of the playbook"),
    (("name: trial\n", "name: trial\nexercise: []\n"), "field exercise (line 2): unknown key 'exercise'"),
    (("  - name: one\n", "  - name: one\n  bad\n"), "line 4: YAML syntax error"),
])
def test_a_broken_pack_names_file_field_and_line(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    assert change[0] in GOOD
    assert expected in refusal(tmp_path, GOOD.replace(*change, 1))


def test_two_exercises_of_one_name_and_a_supply_scenario_are_refused(tmp_path: Path) -> None:
    twice = GOOD + GOOD.split("exercises:\n", 1)[1]
    assert "field exercises[1].name (line 6): exercise name 'one' is also exercises[0]'s" in refusal(tmp_path, twice)
    supply = GOOD.replace("coater_blade_drift.yaml", "supply_clean.yaml")
    assert "field exercises[0].scenario (line 4)" in refusal(tmp_path, supply)
    assert "is a supply scenario or a hall" in refusal(tmp_path, supply)


def test_a_build_that_would_overwrite_is_refused_before_any_job_starts(tmp_path: Path) -> None:
    pack_file = shipped_packs(REPO)[0]
    taken = load_pack(pack_file).exercises[1].name
    (exercises_dir(tmp_path) / taken).mkdir(parents=True)
    with pytest.raises(ValueError, match=f"{taken} already exist"):
        start_build(tmp_path, pack_file=pack_file)
    with pytest.raises(ValueError, match="a pack file or an exercise spec"):
        start_build(tmp_path)
    assert list_builds(tmp_path) == [] and not (tmp_path / "builds").exists()
