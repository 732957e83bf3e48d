"""Edit the knowledge: add, remove and annotate cause -> effect links, see what the knowledge validator says of
them, save them as a new knowledge file, and diagnose a finished run again with them (what-if on knowledge).

A thin face on :mod:`twin.harness.runview.rediagnose`, the same calls as ``twin rootcause rediagnose``. The
working copy lives in the session: ``kn_links`` and ``kn_nodes`` (rows), ``kn_version`` (the table editors'
generation: adding or removing a link starts a new one, with the edits so far folded in).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from twin.edge.assets.lineage import draw
from twin.harness.runview import list_runs, load_run
from twin.harness.runview import rediagnose as kn
from twin.harness.runview.charts import figure_png, rootcause_figure

NAME_HELP = "a tag, an asset path (a tag without its last segment) or a node declared below; {blade:blade*} stands " \
            "for one dotted segment, bound the same on both sides"


def _commit(links: list[dict[str, Any]], nodes: list[dict[str, Any]]) -> None:
    """Make ``links`` and ``nodes`` the working copy and start fresh table editors on it."""
    st.session_state.kn_links, st.session_state.kn_nodes = links, nodes
    st.session_state.kn_version += 1
    st.rerun()


@st.cache_data(show_spinner=False, max_entries=16)
def _picture(links: tuple[tuple[str, str], ...], start: str, direction: str) -> bytes:
    """The links around ``start`` drawn by the data-asset lineage drawing (causes left, effects right)."""
    lineage = kn.knowledge_lineage(links, start, direction)
    with tempfile.TemporaryDirectory() as tmp:
        return draw(lineage, Path(tmp) / "knowledge.png").read_bytes()


def _highlight(row: pd.Series) -> list[str]:
    """A changed diagnosis's row in amber."""
    return ["background-color: #ffe9a8" if row["changed"] else ""] * len(row)


st.title("Edit the knowledge")
st.caption("Add, remove and annotate cause → effect links, check them as the root-cause layer would, save them as "
           "a new knowledge file and diagnose a finished run again with them.")
if st.session_state.role != "process":
    st.info("The knowledge behind the root-cause graph is the process engineer's: choose *Process engineer* as the "
            "role in the sidebar to edit it.")
    st.stop()

runs = [str(p) for p in list_runs(st.session_state.runs_root)]
if not runs:
    st.info(f"No runs under {Path(st.session_state.runs_root).resolve()}: the editor checks the links against a "
            "run's tags and diagnoses that run again; run a scenario first.")
    st.stop()
current = st.session_state.get("run_dir")
if st.session_state.get("kn_run") not in runs:
    st.session_state.kn_run = current if current in runs else runs[0]
run_choice = st.selectbox("run (its tags and assets, and the diagnoses to make again)", runs, key="kn_run")
try:
    run = load_run(run_choice)
    names = kn.names_of_run(run)
except (FileNotFoundError, ValueError) as err:
    st.error(str(err))
    st.stop()

choices = kn.knowledge_choices(run, st.session_state.runs_root)
if not choices:
    st.info("Neither this run nor its plant names a knowledge file to start from.")
    st.stop()
source_label = st.selectbox("start from the knowledge file", list(choices), key="kn_source")
source_path = choices[source_label]
st.session_state.setdefault("kn_version", 0)
if st.session_state.get("kn_origin") != str(source_path):  # another file: a fresh working copy
    try:
        spec = kn.open_knowledge(source_path)
    except ValueError as err:  # a ConfigError: file, field and line
        st.error(str(err))
        st.stop()
    st.session_state.kn_origin = str(source_path)
    st.session_state.kn_plant, st.session_state.kn_about = spec.plant, spec.source
    st.session_state.kn_links = [link.model_dump() for link in spec.links]
    st.session_state.kn_nodes = [node.model_dump() for node in spec.nodes]
    st.session_state.kn_version += 1
    st.session_state.pop("kn_result", None)
version = st.session_state.kn_version

st.subheader("Links")
frame = pd.DataFrame(st.session_state.kn_links, columns=list(kn.LINK_COLUMNS))
frame["severity"] = pd.to_numeric(frame["severity"], errors="coerce")
edited = st.data_editor(frame, num_rows="dynamic", width="stretch", key=f"kn_links_{version}",
                        column_config={
                            "cause": st.column_config.TextColumn("cause", help=NAME_HELP),
                            "effect": st.column_config.TextColumn("effect", help=NAME_HELP),
                            "note": st.column_config.TextColumn("note", help="why an engineer believes it",
                                                                width="large"),
                            "severity": st.column_config.NumberColumn(
                                "severity", min_value=1, max_value=10, step=1,
                                help="FMEA severity (1-10) of the effect through this link; empty: unrated"),
                        })
links = kn.clean_rows(edited.to_dict("records"), kn.LINK_COLUMNS)
with st.expander(f"declared nodes ({len(st.session_state.kn_nodes)}): names that are not tags, or tags of another "
                 "kind"):
    node_frame = pd.DataFrame(st.session_state.kn_nodes, columns=list(kn.NODE_COLUMNS))
    node_frame["severity"] = pd.to_numeric(node_frame["severity"], errors="coerce")
    edited_nodes = st.data_editor(node_frame, num_rows="dynamic", width="stretch",
                                  key=f"kn_nodes_{version}", column_config={
                                      "kind": st.column_config.SelectboxColumn("kind", options=list(kn.NODE_KINDS)),
                                      "severity": st.column_config.NumberColumn("severity", min_value=1,
                                                                                max_value=10, step=1)})
