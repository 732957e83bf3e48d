"""Root-cause datasets, benchmarks and the per-plant sweeps: they label episodes with the truth."""

PLANTS = ("coater", "tennessee_eastman")  # the plants with a root-cause sweep (twin.harness.rca.dataset.SWEEPS)
