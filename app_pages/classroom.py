"""Trainer mode: log in; the trainer builds exercises, keeps the roster and reads the class results; a trainee opens
an exercise in their own role's view and submits a diagnosis and a corrective action.

A thin face on :mod:`twin.harness.classroom`: the logged-in account (and so the role) comes from
:func:`~twin.harness.classroom.accounts.authenticate`, never from the sidebar's role; a trainee's run is drawn only
from what :class:`~twin.harness.classroom.exercise.TraineeView` returns, which refuses the panels their role does not
see and never returns the truth. The classroom folder is ``QUALITY_TWIN_CLASSROOM`` (default ``classroom``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st

from twin.harness.classroom.accounts import (
    ACCOUNT_ROLES,
    AuthenticationError,
    User,
    a_role,
    add_user,
    authenticate,
    get_user,
    list_users,
    remove_user,
    role_label,
)
from twin.harness.classroom.exercise import (
    DEFAULT_QUESTION,
    Exercise,
    ExerciseSpec,
    TraineeView,
    list_exercises,
)
from twin.harness.classroom.packs import list_builds, start_build
from twin.harness.classroom.scoring import attempts_of, class_results, submit
from twin.harness.runview.roles import PANEL_TITLES, ROLES

RECENT_BUILDS = 5  # ended builds the panel still shows

st.title("Classroom")
folder = Path(st.session_state.setdefault("classroom_dir", os.environ.get("QUALITY_TWIN_CLASSROOM", "classroom")))
st.caption(f"classroom folder: {folder.resolve()}")

# ------------------------------------------------------------------ who is logged in
user: User | None = st.session_state.get("classroom_user")
if user is not None:
    user = get_user(folder, user.name)  # the roster decides the role on every rerun (a removed account is out)
    st.session_state.classroom_user = user
if user is None:
    if not list_users(folder):
        st.info(f"No accounts in {folder} yet: add the trainer with "
                f"`twin classroom user add NAME --role trainer --folder {folder}`.")
    with st.form("classroom-login"):
        name = st.text_input("user", key="login_name")
        password = st.text_input("password", type="password", key="login_password")
        if st.form_submit_button("Log in", key="login_submit"):
            try:
                st.session_state.classroom_user = authenticate(folder, name, password)
            except (AuthenticationError, ValueError) as err:
                st.error(f"not logged in: {err}")
            else:
                st.rerun()
    st.stop()

cols = st.columns([4, 1])
cols[0].markdown(f"Logged in as **{user.name}**, {user.label.lower()}")
if cols[1].button("Log out", key="logout"):
    st.session_state.pop("classroom_user", None)
    st.rerun()


# ------------------------------------------------------------------ the trainer
def build_tab() -> None:
    """Build an exercise from a scenario, or every exercise of a pack, as a job of its own (it goes on when the
    trainer leaves the page); the builds panel follows them."""
    scenarios = Path(st.session_state.get("scenarios_dir", "scenarios"))
    packs = sorted((scenarios / "exercises").glob("*.yaml"))
    st.markdown("**From a pack**")
    with st.form("build-pack"):
        pack = st.selectbox("pack", packs, format_func=lambda p: p.name, key="build_pack_file")
        replace = st.checkbox("rebuild exercises that exist", key="build_pack_replace")
        if st.form_submit_button("Build the pack", key="build_pack_submit") and pack is not None:
            try:
                start_build(folder, pack_file=pack, replace=replace)
            except ValueError as err:
                st.error(f"not built: {err}")
    st.markdown("**From a scenario**")
    files = sorted(scenarios.glob("*.yaml"))
    with st.form("build-one"):
        scenario = st.selectbox("scenario", files, format_func=lambda p: p.name, key="build_scenario")
        name = st.text_input("exercise name (trainees see it: do not give the fault away)", key="build_name")
        c = st.columns(3)
        seed = c[0].number_input("seed (0: the scenario's)", min_value=0, value=0, step=1, key="build_seed")
        duration = c[1].number_input("duration, plant s (0: the scenario's)", min_value=0.0, value=0.0,
                                     key="build_duration")
        attempts = c[2].number_input("attempts", min_value=1, max_value=100, value=3, key="build_attempts")
        question = st.text_area("question", value=DEFAULT_QUESTION, key="build_question")
        roles = st.multiselect("for", list(ROLES), default=list(ROLES), format_func=role_label, key="build_roles")
        if st.form_submit_button("Build the exercise", key="build_submit") and scenario is not None:
            try:
                spec = ExerciseSpec(name=name, scenario=str(scenario), seed=int(seed) or None,
                                    duration_s=float(duration) or None, question=question, roles=roles,
                                    max_attempts=int(attempts))
                start_build(folder, spec=spec)
            except ValueError as err:
                st.error(f"not built: {err}")
    builds_panel()


@st.fragment(run_every=1.0)
def builds_panel() -> None:
    """The classroom's builds: those going on with their progress, and how the last few ended."""
    builds = list_builds(folder)
    for build in [b for b in builds if b.state == "running"]:
        step = f"{build.label}: {build.done:,} of {build.total:,} scans" if build.total else "starting"
        st.progress(build.fraction, text=f"building {build.scenario} ({step}; started {build.started_utc} UTC, "
                                         "goes on if you leave the page)")
    for build in [b for b in builds if b.state != "running"][:RECENT_BUILDS]:
        if build.state == "finished":
            st.success(f"{build.scenario}: {build.result} ({build.started_utc} UTC)")
        else:
            st.error(f"{build.scenario} {build.state}: {build.error or 'its process ended without a word'}")


