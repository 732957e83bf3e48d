"""The root-cause graph a person can read: one diagnosis on the plant's graph, laid out by the line's hierarchy.

:func:`diagnosis_subgraph` keeps what explains the diagnosis — the evidence path, the leading candidates and
their direct neighbours in the knowledge graph (``causes`` links and asset → signal) — so the picture stays
legible on a plant of any size. :func:`hierarchy_layout` places it by the line's hierarchy: a column per unit
(the asset path below the line: ``coater.blade3``, ``coater.coolant``), ordered cause before effect along the
graph's links, a unit's assets and signals stacked in its column. :func:`graph_chart` draws it as an
interactive chart (Vega-Lite through Altair, which Streamlit draws: hover a node for its kind, score and
evidence, scroll or drag to zoom and pan): the evidence path in red with each link's evidence score, the
candidates sized and coloured by score, sensors as squares and process nodes as circles, with a legend;
:func:`diagnosis_sentence` says the answer in words.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import networkx as nx

from twin.contracts import Diagnosis

CONTEXT_CANDIDATES = 5  # leading candidates drawn besides those on the evidence path
ROLES = ("most likely cause", "on the evidence path", "other candidate", "context")
ROLE_COLOURS = ("#d62728", "#ff7f0e", "#1f77b4", "#bbbbbb")


def diagnosis_subgraph(graph: nx.DiGraph, diagnosis: Diagnosis, *, others: int = CONTEXT_CANDIDATES) -> nx.DiGraph:
    """The part of the plant ``graph`` that explains ``diagnosis``: its evidence path and ``others`` further
    candidates, with their direct neighbours; nodes missing from the graph are added bare (a plug-in may name
    one the knowledge does not)."""
    core = [n for step in diagnosis.evidence_path for n in (step.cause, step.effect)]
    core += [c.asset for c in diagnosis.candidates if c.asset not in core][:others + 1]
    keep = set(core)
    for node in core:
        if node in graph:
            keep |= set(graph.predecessors(node)) | set(graph.successors(node))
    sub = graph.subgraph(n for n in keep if n in graph).copy()
    sub.add_nodes_from(n for n in core if n not in sub)
    for step in diagnosis.evidence_path:
        sub.add_edge(step.cause, step.effect, **{**sub.get_edge_data(step.cause, step.effect, {}),
                                                 "relation": "causes"})
    return sub


def unit_of(node: str) -> str:
    """The unit a node belongs to: its first two path segments (``coater.blade3.pressure``: ``coater.blade3``)."""
    return ".".join(node.split(".")[:2])


def hierarchy_layout(graph: nx.DiGraph) -> dict[str, tuple[float, float]]:
    """``node -> (x, y)``: a column per unit, ordered cause before effect (units of a cycle, such as a recycle,
    by name), each unit's nodes stacked in its column (assets above their signals, then by name)."""
    units = nx.DiGraph()
    units.add_nodes_from(unit_of(n) for n in graph)
    units.add_edges_from((unit_of(a), unit_of(b)) for a, b in graph.edges if unit_of(a) != unit_of(b))
    condensed = nx.condensation(units)
    order = [u for scc in nx.lexicographical_topological_sort(condensed, key=lambda c: min(
        condensed.nodes[c]["members"])) for u in sorted(condensed.nodes[scc]["members"])]
    column = {u: float(i) for i, u in enumerate(order)}
    placed: dict[str, tuple[float, float]] = {}
    for unit in order:
        members = sorted((n for n in graph if unit_of(n) == unit), key=lambda n: (n.count("."), n))
        for k, node in enumerate(members):
            placed[node] = (column[unit], -float(k))
    return placed


def node_rows(graph: nx.DiGraph, diagnosis: Diagnosis, placed: Mapping[str, tuple[float, float]]) -> list[dict]:
    """One row per node: where it is, its role in the diagnosis, its kind and score, what a hover shows."""
    scores = {c.asset: c for c in diagnosis.candidates}
    on_path = {n for step in diagnosis.evidence_path for n in (step.cause, step.effect)}
    top = diagnosis.top.asset if diagnosis.top else None
    rows = []
    for node, (x, y) in placed.items():
        cand = scores.get(node)
        role = ROLES[0] if node == top else ROLES[1] if node in on_path else ROLES[2] if cand else ROLES[3]
        sensor = cand.kind == "sensor" if cand else bool(graph.nodes[node].get("measured"))
        rows.append({"node": node, "label": node.rsplit(".", 1)[-1] if node.count(".") > 1 else node, "x": x,
                     "y": y, "role": role, "kind": "sensor (instrument)" if sensor else "process",
                     "score": round(cand.score, 4) if cand else None, "size": 80 + 900 * (cand.score if cand else 0)})
    return rows


