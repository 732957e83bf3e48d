"""The battery-electrode coating line: the flagship plant.

:mod:`~plant_models.coater.model` is the SimPy line (``CoaterLine``), its physics in
:mod:`~plant_models.coater.physics`; beside them its knowledge file, playbook and trained
root-cause model (:data:`SPEC`).
"""

from __future__ import annotations

from typing import Any

from plant_models.base import PlantModel
from plant_models.spec import SENSOR_FAULTS, FaultRange, PlantSpec, QualityCharacteristic


def _build(seed: int, options: dict[str, Any]) -> PlantModel:
    from plant_models.coater.model import CoaterLine  # imported when built: the plant's modules import this package

    return CoaterLine(seed, blades=options.get("blades", 4), options=options)


# wrinkles sit at ~0.1 /m in control; 0.5 /m is five times that (the flagship fault drives them to ~1 /m)
QUALITY = (QualityCharacteristic("coater.xray.wrinkles_per_m", high=0.5),)

def fault_catalogue(options: dict[str, Any]) -> tuple[FaultRange, ...]:
    """The coater's faults for a sweep: per kind and target, the |magnitude| range (Ω, N, K, mPa·s, m/min)."""
    blades = [f"coater.blade{i}" for i in range(1, int(options.get("blades", 4)) + 1)]
    zones = [f"coater.oven.zone{j}" for j in range(1, 4)]
    return (
        FaultRange("valve_coil_ageing", "coater.coolant.valve", 2.0, 10.0),
        *(FaultRange("blade_pressure_drift", b, 0.1, 0.6, signed=True) for b in blades),
        *(FaultRange("step", b, 0.2, 1.0, signed=True) for b in blades),
        *(FaultRange("step", z, 3.0, 12.0, signed=True) for z in zones),
        FaultRange("step", "coater.slurry", 300.0, 1500.0, signed=True),
        FaultRange("step", "coater.coolant", 1.0, 5.0, signed=True),
        FaultRange("step", "coater.line", 2.0, 8.0, signed=True),
        *(FaultRange("thermal_shock", z, 10.0, 40.0) for z in zones),
        FaultRange("thermal_shock", "coater.head", 5.0, 20.0),
        *SENSOR_FAULTS,
    )


SPEC = PlantSpec(name="coater", package=__name__, build=_build, quality=lambda options: QUALITY,
                 faults=fault_catalogue,
                 description="battery-electrode coating line: unwinder, coating head with doctor blades, "
                             "3-zone oven, X-ray inspection, coolant loop")
