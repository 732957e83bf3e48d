"""An exercise built from a short real coater run: the truth is the trainer's, each trainee role sees only its
panels (refused on the server side with PermissionError), and nothing a trainee reads carries the truth."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.twin.harness.classroom.support import EXERCISE, QUESTION, classroom, scenario_file
from twin.contracts import Candidate
from twin.edge.control.playbook import load_playbook
from twin.harness.classroom.accounts import TRAINEE_ROLES, User
from twin.harness.classroom.exercise import (
    EXERCISE_FILE,
    NO_ACTION,
    NO_FAULT,
    TRUTH_PANELS,
    Choice,
    ExerciseSpec,
    build_exercise,
    finish_exercise,
    list_exercises,
    load_exercise,
    read_truth,
)
from twin.harness.runview import load_run
from twin.harness.runview.roles import panels_for
from twin.harness.runview.timeline import timeline_chart

TRAINER = User("tina", "trainer")
TRAINEES = {role: User(f"someone-{role}", role) for role in TRAINEE_ROLES}

pytestmark = pytest.mark.slow  # the module's one offline run takes about 10 s on a busy machine


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return classroom(tmp_path_factory.mktemp("exercise"))


def test_the_truth_is_the_runs_and_the_playbooks(folder: Path) -> None:
    exercise = load_exercise(folder, EXERCISE)
    run = load_run(exercise.run_dir)
    truth = exercise.truth(TRAINER)
    fault = run.faults[0]
    assert truth.answer == Choice(fault["answer"], "sensor" if fault["kind"].startswith("sensor_") else "process")
    assert truth.faults == run.faults and truth.scenario == str(scenario_file())
    playbook = load_playbook(run.report["scenario"]["control"]["playbook"])
    rule = playbook.rule_for(Candidate(asset=truth.answer.name, score=1.0, kind=truth.answer.kind))
    assert truth.right_actions == [rule.name if rule else NO_ACTION]
    assert truth.answer in exercise.diagnoses  # trainees can name it
    assert Choice(NO_FAULT) in exercise.diagnoses and NO_ACTION in exercise.actions
    assert list(exercise.actions[1:]) == [r.name for r in playbook.rules]
    assert exercise.question == QUESTION and exercise.roles == TRAINEE_ROLES
    assert [e.name for e in list_exercises(folder)] == [EXERCISE]


def test_what_trainees_are_offered_holds_no_truth(folder: Path) -> None:
    exercise = load_exercise(folder, EXERCISE)
    offered = (exercise.folder / EXERCISE_FILE).read_text()
    run = load_run(exercise.run_dir)
    fault = run.faults[0]
    for secret in (run.name, fault["kind"], "onset", "faults", "scenario", "magnitude", "answer"):
        assert secret not in offered, secret


def test_nobody_but_the_trainer_gets_the_truth(folder: Path) -> None:
    exercise = load_exercise(folder, EXERCISE)
    for role, user in TRAINEES.items():
        with pytest.raises(PermissionError, match=f"may not see the truth of exercise {EXERCISE}"):
            exercise.truth(user)
        with pytest.raises(PermissionError, match=f"\\({role}\\) may not see the truth"):
            exercise.view(user).truth()
    assert exercise.truth(TRAINER) == read_truth(exercise)


def test_each_role_gets_its_panels_and_no_other(folder: Path) -> None:
    exercise = load_exercise(folder, EXERCISE)
    views = {role: exercise.view(user) for role, user in TRAINEES.items()}
    for role, view in views.items():
        assert view.panels() == tuple(p for p in panels_for(role) if p not in TRUTH_PANELS)
        assert not set(view.panels()) & {"metrics", "scores", "exports"}
    after_sales, test, process = views["after_sales"], views["test"], views["process"]
    with pytest.raises(PermissionError, match=r"an after-sales engineer \(after_sales\) may not see trends \(trends\)"):
        after_sales.trends(["coater.blade3.pressure"])
    for refused in (after_sales.alarms, after_sales.summary, after_sales.tags, after_sales.intermediates):
        with pytest.raises(PermissionError, match="after_sales"):
            refused()
    with pytest.raises(PermissionError, match=r"test engineer \(test\) may not see detector intermediates"):
        test.intermediates()
    for refused in (test.diagnoses, test.commands, test.diagnosis, test.guidance):
        with pytest.raises(PermissionError, match=r"\(test\)"):
            refused()
    with pytest.raises(PermissionError, match=r"process engineer \(process\) may not see trends"):
        process.trends(["coater.blade3.pressure"])
    run = load_run(exercise.run_dir)
    assert process.intermediates() == run.detection
    assert [d["id"] for d in process.diagnoses()] == [d.id for d in run.diagnoses]
    assert after_sales.guidance() == run.guidance()
    assert test.trends(test.tags()[:2])[:8] == b"\x89PNG\r\n\x1a\n"


def test_what_a_trainee_reads_carries_no_truth(folder: Path) -> None:
    exercise = load_exercise(folder, EXERCISE)
    run = load_run(exercise.run_dir)
    fault = run.faults[0]
    test, process = exercise.view(TRAINEES["test"]), exercise.view(TRAINEES["process"])
    read = [test.summary(), test.alarms(), test.timeline(), process.intermediates(), process.commands(),
            process.summary(), test.signals()]
    element = test.signals()[0]
    try:
        read.append(test.control_chart(element))
    except ValueError:
        pass  # an element that cannot be charted is said so, not drawn
    text = json.dumps(read, default=str)
    for secret in (run.name, fault["kind"], fault["target"] + " ", "magnitude", "onset_s"):
        assert secret not in text, secret
    # the charts name the truth's lane and rule in their legends, but hold no row of it
    rows = [row for values in _data(read) for row in values if isinstance(row, dict)]
    assert rows and not [r for r in rows if "truth" in str(r.get("lane", "")) + str(r.get("what", ""))]
    whole = [r for values in _data(timeline_chart(run, truth=True).to_dict()) for r in values]
    assert [r for r in whole if r.get("lane") == "fault (truth)"]  # the check bites on the run's own timeline
    assert "onset" not in json.dumps(test.summary())
    # the trainee's own choice of signals starts with what alarmed, not with the fault's own signal
    assert test.signals()[: len(run.alarmed_elements())] == [e for e in run.alarmed_elements() if e in run.elements]


def _data(spec: object) -> list[list[dict]]:
    """Every inline data table of a Vega-Lite spec (``datasets`` and ``data.values``)."""
    found: list[list[dict]] = []
    if isinstance(spec, dict):
        for key, value in spec.items():
            if key == "datasets" and isinstance(value, dict):
                found.extend(v for v in value.values() if isinstance(v, list))
            elif key == "values" and isinstance(value, list):
                found.append(value)
            else:
                found.extend(_data(value))
    elif isinstance(spec, list):
        for item in spec:
            found.extend(_data(item))
    return found


def test_roles_an_exercise_is_not_for_are_refused(folder: Path, tmp_path: Path) -> None:
    spec = ExerciseSpec(name="for-testers", scenario=str(scenario_file()), roles=["test"])
    target = folder / "exercises" / spec.name
    target.mkdir()
    (target / "run").symlink_to(load_exercise(folder, EXERCISE).run_dir)  # the same real run, a second exercise
    exercise = finish_exercise(folder, spec, scenario_file())
    assert exercise.view(TRAINEES["test"]).role == "test"
    with pytest.raises(PermissionError, match="is for Test engineer, not for a process engineer"):
        exercise.view(TRAINEES["process"])
    assert not exercise.open_to(TRAINEES["after_sales"]) and exercise.open_to(TRAINER)
    assert exercise.view(TRAINER, as_role="test").role == "test"  # the trainer may look as a trainee
    with pytest.raises(PermissionError, match="choose a trainee role"):
        exercise.view(TRAINER)
    with pytest.raises(PermissionError, match="only the trainer may view an exercise as another role"):
        load_exercise(folder, EXERCISE).view(TRAINEES["after_sales"], as_role="test")


def test_a_built_exercise_is_not_overwritten_and_supply_scenarios_are_refused(folder: Path) -> None:
    spec = ExerciseSpec(name=EXERCISE, scenario=str(scenario_file()))
    with pytest.raises(ValueError, match=f"exercise '{EXERCISE}' already exists"):
        build_exercise(folder, spec)
    supply = Path(__file__).resolve().parents[4] / "scenarios" / "supply_clean.yaml"
    with pytest.raises(ValueError, match="not a supply scenario or a hall"):
        build_exercise(folder, ExerciseSpec(name="supply", scenario=str(supply)))
    assert not (folder / "exercises" / "supply").exists()
    with pytest.raises(FileNotFoundError, match="no exercise 'nope'"):
        load_exercise(folder, "nope")
