"""Trainees' answers and their scores: every attempt in one JSON-lines file, and the class results table.

:func:`submit` scores an attempt against the exercise's truth and appends it to ``submissions.jsonl`` in the
classroom folder (one line per attempt: when, who, their role, the exercise, the diagnosis, the action, the note
and the score). The rule:

* **diagnosis**: 1 when it names a right answer (the candidate a perfect diagnosis names,
  :func:`twin.harness.scores.expected_answer`: the asset where a process fault enters, the measured tag for an
  instrument fault); **½** when it names the asset the right instrument belongs to (the truth is the sensor
  ``coater.blade3.pressure``, the answer ``coater.blade3``) or an instrument of the right asset (the truth is the
  asset ``coater.blade3``, the answer ``coater.blade3.pressure``) — the right place, the wrong kind of fault; the
  asset an instrument belongs to is the longest offered process candidate its name starts with (``coater.coolant``
  for ``coater.coolant.flow``, not ``coater.coolant.valve``); 0 otherwise;
* **action**: 1 when it is one of the actions that count as right (the playbook rule that answers the right
  diagnosis, or the exercise's ``accept_actions``), else 0;
* **score** = (diagnosis + action) / 2, from 0 to 1.

A trainee has the exercise's ``max_attempts``; their best attempt is what the class results show.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twin.harness.classroom.accounts import TRAINEE_ROLES, User, a_role, list_users
from twin.harness.classroom.exercise import NO_FAULT, Choice, Exercise, list_exercises, read_truth

if TYPE_CHECKING:
    import pandas as pd

SUBMISSIONS_FILE = "submissions.jsonl"
MAX_NOTE = 2000
RESULT_COLUMNS = ("user", "role", "exercise", "attempts", "best score", "diagnosis right", "action right",
                  "submitted at")
CREDIT_WORDS = {1.0: "yes", 0.5: "half", 0.0: "no"}


@dataclass(frozen=True)
class Attempt:
    """One scored submission, as ``submissions.jsonl`` keeps it."""

    submitted_utc: str
    user: str
    role: str
    exercise: str
    attempt: int
    diagnosis: str
    action: str
    note: str
    diagnosis_credit: float
    action_right: bool
    score: float


def submissions_file(classroom: str | Path) -> Path:
    """The classroom's submissions file."""
    return Path(classroom) / SUBMISSIONS_FILE


def owner_asset(name: str, assets: Sequence[str]) -> str | None:
    """The asset an instrument belongs to: the longest of ``assets`` that ``name`` starts with (then a dot).

    >>> owner_asset("coater.coolant.flow", ["coater.coolant", "coater.coolant.valve", "coater.line"])
    'coater.coolant'
    >>> owner_asset("coater.coolant.valve.coil_current", ["coater.coolant", "coater.coolant.valve"])
    'coater.coolant.valve'
    """
    owners = [a for a in assets if name.startswith(a + ".")]
    return max(owners, key=len) if owners else None


def diagnosis_credit(given: Choice, answers: Sequence[Choice], offered: Sequence[Choice]) -> float:
    """1, ½ or 0 for the diagnosis ``given`` against the right ``answers`` (module docstring); ``offered`` are the
    exercise's choices, whose process candidates are the assets an instrument may belong to.

    >>> offered = [Choice("coater.blade3"), Choice("coater.blade3.pressure", "sensor"), Choice("coater.line")]
    >>> truth = [Choice("coater.blade3.pressure", "sensor")]
    >>> [diagnosis_credit(c, truth, offered) for c in offered]
    [0.5, 1.0, 0.0]
    >>> diagnosis_credit(Choice("coater.blade3.pressure", "sensor"), [Choice("coater.blade3")], offered)
    0.5
    """
    if given in answers:
        return 1.0
    if given.name == NO_FAULT:
        return 0.0
    assets = [c.name for c in offered if c.kind == "process" and c.name != NO_FAULT]
    for answer in answers:
        if answer.name == NO_FAULT:
            continue
        if answer.kind == "sensor" and given.kind == "process" and owner_asset(answer.name, assets) == given.name:
            return 0.5
        if answer.kind == "process" and given.kind == "sensor" and owner_asset(given.name, assets) == answer.name:
            return 0.5
    return 0.0


