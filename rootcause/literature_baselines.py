"""Two rankers from the RCA literature, on the alarm window's signals alone (no knowledge graph).

Both score *tags*, as their papers score metrics; :mod:`rootcause.baselines` turns tag scores into
candidate scores the way it does for its own baselines (an asset takes its best tag, the sensor of a
tag comes right behind it).

* **BARO** — Pham, Ha and Zhang, "BARO: Robust Root Cause Analysis for Microservices via
  Multivariate Bayesian Online Change Point Detection", FSE 2024; ``baro`` in RCAEval
  (github.com/phamquiluan/RCAEval, ``RCAEval/e2e/baro.py``). Multivariate Bayesian online change-point
  detection (BOCPD) finds when the anomaly began; each signal is then scaled robustly against the part
  before it (median, inter-quartile range) and scored by its largest scaled deviation after it.
  The change point comes from the authors' own package (``fse-baro``: ``baro.anomaly_detection.bocpd``,
  their multivariate Student-t BOCPD with a constant hazard of 1/50, min-max scaled inputs) and the
  scaling from scikit-learn's ``RobustScaler``, as in their code.
* **PC + PageRank** — RCAEval's ``pc_pagerank``: the PC algorithm with Fisher-z tests (``causal-learn``,
  alpha 0.05) on the window's signals, then PageRank over the discovered graph walked backwards
  (effect to cause). Here the walk restarts at the alarmed signals (a personalised PageRank, as
  MicroCause does), where RCAEval's is uniform; it prefers links whose two signals are correlated
  (weight ``0.05 + |r|``, as :func:`rootcause.baselines.random_walk` weighs the knowledge graph), and a
  signal PC found no cause for keeps the walker (a self-loop). Without that, a walk that restarts at the
  alarm ranks the alarmed signals first whatever the graph says. An undirected edge (PC could not
  orient it: a plain chain ``a - b - c`` is one) is walked both ways, so a cause PC cannot tell from
  its effects is not found; that is PC's limit, not tuned away.

Adaptations to a plant's alarm window, each because the window differs from RCAEval's cases:

* BOCPD runs on at most :data:`BOCPD_SIGNALS` signals, the alarmed ones first, then the most deviating
  (largest ``|z|``): the counterpart of the latency and error series of every service BARO runs it on,
  and its cost grows with the cube of the signals (a whole coater, 35 signals, takes over a second a
  window; ten, under half a second). On the alarmed signals alone it would find where the *alarm* began,
  after an upstream cause had moved, and scale the cause against its own anomaly. The first change point
  with at least :data:`MIN_NORMAL` means before it splits the window; when there is none (BOCPD often
  sees no change in a slow drift), the first alarm splits it, which is what RCAEval hands its ``baro``
  (the time the anomaly was detected).
* BARO's code takes the largest *signed* scaled value (latency and errors only go up); a plant's signal
  that drops is as telling, so the score is the largest *absolute* one, as the paper's formula reads.
* PC runs on at most :data:`PC_SIGNALS` signals, the alarmed ones first, then the most deviating (largest
  ``|z|``), and on no more than a third as many signals as the window has means (Fisher-z needs samples;
  a TEP window has 40): PC's cost grows fast with the signals, and signals far from the fault carry
  nothing but noise into its tests. Constant signals are left out (no test can use them), and a signal
  that is an exact copy of one already in (``|r| > 0.9999``) takes that one's score, so the correlation
  matrix stays invertible; should it still be singular (three signals in an exact linear relation), PC
  finds no graph and the walk stays at the alarmed signals, as RCAEval falls back when a method fails.
"""

from __future__ import annotations

import warnings

import networkx as nx
import numpy as np

from rootcause.features import Evidence

BOCPD_SIGNALS = 10
MIN_NORMAL = 5
PC_SIGNALS = 30
PC_ALPHA = 0.05
RESTART = 0.15


def _matrix(evidence: Evidence, tags: list[str]) -> np.ndarray:
    """The tags' z-series as columns (means x tags), cut to the shortest."""
    n = min(len(evidence.tags[t].z) for t in tags)
    return np.column_stack([np.asarray(evidence.tags[t].z[:n], dtype=float) for t in tags])


def _alarmed(evidence: Evidence) -> list[str]:
    """The alarmed tags, first alarm first."""
    tags = [t for t in evidence.tags if evidence.feature(t, "alarmed")]
    return sorted(tags, key=lambda t: (evidence.feature(t, "alarm_rel"), t))


def alarm_index(evidence: Evidence, n: int) -> int:
    """Index of the first alarm in a z-series of ``n`` means ending at the diagnosis time."""
    behind = (evidence.t_ms - evidence.first_alarm_ms) / (evidence.step_s * 1000)
    return int(np.clip(n - round(behind), 0, n))


