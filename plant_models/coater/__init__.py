"""The battery-electrode coating line: the flagship plant.

:mod:`~plant_models.coater.model` is the SimPy line (``CoaterLine``), its physics in
:mod:`~plant_models.coater.physics`; beside them its knowledge file, playbook and trained
root-cause model (:data:`SPEC`).
"""

from __future__ import annotations

from typing import Any

from plant_models.base import PlantModel
from plant_models.spec import PlantSpec, QualityCharacteristic


def _build(seed: int, options: dict[str, Any]) -> PlantModel:
    from plant_models.coater.model import CoaterLine  # imported when built: the plant's modules import this package

    return CoaterLine(seed, blades=options.get("blades", 4), options=options)


# wrinkles sit at ~0.1 /m in control; 0.5 /m is five times that (the flagship fault drives them to ~1 /m)
QUALITY = (QualityCharacteristic("coater.xray.wrinkles_per_m", high=0.5),)

SPEC = PlantSpec(name="coater", package=__name__, build=_build, quality=lambda options: QUALITY,
                 description="battery-electrode coating line: unwinder, coating head with doctor blades, "
                             "3-zone oven, X-ray inspection, coolant loop")
