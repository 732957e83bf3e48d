"""Scoring trainees' answers against an exercise's truth (right, half right, wrong), their attempts, and the class
results table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.twin.harness.classroom.support import EXERCISE, PEOPLE, classroom
from twin.harness.classroom.accounts import User, remove_user
from twin.harness.classroom.exercise import NO_ACTION, NO_FAULT, Exercise, load_exercise, read_truth
from twin.harness.classroom.scoring import (
    RESULT_COLUMNS,
    attempts_of,
    class_results,
    owner_asset,
    submissions_file,
    submit,
)

pytestmark = pytest.mark.slow  # shares the classroom tests' one offline run (about 10 s when first built)
USERS = {name: User(name, role) for name, (role, _) in PEOPLE.items()}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return classroom(tmp_path)


def answers(exercise: Exercise) -> dict[str, str]:
    """A right, a half-right and a wrong diagnosis, and a right and a wrong action, from the truth and the choices."""
    truth = read_truth(exercise)
    right = truth.answer
    assets = [c.name for c in exercise.diagnoses if c.kind == "process" and c.name != NO_FAULT]
    if right.kind == "process":
        half = next(c for c in exercise.diagnoses if c.kind == "sensor" and owner_asset(c.name, assets) == right.name)
    else:
        half = next(c for c in exercise.diagnoses if c.name == owner_asset(right.name, assets))
    wrong = next(c for c in exercise.diagnoses if c not in (right, half) and c.name != NO_FAULT
                 and owner_asset(c.name, assets) not in (right.name, half.name)
                 and owner_asset(right.name, assets) != c.name)
    return {"right": right.name, "half": half.name, "wrong": wrong.name, "action": truth.right_actions[0],
            "bad action": next(a for a in exercise.actions if a not in truth.right_actions)}


def test_right_half_and_wrong_answers_score_as_the_rule_says(folder: Path) -> None:
    exercise = load_exercise(folder, EXERCISE)
    a = answers(exercise)
    right = submit(folder, exercise, USERS["tom"], a["right"], a["action"], "blade 3 drifts")
    half = submit(folder, exercise, USERS["pia"], a["half"], a["action"])
    wrong = submit(folder, exercise, USERS["abe"], a["wrong"], a["bad action"])
    assert (right.diagnosis_credit, right.action_right, right.score) == (1.0, True, 1.0)
    assert (half.diagnosis_credit, half.action_right, half.score) == (0.5, True, 0.75)
    assert (wrong.diagnosis_credit, wrong.action_right, wrong.score) == (0.0, False, 0.0)
    nothing = submit(folder, exercise, USERS["tom"], NO_FAULT, NO_ACTION)
    assert nothing.score == (0.0 if a["action"] != NO_ACTION else 0.5) and nothing.attempt == 2
    assert [x.note for x in attempts_of(folder, "tom")] == ["blade 3 drifts", ""]
    assert len(submissions_file(folder).read_text().splitlines()) == 4  # one JSON line per attempt


def test_attempts_roles_and_choices_are_enforced(folder: Path) -> None:
    exercise = load_exercise(folder, EXERCISE)
    a = answers(exercise)
    with pytest.raises(PermissionError, match="only trainees submit"):
        submit(folder, exercise, USERS["tina"], a["right"], a["action"])
    with pytest.raises(ValueError, match="is not a diagnosis exercise night-shift offers"):
        submit(folder, exercise, USERS["tom"], "coater.nowhere", a["action"])
    with pytest.raises(ValueError, match="is not a corrective action"):
        submit(folder, exercise, USERS["tom"], a["right"], "pray")
    with pytest.raises(ValueError, match="at most 2000"):
        submit(folder, exercise, USERS["tom"], a["right"], a["action"], "x" * 2001)
    for _ in range(exercise.max_attempts):
        submit(folder, exercise, USERS["tom"], a["wrong"], a["bad action"])
    with pytest.raises(PermissionError, match=f"has used all {exercise.max_attempts} attempts"):
        submit(folder, exercise, USERS["tom"], a["right"], a["action"])
    assert len(attempts_of(folder, "tom", EXERCISE)) == exercise.max_attempts


def test_the_class_results_table(folder: Path) -> None:
    exercise = load_exercise(folder, EXERCISE)
    a = answers(exercise)
    empty = class_results(folder)
    assert list(empty.columns) == list(RESULT_COLUMNS)
    assert sorted(empty["user"]) == sorted(n for n, (role, _) in PEOPLE.items() if role != "trainer")
    assert (empty["attempts"] == 0).all() and empty["best score"].isna().all()
    first = submit(folder, exercise, USERS["tom"], a["wrong"], a["action"])
    best = submit(folder, exercise, USERS["tom"], a["right"], a["action"])
    submit(folder, exercise, USERS["tom"], a["half"], a["bad action"])
    submit(folder, exercise, USERS["pia"], a["half"], a["action"])
    table = class_results(folder).set_index("user")
    tom, pia = table.loc["tom"], table.loc["pia"]
    assert (tom["role"], tom["exercise"], tom["attempts"], tom["best score"]) == ("test", EXERCISE, 3, 1.0)
    assert (tom["diagnosis right"], tom["action right"], tom["submitted at"]) == ("yes", "yes", best.submitted_utc)
    assert first.score < best.score
    assert (pia["attempts"], pia["best score"], pia["diagnosis right"], pia["action right"]) == (1, 0.75, "half", "yes")
    assert table.loc["abe", "attempts"] == 0 and table.loc["abe", "diagnosis right"] == ""
    remove_user(folder, "pia")  # a removed trainee's results stay
    assert "pia" in set(class_results(folder)["user"])
    assert isinstance(class_results(folder), pd.DataFrame)
