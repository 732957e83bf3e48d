"""Open a finished run directory and see it in the chosen role's view."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app_pages.panels import render_run
from twin.harness.runview import list_runs, load_run
from twin.harness.runview.notes import NOTE_MAX, TITLE_MAX, load_notes, run_label, save_notes

st.title("Open a run")
runs = [str(p) for p in list_runs(st.session_state.runs_root)]
current = st.session_state.get("run_dir")
if current and current not in runs:
    runs.insert(0, current)
if not runs:
    root = Path(st.session_state.runs_root).resolve()
    st.info(f"No runs under {root}: run a scenario first, or set the runs folder.")
    st.stop()
if st.session_state.get("open_run") not in runs:  # first visit, or the run opened elsewhere (a what-if run)
    st.session_state.open_run = current if current in runs else runs[0]
choice = st.selectbox("run", runs, key="open_run", format_func=run_label)  # a key: the pick survives reruns
try:
    run = load_run(choice)
except (FileNotFoundError, ValueError) as err:
    st.error(str(err))
    st.stop()
st.session_state.run_dir = choice
notes = load_notes(choice)
if notes.note:
    st.info(notes.note)
with st.expander("Rename and annotate this run"):
    with st.form(key=f"notes-{choice}"):
        title = st.text_input("title", value=notes.title, max_chars=TITLE_MAX,
                              help="what the run is called wherever runs are listed; the folder keeps its name")
        note = st.text_area("note", value=notes.note, max_chars=NOTE_MAX, help="what you noticed, for whoever opens it")
        if st.form_submit_button("Save"):
            try:
                save_notes(choice, title, note)
            except ValueError as err:
                st.error(f"not saved: {err}")
            else:
                st.rerun()
render_run(run, st.session_state.role)
