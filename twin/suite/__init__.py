"""Scenario suites with score gates (``twin check``): fault-injection tests for CI pipelines.

:mod:`~twin.suite.spec` is the suite file, :mod:`~twin.suite.gates` the gate language,
:mod:`~twin.suite.metrics` the per-episode figures, :mod:`~twin.suite.runner` runs and judges,
:mod:`~twin.suite.junit` writes JUnit XML. Not edge code: it scores runs against the truth.
"""

from .gates import Gate, parse_gate
from .runner import SuiteResult, run_suite
from .spec import Suite, load_suite

__all__ = ["Gate", "Suite", "SuiteResult", "load_suite", "parse_gate", "run_suite"]
