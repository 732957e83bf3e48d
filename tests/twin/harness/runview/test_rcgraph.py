"""The root-cause graph: the diagnosis's part of the plant graph, laid out by unit, cause left of effect."""

from __future__ import annotations

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.app.fixtures import full_run
from twin.contracts import Candidate, Diagnosis, EvidenceStep
from twin.harness.runview.rcgraph import (
    ROLES,
    diagnosis_sentence,
    diagnosis_subgraph,
    edge_rows,
    graph_chart,
    hierarchy_layout,
    node_rows,
    unit_of,
)
from twin.harness.runview.rediagnose import run_graph
from twin.harness.runview.run import load_run


def coater_diagnosis() -> Diagnosis:
    path = [("coater.coolant.valve", "coater.coolant.flow", 0.9), ("coater.coolant.flow", "coater.blade3.temperature",
                                                                    0.7),
            ("coater.blade3.temperature", "coater.xray.wrinkles_per_m", 0.4)]
    return Diagnosis(id="D0001", t_ms=1000, alarm_ids=["A1"], method="gnn", model_version="x", confidence=0.42,
                     candidates=[Candidate(asset="coater.coolant.valve", score=0.42),
                                 Candidate(asset="coater.coolant.flow", score=0.31, kind="sensor"),
                                 Candidate(asset="coater.blade3", score=0.1)],
                     evidence_path=[EvidenceStep(cause=a, effect=b, signal=b, score=s) for a, b, s in path],
                     uncertain="confidence 0.42 is below 0.50: ...")


def test_the_coater_diagnosis_is_drawn_by_unit_cause_left_of_effect() -> None:
    graph = run_graph(load_run(full_run())).graph
    d = coater_diagnosis()
    sub = diagnosis_subgraph(graph, d)
    on_path = {n for s in d.evidence_path for n in (s.cause, s.effect)}
    assert on_path | {c.asset for c in d.candidates} <= set(sub) and len(sub) < len(graph)
    placed = hierarchy_layout(sub)
    assert set(placed) == set(sub) and len(set(placed.values())) == len(placed)  # every node, none on another
    column = {unit_of(n): x for n, (x, _) in placed.items()}
    assert column["coater.coolant"] < column["coater.blade3"] < column["coater.xray"]
    nodes = {r["node"]: r for r in node_rows(sub, d, placed)}
    assert nodes["coater.coolant.valve"]["role"] == ROLES[0] and nodes["coater.coolant.flow"]["role"] == ROLES[1]
    assert nodes["coater.coolant.flow"]["kind"] == "sensor (instrument)"
    evidence = {(e["from"], e["to"]): e["evidence"] for e in edge_rows(sub, d, placed) if e["link"] == "evidence path"}
    assert evidence == {(s.cause, s.effect): s.score for s in d.evidence_path}
    spec = graph_chart(graph, d).to_dict()
    assert "evidence path" in str(spec) and "most likely cause" in str(spec)


@settings(max_examples=40, deadline=None)
@given(edges=st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), max_size=15), seed=st.integers(0, 100))
def test_units_are_ordered_cause_before_effect_when_their_links_allow(edges: list[tuple[int, int]],
                                                                      seed: int) -> None:
    units = nx.DiGraph([(a, b) for a, b in edges if a < b])  # acyclic between units
    graph = nx.DiGraph()
    for a, b in units.edges:
        graph.add_edge(f"l.u{a}.x{seed % 3}", f"l.u{b}.y")
    graph.add_node("l.u0.z")
    placed = hierarchy_layout(graph)
    for a, b in graph.edges:
        assert placed[a][0] < placed[b][0]
    for unit in {unit_of(n) for n in graph}:
        assert len({placed[n][0] for n in graph if unit_of(n) == unit}) == 1  # a unit is one column


def test_the_answer_is_said_in_words() -> None:
    d = coater_diagnosis()
    assert diagnosis_sentence(d).startswith("Most likely cause: coater.coolant.valve, a process fault, with "
                                            "confidence 42%.") and "Uncertain:" in diagnosis_sentence(d)
    sensor = d.model_copy(update={"candidates": [Candidate(asset="coater.coolant.flow", score=1.0, kind="sensor")],
                                  "uncertain": None})
    assert "an instrument fault" in diagnosis_sentence(sensor) and "Uncertain" not in diagnosis_sentence(sensor)
