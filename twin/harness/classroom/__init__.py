"""Trainer mode: a class roster, exercises built from scenarios with the truth hidden, trainees' answers scored.

* :mod:`~twin.harness.classroom.accounts` — the roster (``accounts.json``): names, roles, scrypt-hashed passwords;
* :mod:`~twin.harness.classroom.exercise` — an exercise: a scenario run offline, its truth kept for the trainer,
  and :class:`~twin.harness.classroom.exercise.TraineeView`, the only way a trainee reads the run (per role);
* :mod:`~twin.harness.classroom.scoring` — submissions (``submissions.jsonl``), the scoring rule, class results;
* :mod:`~twin.harness.classroom.packs` — exercise packs (``scenarios/exercises/*.yaml``), checked and built.

Harness code: it reads the injected truth to score, and keeps it from the trainees.
"""

from __future__ import annotations

from twin.harness.classroom.accounts import AuthenticationError, User, add_user, authenticate, list_users, remove_user
from twin.harness.classroom.exercise import (
           Exercise,
           ExerciseSpec,
           TraineeView,
           build_exercise,
           list_exercises,
           load_exercise,
)
from twin.harness.classroom.packs import Pack, build_pack, load_pack
from twin.harness.classroom.scoring import Attempt, class_results, submit

__all__ = ["Attempt", "AuthenticationError", "Exercise", "ExerciseSpec", "Pack", "TraineeView", "User", "add_user",
           "authenticate", "build_exercise", "build_pack", "class_results", "list_exercises", "list_users",
           "load_exercise", "load_pack", "remove_user", "submit"]
