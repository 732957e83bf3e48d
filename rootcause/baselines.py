"""Baseline root-cause rankers, run by the same harness as the GNN.

* **earliest onset** — the asset whose signal deviated first is the cause (the classic
  "first out" rule of alarm analysis);
* **correlation** — the asset whose signal moves most like the first alarmed signal;
* **random walk** — MicroCause / MonitorRank style: a personalised PageRank that starts at the
  alarmed signals and walks the knowledge graph backwards, effect to cause, preferring links
  whose two signals are correlated in the alarm window;
* **BARO** — change point by multivariate Bayesian online change-point detection, then each signal's
  largest robust z-score after it (:func:`rootcause.literature_baselines.baro_scores`);
* **PC + PageRank** — a causal graph discovered in the alarm window by the PC algorithm (Fisher-z),
  walked backwards from the alarmed signals (:func:`rootcause.literature_baselines.pc_pagerank_scores`);
* **knowledge graph + earliest onset** — first-out, among the candidates the knowledge graph places
  upstream of an alarmed signal only.

None of them has a notion of a sensor fault: each ranks an asset first and the instrument of the
same signal right behind it, which is what such methods do in practice.
"""

from __future__ import annotations

from collections.abc import Callable

import networkx as nx
import numpy as np

from rootcause.features import Evidence, lagged_correlation, link_features
from rootcause.graph import PlantGraph
from rootcause.literature_baselines import baro_scores, pc_pagerank_scores

Ranker = Callable[[PlantGraph, Evidence], np.ndarray]
SENSOR_DISCOUNT = 0.999


def _by_tag_score(graph: PlantGraph, tag_score: dict[str, float]) -> np.ndarray:
    """Candidate scores from per-tag scores: an asset takes its best tag; a sensor slightly less."""
    out = np.full(len(graph.candidates), -np.inf)
    for i, cand in enumerate(graph.candidates):
        if cand.kind == "sensor":
            s = tag_score.get(cand.node, -np.inf)
            out[i] = s * SENSOR_DISCOUNT if s > 0 else s - 1e-6 * abs(s) - 1e-9
        else:
            out[i] = max((tag_score.get(t, -np.inf) for t in graph.signals_of(cand.node)), default=-np.inf)
    return out


def earliest_onset(graph: PlantGraph, evidence: Evidence) -> np.ndarray:
    """Rank by the earliest onset of deviation (ties: the larger deviation)."""
    score = {}
    for tag, ev in evidence.tags.items():
        if ev.onset_s is not None:
            score[tag] = 1000.0 - ev.onset_s + 0.01 * float(ev.features[0])
    return _by_tag_score(graph, score)


def correlation(graph: PlantGraph, evidence: Evidence) -> np.ndarray:
    """Rank by |lagged correlation| with the first alarmed signal, deviating signals first."""
    alarmed = [t for t in evidence.tags if evidence.feature(t, "alarmed")]
    if not alarmed:
        return np.zeros(len(graph.candidates))
    kpi = min(alarmed, key=lambda t: (evidence.feature(t, "alarm_rel"), t))
    reference = evidence.tags[kpi].z
    score = {}
    for tag, ev in evidence.tags.items():
        r, _ = lagged_correlation(ev.z, reference, 10)
        score[tag] = abs(r) + float(ev.onset_s is not None)
    return _by_tag_score(graph, score)


def random_walk(graph: PlantGraph, evidence: Evidence, restart: float = 0.15) -> np.ndarray:
    """Personalised PageRank from the alarmed signals on the reversed, correlation-weighted graph."""
    g = graph.graph
    walk = nx.DiGraph()
    walk.add_nodes_from(g.nodes)
    for cause, effect in g.edges:
        corr = abs(float(link_features(evidence, cause, effect)[0]))
        walk.add_edge(effect, cause, weight=0.05 + corr)
        walk.add_edge(cause, effect, weight=0.01)
    start = {t: 1.0 for t in evidence.tags if evidence.feature(t, "alarmed") and t in walk}
    if not start:
        return np.zeros(len(graph.candidates))
    rank = nx.pagerank(walk, alpha=1 - restart, personalization=start, weight="weight", max_iter=200, tol=1e-8)
    out = np.array([rank.get(c.node, 0.0) for c in graph.candidates])
    return out * np.where([c.kind == "sensor" for c in graph.candidates], SENSOR_DISCOUNT, 1.0)


def baro(graph: PlantGraph, evidence: Evidence) -> np.ndarray:
    """BARO (Pham et al., FSE 2024): the largest robust z-score after the window's change point; no alarm,
    no opinion (all zeros), as the other baselines."""
    if not any(evidence.feature(t, "alarmed") for t in evidence.tags):
        return np.zeros(len(graph.candidates))
    return _by_tag_score(graph, baro_scores(evidence))


def pc_pagerank(graph: PlantGraph, evidence: Evidence) -> np.ndarray:
    """PC (Fisher-z) on the alarm window, personalised PageRank from the alarmed signals, effect to cause."""
    scores = pc_pagerank_scores(evidence)
    return _by_tag_score(graph, scores) if scores else np.zeros(len(graph.candidates))


NO_ONSET = -1e9  # an upstream candidate that never deviated: after every one that did, before the rest


def kg_earliest_onset(graph: PlantGraph, evidence: Evidence) -> np.ndarray:
    """Earliest onset among the knowledge graph's ancestors of the alarmed signals (and those signals).

    Candidates outside that set rank last; inside it, one that never deviated ranks after every one
    that did.
    """
    g = graph.graph
    alarmed = [t for t in evidence.tags if evidence.feature(t, "alarmed") and t in g]
    if not alarmed:
        return np.zeros(len(graph.candidates))
    upstream = set(alarmed).union(*(nx.ancestors(g, t) for t in alarmed))
    onset = earliest_onset(graph, evidence)
    inside = np.array([c.node in upstream for c in graph.candidates])
    return np.where(inside, np.where(np.isfinite(onset), onset, NO_ONSET), -np.inf)


BASELINES: dict[str, Ranker] = {
    "earliest_onset": earliest_onset,
    "correlation": correlation,
    "random_walk": random_walk,
    "baro": baro,
    "pc_pagerank": pc_pagerank,
    "kg_earliest_onset": kg_earliest_onset,
}
