"""SimPy plant models with injectable faults and declared ground truth.

* :mod:`plant_models.base` — the contract every plant implements (signals, faults, truth).
* :mod:`plant_models.coater` — the electrode coating line (``CoaterLine``); its physics in
  :mod:`plant_models.coater_physics`, its faults in :mod:`plant_models.faults`.
* :mod:`plant_models.sensors` — the vectorised sensor layer (noise, saturation, sensor faults).
* :mod:`plant_models.rng` — one reproducible random stream per part and fault.
* :mod:`plant_models.registry` — ``build_plant(name, seed, options)`` for scenario files.
"""
