"""The literature baselines (BARO, PC + PageRank, knowledge graph + earliest onset) on hand-built cases.

A four-asset toy plant, ``p.a``, ``p.b``, ``p.c``, ``p.d``, one signal each, one value a second: the
answer of each case is known by construction, and so is where a method must fail.
"""

from __future__ import annotations

import numpy as np
import pytest
from causallearn.search.ConstraintBased.PC import pc

from rootcause.baselines import BASELINES, baro, kg_earliest_onset, pc_pagerank
from rootcause.evaluate import Case, evaluate
from rootcause.features import Evidence, EvidenceSettings, evidence_from_series
from rootcause.graph import PlantGraph
from rootcause.knowledge import Knowledge
from rootcause.literature_baselines import MIN_NORMAL, alarm_index, change_point
from virtual_plc.tagmap import Tag, TagMap

TAGS = ("p.a.x", "p.b.y", "p.c.z", "p.d.w")
SETTINGS = EvidenceSettings(grid_ms=1000, mean_s=1.0, lookback_s=120, baseline_s=60, evidence_s=30)
N = 180  # seconds of history: 60 of baseline, 120 after it (the z-series)
CHAIN = (("p.a.x", "p.b.y"), ("p.b.y", "p.c.z"))
NEW = ("baro", "pc_pagerank", "kg_earliest_onset")


def plant(links: tuple[tuple[str, str], ...] = CHAIN) -> PlantGraph:
    """The toy plant's graph with these knowledge links."""
    tagmap = TagMap(plant="p", tags=[Tag(name=t, period_ms=1000) for t in TAGS])
    return PlantGraph(tagmap, Knowledge(plant="p", kinds={}, links=links))


def window(values: dict[str, np.ndarray], alarms: list[tuple[str, int]]) -> Evidence:
    """Evidence from one value a second per tag (good quality), the diagnosis at the end."""
    series = {t: (v, np.zeros(N, dtype=np.uint8)) for t, v in values.items()}
    return evidence_from_series(series, alarms, N * 1000, (0, 60_000, N * 1000), SETTINGS)


def noise(seed: int, sd: dict[str, float] | None = None) -> dict[str, np.ndarray]:
    """Gaussian noise on every tag (sd 1 unless ``sd`` says otherwise)."""
    rng = np.random.default_rng(seed)
    return {t: rng.normal(0, (sd or {}).get(t, 1.0), N) for t in TAGS}


def chain(seed: int = 0, cause: float = 20.0) -> Evidence:
    """A fault on ``p.a`` at 100 s spreads down the chain: ``p.b`` 2 s later, ``p.c`` 4 s later, each smaller;
    ``p.c`` alarms at 106 s, ``p.b`` at 104 s."""
    values = noise(seed)
    for tag, at, size in (("p.a.x", 100, cause), ("p.b.y", 102, 6.0), ("p.c.z", 104, 5.0)):
        values[tag][at:] += size
    return window(values, [("p.c.z", 106_000), ("p.b.y", 104_000)])


