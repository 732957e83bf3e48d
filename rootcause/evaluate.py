"""The evaluation harness: the same cases through every method, AC@1 / AC@3 / Avg@5 per fault kind."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from rootcause.baselines import Ranker
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


def evaluate(
    cases: Sequence[Case],
    methods: Mapping[str, Ranker],
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, dict[str, object]]:
    """For each method: overall and per-fault-kind AC@1, AC@3, Avg@5."""
    ranks: dict[str, list[int]] = {m: [] for m in methods}
    by_kind: dict[str, dict[str, list[int]]] = {m: defaultdict(list) for m in methods}
    for i, case in enumerate(cases, 1):
        truth = case.label_index()
        for name, ranker in methods.items():
            r = rank_of(np.asarray(ranker(case.graph, case.evidence), dtype=float), truth)
            ranks[name].append(r)
            by_kind[name][case.fault_kind].append(r)
        if progress:
            progress(i, len(cases))
    return {
        name: {"overall": summarise(ranks[name]),
               "per_kind": {k: summarise(v) for k, v in sorted(by_kind[name].items())}}
        for name in methods
    }
