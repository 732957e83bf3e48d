"""Shared pieces of the classroom tests (no tests here): one short real coater run built into an exercise once per
session, copied into a fresh classroom folder for each test module that needs one.

The scenario is the app tests' 40 s blade-3 drift (onset at 20 s, warm-up 15 s): offline it alarms and is
diagnosed within the run and builds in a few seconds.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from functools import cache
from pathlib import Path

from tests.app.fixtures import DURATION_S, SCENARIO, SEED
from twin.harness.classroom.accounts import add_user
from twin.harness.classroom.exercise import ExerciseSpec, build_exercise

_ROOT = Path(tempfile.mkdtemp(prefix="qt-classroom-tests-"))
atexit.register(shutil.rmtree, _ROOT, True)
EXERCISE = "night-shift"
QUESTION = "Something changed on the night shift: what, and what do you do?"
#: the accounts every test classroom has: name -> (role, password)
PEOPLE = {"tina": ("trainer", "trainer-pass-1"), "tom": ("test", "test-pass-123"),
          "pia": ("process", "process-pass-1"), "abe": ("after_sales", "after-sales-1")}


def scenario_file() -> Path:
    """The short blade-drift scenario, written once."""
    path = _ROOT / "short_blade_drift.yaml"
    if not path.exists():
        path.write_text(SCENARIO)
    return path


@cache
def built() -> Path:
    """A classroom folder holding one exercise built from a real offline run of the short scenario."""
    folder = _ROOT / "built"
    spec = ExerciseSpec(name=EXERCISE, scenario=str(scenario_file()), seed=SEED, duration_s=DURATION_S,
                        question=QUESTION)
    build_exercise(folder, spec)
    return folder


def classroom(into: Path) -> Path:
    """A fresh classroom in ``into``: the built exercise (copied) and the accounts of :data:`PEOPLE`."""
    folder = into / "classroom"
    shutil.copytree(built(), folder)
    for name, (role, password) in PEOPLE.items():
        add_user(folder, name, role, password)
    return folder
