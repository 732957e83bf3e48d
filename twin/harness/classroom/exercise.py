"""An exercise: a scenario run offline with its truth kept from the trainees, and what each trainee may see of it.

A trainer builds an exercise from a scenario file and a seed (and, optionally, a shorter duration):
:func:`build_exercise` runs it offline (:func:`twin.harness.runview.whatif.run_whatif`, the app's what-if runner)
into the classroom folder and writes, beside the run::

    CLASSROOM/exercises/NAME/
        exercise.json   what trainees are offered: the question, the roles it is for, the diagnoses to choose
                        from (the candidates of the run's root-cause graph: assets, and instruments as sensors,
                        plus "none"), the corrective actions (the rules of the run's playbook, plus "none")
        truth.json      the trainer's: the scenario, the injected faults, the answer a perfect diagnosis names
                        (:func:`twin.harness.scores.expected_answer`, recorded in the run's report) and the
                        actions that count as right (the playbook rule that answers that diagnosis)
        run/            the run directory (report.json, historian, ...)

The run directory holds the truth too (report.json's ``faults`` and ``scores``, the scenario itself), so trainees
never read it directly: a :class:`TraineeView`, built for an authenticated trainee by :meth:`Exercise.view`, is
the only way to the run. Each of its methods is one panel of :data:`twin.harness.runview.roles.ROLES` and raises
:class:`PermissionError` naming the role and the panel when the trainee's role does not see that panel; none of
them returns a fault, an onset, a score against the truth or the scenario's name. Panels that only exist to
show the truth or that are computed from it (``metrics``: delays from the fault onset; ``scores``; ``exports``:
the report and frames carry the truth) are closed to every trainee. This is the server-side enforcement: the
app's Classroom page draws only what these methods return.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from twin.contracts import Candidate
from twin.harness.classroom.accounts import TRAINEE_ROLES, User, a_role, role_label
from twin.harness.runview.roles import PANEL_TITLES, Panel, panels_for
from twin.harness.runview.run import RunData, load_run, plant_clock
from twin.harness.scenario import MAX_DURATION_S

EXERCISES = "exercises"
EXERCISE_FILE, TRUTH_FILE, RUN_DIR = "exercise.json", "truth.json", "run"
#: the diagnosis "nothing is wrong" and the action "do nothing": always offered, right for a clean run
NO_FAULT, NO_ACTION = "none", "none"
DEFAULT_QUESTION = "What is wrong on the line, and what do you do about it?"
#: panels no trainee sees in the classroom: they show the truth or are computed from it
TRUTH_PANELS: frozenset[str] = frozenset({"metrics", "scores", "exports"})
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,59}$")
TraineeRole = Literal["test", "process", "after_sales"]
Progress = Callable[[int, int], None]


class ExerciseSpec(BaseModel):
    """What a trainer asks for: one exercise of a pack (``scenarios/exercises/*.yaml``) or of the app's form."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="the exercise's name, its folder in the classroom (letters, digits, _ . -); "
                      "trainees see it, so it must not give the fault away")
    scenario: str = Field(min_length=1, description="the scenario file, relative to the pack file")
    seed: int | None = Field(default=None, ge=0, description="the run's seed (default: the scenario's)")
    duration_s: float | None = Field(default=None, gt=0, le=MAX_DURATION_S,
                                     description="plant seconds to run (default: the scenario's)")
    question: str = Field(default=DEFAULT_QUESTION, min_length=1, max_length=2000,
                          description="what the trainees are asked")
    roles: list[TraineeRole] = Field(default_factory=lambda: list(TRAINEE_ROLES), min_length=1,
                                     description="the trainee roles that may open it")
    max_attempts: int = Field(default=3, ge=1, le=100, description="submissions allowed per trainee")
    accept_actions: list[str] | None = Field(default=None, description="corrective actions that count as right "
                                             "(playbook rule names or 'none'; default: the rule that answers "
                                             "the right diagnosis)")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("1 to 60 letters, digits, '_', '.' or '-', starting with a letter or digit")
        return value

    @field_validator("roles")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("a role is listed twice")
        return value


@dataclass(frozen=True)
class Choice:
    """A diagnosis a trainee may give: an asset (the process) or an instrument (``kind`` sensor)."""

    name: str
    kind: str = "process"

    @property
    def label(self) -> str:
        """How a person reads it: ``coater.blade3.pressure (instrument)``, ``none (nothing is wrong)``."""
        if self.name == NO_FAULT:
            return f"{NO_FAULT} (nothing is wrong)"
        return f"{self.name} (instrument)" if self.kind == "sensor" else self.name


@dataclass(frozen=True)
class Truth:
    """The trainer's side of an exercise: where it came from, what was injected, what counts as right."""

    scenario: str
    scenario_name: str
    seed: int
    duration_s: float
    faults: list[dict[str, Any]]
    answers: list[Choice]
    right_actions: list[str]
    playbook: str | None

    @property
    def answer(self) -> Choice:
        """The diagnosis that earns full credit first (the first fault's answer; ``none`` for a clean run)."""
        return self.answers[0]


@dataclass(frozen=True)
class Exercise:
    """A built exercise as trainees are offered it (``exercise.json``); the truth stays in ``truth.json``."""

    folder: Path
    name: str
    question: str
    plant: str
    roles: tuple[str, ...]
    max_attempts: int
    diagnoses: tuple[Choice, ...]
    actions: tuple[str, ...]
    created_utc: str
    plant_s: float = 0.0

    @property
    def run_dir(self) -> Path:
        """The exercise's run directory (holds the truth: read it through :meth:`view`)."""
        return self.folder / RUN_DIR

    def open_to(self, user: User) -> bool:
        """True when ``user`` may open the exercise (a trainee of one of its roles; the trainer)."""
        return user.is_trainer or user.role in self.roles

    def view(self, user: User, *, as_role: str | None = None) -> TraineeView:
        """What ``user`` may see of the run, for their role; the trainer may look as any trainee role
        (``as_role``). PermissionError for a role the exercise is not for."""
        role = user.role
        if as_role is not None and as_role != role:
            if not user.is_trainer:
                raise PermissionError(f"{user.name} is {a_role(role)}: only the trainer may view an "
                                      f"exercise as another role")
            role = as_role
        if role not in TRAINEE_ROLES:
            raise PermissionError(f"{user.name} is the trainer: choose a trainee role to view {self.name} as one")
        if role not in self.roles:
            raise PermissionError(f"exercise {self.name} is for {', '.join(role_label(r) for r in self.roles)}, "
                                  f"not for {a_role(role)}")
        return TraineeView(self, role, load_run(self.run_dir))

    def truth(self, user: User) -> Truth:
        """The truth of the exercise, for the trainer only (PermissionError for anyone else)."""
        if not user.is_trainer:
            raise PermissionError(f"{user.name} ({role_label(user.role).lower()}) may not see the truth of "
                                  f"exercise {self.name}: it is the trainer's")
        return read_truth(self)

    def to_json(self) -> dict[str, Any]:
        """The trainee-facing record written to ``exercise.json``."""
        return {"name": self.name, "question": self.question, "plant": self.plant, "roles": list(self.roles),
                "max_attempts": self.max_attempts, "diagnoses": [asdict(c) for c in self.diagnoses],
                "actions": list(self.actions), "created_utc": self.created_utc, "plant_s": self.plant_s}


def exercises_dir(classroom: str | Path) -> Path:
    """Where a classroom keeps its exercises."""
    return Path(classroom) / EXERCISES


def load_exercise(classroom: str | Path, name: str) -> Exercise:
    """The exercise ``name`` of the classroom; FileNotFoundError naming it when it is not built."""
    folder = exercises_dir(classroom) / name
    path = folder / EXERCISE_FILE
    if not _NAME.match(name) or not path.is_file():
        raise FileNotFoundError(f"no exercise {name!r} in {Path(classroom)} (no {path})")
    data = json.loads(path.read_text(encoding="utf-8"))
    return Exercise(folder=folder, name=str(data["name"]), question=str(data["question"]), plant=str(data["plant"]),
                    roles=tuple(data["roles"]), max_attempts=int(data["max_attempts"]),
                    diagnoses=tuple(Choice(**c) for c in data["diagnoses"]), actions=tuple(data["actions"]),
                    created_utc=str(data["created_utc"]), plant_s=float(data.get("plant_s", 0.0)))


def list_exercises(classroom: str | Path) -> list[Exercise]:
    """Every built exercise of the classroom, by name."""
    root = exercises_dir(classroom)
    if not root.is_dir():
        return []
    return [load_exercise(classroom, p.parent.name) for p in sorted(root.glob(f"*/{EXERCISE_FILE}"))]


def read_truth(exercise: Exercise) -> Truth:
    """``truth.json`` of an exercise, for scoring (harness code); people get it through :meth:`Exercise.truth`."""
    data = json.loads((exercise.folder / TRUTH_FILE).read_text(encoding="utf-8"))
    return Truth(scenario=data["scenario"], scenario_name=data["scenario_name"], seed=int(data["seed"]),
                 duration_s=float(data["duration_s"]), faults=list(data["faults"]),
                 answers=[Choice(**a) for a in data["answers"]], right_actions=list(data["right_actions"]),
                 playbook=data.get("playbook"))


# ------------------------------------------------------------------ building
def fault_kind(fault: dict[str, Any]) -> str:
    """``sensor`` for an instrument fault (its kind starts ``sensor_``), else ``process`` (as the scores judge).

    >>> fault_kind({"kind": "sensor_stuck"}), fault_kind({"kind": "blade_pressure_drift"})
    ('sensor', 'process')
    """
    return "sensor" if str(fault["kind"]).startswith("sensor_") else "process"


def answers_of(faults: Sequence[dict[str, Any]]) -> list[Choice]:
    """The diagnoses that earn full credit, first fault first: each fault's ``answer`` (the run report's, from
    :func:`twin.harness.scores.expected_answer`; its target when it has none) with its kind; ``none`` when the
    run is clean."""
    ordered = sorted(faults, key=lambda f: float(f.get("onset_s") or 0.0))
    answers = [Choice(str(f.get("answer") or f["target"]), fault_kind(f)) for f in ordered]
    return list(dict.fromkeys(answers)) or [Choice(NO_FAULT)]


def playbook_of(run: RunData) -> Path | None:
    """The playbook the run's edge used (its report says; else the plant's own), None when it has none."""
    used = (run.report["scenario"].get("control") or {}).get("playbook")
    if used and Path(used).is_file():
        return Path(used)
    from plant_models.registry import SPECS

    spec = SPECS.get(run.plant)
    if spec is None:
        return None
    path = spec.playbook_file(run.report["scenario"].get("plant_options") or {})
    return Path(path) if path and Path(path).is_file() else None


def right_actions_for(rules: Sequence[Any], answers: Sequence[Choice]) -> list[str]:
    """The playbook rules (objects with ``name`` and ``match``) that answer each right diagnosis, first match as
    the loop picks it; ``none`` for an answer no rule answers (and for a clean run)."""
    out = []
    for answer in answers:
        if answer.name == NO_FAULT:
            out.append(NO_ACTION)
            continue
        candidate = Candidate(asset=answer.name, score=1.0, kind=answer.kind)
        rule = next((r for r in rules if r.match.fits(candidate)), None)
        out.append(rule.name if rule is not None else NO_ACTION)
    return list(dict.fromkeys(out))


def build_exercise(classroom: str | Path, spec: ExerciseSpec, *, base: Path | None = None,
                   progress: Progress | None = None, replace: bool = False) -> Exercise:
    """Run ``spec``'s scenario offline into the classroom and write the exercise and its truth.

    ``base`` is where the scenario path is resolved from (a pack file's folder); ``progress(done, total)`` is
    called per scan. ValueError when the exercise exists (unless ``replace``), when the scenario is not a plant
    scenario, or when the trainees could not give the right answer (the run's graph has no such candidate, or
    ``accept_actions`` names an action the playbook lacks); :class:`qtconfig.ConfigError` for a bad scenario.
    """
    from qtconfig import resolve_path
    from twin.harness.runview.whatif import Knobs, run_whatif
    from twin.harness.scenario import load_scenario

    scenario_file = resolve_path(spec.scenario, base)
    _plant_scenario(scenario_file)
    scenario = load_scenario(scenario_file)
    folder = exercises_dir(classroom) / spec.name
    if folder.exists():
        if not replace:
            raise ValueError(f"exercise {spec.name!r} already exists in {Path(classroom)}; remove it or replace it")
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    try:
        run_whatif(scenario, Knobs(seed=spec.seed, duration_s=spec.duration_s, mode="offline"), folder / RUN_DIR,
                   progress)
        return finish_exercise(classroom, spec, scenario_file)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)  # half an exercise is none
        raise


