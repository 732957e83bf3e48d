r"""Tabular CUSUM: the chart (:func:`cusum`) and the streaming bank (:class:`CusumBank`).

On standardised points :math:`z_t = (x_t-\mu_0)/(\sigma/\sqrt{n_t})` with reference
value :math:`k` (half the shift to detect, in standard errors):

.. math::

    C^+_t = \max(0,\ C^+_{t-1} + z_t - k), \qquad C^-_t = \max(0,\ C^-_{t-1} - z_t - k)

A signal is :math:`C^+_t > h` or :math:`C^-_t > h` (strictly); the lower sum is reported
as :math:`-C^-_t \le 0`.

The chart (:func:`cusum`) plots the sums as they are, as qcc does. The streaming bank
(:class:`CusumBank`) by default **restarts after a signal** (Montgomery's "restart after
signal"; Page 1954): both sums of a stream that signalled go back to the head start, so a
sustained shift gives one signal every run length instead of one sum held above ``h`` for as
long as the shift lasts, and a detection rate counts detections. ``restart=False`` keeps the
chart's behaviour. The run length to the *first* signal (:mod:`twin.edge.detection.arl`) is
the same either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from twin.edge.detection import _inputs as check
from twin.edge.detection._bank import DetectorBank
from twin.edge.detection._charts import mean_series


def cusum_step(pos: np.ndarray, neg: np.ndarray, z: np.ndarray, k: float) -> tuple[np.ndarray, np.ndarray]:
    """One two-sided CUSUM step on standardised ``z``; ``neg`` is kept as a magnitude >= 0."""
    return np.maximum(0.0, pos + z - k), np.maximum(0.0, neg - z - k)


def cusum_step_float(pos: float, neg: float, z: float, k: float) -> tuple[float, float]:
    """:func:`cusum_step` on Python floats, without numpy (the single-stream detector's per-sample path).

    The same arithmetic in the same order, and ``0.0 if v < 0.0 else v`` is what
    ``np.maximum(0.0, v)`` returns for every float (a NaN propagates, ``-0.0`` is kept), so the
    two give bit-identical sums (``tests/twin/edge/detection/test_scalar_equivalence.py``).
    """
    up, down = pos + z - k, neg - z - k
    return (0.0 if up < 0.0 else up), (0.0 if down < 0.0 else down)


@dataclass(frozen=True, eq=False)
class CusumChart:
    """A two-sided tabular CUSUM chart.

    Attributes
    ----------
    statistics : numpy.ndarray
        Subgroup means (or individual values), Phase I then Phase II.
    z : numpy.ndarray
        Standardised statistics.
    pos, neg : numpy.ndarray
        Upper cumulative sum (>= 0) and lower cumulative sum (<= 0).
    violations_upper, violations_lower : list of int
        Points where ``pos > h`` or ``neg < -h``.
    center, std_dev, decision_interval, se_shift, head_start : float
        Centre, within sigma, h, shift to detect (2k) and head start, in standard errors.
    sizes : numpy.ndarray
        Sample size per point.
    n_phase1 : int
        Number of Phase I points.
    """

    statistics: np.ndarray
    z: np.ndarray
    pos: np.ndarray
    neg: np.ndarray
    violations_upper: list[int]
    violations_lower: list[int]
    center: float
    std_dev: float
    decision_interval: float
    se_shift: float
    head_start: float
    sizes: np.ndarray
    n_phase1: int


def _h_and_start(h: float, head_start: float, h_name: str) -> tuple[float, float]:
    h = check.positive(h, h_name)
    head_start = check.number(head_start, "head_start")
    if not 0.0 <= head_start < h:
        raise ValueError(f"head_start must be >= 0 and < {h_name} ({h:g}), got {head_start!r}")
    return h, head_start


def cusum(data: Any, *, decision_interval: float = 5.0, se_shift: float = 1.0, head_start: float = 0.0,
          newdata: Any = None, center: float | None = None, std_dev: float | None = None) -> CusumChart:
    """Two-sided CUSUM chart of subgroup means or individual values, as R's qcc ``cusum``.

    Parameters
    ----------
    data
        Phase I subgroups (sigma = mean R/d2) or individual values (sigma = mean MR/1.128).
    decision_interval
        h, in standard errors.
    se_shift
        Shift to detect in standard errors; the reference value is ``k = se_shift / 2``.
    head_start
        Starting value of both sums (fast initial response), 0 <= head_start < h.
    newdata
        Phase II data of the same form.
    center, std_dev
        Known centre and within sigma instead of the Phase I estimates.

    Returns
    -------
    CusumChart

    Examples
    --------
    >>> import numpy as np
    >>> from twin.edge.detection import spc
    >>> rng = np.random.default_rng(5)
    >>> x = np.concatenate([rng.normal(0, 1, 25), rng.normal(-1.5, 1, 10)])
    >>> chart = spc.cusum(x[:25], newdata=x[25:])
    >>> chart.violations_upper, chart.violations_lower
    ([], [28, 29, 30, 31, 32, 33, 34])
    """
    h, head_start = _h_and_start(decision_interval, head_start, "decision_interval")
    se_shift = check.number(se_shift, "se_shift")
    if se_shift < 0:
        raise ValueError(f"se_shift must be >= 0, got {se_shift!r}")
    stats, sizes, n1, c, sd = mean_series(data, newdata, center, std_dev)
    z = (stats - c) / (sd / np.sqrt(sizes))
    pos, neg = np.empty_like(z), np.empty_like(z)
    p, q = np.array(head_start), np.array(head_start)
    for t, zt in enumerate(z):
        p, q = cusum_step(p, q, zt, se_shift / 2.0)
        pos[t], neg[t] = p, q
    neg = 0.0 - neg  # <= 0, without negative zeros
    return CusumChart(stats, z, pos, neg, np.flatnonzero(pos > h).tolist(), np.flatnonzero(neg < -h).tolist(),
                      c, sd, h, se_shift, head_start, sizes, n1)


class CusumBank(DetectorBank):
    """Two-sided tabular CUSUM detectors on many streams, updated together.

    Parameters
    ----------
    center, sigma
        In-control mean and sigma of each stream's observations.
    k
        Reference value in sigmas (half the shift to detect).
    h
        Decision interval in sigmas; a signal is a sum strictly beyond it.
    head_start
        Starting value of both sums (0 = the classic zero start).
    restart
        After a stream signals, restart both its sums at ``head_start`` (default), so a
        sustained shift signals again after another run length; ``False``: the sums run on
        (a held shift keeps signalling at every update, as on the chart).

    Attributes
    ----------
    pos, neg : numpy.ndarray
        Upper sum (>= 0) and lower sum (<= 0) per stream: the state the next update starts
        from (after a restart, the head start).
    statistic, upper, lower : numpy.ndarray
        The sum further from zero (signed) at the last update, before any restart (so a
        signal carries the value that crossed), and the decision limits ``+h`` / ``-h``.

    Examples
    --------
    >>> import numpy as np
    >>> from twin.edge.detection import spc
    >>> bank = spc.CusumBank(center=[0.0, 0.0], sigma=[1.0, 2.0], k=0.5, h=5.0)
    >>> for _ in range(4):
    ...     signal = bank.update(np.array([2.0, 2.0]))
    >>> signal.tolist(), bank.statistic.tolist(), bank.pos.tolist()
    ([True, False], [6.0, 2.0], [0.0, 2.0])
    """

    _state = ("pos", "_neg")

    def __init__(self, center: Any, sigma: Any, k: float, h: float, head_start: float = 0.0,
                 restart: bool = True) -> None:
        super().__init__(center, sigma)
        self.restart = bool(restart)
        k = check.number(k, "k")
        if k < 0:
            raise ValueError(f"k must be >= 0, got {k!r}")
        self.k = k
        self.h, self.head_start = _h_and_start(h, head_start, "h")
        self.pos = np.full(self.n_streams, self.head_start)
        self._neg = np.full(self.n_streams, self.head_start)
        self.upper = np.full(self.n_streams, self.h)
        self.lower = np.full(self.n_streams, -self.h)

    @property
    def side(self) -> np.ndarray:
        """Per stream, +1 if the upper sum dominates, -1 the lower, 0 if both are 0 or no value yet."""
        return np.sign(np.nan_to_num(self.statistic)).astype(np.int8)

    @property
    def neg(self) -> np.ndarray:
        """Lower cumulative sums, reported as values <= 0."""
        return 0.0 - self._neg

    def _update(self, x: np.ndarray, ok: np.ndarray | None) -> np.ndarray:
        pos, neg = cusum_step(self.pos, self._neg, (x - self.center) / self.sigma, self.k)
        signal = (pos > self.h) | (neg > self.h)
        if ok is not None:
            signal &= ok
        self.statistic = self._keep(ok, np.where(pos >= neg, pos, -neg), self.statistic)
        self.pos, self._neg = self._keep(ok, pos, self.pos), self._keep(ok, neg, self._neg)
        if self.restart and signal.any():
            self.pos[signal] = self.head_start
            self._neg[signal] = self.head_start
        return signal

    def _reset(self, sel: slice | np.ndarray) -> None:
        self.pos[sel] = self.head_start
        self._neg[sel] = self.head_start
