"""Confidence that means what it says: of the diagnoses stated at 0.8, about 80 % should be right.

A diagnosis states the top candidate's **confidence**: its share of the candidates' (non-negative) scores
(:func:`top_share`; for the GNN, whose scores are probabilities, the top probability). A trained network is
usually over-confident; **temperature scaling** (Guo et al., "On Calibration of Modern Neural Networks",
ICML 2017) divides its log-probabilities by one number ``T`` fitted on labelled cases the model did not train
on (:func:`fit_temperature`: the ``T`` with the least negative log-likelihood of the true candidates), which
changes no ranking, only how sure the ranking says it is (:func:`with_temperature`). A model card keeps it
(``calibration.temperature``); the diagnoser applies it.

:func:`reliability` bins stated confidence against being right at rank 1 — the reliability diagram — with
the expected calibration error (ECE: the bins' gaps between confidence and accuracy, weighted by their
cases); :func:`draw_reliability` draws it, one panel per method. The evaluation reports both per method.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

BINS = 10
TEMPERATURES = np.exp(np.linspace(np.log(0.05), np.log(20.0), 241))  # the grid :func:`fit_temperature` searches


def top_share(scores: np.ndarray | Sequence[float]) -> float:
    """The top candidate's share of the non-negative scores (0 when none is positive): for probabilities, the
    top probability.

    >>> top_share([0.7, 0.2, 0.1])
    0.7
    >>> top_share([-1.0, -2.0])
    0.0
    """
    values = np.clip(np.nan_to_num(np.asarray(scores, dtype=float), nan=0.0, neginf=0.0, posinf=0.0), 0, None)
    total = float(values.sum())
    return round(float(values.max()) / total, 4) if len(values) and total > 0 else 0.0


def with_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities ``p`` rescaled as ``softmax(log p / T)``: the same order, flatter for ``T > 1``.

    >>> with_temperature(np.array([0.9, 0.1]), 1.0).round(3).tolist()
    [0.9, 0.1]
    >>> bool(with_temperature(np.array([0.9, 0.1]), 2.0)[0] < 0.9)
    True
    """
    if temperature <= 0:
        raise ValueError(f"a temperature must be positive, got {temperature}")
    logits = np.log(np.clip(np.asarray(probs, dtype=float), 1e-12, None)) / temperature
    logits -= logits.max()
    out = np.exp(logits)
    return out / out.sum()


def fit_temperature(probs: Sequence[np.ndarray], truths: Sequence[int]) -> float:
    """The temperature (on a log grid from 0.05 to 20) that gives the true candidates the least negative
    log-likelihood over these cases (each: one case's candidate probabilities, and the true candidate's index)."""
    if not probs or len(probs) != len(truths):
        raise ValueError("fit_temperature needs cases: as many probability vectors as true indices")
    logs = [np.log(np.clip(np.asarray(p, dtype=float), 1e-12, None)) for p in probs]
    best, best_nll = 1.0, np.inf
    for t in TEMPERATURES:
        nll = 0.0
        for log_p, truth in zip(logs, truths):
            z = log_p / t
            nll -= z[truth] - (z.max() + np.log(np.exp(z - z.max()).sum()))
        if nll < best_nll - 1e-12:
            best, best_nll = float(t), nll
    return round(best, 4)


@dataclass(frozen=True)
class ReliabilityBin:
    """Cases whose stated confidence lies in ``[low, high)`` (the last bin includes 1): how many, their mean
    confidence, and the share right at rank 1."""

    low: float
    high: float
    n: int
    confidence: float
    accuracy: float


@dataclass(frozen=True)
class Reliability:
    """A reliability diagram's bins (empty ones left out), the expected calibration error, and the cases."""

    bins: list[ReliabilityBin]
    ece: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record."""
        return {"bins": [asdict(b) for b in self.bins], "ece": self.ece, "n": self.n}

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> Reliability:
        """The reliability a :meth:`to_dict` record holds (an evaluation's JSON)."""
        return cls([ReliabilityBin(**b) for b in record["bins"]], record["ece"], record["n"])


def reliability(confidence: Sequence[float], correct: Sequence[bool], bins: int = BINS) -> Reliability:
    """Bin stated confidences in ``bins`` equal widths; per bin the mean confidence and the share correct; the
    ECE is the case-weighted mean of their gaps.

    >>> r = reliability([0.9, 0.9, 0.2, 0.3], [True, False, False, False])
    >>> [(b.n, b.confidence, b.accuracy) for b in r.bins], r.ece
    ([(1, 0.2, 0.0), (1, 0.3, 0.0), (2, 0.9, 0.5)], 0.325)
    """
    c = np.clip(np.asarray(confidence, dtype=float), 0.0, 1.0)
    ok = np.asarray(correct, dtype=bool)
    if len(c) != len(ok):
        raise ValueError("reliability needs a correctness for every confidence")
    which = np.minimum((c * bins).astype(int), bins - 1)
    out, gap = [], 0.0
    for k in range(bins):
        members = which == k
        n = int(members.sum())
        if not n:
            continue
        mean_c, acc = float(c[members].mean()), float(ok[members].mean())
        out.append(ReliabilityBin(round(k / bins, 4), round((k + 1) / bins, 4), n, round(mean_c, 4), round(acc, 4)))
        gap += n * abs(mean_c - acc)
    return Reliability(out, round(gap / len(c), 4) if len(c) else 0.0, int(len(c)))


def draw_reliability(by_method: Mapping[str, Reliability], path: str | Path, title: str = "") -> Path:
    """One reliability diagram per method, side by side: accuracy against stated confidence per bin (bars,
    width by bin, the number of cases on each), the diagonal of perfect calibration, and the ECE."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = list(by_method)
    cols = min(4, max(1, len(methods)))
    rows = -(-len(methods) // cols) if methods else 1
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.2 * rows), squeeze=False)
    for ax in axes.flat[len(methods):]:
        ax.axis("off")
    for ax, method in zip(axes.flat, methods):
        rel = by_method[method]
        ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="calibrated")
        for b in rel.bins:
            ax.bar((b.low + b.high) / 2, b.accuracy, width=(b.high - b.low) * 0.9, color="tab:blue", alpha=0.8)
            ax.text((b.low + b.high) / 2, min(b.accuracy + 0.03, 0.95), str(b.n), ha="center", fontsize=7)
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="stated confidence", ylabel="right at rank 1 (share)",
               title=f"{method}\nECE {rel.ece:.2f}, {rel.n} cases")
        ax.title.set_fontsize(9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
