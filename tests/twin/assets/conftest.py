"""Two tiny runs shared by the asset tests: a clean one and one with sensor drop-outs and a stuck sensor."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.twin.assets.support import DATA_PROBLEMS, tiny_run


@pytest.fixture(scope="package")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 20 s coater run with no fault."""
    return tiny_run(tmp_path_factory.mktemp("runs"), "clean")


@pytest.fixture(scope="package")
def degraded_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 20 s coater run whose coolant flow and oven zone 1 sensors drop out and blade 3's sticks, from 8 s."""
    return tiny_run(tmp_path_factory.mktemp("runs"), "degraded", DATA_PROBLEMS)
