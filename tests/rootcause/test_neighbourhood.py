"""A diagnosis on a large plant reads and ranks only the alarms' neighbourhood in the graph (issue #19: fast at
plant scale): the candidates upstream of the alarmed signals, with their direct neighbours. Real DuckDB
historians throughout; a reader that counts what it is asked for."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from rootcause.baselines import BASELINES
from rootcause.diagnoser import NEIGHBOURHOOD_ABOVE_TAGS, AlarmRef, Diagnoser, graph_with_knowledge
from rootcause.graph import STRUCT_FEATURES, PlantGraph
from rootcause.knowledge import Knowledge
from tests.conftest import REPO
from tests.rootcause.test_knowledge_graph import GRAPH
from twin.contracts import Diagnosis
from twin.edge.frames import ElementIndex, Frame, Quality
from twin.edge.historian import Historian, HistorianReader
from virtual_plc.tagmap import Tag, TagMap

N_ASSETS = 160  # 640 tags: above NEIGHBOURHOOD_ABOVE_TAGS, so the default diagnoser takes the neighbourhood
FAULT, ALARMED = 20, 23  # the faulty asset, and the asset whose signal alarms three assets downstream of it
FAR = range(120, 160)  # far downstream of the alarm: no path to it, huge deviations of its own
END_MS = 150_000
COATER_MODEL = REPO / "plant_models" / "coater" / "rootcause.pt"


def chain_line(n_assets: int = N_ASSETS) -> tuple[TagMap, Knowledge]:
    """Assets of four tags (three measured, one setpoint); asset i's s1 feeds asset i+1's s0."""
    tags = [Tag(name="l.plc.clock_ms", dtype="uint64", low=0, high=2**53, period_ms=100)]
    links = []
    for a in range(n_assets):
        tags += [Tag(name=f"l.a{a}.s{s}", low=-1e4, high=1e4, period_ms=100 if s < 2 else 1000) for s in range(3)]
        tags.append(Tag(name=f"l.a{a}.sp", access="rw", low=-1e4, high=1e4, period_ms=1000))
        links += [(f"l.a{a}.sp", f"l.a{a}.s0"), (f"l.a{a}.s0", f"l.a{a}.s1")]
        if a + 1 < n_assets:
            links.append((f"l.a{a}.s1", f"l.a{a + 1}.s0"))
    tagmap = TagMap(plant="l", opcua_namespace="urn:l", clock_tag="l.plc.clock_ms", tags=tags)
    return tagmap, Knowledge(plant="l", kinds={}, links=tuple(links))


def chain_position(name: str) -> int | None:
    """How far down the chain from the faulty asset's s0 a signal sits (None: off the fault's path)."""
    _, asset, signal = name.split(".")
    a = int(asset[1:])
    if signal not in ("s0", "s1") or a < FAULT:
        return None
    return 2 * (a - FAULT) + (signal == "s1")


def write_history(tagmap: TagMap, path: Path) -> list[AlarmRef]:
    """150 s of noise. From 100 s the faulty asset's s0 ramps and each signal down the chain follows 2 s
    later; from 70 s every tag of the far part jumps by 1,000 sigma (no alarm: a unit starting up, say)."""
    index = ElementIndex([t for t in tagmap.tags if t.name != tagmap.clock_tag])
    positions = [chain_position(n) for n in index.names]
    delay_s = np.array([np.inf if p is None else 2.0 * p for p in positions])
    far = np.array([int(n.split(".")[1][1:]) in FAR for n in index.names])
    slow = np.array([not n.endswith(("s0", "s1")) for n in index.names])
    rng = np.random.default_rng(7)
    good = np.full(len(index), Quality.GOOD, dtype=np.uint8)
    with Historian(path, index) as historian:
        for t_ms in range(0, END_MS, 100):
            t_s = t_ms / 1000
            values = rng.normal(0, 1, len(index)) + 0.5 * np.clip(t_s - 100.0 - delay_s, 0.0, None)
            values += 1000.0 * far * (t_s >= 70.0)
            historian.append(Frame(t_ms, index, values, good, ~slow | (t_ms % 1000 == 0)))
    return [AlarmRef("A1", f"l.a{ALARMED}.s1", 125_000)]


class CountingReader(HistorianReader):
    """The real reader, noting every element name a resample asks for."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.asked: list[str] = []

    def resample(self, period_ms: int, start_ms: int, end_ms: int, tags: Sequence[str], *,
                 staleness_periods: float = 2.0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """As the historian's, after noting ``tags``."""
        self.asked += list(tags)
        return super().resample(period_ms, start_ms, end_ms, tags, staleness_periods=staleness_periods)


@pytest.fixture(scope="module")
def plant(tmp_path_factory: pytest.TempPathFactory) -> tuple[PlantGraph, Path, list[AlarmRef]]:
    tagmap, knowledge = chain_line()
    path = tmp_path_factory.mktemp("neighbourhood") / "historian.duckdb"
    return graph_with_knowledge(tagmap, knowledge), path, write_history(tagmap, path)


def asset_of(node: str) -> int:
    return int(node.split(".")[1][1:])


def diagnose(plant, diagnoser: Diagnoser) -> tuple[Diagnosis, set[str]]:
    """The diagnosis of the plant's alarm at the end of its history, and the elements the reader was asked for."""
    _, path, alarms = plant
    with CountingReader(path) as reader:
        diagnosis = diagnoser.diagnose(reader, alarms, END_MS - 100)
    return diagnosis, set(reader.asked)


@pytest.mark.parametrize("method", ["earliest_onset", "gnn", "random_walk"])
def test_a_large_plant_reads_only_the_alarms_neighbourhood(plant, method: str) -> None:
    graph, _, alarms = plant
    assert len(graph.tags()) > NEIGHBOURHOOD_ABOVE_TAGS
    diagnoser = Diagnoser.with_method(graph, method, COATER_MODEL if method == "gnn" else None)
    diagnosis, asked = diagnose(plant, diagnoser)
    part = diagnoser.graph_for([a.tag for a in alarms])
    # only the neighbourhood's tags were asked for: none of the far part, a small share of the plant
    assert asked == set(part.tags()) and f"l.a{ALARMED}.s1" in asked
    assert not any(asset_of(t) in FAR for t in asked)
    assert len(asked) < len(graph.tags()) / 10
    # every candidate named is upstream of the alarm, the faulty asset among them
    assert all(asset_of(c.asset) <= ALARMED for c in diagnosis.candidates)
    assert f"l.a{FAULT}" in [c.asset for c in diagnosis.candidates]
    if diagnosis.top.asset != f"l.a{ALARMED}.s1":  # the alarmed sensor itself has no path to explain
        assert diagnosis.evidence_path and diagnosis.evidence_path[-1].effect == f"l.a{ALARMED}.s1"


def test_the_neighbourhood_names_the_faulty_asset_where_the_whole_graph_names_a_far_deviation(plant) -> None:
    """The same diagnoses with the neighbourhood turned off read every tag, and follow the deviations that have
    no path to the alarm: the earliest onset names a chance deviation far off, the GNN the far part."""
    graph, _, _ = plant
    earliest = BASELINES["earliest_onset"]
    near, asked = diagnose(plant, Diagnoser(graph, earliest, method="earliest_onset", model_version="t"))
    assert near.top.asset == f"l.a{FAULT}" and near.top.kind == "process"
    whole, asked = diagnose(plant, Diagnoser(graph, earliest, method="earliest_onset", model_version="t",
                                             neighbourhood_above=None))
    assert len(asked) == len(graph.tags())
    assert asset_of(whole.top.asset) > ALARMED
    gnn = Diagnoser.with_method(graph, "gnn", COATER_MODEL)
    near, _ = diagnose(plant, gnn)
    assert f"l.a{FAULT}" in [c.asset for c in near.candidates[:2]]
    gnn.neighbourhood_above = None
    whole, _ = diagnose(plant, gnn)
    assert asset_of(whole.top.asset) in FAR


def test_the_neighbourhood_reaches_a_bounded_depth_upstream(plant) -> None:
    graph, path, alarms = plant
    shallow = Diagnoser(graph, BASELINES["earliest_onset"], method="earliest_onset", model_version="t",
                        neighbourhood_depth=4)
    part = shallow.graph_for([a.tag for a in alarms])
    # four links up from a23.s1: a23 and a23.s0 (1), a23.sp and a22.s1 (2), a22 and a22.s0 (3), a22.sp, a21.s1 (4)
    assert set(part.candidate_names()) == {"l.a23", "l.a23.s1", "l.a23.s0", "l.a22.s1", "l.a22", "l.a22.s0",
                                           "l.a21.s1"}
    diagnosis, asked = diagnose(plant, shallow)
    assert asked == set(part.tags())
    # the fault is out of reach: the diagnosis names what is in reach, nothing else
    assert {c.asset for c in diagnosis.candidates} <= set(part.candidate_names())
    assert f"l.a{FAULT}" not in {c.asset for c in diagnosis.candidates}


def test_a_part_keeps_the_whole_graphs_structure_features_and_spreads_its_scores_back() -> None:
    tagmap, knowledge = chain_line(12)
    graph = graph_with_knowledge(tagmap, knowledge)
    core = graph.upstream(["l.a5.s1"], depth=3)
    part = graph.around(core)
    assert set(part.candidate_names()) <= set(core) and part.whole is graph
    # direct neighbours either way are there (a5's setpoint, a5.s1's effect a6.s0), and no further
    assert {"l.a5.sp", "l.a6.s0"} <= set(part.nodes) and "l.a6.s1" not in part.nodes
    # a node at the edge of the part has lost links, not its structure features: they are the whole graph's
    x_whole = graph.arrays(_no_evidence())["x"]
    x_part = part.arrays(_no_evidence())["x"]
    structure = slice(x_whole.shape[1] - len(STRUCT_FEATURES), None)
    for node in part.nodes:
        np.testing.assert_array_equal(x_part[part.index[node], structure], x_whole[graph.index[node], structure])
    scores = np.arange(len(part.candidates), dtype=float)
    spread = part.whole_scores(scores)
    inside = [graph.candidate_names().index(n) for n in part.candidate_names()]
    np.testing.assert_array_equal(spread[inside], scores)
    assert np.isneginf(np.delete(spread, inside)).all()


def test_a_plant_up_to_the_threshold_is_diagnosed_over_its_whole_graph() -> None:
    """Every shipped plant (the coater has 34 tags) keeps its exact diagnosis: the whole graph, every tag."""
    diagnoser = Diagnoser(GRAPH, BASELINES["random_walk"], method="random_walk", model_version="t")
    assert len(GRAPH.tags()) <= NEIGHBOURHOOD_ABOVE_TAGS
    assert diagnoser.graph_for(["coater.xray.wrinkles_per_m"]) is GRAPH


def test_alarms_on_no_tag_of_the_graph_fall_back_to_the_whole_graph() -> None:
    tagmap, knowledge = chain_line(12)
    graph = graph_with_knowledge(tagmap, knowledge)
    diagnoser = Diagnoser(graph, BASELINES["random_walk"], method="random_walk", model_version="t",
                          neighbourhood_above=0)
    assert diagnoser.graph_for(["l.plc.clock_ms"]) is graph
    assert set(diagnoser.graph_for(["l.a0.s0"]).candidate_names()) == {"l.a0", "l.a0.s0"}


def _no_evidence():
    from rootcause.features import Evidence

    return Evidence(0, 0)
