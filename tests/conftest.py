"""Shared fixtures."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from hypothesis import settings

from tests.support import ServedPlc, every_kind_tagmap

REPO = Path(__file__).resolve().parents[1]
#: why a Ray test skips: the Ray backend is an optional extra (.ci/setup installs it, so CI runs them)
RAY_MISSING = "the Ray backend is the optional ray extra: pip install 'quality-twin[ray]'"

# No test's verdict depends on how busy the machine is: hypothesis's 200 ms per-example deadline is off
# for every test that does not set its own (a loaded 2-core machine stretches even pure functions).
settings.register_profile("load_independent", deadline=None)
settings.load_profile("load_independent")


@pytest.fixture(autouse=True, scope="session")
def _app_runs_shared_between_workers(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Under xdist, the app tests' scenarios and CLI run live beside the workers' own temporary folders (pytest
    keeps and prunes them), so the workers make that run once between them."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        from tests.app.fixtures import share_between_workers

        share_between_workers(tmp_path_factory.getbasetemp().parent)


@pytest.fixture(autouse=True, scope="session")
def _quiet_protocol_logs() -> None:
    for name in ("asyncua", "pymodbus"):
        logging.getLogger(name).setLevel(logging.ERROR)


@pytest.fixture(scope="module")
def served_plc() -> ServedPlc:
    """A virtual PLC with every kind of tag, serving both protocols on 127.0.0.1."""
    tagmap = every_kind_tagmap()
    served = ServedPlc(tagmap, {t.name: max(t.low, 0.0) for t in tagmap.tags if t.access == "rw"})
    yield served
    served.close()
