"""The Tennessee Eastman benchmark process (through ``tep-studio``) behind the same virtual PLC.

:mod:`~plant_models.tennessee_eastman.model` is the plant, :mod:`~.signals` its tags and
disturbances, :mod:`~.faults` its fault processes; beside them its knowledge file, playbook and
trained root-cause model (:data:`SPEC`). The model is imported only when a plant is built:
tep-studio loads scipy and pandas (~0.6 s).
"""

from __future__ import annotations

from typing import Any

from plant_models.base import PlantModel
from plant_models.spec import PlantSpec, QualityCharacteristic


def _build(seed: int, options: dict[str, Any]) -> PlantModel:
    from plant_models.tennessee_eastman.model import TennesseeEastmanPlant

    return TennesseeEastmanPlant(seed, options=options)


# stream 11's G content: the product the plant is run to make (its G/H mix is the spec)
QUALITY = (QualityCharacteristic("tep.analyser.product.g_pct"),)

SPEC = PlantSpec(name="tennessee_eastman", package=__name__, build=_build, quality=lambda options: QUALITY,
                 description="the Tennessee Eastman challenge process (Downs & Vogel) with its 28 disturbances")
