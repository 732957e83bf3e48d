"""Compare two runs side by side: defect rate, detection delay, time to correction, and their charts."""

from __future__ import annotations

import streamlit as st

from twin.harness.runview import list_runs, load_run
from twin.harness.runview.charts import chart_series
from twin.harness.runview.metrics import compare, run_metrics
from twin.harness.runview.spcchart import control_chart_spec
from twin.harness.runview.timeline import overlay_chart

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
if common:
    element = st.selectbox("signal", list(dict.fromkeys(common)))
    st.altair_chart(overlay_chart({f"A: {a.name}": a, f"B: {b.name}": b}, element), use_container_width=True)
    st.caption("A and B on one plant-time axis (dashed: each run's fault onsets); scroll or drag to zoom.")
    for col, run in zip(st.columns(2), (a, b)):
        with col:
            try:
                series = chart_series(run, element)
                st.altair_chart(control_chart_spec(series, [float(f["onset_s"]) for f in run.faults]),
                                use_container_width=True)
            except ValueError as err:
                st.info(str(err))
