"""Quality Twin, the app: run what-if scenarios, see a run, compare two runs.

A thin face on ``twin``: pages build library objects (``twin.harness.runview``, ``twin.harness.scenario``) and
show what they return; no analytics live here. Start it with::

    .venv/bin/streamlit run app.py

``QUALITY_TWIN_RUNS`` and ``QUALITY_TWIN_SCENARIOS`` set the default runs and scenarios folders;
``QUALITY_TWIN_CLASSROOM_ONLY=1`` (a class's deployment) routes everyone to the Classroom page until the trainer
logs in there.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:  # the pages import app_pages.panels
    sys.path.insert(0, str(ROOT))

from twin.harness.runview.roles import ROLES  # noqa: E402

st.set_page_config(page_title="Quality Twin", layout="wide")
st.session_state.setdefault("runs_root", os.environ.get("QUALITY_TWIN_RUNS", "runs"))
st.session_state.setdefault("scenarios_dir", os.environ.get("QUALITY_TWIN_SCENARIOS", "scenarios"))
st.session_state.setdefault("role", "test")
with st.sidebar:
    st.radio("Role", list(ROLES), format_func=lambda r: ROLES[r].label, key="role")
    st.caption(f"sees {ROLES[st.session_state.role].purpose}")
    st.text_input("Runs folder", key="runs_root")
    st.text_input("Scenarios folder", key="scenarios_dir")

classroom = st.Page(ROOT / "app_pages" / "classroom.py", title="Classroom")
# a logged-in trainee is routed to the classroom only (no other page shows the truth); with
# QUALITY_TWIN_CLASSROOM_ONLY=1 (a class's deployment) so is everyone until the trainer logs in
account_role = getattr(st.session_state.get("classroom_user"), "role", None)
class_only = os.environ.get("QUALITY_TWIN_CLASSROOM_ONLY") == "1"
locked = account_role != "trainer" and (account_role is not None or class_only)
page = st.navigation([classroom] if locked else [
    st.Page(ROOT / "app_pages" / "run.py", title="Run a scenario", default=True),
    st.Page(ROOT / "app_pages" / "view.py", title="Open a run"),
    st.Page(ROOT / "app_pages" / "compare.py", title="Compare runs"),
    st.Page(ROOT / "app_pages" / "assets.py", title="Data assets"),
    st.Page(ROOT / "app_pages" / "knowledge.py", title="Edit the knowledge"),
    classroom,
])
page.run()
