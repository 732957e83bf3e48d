"""Open a finished run directory and see it in the chosen role's view."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app_pages.panels import render_run
from twin.harness.runview import list_runs, load_run

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
choice = st.selectbox("run directory", runs, key="open_run")  # a key: the pick survives reruns
try:
    run = load_run(choice)
except (FileNotFoundError, ValueError) as err:
    st.error(str(err))
    st.stop()
st.session_state.run_dir = choice
render_run(run, st.session_state.role)
