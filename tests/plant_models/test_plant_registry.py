"""Building plants by name, and the per-part random streams."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from plant_models.base import FaultSpec, PlantModel
from plant_models.coater.model import CoaterLine
from plant_models.line import starter_template_path
from plant_models.registry import build_plant, known_plants, plant_spec
from plant_models.rng import rng_for, stable_hash


def test_known_plants_and_build() -> None:
    assert known_plants() == ["coater", "line", "tennessee_eastman"]
    plant = build_plant("coater", 3)
    assert isinstance(plant, PlantModel) and isinstance(plant, CoaterLine)
    assert plant.blades == 4
    wide = build_plant("coater", 3, {"blades": 6, "humidity_period_s": 600})
    assert isinstance(wide, CoaterLine) and wide.blades == 6


def test_unknown_plant_and_option_are_named() -> None:
    with pytest.raises(ValueError, match="'mixer'.*coater"):
        build_plant("mixer", 0)
    with pytest.raises(ValueError, match="'speed'.*humidity_amplitude"):
        build_plant("coater", 0, {"speed": 3})


def test_build_is_reproducible() -> None:
    a, b = build_plant("coater", 42), build_plant("coater", 42)
    for plant in (a, b):
        plant.env.run(until=1_500)
    np.testing.assert_array_equal(a.measurements()["coater.xray.thickness_profile"],
                                  b.measurements()["coater.xray.thickness_profile"])


@given(seed=st.integers(0, 2**63), name=st.text(min_size=1, max_size=30))
def test_streams_are_reproducible_and_named(seed: int, name: str) -> None:
    assert np.array_equal(rng_for(seed, name).random(3), rng_for(seed, name).random(3))
    assert not np.array_equal(rng_for(seed, name).random(3), rng_for(seed, name + "!").random(3))
    assert 0 <= stable_hash(name) < 2**32


def test_bad_seeds_are_refused() -> None:
    for seed in (-1, 1.5, True, "3"):
        with pytest.raises(ValueError, match="seed"):
            rng_for(seed, "x")  # type: ignore[arg-type]


@pytest.mark.parametrize(("name", "options"), [
    ("coater", {}), ("coater", {"blades": 6}), ("tennessee_eastman", {}),
    ("line", {"template": str(starter_template_path())}),
])
def test_every_catalogued_fault_is_one_the_plant_accepts_at_both_ends_of_its_range(
        name: str, options: dict[str, object]) -> None:
    spec = plant_spec(name)
    catalogue = spec.fault_catalogue(options)
    assert {r.family for r in catalogue} == ({"process"} if name == "tennessee_eastman" else {"process", "sensor"})
    plant = build_plant(name, 1, options)
    targets = plant.fault_targets()
    for entry in catalogue:
        if entry.target == "*":
            assert targets[entry.kind], entry
            continue
        assert entry.target in targets[entry.kind], entry
        for magnitude in {entry.low, entry.high, -entry.high if entry.signed else entry.high}:
            plant.inject(FaultSpec(entry.kind, entry.target, start_s=1.0, magnitude=magnitude))  # type: ignore[arg-type]