def finish_exercise(classroom: str | Path, spec: ExerciseSpec, scenario_file: Path) -> Exercise:
    """Write ``exercise.json`` and ``truth.json`` for a finished run in the exercise's folder."""
    from twin.edge.control.playbook import load_playbook
    from twin.harness.runview.rediagnose import run_graph

    folder = exercises_dir(classroom) / spec.name
    run = load_run(folder / RUN_DIR)
    answers = answers_of(run.faults)
    diagnoses = [Choice(c.node, str(c.kind)) for c in run_graph(run).candidates]
    diagnoses = list(dict.fromkeys([Choice(NO_FAULT), *diagnoses]))
    missing = [a.label for a in answers if a not in diagnoses]
    if missing:
        raise ValueError(f"{spec.name}: the run's root-cause graph offers no candidate {', '.join(missing)}: "
                         "trainees could not name the right answer")
    playbook_file = playbook_of(run)
    rules = load_playbook(playbook_file).rules if playbook_file is not None else []
    actions = list(dict.fromkeys([NO_ACTION, *(r.name for r in rules)]))
    right = list(spec.accept_actions) if spec.accept_actions is not None else right_actions_for(rules, answers)
    unknown = [a for a in right if a not in actions]
    if unknown:
        raise ValueError(f"{spec.name}: accept_actions {unknown} are not actions of the playbook "
                         f"{playbook_file}; actions: {actions}")
    exercise = Exercise(folder=folder, name=spec.name, question=spec.question, plant=run.plant,
                        roles=tuple(spec.roles), max_attempts=spec.max_attempts, diagnoses=tuple(diagnoses),
                        actions=tuple(actions), created_utc=datetime.now(UTC).isoformat(timespec="seconds"),
                        plant_s=run.plant_s)
    truth = {"scenario": str(scenario_file), "scenario_name": run.name, "seed": run.seed,
             "duration_s": run.plant_s, "faults": run.faults, "answers": [asdict(a) for a in answers],
             "right_actions": right, "playbook": str(playbook_file) if playbook_file else None}
    _write(folder / TRUTH_FILE, truth)
    _write(folder / EXERCISE_FILE, exercise.to_json())
    return exercise


