"""The classic PCA monitor (Hotelling T² and SPE/Q) for multivariate process monitoring.

The baseline of the Tennessee Eastman fault-detection literature (e.g. Chiang, Russell &
Braatz 2001): fit a PCA model on in-control data, then flag a sample when either statistic
exceeds its limit.

* columns are standardised with the training mean and sample standard deviation;
* components are kept until their cumulative share of variance reaches ``variance``
  (at least one, and at most ``m - 1`` of ``m`` columns, so a residual space remains);
* T² = Σ tᵢ²/λᵢ over the kept scores; its limit is the Phase II (new observation) form
  a(n−1)(n+1) / (n(n−a)) · F(a, n−a; 1−α) for n training rows;
* SPE (Q) = ‖x − PPᵀx‖²; its limit is Jackson & Mudholkar's (1979) from the discarded
  eigenvalues, falling back to Box's (1954) scaled chi-square g·χ²(h; 1−α) with
  g = θ₂/θ₁, h = θ₁²/θ₂ when the Jackson–Mudholkar formula does not apply (h₀ ≤ 0).

It runs at the edge and knows only arrays: no plant model, no tag map. Quantiles come
from :mod:`scipy.stats`.

Examples
--------
>>> rng = np.random.default_rng(0)
>>> latent = rng.standard_normal((500, 2))
>>> X = latent @ rng.standard_normal((2, 6)) + 0.1 * rng.standard_normal((500, 6))
>>> monitor = PcaMonitor.fit(X)
>>> monitor.n_components
2
>>> bool(monitor.alarms(X[:1] + 5.0)[0])
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats


def _matrix(X: object, what: str, columns: int | None = None) -> np.ndarray:
    """``X`` as a finite 2-D float array; ``ValueError`` naming what is wrong and where."""
    try:
        array = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a 2-D array of numbers") from None
    if array.ndim != 2:
        raise ValueError(f"{what} must be 2-D (rows = samples, columns = variables), got shape {array.shape}")
    if columns is not None and array.shape[1] != columns:
        raise ValueError(f"{what} has {array.shape[1]} columns; the monitor was fitted on {columns}")
    bad = np.argwhere(~np.isfinite(array))
    if len(bad):
        row, col = (int(v) for v in bad[0])
        raise ValueError(f"{what} holds a non-finite value at row {row}, column {col}: {float(array[row, col])}")
    return array


@dataclass(frozen=True, eq=False)
class PcaMonitor:
    """A fitted PCA model with its T² and SPE control limits (build it with :meth:`fit`)."""

    mean: np.ndarray
    scale: np.ndarray
    loadings: np.ndarray  # (m, a): the kept principal directions, in standardised units
    eigenvalues: np.ndarray  # (m,): all eigenvalues of the training correlation matrix, descending
    n_samples: int
    variance: float
    alpha: float
    t2_limit: float
    spe_limit: float
    columns: tuple[str, ...] | None = None

    @property
    def n_components(self) -> int:
        """Number of principal components kept."""
        return int(self.loadings.shape[1])

    @classmethod
    def fit(
        cls,
        X_clean: object,
        *,
        variance: float = 0.9,
        alpha: float = 0.01,
        columns: Sequence[str] | None = None,
    ) -> PcaMonitor:
        """Fit on in-control data ``X_clean`` (rows = samples, columns = variables).

        Parameters
        ----------
        variance:
            Cumulative share of variance the kept components must reach, in (0, 1].
        alpha:
            False-alarm probability of each limit, in (0, 1): 0.01 gives 99 % limits.
        columns:
            Optional column names, used in error messages.

        Raises
        ------
        ValueError
            For a non-2-D or non-finite input, fewer than 3 rows or 2 columns, a column
            without variance (named), or ``variance``/``alpha`` out of range.
        """
        if not 0.0 < variance <= 1.0:
            raise ValueError(f"variance must be in (0, 1], got {variance!r}")
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
        X = _matrix(X_clean, "X_clean")
        n, m = X.shape
        names = tuple(columns) if columns is not None else None
        if names is not None and len(names) != m:
            raise ValueError(f"columns names {len(names)} variables but X_clean has {m} columns")
        if m < 2:
            raise ValueError(f"X_clean needs at least 2 columns (variables), got {m}")
        if n < 3:
            raise ValueError(f"X_clean needs at least 3 rows (samples), got {n}")
        mean = X.mean(axis=0)
        scale = X.std(axis=0, ddof=1)
        flat = np.flatnonzero(~(scale > 1e-12 * np.maximum(1.0, np.abs(mean))))
        if len(flat):
            named = [names[i] if names else f"column {i}" for i in flat]
            raise ValueError(f"X_clean has no variance in {', '.join(map(str, named))}; drop it before fitting")
        Z = (X - mean) / scale
        eigenvalues, vectors = np.linalg.eigh(Z.T @ Z / (n - 1))
        order = np.argsort(eigenvalues)[::-1]
        eigenvalues = np.clip(eigenvalues[order], 0.0, None)
        vectors = vectors[:, order]
        share = np.cumsum(eigenvalues) / eigenvalues.sum()
        a = int(np.searchsorted(share, variance - 1e-12) + 1)
        a = max(1, min(a, m - 1, n - 2))
        t2 = a * (n - 1) * (n + 1) / (n * (n - a)) * float(stats.f.ppf(1.0 - alpha, a, n - a))
        return cls(mean, scale, vectors[:, :a], eigenvalues, n, float(variance), float(alpha), t2,
                   spe_limit(eigenvalues[a:], alpha), names)

    def score(self, X: object) -> tuple[np.ndarray, np.ndarray]:
        """``(t2, spe)`` of every row of ``X`` (same columns as the training data)."""
        Z = (_matrix(X, "X", self.mean.shape[0]) - self.mean) / self.scale
        scores = Z @ self.loadings
        t2 = np.sum(scores**2 / self.eigenvalues[: self.n_components], axis=1)
        residual = Z - scores @ self.loadings.T
        return t2, np.sum(residual**2, axis=1)

    def alarms(self, X: object) -> np.ndarray:
        """True for each row where T² or SPE is beyond its limit."""
        t2, spe = self.score(X)
        return (t2 > self.t2_limit) | (spe > self.spe_limit)


def spe_limit(residual_eigenvalues: np.ndarray, alpha: float) -> float:
    """The (1 − ``alpha``) SPE limit from the eigenvalues of the discarded components.

    Jackson & Mudholkar (1979); Box's scaled chi-square when their h₀ is not positive.
    Zero when the residual space carries no variance.
    """
    lam = np.asarray(residual_eigenvalues, dtype=np.float64)
    theta1, theta2, theta3 = (float(np.sum(lam**k)) for k in (1, 2, 3))
    if theta1 <= 0.0 or theta2 <= 0.0:
        return 0.0
    h0 = 1.0 - 2.0 * theta1 * theta3 / (3.0 * theta2**2)
    z = float(stats.norm.ppf(1.0 - alpha))
    base = z * np.sqrt(2.0 * theta2 * h0**2) / theta1 + 1.0 + theta2 * h0 * (h0 - 1.0) / theta1**2
    if h0 <= 0.0 or base <= 0.0:
        return theta2 / theta1 * float(stats.chi2.ppf(1.0 - alpha, theta1**2 / theta2))
    return float(theta1 * base ** (1.0 / h0))
