"""The Classroom page under ``streamlit.testing.v1.AppTest``: log in with a password, a trainee sees their role's
panels of an exercise (and no truth) and submits an answer, the trainer sees it in the class results table."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.fixtures import scenarios_dir
from tests.conftest import REPO
from tests.twin.harness.classroom.support import EXERCISE, PEOPLE, classroom
from twin.harness.classroom.accounts import User
from twin.harness.classroom.exercise import load_exercise, read_truth
from twin.harness.classroom.packs import list_builds
from twin.harness.runview.roles import PANEL_TITLES

pytestmark = pytest.mark.slow  # AppTest pages over one short offline run, about 20 s

PAGE = "app_pages/classroom.py"


def page(folder: Path) -> AppTest:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.session_state["runs_root"] = str(folder.parent / "runs")
    at.session_state["scenarios_dir"] = str(scenarios_dir())
    at.session_state["classroom_dir"] = str(folder)
    at.run()
    return at.switch_page(PAGE).run()


def log_in(at: AppTest, name: str, password: str) -> AppTest:
    at.text_input(key="login_name").input(name)
    at.text_input(key="login_password").input(password)
    at.button(key="login_submit").click().run()
    assert not at.exception, at.exception
    return at


def subheaders(at: AppTest) -> list[str]:
    return [s.value for s in at.subheader]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return classroom(tmp_path_factory.mktemp("app-classroom"))


def test_a_class_deployment_routes_everyone_to_the_classroom_until_the_trainer_logs_in(
        folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUALITY_TWIN_CLASSROOM_ONLY", "1")
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.session_state["classroom_dir"] = str(folder)
    at.run()
    assert not at.exception and [t.value for t in at.title] == ["Classroom"]  # the only page routed
    with pytest.raises(ValueError, match="Could not find a navigation page"):  # no other page is routed
        at.switch_page("app_pages/view.py").run()
    monkeypatch.delenv("QUALITY_TWIN_CLASSROOM_ONLY")
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.session_state["classroom_dir"] = str(folder)
    at.run()
    assert not at.exception and [t.value for t in at.title] != ["Classroom"]  # the default page


def test_a_wrong_password_is_refused(folder: Path) -> None:
    at = log_in(page(folder), "tom", "not-his-password")
    assert [e.value for e in at.error] == ["not logged in: unknown user or wrong password"]
    assert "classroom_user" not in at.session_state


def test_a_trainee_sees_their_panels_submits_and_the_trainer_sees_the_results(folder: Path) -> None:
    at = page(folder)
    at.session_state["role"] = "process"  # the sidebar's role has no say in the classroom
    at = log_in(at, "abe", PEOPLE["abe"][1])
    assert at.session_state["classroom_user"] == User("abe", "after_sales")
    exercise = load_exercise(folder, EXERCISE)
    view = exercise.view(User("abe", "after_sales"))
    assert subheaders(at) == [PANEL_TITLES[p] for p in view.panels()] + ["Your answer"]
    assert "Trends" not in subheaders(at) and "Scores against the truth" not in subheaders(at)
    text = " ".join(m.value for m in at.markdown)
    truth = read_truth(exercise)
    assert truth.scenario_name not in text and "truth" not in text.lower()
    at.selectbox(key="answer_diagnosis").set_value(truth.answer.name)
    at.selectbox(key="answer_action").set_value(truth.right_actions[0])
    at.text_area(key="answer_note").input("the diagnosis and the guidance agree")
    at.button(key="answer_submit").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("Submitted, attempt 1: score 100%" in s.value for s in at.success)
    at.button(key="logout").click().run()
    assert "classroom_user" not in at.session_state

    at = log_in(at, "tom", PEOPLE["tom"][1])  # a test engineer: the raw curves, no model intermediates
    assert "Trends" in subheaders(at) and "Detector intermediates" not in subheaders(at)
    assert "Diagnosis and evidence" not in subheaders(at) and at.image, "the trends picture is missing"
    at.button(key="logout").click().run()

    at = log_in(at, "tina", PEOPLE["tina"][1])
    assert [t.label for t in at.tabs] == ["Exercises", "Build", "Roster", "Results"]
    (results,) = [d.value for d in at.dataframe if "best score" in d.value.columns]
    results = results.set_index("user")
    assert results.loc["abe", "attempts"] == 1 and results.loc["abe", "best score"] == 1.0
    assert results.loc["tom", "attempts"] == 0
    assert any(truth.scenario_name in m.value for m in at.markdown)  # the trainer sees the truth


def test_the_trainer_adds_an_account_and_builds_an_exercise_from_a_scenario(folder: Path) -> None:
    at = log_in(page(folder), "tina", PEOPLE["tina"][1])
    at.text_input(key="roster_name").input("newbie")
    at.selectbox(key="roster_role").set_value("process")
    at.text_input(key="roster_password").input("newbie-pass-1")
    at.button(key="roster_add").click().run()
    assert any(s.value == "added newbie" for s in at.success), [e.value for e in at.error]
    at.selectbox(key="build_scenario").set_value(scenarios_dir() / "short_blade_drift.yaml")
    at.text_input(key="build_name").input("from-the-app")
    at.number_input(key="build_seed").set_value(3)
    at.number_input(key="build_duration").set_value(30.0)
    at.multiselect(key="build_roles").set_value(["process"])
    at.button(key="build_submit").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    # the build is a job of its own: the panel follows it (reruns, as the browser's timer does) until it ends
    deadline = time.monotonic() + 180
    while not [s for s in at.success if "built from-the-app" in s.value] and time.monotonic() < deadline:
        assert not at.error, [e.value for e in at.error]
        time.sleep(0.5)
        at.run()
    assert any("exercise from-the-app: built from-the-app" in s.value for s in at.success), "the build did not end"
    assert [b.state for b in list_builds(folder)] == ["finished"]
    at.button(key="build_submit").click().run()  # the same again: refused at once, naming the exercise
    assert any("from-the-app already exist" in e.value for e in at.error), [e.value for e in at.error]
    built = load_exercise(folder, "from-the-app")
    assert built.roles == ("process",) and built.plant_s == 30.0
    assert read_truth(built).seed == 3
    at.button(key="logout").click().run()
    at = log_in(at, "newbie", "newbie-pass-1")
    assert at.selectbox(key="trainee_exercise").options == sorted([EXERCISE, "from-the-app"])  # both for process
