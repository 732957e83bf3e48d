"""The Tennessee Eastman benchmark process (through ``tep-studio``) behind the same virtual PLC.

:mod:`~plant_models.tennessee_eastman.model` is the plant, :mod:`~.signals` its tags and
disturbances, :mod:`~.faults` its fault processes; beside them its knowledge file, playbook and
trained root-cause model (:data:`SPEC`). The model is imported only when a plant is built:
tep-studio loads scipy and pandas (~0.6 s).
"""

from __future__ import annotations

from typing import Any

from plant_models.base import PlantModel
from plant_models.spec import FaultRange, PlantSpec, QualityCharacteristic


def _build(seed: int, options: dict[str, Any]) -> PlantModel:
    from plant_models.tennessee_eastman.model import TennesseeEastmanPlant

    return TennesseeEastmanPlant(seed, options=options)


# stream 11's G content: the product the plant is run to make (its G/H mix is the spec)
QUALITY = (QualityCharacteristic("tep.analyser.product.g_pct"),)

# a disturbance's magnitude scales its benchmark size (1.0); a sweep draws from a quarter of it up
MAGNITUDE_RANGE = (0.25, 1.0)


def fault_catalogue(options: dict[str, Any]) -> tuple[FaultRange, ...]:
    """Every kernel disturbance (IDV) as a ``step`` on its name, scaled 0.25..1 of its benchmark size."""
    from plant_models.tennessee_eastman.signals import DISTURBANCES

    return tuple(FaultRange("step", d.name, *MAGNITUDE_RANGE) for d in DISTURBANCES)


SPEC = PlantSpec(name="tennessee_eastman", package=__name__, build=_build, quality=lambda options: QUALITY,
                 faults=fault_catalogue,
                 description="the Tennessee Eastman challenge process (Downs & Vogel) with its 28 disturbances")
