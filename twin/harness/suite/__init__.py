"""Scenario suites with score gates (``twin check``): fault-injection tests for CI pipelines.

:mod:`~twin.harness.suite.spec` is the suite file, :mod:`~twin.harness.suite.gates` the gate language,
:mod:`~twin.harness.suite.metrics` the per-episode figures, :mod:`~twin.harness.suite.runner` runs and judges,
:mod:`~twin.harness.suite.junit` writes JUnit XML. Not edge code: it scores runs against the truth.
"""

from twin.harness.suite.gates import Gate, parse_gate
from twin.harness.suite.runner import SuiteResult, run_suite
from twin.harness.suite.spec import Suite, load_suite

__all__ = ["Gate", "Suite", "SuiteResult", "load_suite", "parse_gate", "run_suite"]
