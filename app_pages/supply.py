"""A supply-chain scenario in the app: its knobs, a run, and the supply view (scores, detection, warnings,
supplier scorecard, portal). Imported by the run page; the analytics live in ``twin.harness.supply``."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from twin.harness.supply.report import SupplyReport
from twin.harness.supply.runner import run_supply
from twin.harness.supply.scenario import load_supply_scenario


def supply_page(path: Path, runs_root: str) -> None:
    """Knobs (seed, transport, IoT carrier), the Run button, and the last run's view."""
    spec = load_supply_scenario(path)
    st.caption(spec.description or "")
    cols = st.columns(3)
    seed = cols[0].number_input("seed", min_value=0, value=spec.seed, step=1, key="supply_seed")
    transport = cols[1].radio("supplier portal", ["inprocess", "mqtt"], horizontal=True, key="supply_transport",
                              help="mqtt: a broker on 127.0.0.1 for the run; inprocess: the same payloads, faster")
    iot = cols[2].radio("supplier IoT data as", ["json", "sparkplug"], horizontal=True, key="supply_iot",
                        index=["json", "sparkplug"].index(spec.portal.iot))
    out = Path(runs_root) / f"{spec.name}-seed{int(seed)}-{transport}-{iot}"
    if st.button("Run", type="primary", key="supply_run"):
        chosen = spec.model_copy(update={"portal": spec.portal.model_copy(update={"iot": iot})})
        with st.spinner(f"running {spec.name}: the chain against the adaptive stack and the fixed baseline"):
            report = run_supply(chosen, seed=int(seed), out_dir=out, transport=transport)
        st.session_state.supply_report = report.model_dump(mode="json")
    if "supply_report" in st.session_state:
        render_supply(SupplyReport.model_validate(st.session_state.supply_report))


def render_supply(report: SupplyReport) -> None:
    """The supply view of one run: headline figures, detection per fault, warnings, scorecard, portal."""
    st.subheader(f"{report.scenario['name']} — seed {report.seed}")
    st.dataframe([{"what": w, "value": v} for w, v in report.summary_rows()], hide_index=True)
    if report.warnings:
        st.subheader("Warnings (adaptive stack)")
        st.dataframe([{"day": round(w.get("t_h", 0) / 24, 1), "kind": w.get("kind"), "supplier": w.get("supplier"),
                       "detail": _brief(w.get("detail"))} for w in report.warnings], hide_index=True)
    st.subheader("Supplier scorecard")
    st.dataframe(report.scorecard, hide_index=True)
    if report.semantic_mismatches:
        st.subheader("Data that did not match the supplier's declaration")
        st.dataframe(report.semantic_mismatches, hide_index=True)
    with st.expander("supplier portal"):
        st.json(report.portal, expanded=1)
    st.caption(f"run directory: {report.outputs.get('dir', '')} — `twin assets scan` it for the lineage of each "
               "field failure back to its lot and design parameter.")



def _brief(detail: object) -> str:
    """A warning's detail in one line: its plain fields, ``key: value``."""
    if not isinstance(detail, dict):
        return str(detail or "")
    return "; ".join(f"{k}: {v:g}" if isinstance(v, float) else f"{k}: {v}" for k, v in detail.items()
                     if isinstance(v, str | int | float) and k not in ("t_h", "supplier"))
