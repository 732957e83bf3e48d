"""Data assets: the catalogue with credibility, a data-health dashboard per process step, and lineage.

A thin face on :mod:`twin.edge.assets` (the same calls as ``twin assets scan|list|health|lineage``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st

from twin.edge.assets.catalogue import KINDS, Catalogue
from twin.edge.assets.gate import check_gate
from twin.edge.assets.health import HEALTHY_AT, run_health
from twin.edge.assets.lineage import draw, walk
from twin.harness.runview import list_runs

st.title("Data assets")
st.caption("Where each datum comes from, how far to trust it, whether the data is healthy enough to train on, "
           "and what was derived from what.")
root = Path(st.session_state.runs_root)
path = Path(st.text_input("Catalogue file", value=str(root / "assets.duckdb"), key="catalogue_path"))
runs = list_runs(root)
if st.button(f"Scan the {len(runs)} runs under {root}", disabled=not runs, key="scan_runs"):
    with st.spinner("measuring every tag of every run"), Catalogue(path) as catalogue:
        progress = st.progress(0.0)
        for k, run in enumerate(runs, 1):
            catalogue.scan(run)
            progress.progress(k / len(runs), text=str(run))
    st.success(f"scanned {len(runs)} runs into {path}")

catalogue_tab, health_tab, lineage_tab = st.tabs(["Catalogue", "Data health", "Lineage"])

with catalogue_tab:
    if not path.is_file():
        st.info(f"No catalogue at {path} yet: scan the runs (above) or run `twin assets scan RUN_DIR`.")
    else:
        cols = st.columns(2)
        kind = cols[0].selectbox("kind", ["all", *KINDS], key="asset_kind")
        label = cols[1].text_input("label", key="asset_label").strip() or None
        with Catalogue(path, create=False) as catalogue:
            assets = catalogue.assets(None if kind == "all" else kind, label)
            fmea = catalogue.fmea_rows() if kind in ("all", "fmea") else []
        st.dataframe([{"id": a.id, "kind": a.kind, "source": a.source_kind, "credibility": round(a.credibility, 3),
                       "good": a.good_share, "gaps": a.gap_share, "unit": a.unit, "owner": a.owner,
                       "labels": ", ".join(a.labels)} for a in assets], hide_index=True)
        st.caption(f"{len(assets)} assets; credibility = the source kind's prior times the measured share of good "
                   "samples, less gaps and clock disagreement. Label or set an owner with `twin assets label`.")
        if fmea:
            st.subheader("FMEA lines")
            st.dataframe([{"id": r.id, "step": r.step, "failure mode": r.failure_mode, "effect": r.effect,
                           "S": r.severity, "O": r.occurrence, "D": r.detection, "AP": r.action_priority}
                          for r in sorted(fmea, key=lambda r: (-r.severity, r.id))], hide_index=True)

with health_tab:
    if not runs:
        st.info(f"No runs under {root}.")
    else:
        chosen = st.multiselect("runs", [str(r) for r in runs], default=[str(runs[-1])], key="health_runs")
        cols = st.columns(2)
        healthy_at = cols[0].slider("a step is healthy when its weakest measure reaches", 0.5, 1.0, HEALTHY_AT, 0.01,
                                    key="healthy_at")
        required = cols[1].slider("the gate requires this share of healthy steps", 0.0, 1.0, 0.87, 0.01,
                                  key="required_share")
        if chosen:
            reports = [run_health(r, healthy_at=healthy_at) for r in chosen]
            gate = check_gate(reports, required, healthy_at)
            (st.success if gate.open else st.error)(gate.message())
            for report in reports:
                st.subheader(f"{report.run}: {report.healthy_share:.0%} of steps healthy")
                rows = [{"step": s.step, "score": round(s.score, 3), "completeness": round(s.completeness, 3),
                         "timeliness": round(s.timeliness, 3), "sensors": round(s.sensors, 3), "clock": s.clock,
                         "timestamps": s.timestamps,
                         "healthy": s.score >= healthy_at, "problems": ", ".join(s.problems)}
                        for s in sorted(report.steps, key=lambda s: s.score)]
                st.bar_chart({r["step"]: r["score"] for r in rows}, horizontal=True, x_label="score (weakest measure)")
                st.dataframe(rows, hide_index=True)

with lineage_tab:
    if not path.is_file():
        st.info(f"No catalogue at {path} yet.")
    else:
        cols = st.columns([3, 1, 1])
        start = cols[0].text_input("asset", placeholder="field_failure:7012, unit:motor-121, historian:runs/x",
                                   key="lineage_start").strip()
        direction = cols[1].radio("direction", ["upstream", "downstream", "both"], key="lineage_direction")
        depth = cols[2].number_input("depth", min_value=1, max_value=100, value=12, key="lineage_depth")
        if start:
            with Catalogue(path, create=False) as catalogue:
                try:
                    found = walk(catalogue.con, start, direction, int(depth))
                except (KeyError, ValueError) as err:
                    st.error(str(err.args[0]) if err.args else str(err))
                    found = None
            if found is not None:
                with tempfile.TemporaryDirectory() as tmp:
                    st.image(draw(found, Path(tmp) / "lineage.png").read_bytes())
                st.dataframe([{"from": s.upstream, "relation": s.relation, "to": s.downstream, "depth": s.depth,
                               "run": s.run} for s in found.steps], hide_index=True)
