"""Pick a scenario, turn its what-if knobs, run it with a progress bar, and see the run."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app_pages.panels import render_run
from twin.runview import load_run
from twin.runview.whatif import FaultKnob, Knobs, fault_targets, run_whatif, whatif_dir
from twin.scenario import Scenario, load_scenario
from virtual_plc.configfile import ConfigError


@st.cache_data(show_spinner=False)
def _targets(path: str) -> dict[str, list[str]]:
    return fault_targets(load_scenario(path))


def _knobs(spec: Scenario) -> Knobs:
    """The knob widgets, defaulting to the scenario's own values."""
    first = spec.faults[0] if spec.faults else None
    cols = st.columns(4)
    seed = cols[0].number_input("seed", min_value=0, value=spec.seed, step=1)
    duration = cols[1].number_input("duration (plant s)", min_value=1.0, value=float(spec.duration_s), step=10.0)
    scan_ms = cols[2].number_input("PLC scan (ms)", min_value=1, max_value=60_000, value=spec.scan_ms, step=5)
    policy = cols[3].selectbox("control policy", ["off", "recommend", "auto"],
                               index=["off", "recommend", "auto"].index(spec.control.policy))
    cols = st.columns(4)
    mode = cols[0].radio("mode", ["lockstep", "offline"], horizontal=True,
                         help="lockstep: real Modbus/OPC UA sockets on 127.0.0.1; offline: no sockets, same code")
    warmup = cols[1].number_input("detection warm-up (s)", min_value=1.0, value=float(spec.detection.warmup_s))
    clean = cols[2].checkbox("run clean (no fault)", value=not spec.faults)
    st.caption("Knowledge-file perturbation waits for root cause (issue 5) to run inside the episode.")
    fault = None
    if not clean:
        targets = _targets(str(spec.source))
        kinds = list(targets)
        cols = st.columns(4)
        kind = cols[0].selectbox("fault kind", kinds, index=kinds.index(first.kind) if first else 0)
        options = targets[kind]
        target = cols[1].selectbox("target", options,
                                   index=options.index(first.target) if first and first.target in options else 0)
        magnitude = cols[2].number_input("magnitude", value=float(first.magnitude) if first else 1.0, format="%g")
        onset = cols[3].number_input("onset (s)", min_value=0.0, value=float(first.start_s) if first else 0.0)
        fault = FaultKnob(kind, target, magnitude, onset)
    return Knobs(seed=int(seed), duration_s=float(duration), policy=policy, mode=mode, scan_ms=int(scan_ms),
                 fault=fault, clean=clean, warmup_s=float(warmup))


def _run(spec: Scenario, knobs: Knobs) -> None:
    """Run with a progress bar; remember the run directory for the view below and the other pages."""
    out = whatif_dir(st.session_state.runs_root, spec, knobs)
    bar = st.progress(0.0, text=f"running {spec.name} ({knobs.mode}) into {out}")
    shown = {"pct": -1}

    def progress(done: int, total: int) -> None:
        pct = int(100 * done / total)
        if pct != shown["pct"]:
            shown["pct"] = pct
            bar.progress(pct / 100, text=f"{done:,} / {total:,} scans")

    try:
        run_whatif(spec, knobs, out, progress)
    except (ValueError, ConfigError) as err:
        bar.empty()
        st.error(str(err))
        return
    bar.progress(1.0, text=f"done: {out}")
    st.session_state.run_dir = str(out)


st.title("Run a what-if scenario")
files = sorted(Path(st.session_state.scenarios_dir).glob("*.yaml"))
if not files:
    st.warning(f"No scenario files in {st.session_state.scenarios_dir}")
    st.stop()
path = st.selectbox("scenario", files, format_func=lambda p: p.name)
try:
    spec = load_scenario(path)
except ConfigError as err:
    st.error(f"invalid scenario: {err}")
    st.stop()
st.caption(spec.description)
knobs = _knobs(spec)
if st.button("Run", type="primary"):
    _run(spec, knobs)
if st.session_state.get("run_dir"):
    st.divider()
    render_run(load_run(st.session_state.run_dir), st.session_state.role)
