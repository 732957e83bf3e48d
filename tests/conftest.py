"""Shared fixtures."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.support import ServedPlc, every_kind_tagmap

REPO = Path(__file__).resolve().parents[1]


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