def top(graph: PlantGraph, scores: np.ndarray, k: int = 1) -> list[str]:
    """The ``k`` best candidates."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    return [graph.candidates[i].node for i in order[:k]]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_baro_and_the_knowledge_graph_onset_name_the_asset_that_moved_first_and_most(seed: int) -> None:
    graph, evidence = plant(), chain(seed)
    assert top(graph, baro(graph, evidence), 2) == ["p.a", "p.a.x"]  # the asset, then its instrument
    assert top(graph, kg_earliest_onset(graph, evidence), 2) == ["p.a", "p.a.x"]


def test_baro_splits_the_window_where_the_signals_change() -> None:
    evidence = chain(0)
    z = np.column_stack([evidence.tags[t].z for t in TAGS])
    split = change_point(evidence, z)
    assert 40 <= split <= 46  # the fault at 100 s is mean 40 of the z-series; the last effect, mean 44
    assert alarm_index(evidence, len(z)) == 44  # the first alarm, at 104 s


def test_baro_falls_back_on_the_first_alarm_when_there_is_no_change_point() -> None:
    flat = window(noise(3), [("p.c.z", 150_000)])  # an alarm, but nothing changed
    z = np.column_stack([flat.tags[t].z for t in TAGS])
    assert change_point(flat, z) in (alarm_index(flat, len(z)), *range(MIN_NORMAL, len(z)))
    assert change_point(flat, np.zeros_like(z)) == alarm_index(flat, len(z)) == 90  # constant: BOCPD has nothing


def collider(seed: int = 0) -> tuple[dict[str, np.ndarray], Evidence]:
    """``p.a`` (the fault: a step at 100 s) and ``p.d`` (independent, always moving) both drive ``p.b``, which
    drives ``p.c``; ``p.c`` alarms. The collider lets PC orient a -> b <- d, and then b -> c."""
    values = noise(seed, {"p.d.w": 3.0})
    values["p.a.x"][100:] += 8.0
    values["p.b.y"] += values["p.a.x"] + values["p.d.w"]
    values["p.c.z"] = 0.8 * values["p.b.y"] + 3.0 * values["p.c.z"]
    return values, window(values, [("p.c.z", 104_000)])


def test_pc_pagerank_walks_the_discovered_graph_back_to_the_cause() -> None:
    _, evidence = collider(0)
    z = np.column_stack([evidence.tags[t].z for t in TAGS])
    found = pc(z, 0.05, "fisherz", show_progress=False)
    directed = {(TAGS[a], TAGS[b]) for a, b in found.find_fully_directed()}
    assert directed == {("p.a.x", "p.b.y"), ("p.d.w", "p.b.y"), ("p.b.y", "p.c.z")}  # what PC can tell here
    graph = plant((("p.a.x", "p.b.y"), ("p.d.w", "p.b.y"), ("p.b.y", "p.c.z")))
    # both roots hold the walker; the stronger link (a moves b far more than d's noise does) wins
    assert top(graph, pc_pagerank(graph, evidence), 2) == ["p.a", "p.a.x"]


def test_pc_cannot_orient_a_plain_chain_so_the_walk_stays_near_the_alarm() -> None:
    graph, evidence = plant(), chain(0)
    first = top(graph, pc_pagerank(graph, evidence))[0]
    assert first != "p.a"  # Markov equivalence: a - b - c has no direction PC could find


def test_without_any_change_or_alarm_every_new_baseline_is_flat() -> None:
    graph, evidence = plant(), window(noise(5), [])
    for name in NEW:
        scores = BASELINES[name](graph, evidence)
        assert len(scores) == len(graph.candidates) and np.ptp(scores) == 0, name


def test_a_sensor_fault_is_named_as_its_asset_first() -> None:
    """None of these has a notion of a sensor fault: a biased ``p.c.z`` reads as a process fault of ``p.c``."""
    values = noise(6)
    values["p.c.z"][110:] += 12.0  # a bias step on the instrument alone
    graph, evidence = plant(), window(values, [("p.c.z", 111_000)])
    for name in NEW:
        assert top(graph, BASELINES[name](graph, evidence), 2) == ["p.c", "p.c.z"], name


def test_the_knowledge_graph_keeps_out_a_cause_it_does_not_place_upstream() -> None:
    """Drop the link a -> b: ``p.a`` moved first but is no ancestor of the alarm, so it ranks after every
    candidate that is, even those that never moved."""
    graph, evidence = plant((("p.b.y", "p.c.z"),)), chain(0)
    scores = kg_earliest_onset(graph, evidence)
    assert top(graph, scores, 2) == ["p.b", "p.b.y"]
    names = graph.candidate_names()
    upstream = {"p.b", "p.b.y", "p.c", "p.c.z"}
    assert max(scores[names.index(n)] for n in ("p.a", "p.d")) < min(scores[names.index(n)] for n in upstream)


def test_the_harness_scores_the_new_baselines_with_the_same_metrics() -> None:
    graph = plant()
    cases = [Case(graph, chain(seed), "p.a", "step") for seed in range(3)]
    results = evaluate(cases, {name: BASELINES[name] for name in NEW})
    assert results["baro"]["overall"] == {"ac1": 1.0, "ac3": 1.0, "avg5": 1.0, "n": 3}
    assert results["kg_earliest_onset"]["per_kind"]["step"]["ac1"] == 1.0
    assert set(results["pc_pagerank"]) == {"overall", "per_kind", "calibration"}


def test_a_scenario_may_choose_every_baseline() -> None:
    from typing import get_args

    from rootcause.baselines import BASELINES
    from rootcause.settings import Method

    assert set(get_args(Method)) == {"gnn", *BASELINES}
