"""Root-cause datasets, benchmarks and the per-plant sweeps (``sweep.yaml`` in each plant's folder,
:mod:`twin.harness.rca.sweep`): they label episodes with the truth."""
