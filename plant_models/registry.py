"""Plants by name, as scenario files refer to them: their specs (:mod:`plant_models.spec`) and builders.

Examples
--------
>>> known_plants()
['coater', 'line', 'tennessee_eastman']
>>> build_plant("coater", seed=3, options={"blades": 6}).blades
6
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import plant_models
from plant_models.base import PlantModel
from plant_models.spec import PlantSpec


def _discover() -> dict[str, PlantSpec]:
    """Every plant folder under ``plant_models/`` that exports a ``SPEC``: adding a plant touches its folder only."""
    specs: dict[str, PlantSpec] = {}
    for module in pkgutil.iter_modules(plant_models.__path__):
        if module.ispkg:
            spec = getattr(importlib.import_module(f"plant_models.{module.name}"), "SPEC", None)
            if isinstance(spec, PlantSpec):
                specs[spec.name] = spec
    return dict(sorted(specs.items()))


SPECS: dict[str, PlantSpec] = _discover()


def known_plants() -> list[str]:
    """Names :func:`build_plant` accepts, sorted."""
    return sorted(SPECS)


def plant_spec(name: str) -> PlantSpec:
    """The spec of plant ``name`` (``ValueError`` listing the known plants)."""
    if name not in SPECS:
        raise ValueError(f"unknown plant {name!r}; known plants: {known_plants()}")
    return SPECS[name]


def build_plant(name: str, seed: int, options: dict[str, Any] | None = None) -> PlantModel:
    """A fresh plant model ``name`` for the run ``seed``.

    Parameters
    ----------
    name:
        One of :func:`known_plants`.
    seed:
        The run's seed; the same seed gives the same measurements.
    options:
        Plant-specific options (for the coater: ``blades``, ``humidity_period_s``, ...;
        for the Tennessee Eastman plant: ``sample_period_s``);
        unknown keys raise ``ValueError`` naming the key.

    Raises
    ------
    ValueError
        For an unknown plant name (listing the known plants) or a bad option.
    """
    return plant_spec(name).build(seed, dict(options or {}))