def exercises_tab() -> None:
    """The exercises and, for the trainer, each one's truth."""
    exercises = list_exercises(folder)
    if not exercises:
        st.info("No exercises yet: build one.")
    for exercise in exercises:
        with st.expander(f"{exercise.name} — for {', '.join(role_label(r) for r in exercise.roles)}"):
            st.markdown(exercise.question)
            truth = exercise.truth(user)  # type: ignore[arg-type]
            st.markdown(f"**Truth** (trainer only): scenario `{truth.scenario_name}`, seed {truth.seed}, "
                        f"{truth.duration_s:g} plant s")
            st.dataframe([{k: f.get(k) for k in ("kind", "target", "onset_s", "magnitude", "answer")}
                          for f in truth.faults] or [{"fault": "none"}], hide_index=True)
            st.markdown("Right diagnosis: " + ", ".join(f"`{a.label}`" for a in truth.answers)
                        + "  \nRight action: " + ", ".join(f"`{a}`" for a in truth.right_actions))
            st.caption(f"run directory: {exercise.run_dir} (open it under *Open a run* for every panel)")


def roster_tab() -> None:
    """The roster: accounts and roles, add one, remove one."""
    users = list_users(folder)
    st.dataframe([{"user": u.name, "role": u.label} for u in users], hide_index=True)
    with st.form("roster-add", clear_on_submit=True):
        c = st.columns(3)
        name = c[0].text_input("user", key="roster_name")
        role = c[1].selectbox("role", list(ACCOUNT_ROLES), format_func=role_label, key="roster_role")
        password = c[2].text_input("password", type="password", key="roster_password")
        if st.form_submit_button("Add the account", key="roster_add"):
            try:
                add_user(folder, name, role, password)
            except ValueError as err:
                st.error(f"not added: {err}")
            else:
                st.success(f"added {name}")
    others = [u.name for u in users if u.name != user.name]  # type: ignore[union-attr]
    if others:
        gone = st.selectbox("account to remove", others, key="roster_remove_pick")
        if st.button("Remove the account", key="roster_remove"):
            remove_user(folder, gone)
            st.rerun()


def results_tab() -> None:
    """The class results table and its CSV."""
    table = class_results(folder)
    st.dataframe(table, hide_index=True)
    st.download_button("results.csv", table.to_csv(index=False).encode("utf-8"), file_name="class-results.csv",
                       mime="text/csv", on_click="ignore")
    st.caption("Score = (diagnosis + action) / 2. Diagnosis: 1 for the right asset or instrument, ½ for the "
               "right place but the wrong kind (the asset of a failed instrument, or an instrument of the faulty "
               "asset), 0 otherwise; action: 1 for the playbook rule that answers the right diagnosis.")


# ------------------------------------------------------------------ a trainee
def _summary(view: TraineeView) -> None:
    s = view.summary()
    c = st.columns(4)
    c[0].metric("plant", s["plant"])
    c[1].metric("plant time", s["plant time"])
    c[2].metric("alarms", s["alarms"])
    c[3].metric("diagnoses", s["diagnoses"])


def _timeline(view: TraineeView) -> None:
    signals = view.signals()
    signal = st.selectbox("signal under the events", [None, *signals], key=f"cl-timeline-{view.exercise.name}",
                          format_func=lambda s: "the default" if s is None else s)
    st.vega_lite_chart(view.timeline(signal), width="stretch")


def _trends(view: TraineeView) -> None:
    tags = view.tags()
    chosen = st.multiselect("tags", tags, default=tags[:3], key=f"cl-trends-{view.exercise.name}")
    if chosen:
        st.image(view.trends(chosen))


def _control_charts(view: TraineeView) -> None:
    element = st.selectbox("element", view.signals(), key=f"cl-chart-{view.exercise.name}")
    try:
        st.vega_lite_chart(view.control_chart(element), width="stretch")
    except ValueError as err:
        st.info(str(err))


def _table(rows: list[dict[str, Any]], empty: str) -> None:
    """``rows`` as a table, or ``empty`` as a note when there are none."""
    if rows:
        st.dataframe(rows, hide_index=True)
    else:
        st.info(empty)


def _alarms(view: TraineeView) -> None:
    _table(view.alarms(), "No alarms in this run.")


def _detector(view: TraineeView) -> None:
    st.json(view.intermediates(), expanded=1)


