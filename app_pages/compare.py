"""Compare two runs: defect rate, detection delay, time to correction, and A vs B on one plant-time axis (the raw
signal and the control chart, one cursor and one zoom for both)."""

from __future__ import annotations

import streamlit as st

from twin.harness.runview import list_runs, load_run
from twin.harness.runview.metrics import compare, run_metrics
from twin.harness.runview.timeline import linked_overlays

st.title("Compare runs")
runs = [str(p) for p in list_runs(st.session_state.runs_root)]
if len(runs) < 2:
    st.info(f"Comparing needs two runs under {st.session_state.runs_root}; {len(runs)} found.")
    st.stop()
left, right = st.columns(2)
a_dir = left.selectbox("run A", runs, index=0)
b_dir = right.selectbox("run B", runs, index=1)
try:
    a, b = load_run(a_dir), load_run(b_dir)
except (FileNotFoundError, ValueError) as err:
    st.error(str(err))
    st.stop()
if st.session_state.role == "after_sales":
    st.info("The after-sales view shows diagnoses and repair guidance only: open a run to see them.")
    st.stop()
st.dataframe(compare(run_metrics(a), run_metrics(b)), hide_index=True)
common = [e for e in a.chart_elements() + a.elements if e in set(b.elements)]
if not common:
    st.info(f"{a.name} and {b.name} store no element in common: there is no signal to overlay.")
    st.stop()
cols = st.columns([3, 1])
element = cols[0].selectbox("signal", list(dict.fromkeys(common)))
truth = cols[1].checkbox("show the fault onsets (truth)", value=True, key="compare-truth")
chart, notes = linked_overlays({f"A: {a.name}": a, f"B: {b.name}": b}, element, truth=truth)
with st.container(key="compare-overlay"):
    st.altair_chart(chart, width="stretch")
for note in notes:
    st.info(note)
charted = len(notes) < 2  # a control chart of at least one run
st.caption("A and B on one plant-time axis, each run its own colour: "
           + ("above, the raw signal (1 s means); below, each run's control chart of it (subgroup means, its centre "
              "line and control limits dashed in its colour, the specification limits in black when both runs "
              "share them, else in each run's colour, points breaking a rule ringed: red beyond the limits, orange "
              "run rules 2–8)" if charted else "the raw signal (1 s means)")
           + (", each run's fault onsets as dashed rules" if truth else "")
           + ". Hover: a grey rule and each run's value at that time" + (" in both charts" if charted else "")
           + "; scroll or drag to zoom and pan.")
