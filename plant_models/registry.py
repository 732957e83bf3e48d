"""Build plant models by name, as scenario files refer to them.

Examples
--------
>>> known_plants()
['coater', 'tennessee_eastman']
>>> build_plant("coater", seed=3, options={"blades": 6}).blades
6
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from plant_models.base import PlantModel
from plant_models.coater import CoaterLine


def _build_coater(seed: int, options: dict[str, Any]) -> PlantModel:
    return CoaterLine(seed, blades=options.get("blades", 4), options=options)


def _build_tennessee_eastman(seed: int, options: dict[str, Any]) -> PlantModel:
    from plant_models.tennessee_eastman import TennesseeEastmanPlant  # tep-studio loads scipy and pandas: ~0.6 s

    return TennesseeEastmanPlant(seed, options=options)


_BUILDERS: dict[str, Callable[[int, dict[str, Any]], PlantModel]] = {
    "coater": _build_coater,
    "tennessee_eastman": _build_tennessee_eastman,
}


def known_plants() -> list[str]:
    """Names :func:`build_plant` accepts, sorted."""
    return sorted(_BUILDERS)


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
    if name not in _BUILDERS:
        raise ValueError(f"unknown plant {name!r}; known plants: {known_plants()}")
    return _BUILDERS[name](seed, dict(options or {}))
