r"""EWMA: the chart (:func:`ewma`) and the streaming bank (:class:`EwmaBank`), one recursion.

.. math::

    z_t = \lambda x_t + (1-\lambda) z_{t-1}, \quad z_0 = \mu_0, \qquad
    \sigma_{z_t} = \frac{\sigma}{\sqrt{n_t}}
        \sqrt{\frac{\lambda}{2-\lambda}\left[1-(1-\lambda)^{2t}\right]}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from twin.edge.detection import _inputs as check
from twin.edge.detection._bank import DetectorBank
from twin.edge.detection._charts import mean_series


def ewma_step(z: np.ndarray, x: np.ndarray, lam: float) -> np.ndarray:
    """One EWMA step: :math:`\\lambda x + (1-\\lambda) z`."""
    return lam * x + (1.0 - lam) * z


def ewma_width(lam: float, t: np.ndarray | int | None) -> np.ndarray:
    """Standard deviation of :math:`z_t` in units of the statistic's sigma.

    ``t`` is the number of points smoothed so far (1-based); ``None`` gives the
    asymptotic value :math:`\\sqrt{\\lambda/(2-\\lambda)}`.
    """
    if t is None:
        return np.sqrt(np.asarray(lam / (2.0 - lam)))
    return np.sqrt(lam / (2.0 - lam) * (1.0 - (1.0 - lam) ** (2 * np.asarray(t, dtype=float))))


@dataclass(frozen=True, eq=False)
class EwmaChart:
    """An EWMA chart: smoothed statistics with exact time-varying limits.

    Attributes
    ----------
    statistics : numpy.ndarray
        Subgroup means (or individual values), Phase I then Phase II.
    smoothed : numpy.ndarray
        The EWMA :math:`z_t`.
    lcl, ucl : numpy.ndarray
        Exact limits per point.
    violations : list of int
        Points whose EWMA is beyond its limits.
    center, std_dev, lam, nsigmas : float
        Centre, within sigma, smoothing constant and limit width.
    sizes : numpy.ndarray
        Sample size per point.
    n_phase1 : int
        Number of Phase I points.
    """

    statistics: np.ndarray
    smoothed: np.ndarray
    lcl: np.ndarray
    ucl: np.ndarray
    violations: list[int]
    center: float
    std_dev: float
    lam: float
    nsigmas: float
    sizes: np.ndarray
    n_phase1: int


def ewma(data: Any, *, lam: float, nsigmas: float = 3.0, newdata: Any = None, center: float | None = None,
         std_dev: float | None = None) -> EwmaChart:
    """EWMA chart of subgroup means or individual values, as R's qcc ``ewma``.

    Parameters
    ----------
    data
        Phase I subgroups (sigma = mean R/d2) or individual values (sigma = mean MR/1.128).
    lam
        Smoothing constant, 0 < lam <= 1.
    nsigmas
        Limit width in sigmas of the EWMA.
    newdata
        Phase II data of the same form, judged on the Phase I centre and sigma.
    center, std_dev
        Known centre and within sigma instead of the Phase I estimates.

    Returns
    -------
    EwmaChart

    Examples
    --------
    >>> import numpy as np
    >>> from twin.edge.detection import spc
    >>> rng = np.random.default_rng(3)
    >>> x = np.concatenate([rng.normal(0, 1, 20), rng.normal(1.5, 1, 10)])
    >>> chart = spc.ewma(x[:20], lam=0.2, newdata=x[20:])
    >>> chart.violations
    [24, 25, 26, 27, 28, 29]
    """
    lam = check.lam(lam)
    nsigmas = check.positive(nsigmas, "nsigmas")
    stats, sizes, n1, c, sd = mean_series(data, newdata, center, std_dev)
    z = np.empty_like(stats)
    prev = np.array(c)
    for t, x in enumerate(stats):
        prev = ewma_step(prev, x, lam)
        z[t] = prev
    half = nsigmas * sd / np.sqrt(sizes) * ewma_width(lam, np.arange(1, stats.size + 1))
    lcl, ucl = c - half, c + half
    violations = np.flatnonzero((z < lcl) | (z > ucl)).tolist()
    return EwmaChart(stats, z, lcl, ucl, violations, c, sd, lam, nsigmas, sizes, n1)


class EwmaBank(DetectorBank):
    """EWMA detectors on many streams, updated together.

    Parameters
    ----------
    center, sigma
        In-control mean and sigma of each stream's observations.
    lam
        Smoothing constant, 0 < lam <= 1.
    L
        Limit width in sigmas of the EWMA.
    exact_limits
        Time-varying limits (tighter at the start) instead of the asymptotic ones.

    Attributes
    ----------
    statistic, upper, lower : numpy.ndarray
        EWMA and its limits per stream after the last update.

    Examples
    --------
    Three streams, in control, shifted by +2 sigma and by -1 sigma; the first signal of each:

    >>> import numpy as np
    >>> from twin.edge.detection import spc
    >>> bank = spc.EwmaBank(np.zeros(3), np.ones(3), lam=0.1, L=2.814)
    >>> rng = np.random.default_rng(1)
    >>> first = np.full(3, -1)
    >>> for t in range(30):
    ...     signal = bank.update(rng.normal([0.0, 2.0, -1.0], 1.0))
    ...     first[(first < 0) & signal] = t
    >>> first.tolist()
    [-1, 2, 13]

    NaN means no value this time: that stream keeps its EWMA and does not signal.

    >>> bank.update(np.array([np.nan, 0.0, 0.0])).tolist(), round(float(bank.upper[0]), 4)
    ([False, True, True], 0.6456)
    """

    _state = ("_z", "_t")

    def __init__(self, center: Any, sigma: Any, lam: float, L: float, exact_limits: bool = False) -> None:
        super().__init__(center, sigma)
        self.lam = check.lam(lam)
        self.L = check.positive(L, "L")
        self.exact_limits = bool(exact_limits)
        self._z = self.center.copy()
        self._t = np.zeros(self.n_streams, dtype=np.int64)
        half = self.L * self.sigma * ewma_width(self.lam, None)
        self.upper, self.lower = self.center + half, self.center - half

    def _update(self, x: np.ndarray, ok: np.ndarray | None) -> np.ndarray:
        z = self._keep(ok, ewma_step(self._z, x, self.lam), self._z)
        self._z, self.statistic = z, self._keep(ok, z, self.statistic)
        if self.exact_limits:
            self._t = self._keep(ok, self._t + 1, self._t)
            half = self.L * self.sigma * ewma_width(self.lam, self._t)
            self.upper, self.lower = self.center + half, self.center - half
        return (z > self.upper) | (z < self.lower)

    def _reset(self, sel: slice | np.ndarray) -> None:
        # after an update with every value present the statistic is this very array (no copy per scan),
        # and reset() then writes NaN into the statistic: give the state its own array first
        self._z = self._z.copy()
        self._z[sel] = self.center[sel]
        self._t[sel] = 0
        half = self.L * self.sigma[sel] * ewma_width(self.lam, None)
        self.upper[sel], self.lower[sel] = self.center[sel] + half, self.center[sel] - half