def attempts_of(classroom: str | Path, user: str | None = None, exercise: str | None = None) -> list[Attempt]:
    """The recorded attempts, oldest first, of ``user`` and ``exercise`` when given; a damaged line is skipped."""
    path = submissions_file(classroom)
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            attempt = Attempt(**json.loads(line))
        except (ValueError, TypeError):
            continue
        if (user is None or attempt.user == user) and (exercise is None or attempt.exercise == exercise):
            out.append(attempt)
    return out


def submit(classroom: str | Path, exercise: Exercise, user: User, diagnosis: str, action: str,
           note: str = "") -> Attempt:
    """Score a trainee's diagnosis and corrective action and append the attempt to ``submissions.jsonl``.

    PermissionError when ``user`` is the trainer or the exercise is not for their role, or when they have used
    their attempts; ValueError for a diagnosis or action the exercise does not offer, or a note too long.
    """
    if user.role not in TRAINEE_ROLES:
        raise PermissionError(f"{user.name} is the trainer: only trainees submit answers")
    if user.role not in exercise.roles:
        raise PermissionError(f"exercise {exercise.name} is not for {a_role(user.role)}")
    offered = {c.name: c for c in exercise.diagnoses}
    if diagnosis not in offered:
        raise ValueError(f"{diagnosis!r} is not a diagnosis exercise {exercise.name} offers")
    if action not in exercise.actions:
        raise ValueError(f"{action!r} is not a corrective action exercise {exercise.name} offers")
    if len(note) > MAX_NOTE:
        raise ValueError(f"the note is {len(note)} characters long; at most {MAX_NOTE}")
    done = len(attempts_of(classroom, user.name, exercise.name))
    if done >= exercise.max_attempts:
        raise PermissionError(f"{user.name} has used all {exercise.max_attempts} attempts at {exercise.name}")
    truth = read_truth(exercise)
    credit = diagnosis_credit(offered[diagnosis], truth.answers, exercise.diagnoses)
    right = action in truth.right_actions
    attempt = Attempt(submitted_utc=datetime.now(UTC).isoformat(timespec="seconds"), user=user.name, role=user.role,
                      exercise=exercise.name, attempt=done + 1, diagnosis=diagnosis, action=action, note=note,
                      diagnosis_credit=credit, action_right=right, score=(credit + float(right)) / 2)
    path = submissions_file(classroom)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(asdict(attempt), ensure_ascii=False) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, line)  # one write of a whole line: two trainees submitting at once do not interleave
    finally:
        os.close(fd)
    return attempt


def best_attempt(attempts: Sequence[Attempt]) -> Attempt | None:
    """The highest-scoring attempt (the earliest of equal ones), None for none."""
    return max(attempts, key=lambda a: (a.score, -a.attempt)) if attempts else None


def class_results(classroom: str | Path) -> pd.DataFrame:
    """One row per trainee and exercise open to them (and per trainee who submitted, even if removed since):
    ``user, role, exercise, attempts, best score, diagnosis right`` (yes / half / no), ``action right``
    (yes / no) and ``submitted at`` (the best attempt's time, UTC); blanks where nobody submitted yet."""
    import pandas as pd

    attempts = attempts_of(classroom)
    roster = {u.name: u for u in list_users(classroom) if u.role in TRAINEE_ROLES}
    pairs: dict[tuple[str, str], str] = {}
    for exercise in list_exercises(classroom):
        for user in roster.values():
            if user.role in exercise.roles:
                pairs[(user.name, exercise.name)] = user.role
    for a in attempts:
        pairs.setdefault((a.user, a.exercise), a.role)
    rows: list[dict[str, Any]] = []
    for (user, exercise), role in sorted(pairs.items()):
        mine = [a for a in attempts if a.user == user and a.exercise == exercise]
        best = best_attempt(mine)
        rows.append({"user": user, "role": role, "exercise": exercise, "attempts": len(mine),
                     "best score": best.score if best else None,
                     "diagnosis right": CREDIT_WORDS.get(best.diagnosis_credit, "?") if best else "",
                     "action right": ("yes" if best.action_right else "no") if best else "",
                     "submitted at": best.submitted_utc if best else ""})
    return pd.DataFrame(rows, columns=list(RESULT_COLUMNS))