def _plant_scenario(path: Path) -> None:
    """Refuse a supply scenario or a hall: an exercise is one line's run."""
    from twin.harness.hall import is_hall_file
    from twin.harness.supply.scenario import is_supply_file

    if is_supply_file(path) or is_hall_file(path):
        raise ValueError(f"{path}: an exercise is built from a plant scenario, not a supply scenario or a hall")


def _write(path: Path, data: dict[str, Any]) -> None:
    """Write JSON atomically."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    tmp.replace(path)


# ------------------------------------------------------------------ what a trainee sees
class TraineeView:
    """One trainee role's view of an exercise's run: each method is a panel, refused (PermissionError naming the
    role and the panel) when the role does not see it; nothing here returns the truth."""

    def __init__(self, exercise: Exercise, role: str, run: RunData) -> None:
        self.exercise = exercise
        self.role = role
        self._run = run  # holds the truth: only the methods below read it, each returning what the role may see

    # ---- what the role sees
    def panels(self) -> tuple[Panel, ...]:
        """The role's panels of a run (:func:`~twin.harness.runview.roles.panels_for`) without those of the truth."""
        return tuple(p for p in panels_for(self.role) if p not in TRUTH_PANELS)

    def may_see(self, panel: str) -> bool:
        """True when the role sees ``panel`` here."""
        return panel in self.panels()

    def _need(self, *panels: str) -> None:
        """PermissionError unless the role sees one of ``panels``."""
        if not any(self.may_see(p) for p in panels):
            titles = " or ".join(f"{PANEL_TITLES.get(p, p).lower()} ({p})" for p in panels)  # type: ignore[call-overload]
            raise PermissionError(f"{a_role(self.role)} ({self.role}) may not see {titles} "
                                  f"in exercise {self.exercise.name}")

    def truth(self) -> Truth:
        """Never for a trainee: always PermissionError."""
        raise PermissionError(f"{a_role(self.role)} ({self.role}) may not see the truth of exercise "
                              f"{self.exercise.name}: it is the trainer's")

    # ---- the panels
    def summary(self) -> dict[str, Any]:
        """The exercise and its run without the truth: question, plant, plant time, frames, alarms."""
        self._need("summary")
        return {"exercise": self.exercise.name, "question": self.exercise.question, "plant": self.exercise.plant,
                "plant time": plant_clock(self._run.plant_s * 1000),
                "frames": int(self._run.report["counts"]["frames"]),
                "alarms": len(self._run.alarms), "diagnoses": len(self._run.diagnoses)}

    def signals(self) -> list[str]:
        """The elements the historian holds, alarmed ones first (not the fault's: that would tell)."""
        self._need("trends", "control_charts", "timeline")
        elements = self._run.elements
        alarmed = [e for e in self._run.alarmed_elements() if e in elements]
        return list(dict.fromkeys([*alarmed, *elements]))

    def tags(self) -> list[str]:
        """Tag names (array elements folded), alarmed ones first."""
        self._need("trends")
        return list(dict.fromkeys(e.split("[", 1)[0] for e in self.signals()))

    def trends(self, tags: Sequence[str]) -> bytes:
        """Raw curves of ``tags`` as a PNG (``twin plot``'s picture), without the fault onsets."""
        self._need("trends")
        import tempfile

        from twin.harness.plots import plot_run

        known = set(self._run.tags)
        chosen = [t for t in tags if t in known]
        if not chosen:
            raise ValueError(f"none of {list(tags)} is a tag of exercise {self.exercise.name}")
        with tempfile.TemporaryDirectory() as tmp:
            return plot_run(self._run.run_dir, chosen, Path(tmp) / "trends.png", truth=False).read_bytes()

    def control_chart(self, element: str) -> dict[str, Any]:
        """The interactive control chart (Vega-Lite) of ``element``, without the fault onsets; ValueError when
        the element cannot be charted."""
        self._need("control_charts")
        from twin.harness.runview.charts import chart_series
        from twin.harness.runview.spcchart import control_chart_spec

        if element not in self._run.elements:
            raise ValueError(f"{element} is not an element of exercise {self.exercise.name}")
        return control_chart_spec(chart_series(self._run, element), []).to_dict()

    def timeline(self, signal: str | None = None) -> dict[str, Any]:
        """Alarms, diagnoses and commands over plant time above a signal's trend (Vega-Lite), no fault lane."""
        self._need("timeline")
        from twin.harness.runview.timeline import timeline_chart

        if signal is not None and signal not in self._run.elements:
            raise ValueError(f"{signal} is not an element of exercise {self.exercise.name}")
        return timeline_chart(self._run, signal, truth=False).to_dict()

    def alarms(self) -> list[dict[str, Any]]:
        """The alarm list (ISA-18.2), riskiest first."""
        self._need("alarms")
        return self._run.alarm_rows()

    def intermediates(self) -> dict[str, Any]:
        """The detector's intermediates: what was monitored, how, alarm rates and threshold firings."""
        self._need("detector")
        return self._run.detection

    def diagnoses(self) -> list[dict[str, Any]]:
        """The edge's diagnoses (the model's answers, which may be wrong): time, candidates and evidence."""
        self._need("rootcause")
        return [{"id": d.id, "plant time": plant_clock(d.t_ms), "method": d.method,
                 "confidence": round(d.confidence, 3), "uncertain": d.uncertain,
                 "candidates": [{"asset": c.asset, "kind": str(c.kind), "score": round(c.score, 4),
                                 "signal": c.signal} for c in d.candidates[:10]],
                 "evidence": [{"cause": s.cause, "effect": s.effect, "signal": s.signal, "score": s.score}
                              for s in d.evidence_path]} for d in self._run.diagnoses]

    def commands(self) -> list[dict[str, Any]]:
        """The command log: what the playbook proposed or did, its status and outcome."""
        self._need("commands")
        return [{"id": c.get("id"), "plant time": plant_clock(c.get("t_ms")), "kind": c.get("kind"),
                 "tag": c.get("tag"), "value": c.get("value"), "status": c.get("status"), "rule": c.get("rule"),
                 "reason": c.get("reason")} for c in self._run.commands]

    def ledger(self) -> str:
        """Whether the run's hash-chained ledger verifies, in one line."""
        self._need("ledger")
        status = self._run.ledger
        return status.summary() if status is not None else "There is no ledger in this run."

    def diagnosis(self) -> dict[str, Any]:
        """For after-sales: the cause the run's diagnoses name most, how sure, and its evidence in words."""
        self._need("diagnosis")
        ranked = self._run.consensus()
        if not ranked:
            return {"cause": None, "note": self._run.no_diagnoses_note() if not self._run.diagnoses
                    else "the diagnoses found no candidate cause"}
        best = ranked[0]
        d = max((d for d in self._run.diagnoses if d.top is not None and d.top.asset == best.asset),
                key=lambda d: d.confidence)
        return {"cause": best.asset, "kind": str(best.kind), "named by": f"{best.count} of {best.total}",
                "confidence": round(best.confidence, 3), "uncertain": d.uncertain,
                "also named": [c.asset for c in ranked[1:4]],
                "evidence": [f"{s.cause} → {s.effect} (seen in {s.signal})" for s in d.evidence_path]}

    def guidance(self) -> list[str]:
        """Repair guidance in words: what the playbook did or asked for."""
        self._need("guidance")
        return self._run.guidance()
