"""Detection at the edge: SPC charts, streaming detectors, dynamic thresholds, ISA-18.2 alarms.

Runs at the edge: imports no plant model (see the import contract in pyproject.toml).
"""