def change_point(evidence: Evidence, signals: np.ndarray) -> int:
    """Where the window splits into normal and anomalous: BARO's multivariate BOCPD on ``signals``.

    The first change point with at least :data:`MIN_NORMAL` means before it and some after; failing
    one, the first alarm (kept within the window, with at least one normal mean).
    """
    import pandas as pd

    with warnings.catch_warnings():  # baro.anomaly_detection turns every warning off at import; keep that local
        from baro.anomaly_detection import bocpd

    n = signals.shape[0]
    moving = signals[:, np.ptp(signals, axis=0) > 0]
    if moving.shape[1]:
        frame = pd.DataFrame(moving, columns=[f"s{i}" for i in range(moving.shape[1])])  # names BARO won't filter
        found = [int(c) for c in bocpd(frame) if MIN_NORMAL <= int(c) < n]
        if found:
            return found[0]
    return int(np.clip(alarm_index(evidence, n), 1, max(1, n - 1)))


def baro_scores(evidence: Evidence) -> dict[str, float]:
    """BARO's tag scores: the largest |robust z| after the change point, against the part before it."""
    from sklearn.preprocessing import RobustScaler

    tags = [t for t, ev in evidence.tags.items() if len(ev.z)]
    if not tags:
        return {}
    z = _matrix(evidence, tags)
    if z.shape[0] < 2:
        return {}
    watched = [tags.index(t) for t in _window_signals(evidence, BOCPD_SIGNALS)]
    split = change_point(evidence, z[:, watched] if watched else z)
    scaled = RobustScaler().fit(z[:split]).transform(z[split:])
    return dict(zip(tags, np.abs(scaled).max(axis=0).tolist()))


def _window_signals(evidence: Evidence, limit: int) -> list[str]:
    """The tags to look at: alarmed first, then by deviation (``z_max``), moving ones only, ``limit`` at most."""
    moving = {t for t, ev in evidence.tags.items() if len(ev.z) > 1 and np.ptp(ev.z) > 0}
    alarmed = [t for t in _alarmed(evidence) if t in moving]
    rest = sorted(moving - set(alarmed), key=lambda t: (-evidence.feature(t, "z_max"), t))
    return (alarmed + rest)[:limit]


def _distinct(z: np.ndarray) -> tuple[list[int], dict[int, int]]:
    """Columns to keep, and each dropped column's kept twin (|r| > 0.9999)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.nan_to_num(np.abs(np.corrcoef(z, rowvar=False)))
    keep: list[int] = []
    twin: dict[int, int] = {}
    for j in range(z.shape[1]):
        same = [k for k in keep if r[j, k] > 0.9999]
        if same:
            twin[j] = same[0]
        else:
            keep.append(j)
    return keep, twin


def _walk(tags: list[str], z: np.ndarray, keep: list[int], edges: list[tuple[int, int]]) -> nx.DiGraph:
    """The walk over a discovered graph: each ``(cause, effect)`` edge (indices into ``keep``) walked from the
    effect to the cause, weighted by the two signals' |correlation| plus 0.05 (as
    :func:`rootcause.baselines.random_walk` weighs its walk); a signal with no discovered cause keeps the
    walker (a self-loop), so the walk settles on causes."""
    r = np.nan_to_num(np.abs(np.corrcoef(z[:, keep], rowvar=False)))
    walk = nx.DiGraph()
    walk.add_nodes_from(tags)
    for cause, effect in edges:
        walk.add_edge(tags[keep[effect]], tags[keep[cause]], weight=0.05 + float(r[cause, effect]))
    for node in tags:
        if walk.out_degree(node) == 0:
            walk.add_edge(node, node, weight=1.0)
    return walk


def pc_pagerank_scores(evidence: Evidence) -> dict[str, float]:
    """PC (Fisher-z) on the window's signals, then a PageRank from the alarmed ones walking the graph backwards."""
    from causallearn.search.ConstraintBased.PC import pc

    n = min((len(ev.z) for ev in evidence.tags.values()), default=0)
    tags = _window_signals(evidence, min(PC_SIGNALS, max(2, n // 3)))
    start = [t for t in _alarmed(evidence) if t in tags]
    if not start:
        return {}
    z = _matrix(evidence, tags)
    keep, twin = _distinct(z)
    edges: list[tuple[int, int]] = []
    if len(keep) >= 2:
        try:
            found = pc(z[:, keep], PC_ALPHA, "fisherz", show_progress=False)
        except ValueError as err:  # Fisher-z on a singular correlation matrix (signals in a linear relation)
            if "singular" not in str(err):
                raise
            found = None  # as RCAEval does when a method fails: no graph, so the walk stays at the alarm
        if found is not None:
            edges = list(found.find_fully_directed())  # (cause, effect)
            edges += found.find_undirected() + found.find_bi_directed()  # each comes as (a, b) and (b, a)
    walk = _walk(tags, z, keep, edges)
    index = {t: i for i, t in enumerate(tags)}
    restart = {tags[twin.get(index[t], index[t])]: 1.0 for t in start}  # an alarmed copy restarts at its twin
    rank = nx.pagerank(walk, alpha=1 - RESTART, personalization=restart, weight="weight", max_iter=500, tol=1e-10)
    for dropped, kept in twin.items():
        rank[tags[dropped]] = rank[tags[kept]]
    return rank