def edge_rows(graph: nx.DiGraph, diagnosis: Diagnosis, placed: Mapping[str, tuple[float, float]]) -> list[dict]:
    """One row per link drawn: its ends, whether it is on the evidence path, and its evidence score there."""
    path = {(s.cause, s.effect): s.score for s in diagnosis.evidence_path}
    rows = []
    for a, b, data in graph.edges(data=True):
        on = (a, b) in path
        rows.append({"from": a, "to": b, "x": placed[a][0], "y": placed[a][1], "x2": placed[b][0],
                     "y2": placed[b][1], "link": "evidence path" if on else (
                         "asset → its signal" if data.get("relation") == "has_signal" else "knowledge link"),
                     "evidence": round(path[(a, b)], 3) if on else None,
                     "mx": (placed[a][0] + placed[b][0]) / 2, "my": (placed[a][1] + placed[b][1]) / 2})
    return rows


def graph_chart(graph: nx.DiGraph, diagnosis: Diagnosis) -> Any:
    """The interactive chart of ``diagnosis`` on ``graph`` (the plant's), laid out by the hierarchy (module
    docstring)."""
    import altair as alt

    sub = diagnosis_subgraph(graph, diagnosis)
    placed = hierarchy_layout(sub)
    nodes, edges = node_rows(sub, diagnosis, placed), edge_rows(sub, diagnosis, placed)
    x = alt.X("x:Q", axis=None, scale=alt.Scale(padding=40))
    y = alt.Y("y:Q", axis=None, scale=alt.Scale(padding=30))
    links = (alt.Chart(alt.Data(values=edges)).mark_rule()
             .encode(x=x, y=y, x2="x2:Q", y2="y2:Q",
                     color=alt.Color("link:N", scale=alt.Scale(
                         domain=["evidence path", "knowledge link", "asset → its signal"],
                         range=["#d62728", "#888888", "#dddddd"]), title="link"),
                     strokeWidth=alt.condition("datum.link == 'evidence path'", alt.value(3), alt.value(1)),
                     tooltip=["from:N", "to:N", "link:N", alt.Tooltip("evidence:Q", title="evidence score")]))
    scores = (alt.Chart(alt.Data(values=[e for e in edges if e["evidence"] is not None])).mark_text(
        color="#d62728", dy=-7, fontSize=10).encode(x=alt.X("mx:Q", axis=None), y=alt.Y("my:Q", axis=None),
                                                     text=alt.Text("evidence:Q", format=".2f")))
    points = (alt.Chart(alt.Data(values=nodes)).mark_point(filled=True, opacity=0.9)
              .encode(x=x, y=y, size=alt.Size("size:Q", legend=None),
                      color=alt.Color("role:N", scale=alt.Scale(domain=list(ROLES), range=list(ROLE_COLOURS)),
                                      title="node"),
                      shape=alt.Shape("kind:N", scale=alt.Scale(domain=["process", "sensor (instrument)"],
                                                                range=["circle", "square"]), title="kind"),
                      tooltip=["node:N", "role:N", "kind:N", alt.Tooltip("score:Q", title="candidate score")]))
    labels = (alt.Chart(alt.Data(values=nodes)).mark_text(dy=16, fontSize=10)
              .encode(x=x, y=y, text="label:N"))
    units = sorted({(row["x"], ".".join(row["node"].split(".")[:2])) for row in nodes})
    heads = (alt.Chart(alt.Data(values=[{"x": ux, "unit": name} for ux, name in units]))
             .mark_text(fontWeight="bold", fontSize=11, baseline="bottom")
             .encode(x=x, y=alt.value(10), text="unit:N"))
    return (links + scores + points + labels + heads).properties(
        width="container", height=max(220, 70 * (1 + max((-r["y"] for r in nodes), default=0)))).interactive()


def diagnosis_sentence(diagnosis: Diagnosis) -> str:
    """The answer in words: the most likely cause, whether it is the process or an instrument, how sure, and
    what the uncertainty is when there is one."""
    top = diagnosis.top
    if top is None:
        return "No candidate: the diagnoser had nothing to rank."
    what = "an instrument fault (the sensor, not the process)" if top.kind == "sensor" else "a process fault"
    text = f"Most likely cause: {top.asset}, {what}, with confidence {diagnosis.confidence:.0%}."
    if diagnosis.uncertain:
        text += f" Uncertain: {diagnosis.uncertain}."
    return text