def _rootcause(view: TraineeView) -> None:
    rows = view.diagnoses()
    if not rows:
        st.info("The edge made no diagnosis in this run.")
        return
    st.dataframe([{"id": d["id"], "plant time": d["plant time"],
                   "most likely cause": d["candidates"][0]["asset"] if d["candidates"] else "-",
                   "confidence": d["confidence"]} for d in rows], hide_index=True)
    picked = st.selectbox("diagnosis", [d["id"] for d in rows], key=f"cl-diag-{view.exercise.name}")
    chosen = next(d for d in rows if d["id"] == picked)
    st.dataframe(chosen["candidates"], hide_index=True)
    if chosen["evidence"]:
        st.dataframe(chosen["evidence"], hide_index=True)


def _commands(view: TraineeView) -> None:
    _table(view.commands(), "No command or work order in this run.")


def _ledger(view: TraineeView) -> None:
    st.info(view.ledger())


def _diagnosis(view: TraineeView) -> None:
    d = view.diagnosis()
    if d["cause"] is None:
        st.info(d["note"])
        return
    instrument = " — the measuring instrument, not the process" if d["kind"] == "sensor" else ""
    st.markdown(f"**Most likely cause (the edge's diagnosis):** {d['cause']}{instrument}  \n"
                f"named first by {d['named by']} diagnoses, mean confidence {d['confidence']:.0%}")
    if d["also named"]:
        st.markdown("**Also named:** " + ", ".join(d["also named"]))
    if d["uncertain"]:
        st.warning(f"Not certain: {d['uncertain']}")
    if d["evidence"]:
        st.markdown("**Evidence:**\n" + "\n".join(f"1. {step}" for step in d["evidence"]))


def _guidance(view: TraineeView) -> None:
    lines = view.guidance()
    if not lines:
        st.info("No repair guidance in this run.")
    for line in lines:
        st.markdown(f"- {line}")


RENDERERS: dict[str, Callable[[TraineeView], None]] = {
    "summary": _summary, "timeline": _timeline, "trends": _trends, "control_charts": _control_charts,
    "alarms": _alarms, "detector": _detector, "rootcause": _rootcause, "commands": _commands, "ledger": _ledger,
    "diagnosis": _diagnosis, "guidance": _guidance,
}


def answer_form(exercise: Exercise) -> None:
    """The trainee's diagnosis and corrective action, their attempts so far and the score of each."""
    mine = attempts_of(folder, user.name, exercise.name)  # type: ignore[union-attr]
    if "classroom_submitted" in st.session_state:
        st.success(f"Submitted, {st.session_state.pop('classroom_submitted')}")
    for a in mine:
        verdict = {1.0: "right", 0.5: "half right"}.get(a.diagnosis_credit, "wrong")
        st.markdown(f"Attempt {a.attempt} ({a.submitted_utc}): **score {a.score:.0%}** — diagnosis {verdict}, "
                    f"action {'right' if a.action_right else 'wrong'}")
    left = exercise.max_attempts - len(mine)
    if left <= 0:
        st.info(f"You have used all {exercise.max_attempts} attempts.")
        return
    labels = {c.name: c.label for c in exercise.diagnoses}
    with st.form(f"answer-{exercise.name}"):
        diagnosis = st.selectbox("diagnosis: the asset or instrument at fault", list(labels),
                                 format_func=labels.__getitem__, key="answer_diagnosis")
        action = st.selectbox("corrective action", list(exercise.actions), key="answer_action")
        note = st.text_area("note (what you saw)", max_chars=2000, key="answer_note")
        if st.form_submit_button(f"Submit ({left} attempt{'s' if left != 1 else ''} left)", key="answer_submit"):
            try:
                attempt = submit(folder, exercise, user, diagnosis, action, note)  # type: ignore[arg-type]
            except (PermissionError, ValueError) as err:
                st.error(f"not submitted: {err}")
            else:
                st.session_state.classroom_submitted = f"attempt {attempt.attempt}: score {attempt.score:.0%}"
                st.rerun()


def trainee_page() -> None:
    """The exercises open to the trainee; the chosen one in their role's view, and the answer form."""
    mine = [e for e in list_exercises(folder) if e.open_to(user)]  # type: ignore[arg-type]
    if not mine:
        st.info(f"No exercise for {a_role(user.role)} yet.")  # type: ignore[union-attr]
        return
    exercise = st.selectbox("exercise", mine, format_func=lambda e: e.name, key="trainee_exercise")
    view = exercise.view(user)  # type: ignore[arg-type]
    st.markdown(f"**{exercise.name}**: {exercise.question}")
    st.caption(f"Your view as {ROLES[view.role].label.lower()}: {ROLES[view.role].purpose}")  # type: ignore[index]
    for panel in view.panels():
        with st.container(key=f"classroom-panel-{panel}"):
            st.subheader(PANEL_TITLES[panel])
            RENDERERS[panel](view)
    st.subheader("Your answer")
    answer_form(exercise)


if user.is_trainer:
    tabs: Any = st.tabs(["Exercises", "Build", "Roster", "Results"])
    with tabs[0]:
        exercises_tab()
    with tabs[1]:
        build_tab()
    with tabs[2]:
        roster_tab()
    with tabs[3]:
        results_tab()
else:
    trainee_page()
