"""The harness: the truth side of the testbed.

It builds plants, injects faults, wires episodes (:mod:`twin.harness.episode`), scores runs
against the injected truth (:mod:`twin.harness.scores`), runs suites, sweeps and root-cause
datasets, and presents finished runs. It may import everything; nothing under
:mod:`twin.edge` may import it (the import contract in ``pyproject.toml``).
"""
