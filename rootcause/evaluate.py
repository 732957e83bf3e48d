"""The evaluation harness: the same cases through every method, AC@1 / AC@3 / Avg@5 per fault kind.

:func:`rank_cases` keeps each method's ranked list of each case (a :class:`Ranking`: what
:mod:`rootcause.rcaeval` exports), :func:`summarise_rankings` turns them into the figures, and
:func:`evaluate` does both.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from rootcause.baselines import Ranker
from rootcause.calibration import reliability, top_share
from rootcause.features import Evidence
from rootcause.graph import PlantGraph
from rootcause.metrics import rank_of, summarise


@dataclass
class Case:
    """One diagnosis to score: the graph, the evidence, the true candidate, the fault kind."""

    graph: PlantGraph
    evidence: Evidence
    label: str
    fault_kind: str

    def label_index(self) -> int:
        """Position of the true candidate in the graph's candidate list."""
        try:
            return self.graph.candidate_names().index(self.label)
        except ValueError:
            raise ValueError(f"true cause {self.label!r} is not a candidate of the {self.graph.plant} graph") from None


@dataclass(frozen=True)
class Ranking:
    """One method's answer to one case: the candidates best first, and where the truth landed."""

    method: str
    case: int  # position of the case in the evaluated sequence
    fault_kind: str
    label: str
    ranked: tuple[str, ...]  # candidate names, best first; among equal scores the truth comes last
    rank: int  # 1-based rank of the truth (:func:`rootcause.metrics.rank_of`): its position in ``ranked``
    confidence: float = 0.0  # the confidence the method states in its top candidate (:func:`top_share`)


def ranking_of(case: Case, scores: np.ndarray, method: str, index: int) -> Ranking:
    """A :class:`Ranking` from one method's candidate scores (NaN counts as the lowest score).

    Ties are ordered with the truth after its equals, so the truth's position in ``ranked`` is the
    rank the metrics count (ties count against it).
    """
    scores = np.where(np.isnan(scores), -np.inf, scores)
    truth = case.label_index()
    order = np.lexsort((np.arange(len(scores)), np.arange(len(scores)) == truth, -scores))
    names = case.graph.candidate_names()
    return Ranking(method, index, case.fault_kind, case.label, tuple(names[i] for i in order),
                   rank_of(scores, truth), top_share(scores))


def rank_cases(
    cases: Sequence[Case],
    methods: Mapping[str, Ranker],
    progress: Callable[[int, int], None] | None = None,
) -> list[Ranking]:
    """Every method on every case, in case order."""
    out = []
    for i, case in enumerate(cases, 1):
        for name, ranker in methods.items():
            out.append(ranking_of(case, np.asarray(ranker(case.graph, case.evidence), dtype=float), name, i - 1))
        if progress:
            progress(i, len(cases))
    return out


def summarise_rankings(rankings: Iterable[Ranking], methods: Iterable[str]) -> dict[str, dict[str, object]]:
    """For each method: overall and per-fault-kind AC@1, AC@3, Avg@5, and the calibration of its stated
    confidence (:func:`rootcause.calibration.reliability`: bins and ECE)."""
    ranks: dict[str, list[int]] = {m: [] for m in methods}
    by_kind: dict[str, dict[str, list[int]]] = {m: defaultdict(list) for m in ranks}
    stated: dict[str, list[float]] = {m: [] for m in ranks}
    for r in rankings:
        ranks[r.method].append(r.rank)
        by_kind[r.method][r.fault_kind].append(r.rank)
        stated[r.method].append(r.confidence)
    return {
        name: {"overall": summarise(ranks[name]),
               "per_kind": {k: summarise(v) for k, v in sorted(by_kind[name].items())},
               "calibration": reliability(stated[name], [rank == 1 for rank in ranks[name]]).to_dict()}
        for name in ranks
    }


def evaluate(
    cases: Sequence[Case],
    methods: Mapping[str, Ranker],
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, dict[str, object]]:
    """For each method: overall and per-fault-kind AC@1, AC@3, Avg@5."""
    return summarise_rankings(rank_cases(cases, methods, progress), methods)