nodes = kn.clean_rows(edited_nodes.to_dict("records"), kn.NODE_COLUMNS)

st.markdown("**Add a link** (cause and effect from the run's tags and assets and the declared nodes)")
options = sorted(set(names) | {n["name"] for n in nodes if n.get("name")})
cols = st.columns([3, 3, 4, 1])
new_cause = cols[0].selectbox("cause", options, key="kn_add_cause")
new_effect = cols[1].selectbox("effect", options, index=min(1, len(options) - 1), key="kn_add_effect")
new_note = cols[2].text_input("note", key="kn_add_note")
new_severity = cols[3].number_input("severity", min_value=1, max_value=10, value=None, step=1, key="kn_add_severity")
if st.button("Add link", key="kn_add"):
    _commit(links + [{"cause": new_cause, "effect": new_effect, "note": new_note.strip(), "severity": new_severity}],
            nodes)

doomed = st.multiselect("links to remove", list(range(len(links))), key=f"kn_remove_{version}",
                        format_func=lambda i: f"row {i}: {links[i]['cause']} → {links[i]['effect']}")
if st.button("Remove the chosen links", disabled=not doomed, key="kn_remove"):
    _commit([link for i, link in enumerate(links) if i not in set(doomed)], nodes)

st.subheader("Check")
document, checked = kn.check_rows(st.session_state.kn_plant, st.session_state.kn_about, nodes, links, names)
if checked.ok:
    assert checked.knowledge is not None
    st.success(f"valid: {len(document['links'])} links ({len(checked.knowledge.links)} once the placeholders are "
               f"bound) name what the run's plant has ({len(names)} tags and assets, {len(nodes)} declared nodes)")
else:
    for problem in checked.problems:
        st.error(str(problem))

if checked.ok:
    assert checked.knowledge is not None
    with st.expander("draw the edited links"):
        graph_nodes = sorted({n for link in checked.knowledge.links for n in link})
        alarmed = [a["tag"].split("[", 1)[0] for a in run.alarms]
        start = next((t for t in alarmed if t in graph_nodes), graph_nodes[0] if graph_nodes else None)
        if start is not None:
            cols = st.columns([3, 1])
            start = cols[0].selectbox("around", graph_nodes, index=graph_nodes.index(start), key="kn_draw_start")
            direction = cols[1].radio("direction", ["upstream", "downstream", "both"], key="kn_draw_direction")
            st.image(_picture(checked.knowledge.links, start, direction))
            st.caption("Causes to the left, effects to the right, the chosen node in the middle; every arrow a link "
                       "(placeholders bound to the run's names).")

st.subheader("Save as a new knowledge file")
folder = kn.saved_folder(st.session_state.runs_root)
cols = st.columns([3, 1])
name = cols[0].text_input("name of the new file", key="kn_name", placeholder="coater-without-blade-links")
if cols[1].button("Save", disabled=not checked.ok or not name.strip(), key="kn_save"):
    assert checked.spec is not None
    try:
        saved = kn.save_knowledge(checked.spec, folder, name, origin=str(source_path))
        st.session_state.kn_saved = str(saved)
    except ValueError as err:
        st.error(str(err))
if st.session_state.get("kn_saved"):
    st.success(f"saved {st.session_state.kn_saved}")
st.caption(f"Saved under {folder}; a file there is never overwritten, nor are the shipped ones. Use it in a "
           "scenario as rootcause.knowledge, or with `twin rootcause rediagnose RUN_DIR --knowledge FILE`.")

st.subheader("Rerun the diagnosis")
digest = hashlib.sha256(json.dumps([str(run.run_dir), document], sort_keys=True, default=str).encode()).hexdigest()
if not run.diagnoses:
    st.info(run.no_diagnoses_note())
elif st.button("Rerun diagnosis on this run with it", disabled=not checked.ok, key="kn_rerun"):
    assert checked.spec is not None
    with st.spinner("diagnosing the run's alarms again"):
        try:
            st.session_state.kn_result = (digest, kn.rediagnose(run.run_dir, checked.spec))
        except ValueError as err:
            st.error(str(err))
if "kn_result" in st.session_state:
    made_for, result = st.session_state.kn_result
    assert isinstance(result, kn.RediagnoseResult)
    if made_for != digest:
        st.warning("The links or the run changed since: rerun to see what these give.")
    (st.warning if result.changed else st.success)(result.summary())
    for note in result.notes:
        st.caption(f"note: {note}")
    table = pd.DataFrame(result.rows())
    st.dataframe(table.style.apply(_highlight, axis=1), hide_index=True)
    st.caption("Each recorded diagnosis made again at its own plant time, for the same alarms, with the run's method "
               "and model; amber: another most likely cause.")
    pick = st.selectbox("diagnosis to draw, recorded and new", [p.recorded.id for p in result.pairs],
                        index=next((i for i, p in enumerate(result.pairs) if p.changed), 0), key="kn_pick")
    pair = next(p for p in result.pairs if p.recorded.id == pick)
    for col, (title, diagnosis) in zip(st.columns(2), (("recorded", pair.recorded), ("new", pair.new))):
        col.markdown(f"**{title}**")
        col.image(figure_png(rootcause_figure(diagnosis)))
