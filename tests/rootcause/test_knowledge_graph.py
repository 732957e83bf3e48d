"""The plant graph from a tag map and a knowledge file; broken knowledge files; perturbation."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plant_models.coater.model import CoaterLine
from rootcause.diagnoser import build_graph, plant_names
from rootcause.graph import NODE_FEATURES
from rootcause.knowledge import ConfigError, load_knowledge, perturb_links
from tests.conftest import REPO
from twin.harness.binding import plant_tagmap

KNOWLEDGE = REPO / "plant_models" / "coater" / "knowledge.yaml"


def coater_tagmap(blades: int = 4):
    return plant_tagmap(CoaterLine(seed=0, blades=blades), 10)


@pytest.mark.parametrize("blades", [4, 6])
def test_the_graph_has_every_kind_and_relation_and_covers_every_blade(blades: int) -> None:
    graph = build_graph(coater_tagmap(blades), KNOWLEDGE)
    g = graph.graph
    kinds = {g.nodes[n]["kind"] for n in g.nodes}
    assert kinds == {"equipment", "process_variable", "quality", "environment"}
    # from the tag map: every asset owns its signals
    assert g.edges["coater.blade3", "coater.blade3.temperature"]["relation"] == "has_signal"
    assert g.edges["coater.blade3", "coater.blade3.pressure"]["relation"] == "causes"  # the file says more
    # from the knowledge file: the coolant loop reaches every blade, including blades 5 and 6
    for i in range(1, blades + 1):
        assert g.edges["coater.coolant.flow", f"coater.blade{i}.temperature"]["relation"] == "causes"
    assert not g.has_edge("coater.coolant.flow", "coater.ambient.temperature")  # the glob keeps it to blades
    names = graph.candidate_names()
    assert "coater.coolant.valve" in names and "coater.head" in names  # equipment, one without any tag
    assert "coater.blade3.pressure" in names  # a sensor is itself a candidate
    assert "coater.blade3.pressure_sp" not in names  # a setpoint is not an instrument
    assert "coater.plc.clock_ms" not in g  # the PLC clock is not part of the process


def test_heterodata_has_the_four_node_types_and_typed_edges() -> None:
    from rootcause.features import Evidence

    graph = build_graph(coater_tagmap(), KNOWLEDGE)
    data = graph.to_heterodata(Evidence(0, 0))
    assert set(data.node_types) == {"equipment", "process_variable", "quality", "environment"}
    assert ("equipment", "has_signal", "process_variable") in data.edge_types
    assert ("process_variable", "causes", "quality") in data.edge_types
    assert data["equipment"].x.shape[1] == len(NODE_FEATURES)
    assert sum(data[t].num_nodes for t in data.node_types) == graph.graph.number_of_nodes()


def test_a_link_to_an_unknown_tag_is_named_with_its_line(tmp_path) -> None:
    bad = tmp_path / "coater.yaml"
    bad.write_text(
        "plant: coater\n"
        "links:\n"
        "  - {cause: coater.coolant.flow, effect: coater.blade1.temperature}\n"
        "  - {cause: coater.coolant.flwo, effect: coater.blade1.temperature}\n"
    )
    with pytest.raises(ConfigError) as err:
        load_knowledge(bad, plant_names(coater_tagmap()))
    message = str(err.value)
    assert "links[1] (line 4)" in message and "'coater.coolant.flwo'" in message
    assert "coater.blade1.temperature'" not in message.split("flwo", 1)[1]  # only the bad name is blamed


def test_a_malformed_knowledge_file_names_the_field(tmp_path) -> None:
    bad = tmp_path / "coater.yaml"
    bad.write_text("plant: coater\nnodes:\n  - {name: coater.head, kind: machine}\nlinks: []\n")
    with pytest.raises(ConfigError, match=r"nodes\[0\]\.kind \(line 3\)"):
        load_knowledge(bad, plant_names(coater_tagmap()))


GRAPH = build_graph(coater_tagmap(), KNOWLEDGE)
LINKS = load_knowledge(KNOWLEDGE, plant_names(coater_tagmap())).links


@settings(max_examples=25, deadline=None)
@given(drop=st.floats(0.0, 1.0), add=st.floats(0.0, 0.5), seed=st.integers(0, 2**16))
def test_perturbation_drops_and_adds_the_asked_share_deterministically(drop: float, add: float, seed: int) -> None:
    links = LINKS
    out = perturb_links(links, GRAPH.nodes, drop=drop, add=add, seed=seed)
    assert out == perturb_links(links, GRAPH.nodes, drop=drop, add=add, seed=seed)
    kept = [link for link in out if link in set(links)]
    spurious = [link for link in out if link not in set(links)]
    assert len(kept) == len(links) - round(drop * len(links))
    assert len(spurious) == round(add * len(links))
    assert len(set(out)) == len(out)
