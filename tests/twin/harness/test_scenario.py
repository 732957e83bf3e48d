"""Scenario files: every shipped file is valid; a broken one names the field and its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from qtconfig import ConfigError
from tests.conftest import REPO
from twin.harness.scenario import load_scenario

SHIPPED = sorted(p for p in (REPO / "scenarios").glob("*.yaml") if not p.stem.startswith("supply_"))

GOOD = """\
name: tiny
plant: coater
seed: 1
duration_s: 10
scan_ms: 10
faults:
  - kind: blade_pressure_drift
    target: coater.blade3
    start_s: 2
    magnitude: 0.3
"""


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_scenarios_are_valid(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.name == path.stem
    assert scenario.faults or path.stem.endswith("_clean"), "every shipped scenario but a *_clean one injects a fault"


def test_at_least_three_coater_scenarios_ship() -> None:
    names = {p.stem for p in SHIPPED}
    assert {"coater_coil_ageing", "coater_blade_drift", "coater_sensor_stuck"} <= names


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("seed: 1", "seed: -4", "field seed (line 3)"),
        ("duration_s: 10", "duration_s: ten", "field duration_s (line 4)"),
        ("    start_s: 2", "    start_s: 2\n    colour: red", "field faults[0].colour (line 10)"),
        ("  - kind: blade_pressure_drift", "  - kind: blade_explodes", "field faults[0].kind (line 7)"),
        ("    target: coater.blade3", "    target: coater.blade9", "field faults[0].target (line 8)"),
        ("plant: coater", "plant: bakery", "field plant (line 2): Value error, unknown plant 'bakery'"),
        ("    start_s: 2", "    start_s: 20", "field faults[0].start_s (line 9): the fault starts at 20 s"),
        ("scan_ms: 10", "scan_ms: [10", "line 5: YAML syntax error"),  # the line of the open bracket
    ],
)
def test_broken_scenario_names_field_and_line(tmp_path: Path, old: str, new: str, expected: str) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(GOOD.replace(old, new, 1))
    with pytest.raises(ConfigError) as err:
        load_scenario(path)
    assert expected in str(err.value)
    assert str(path) in str(err.value)


def test_bad_target_lists_the_valid_ones(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(GOOD.replace("coater.blade3", "coater.blade9"))
    with pytest.raises(ConfigError, match="valid: coater.blade1, coater.blade2"):
        load_scenario(path)


def test_missing_required_field_is_named(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(GOOD.replace("seed: 1\n", ""))
    with pytest.raises(ConfigError, match="field seed: Field required"):
        load_scenario(path)
