"""Pick a scenario, turn its what-if knobs, run it with a progress bar, and see the run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import streamlit as st

from app_pages.console import console
from app_pages.panels import render_run
from app_pages.supply import supply_page
from qtconfig import ConfigError
from twin.harness.runview import load_run
from twin.harness.runview.jobs import JOB_FILE, job_status, request_stop, start_job
from twin.harness.runview.whatif import METHODS, FaultKnob, Knobs, LiveRun, fault_targets, whatif_dir
from twin.harness.scenario import Scenario, load_scenario
from twin.harness.supply.scenario import is_supply_file


@st.cache_data(show_spinner=False)
def _targets(path: str) -> dict[str, list[str]]:
    return fault_targets(load_scenario(path))


def _rootcause_knobs(spec: Scenario) -> dict[str, Any]:
    """The knowledge-file perturbation and diagnosis method knobs (the scenario's ``rootcause`` block)."""
    rc = spec.rootcause
    cols = st.columns(4)
    drop = cols[0].number_input("knowledge links dropped (%)", min_value=0, max_value=100,
                                value=round(100 * rc.knowledge_drop), step=10,
                                help="share of the knowledge file's cause→effect links root cause does not get")
    add = cols[1].number_input("spurious links added (%)", min_value=0, max_value=100,
                               value=round(100 * rc.knowledge_add), step=10,
                               help="wrong links added to the knowledge graph, as a share of its links")
    kseed = cols[2].number_input("perturbation seed", min_value=0, value=rc.knowledge_seed, step=1)
    methods = ["default", *METHODS]
    method = cols[3].selectbox("diagnosis method", methods, index=methods.index(rc.method or "default"),
                               help="default: gnn if the plant has a trained model, else random_walk")
    return {"knowledge_drop": drop / 100, "knowledge_add": add / 100, "knowledge_seed": int(kseed),
            "method": None if method == "default" else method}


def _plugin_knobs(spec: Scenario) -> dict[str, Any]:
    """Which detector, diagnoser and control policy run: ours or an installed plug-in (``twin plugins``)."""
    from twin.edge.plugins.registry import available

    cols = st.columns(3)
    chosen: dict[str, Any] = {}
    for col, (key, label) in zip(cols, (("detector", "detector"), ("diagnoser", "diagnoser"),
                                        ("control_policy", "control policy"))):
        current = getattr(spec.plugins, key).use
        names = sorted({*available(key), current})  # type: ignore[arg-type]
        pick = col.selectbox(f"{label} plug-in", names, index=names.index(current),
                             help="ours, or one installed by entry point (quality_twin.* groups)")
        chosen[key] = None if pick == current else pick
    return chosen


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
    rootcause = _rootcause_knobs(spec)
    plugins = _plugin_knobs(spec)
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
                 fault=fault, clean=clean, warmup_s=float(warmup), **rootcause, **plugins)


def _live_options() -> tuple[bool, float | None, float]:
    """Whether to run live (an operator's console), at what plant speed, and how long to hold for a decision."""
    cols = st.columns(3)
    live = cols[0].checkbox("live run (operator console)",
                            help="run in the background and acknowledge or shelve alarms, approve or reject "
                                 "pending commands (recommend policy) while it runs")
    speed = cols[1].number_input("plant speed (× real time, 0: as fast as possible)", min_value=0.0, value=0.0,
                                 step=1.0, disabled=not live)
    hold = cols[2].number_input("hold the plant for a decision up to (s)", min_value=0.0, value=120.0, step=10.0,
                                disabled=not live, help="while a command waits for approval the plant stands still")
    return live, (float(speed) or None), float(hold)


def _start_live(spec: Scenario, knobs: Knobs, speed: float | None, hold_s: float) -> None:
    """Start a live run into its own directory; the console below follows it."""
    finished = whatif_dir(st.session_state.runs_root, spec, knobs)
    out = finished.with_name(finished.name + "-live")
    try:
        st.session_state.live = LiveRun(spec, knobs, out, speed=speed, hold_s=hold_s).start()
    except (ValueError, ConfigError) as err:
        st.error(str(err))
        return
    st.session_state.pop("run_dir", None)


def _run(spec: Scenario, knobs: Knobs) -> None:
    """Start the run as a job (a process of its own: it survives reruns, role switches and closed tabs); the
    job panel below follows it and opens it when it ends."""
    out = whatif_dir(st.session_state.runs_root, spec, knobs)
    try:
        st.session_state.job = str(start_job(spec, knobs, out))
    except (ValueError, ConfigError) as err:
        st.error(str(err))
        return
    st.session_state.pop("run_dir", None)


@st.fragment(run_every=1.0)
def _job_panel() -> None:
    """The session's job: progress, a Stop button; when it ends, its run is shown below."""
    mine = st.session_state.get("job")
    if not mine:
        return
    status = job_status(mine)
    if status.state == "running":
        st.progress(status.fraction, text=f"{status.scenario}: {status.done:,} / {status.total or '?'} scans "
                                          f"(started {status.started_utc} UTC, runs on if you leave the page)")
        if st.button("Stop the run", key="stop_job"):
            request_stop(mine)
        return
    st.session_state.pop("job")
    if status.state in ("finished", "stopped") and (status.run_dir / "report.json").is_file():
        st.session_state.run_dir = mine
        if status.state == "stopped":
            st.warning("the run was stopped; its report keeps what it collected")
    else:
        st.error(f"the run {status.state}: {status.error or 'its process ended without a report'}")
    st.rerun()


st.title("Run a what-if scenario")
files = sorted(Path(st.session_state.scenarios_dir).glob("*.yaml"))
if not files:
    st.warning(f"No scenario files in {st.session_state.scenarios_dir}")
    st.stop()
path = st.selectbox("scenario", files, format_func=lambda p: p.name)
if is_supply_file(path):  # a supply chain, not a plant: its own knobs and view
    try:
        supply_page(path, st.session_state.runs_root)
    except ConfigError as err:
        st.error(f"invalid scenario: {err}")
    st.stop()
try:
    spec = load_scenario(path)
except ConfigError as err:
    st.error(f"invalid scenario: {err}")
    st.stop()
st.caption(spec.description)
running = bool(st.session_state.get("job")) and job_status(st.session_state.job).state == "running"
if running:  # the knobs of a run going on are what it started with: shown, not editable
    st.info("A run is going; its knobs are fixed while it runs:")
    st.json(json.loads((Path(st.session_state.job) / JOB_FILE).read_text())["knobs"], expanded=False)
    _job_panel()
    st.stop()
knobs = _knobs(spec)
live, speed, hold_s = _live_options()
if st.button("Run", type="primary", disabled="live" in st.session_state):
    st.session_state.pop("live_error", None)
    if live:
        _start_live(spec, knobs, speed, hold_s)
    else:
        _run(spec, knobs)
_job_panel()
if "live" in st.session_state:
    console()
    st.stop()
if st.session_state.get("live_error"):
    st.warning(f"the live run ended early: {st.session_state.live_error}")
if st.session_state.get("run_dir"):
    st.divider()
    render_run(load_run(st.session_state.run_dir), st.session_state.role)
