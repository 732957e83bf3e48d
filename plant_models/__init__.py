"""SimPy plant models with injectable faults and declared ground truth: one folder per plant.

* :mod:`plant_models.coater` — the electrode coating line (model, physics, knowledge file,
  playbook, root-cause model); :mod:`plant_models.tennessee_eastman` — the TEP benchmark.
* :mod:`plant_models.spec` — what each plant folder exports (:class:`~plant_models.spec.PlantSpec`).
* :mod:`plant_models.registry` — ``plant_spec(name)``, ``build_plant(name, seed, options)``.
* :mod:`plant_models.base` — the contract every plant implements (signals, faults, truth).
* :mod:`plant_models.faults` — fault processes shared by the plants.
* :mod:`plant_models.sensors` — the vectorised sensor layer (noise, saturation, sensor faults).
* :mod:`plant_models.rng` — one reproducible random stream per part and fault.
"""
