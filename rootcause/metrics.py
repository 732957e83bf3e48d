"""The RCA benchmark metrics: AC@k and Avg@k over ranked candidate lists.

AC@k is the share of cases whose true root cause is among the top k candidates; Avg@k is the
mean of AC@1 .. AC@k (the metrics of the RCA literature, e.g. MicroCause, RCD, BARO).

>>> ranks = [1, 2, 6]                 # rank of the true cause in three cases
>>> round(ac_at(ranks, 1), 3), round(ac_at(ranks, 3), 3), round(avg_at(ranks, 5), 3)
(0.333, 0.667, 0.6)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def rank_of(scores: np.ndarray, truth: int) -> int:
    """1-based rank of candidate ``truth`` under ``scores`` (ties count against it)."""
    return int(np.sum(scores >= scores[truth]))


def ac_at(ranks: Sequence[int], k: int) -> float:
    """Share of cases with the truth in the top ``k``."""
    return float(np.mean([r <= k for r in ranks])) if len(ranks) else float("nan")


def avg_at(ranks: Sequence[int], k: int) -> float:
    """Mean of AC@1 .. AC@k."""
    return float(np.mean([ac_at(ranks, j) for j in range(1, k + 1)])) if len(ranks) else float("nan")


def summarise(ranks: Sequence[int]) -> dict[str, float | int]:
    """AC@1, AC@3, Avg@5 and the number of cases."""
    return {"ac1": ac_at(ranks, 1), "ac3": ac_at(ranks, 3), "avg5": avg_at(ranks, 5), "n": len(ranks)}
