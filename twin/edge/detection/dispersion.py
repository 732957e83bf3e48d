"""Dispersion: a sensor whose readings grow noisy (a loose connector, a failing transmitter, EMI).

The monitor's detectors judge subgroup means, and a mean hides noise: a burst of random error
averages out, and on a slow signal (one reading per subgroup) it looks like a wandering level
that prewhitening forgives. What does change is the size of the steps between consecutive
readings. For each element this check keeps the **noise** of its in-control readings, the
standard deviation estimated from successive differences (``σ = rms(Δ) / √2``, which a slow
drift or a daily swing barely moves), and judges each new step ``Δ`` by a one-sided CUSUM of
the log-likelihood ratio "noise grew ``ratio``-fold" against "noise as learned"::

    z² = Δ² / (2σ²)                      (1 in control, on average)
    S  = max(0, S + Σ [−ln ratio + ½ (1 − 1/ratio²) · min(z², CLIP_Z2)])

summed over the subgroup's steps; ``S > h`` raises a ``noise`` verdict and restarts ``S``.
Clipping ``z²`` keeps one large step (a process change, a setpoint move) from looking like
noise; noise is many large steps. The in-control run length is about ``exp(h)`` steps (Wald's
bound for a likelihood-ratio CUSUM), less the error of a learned σ: with ``h = 22`` and σ learned
from 300 steps, 20 million simulated in-control Gaussian steps raised 5 false alarms, and noise
grown two-fold was found in a median 30 steps, three-fold in 13.

An element is only judged when its in-control steps look like noise: for Gaussian steps
``mean|Δ| / rms(Δ)`` is √(2/π) ≈ 0.80; a count that sits still and then jumps, or a quantised
reading, gives far less (:data:`NOISE_SHAPE`), and such an element is left alone.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(1)
>>> check = DispersionCheck(n=1, h=22.0)
>>> for _ in range(300):                                   # learning: noise of sigma 1
...     check.add(np.array([True]), rng.normal(size=1))
...     _ = check.close(warmup=True)
>>> round(float(check.fit_learned()[0]), 1)                  # 1, raised by sqrt(2/299) for the short learning
1.1
>>> quiet = []
>>> for _ in range(300):
...     check.add(np.array([True]), rng.normal(size=1))
...     quiet.append(bool(check.close(warmup=False)[0]))
>>> any(quiet)
False
>>> noisy = []
>>> for _ in range(60):                                    # the noise triples
...     check.add(np.array([True]), 3 * rng.normal(size=1))
...     noisy.append(bool(check.close(warmup=False)[0]))
>>> 0 < noisy.index(True) < 30
True
"""

from __future__ import annotations

import math

import numpy as np

NOISE_SHAPE = 0.7  # mean|Δ| / rms(Δ) below this: the steps are not noise-like, the element is not judged
MIN_STEPS = 30  # fewer in-control steps than this: no noise learned
CLIP_Z2 = 16.0  # one step counts at most as a 4-sigma step


class NoiseStats:
    """Running sums of an element's successive differences: their count, ``Σ|Δ|`` and ``ΣΔ²``."""

    def __init__(self, n: int) -> None:
        self.count = np.zeros(n)
        self.sum_abs = np.zeros(n)
        self.sum_sq = np.zeros(n)

    def add(self, where: np.ndarray, steps: np.ndarray) -> None:
        """Count the steps ``steps`` of the elements selected by ``where`` (a boolean mask)."""
        self.count[where] += 1
        self.sum_abs[where] += np.abs(steps)
        self.sum_sq[where] += steps * steps

    def sigma(self) -> np.ndarray:
        """Each element's noise ``rms(Δ)/√2``; NaN where it is not noise-like or seen too little."""
        return noise_sigma(self.count, self.sum_abs, self.sum_sq)


def noise_sigma(count: np.ndarray, sum_abs: np.ndarray, sum_sq: np.ndarray) -> np.ndarray:
    """The noise σ from step sums (module docstring), raised by ``√(2/count)`` (about two standard
    errors of a σ estimated from ``count`` steps, so a short learning period does not make a tight
    check); NaN where under :data:`MIN_STEPS` steps, where every step was zero, or where
    ``mean|Δ| / rms(Δ)`` is under :data:`NOISE_SHAPE`."""
    count = np.asarray(count, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        rms = np.sqrt(np.asarray(sum_sq, dtype=float) / count)
        shape = np.asarray(sum_abs, dtype=float) / count / rms
    ok = (count >= MIN_STEPS) & (rms > 0) & (shape >= NOISE_SHAPE)
    with np.errstate(invalid="ignore", divide="ignore"):
        upper = rms / math.sqrt(2.0) * (1.0 + np.sqrt(2.0 / count))
    return np.where(ok, upper, np.nan)


class DispersionCheck:
    """A noise CUSUM per element (module docstring); ``add`` every frame, ``close`` every subgroup.

    While ``close(warmup=True)`` it learns each element's noise; :meth:`fit_learned` uses what it
    learned, :meth:`fit` takes σ from elsewhere (a baseline). Elements with σ NaN are not judged.
    """

    def __init__(self, n: int, h: float, ratio: float = 2.0) -> None:
        if ratio <= 1:
            raise ValueError(f"ratio must exceed 1 (the noise growth to look for), got {ratio}")
        self.n = n
        self.h = float(h)
        self.ratio = float(ratio)
        self.learned = NoiseStats(n)
        self.sigma = np.full(n, np.nan)
        self.statistic = np.zeros(n)
        self.crossed = np.zeros(n)  # the statistic of the elements that crossed h at the last close
        self._last = np.full(n, np.nan)
        self._llr = np.zeros(n)
        self._fitted = False

    def fit(self, sigma: np.ndarray) -> None:
        """Judge from now on with these noise levels (NaN or non-positive: not judged)."""
        sigma = np.asarray(sigma, dtype=float)
        self.sigma = np.where(np.isfinite(sigma) & (sigma > 0), sigma, np.nan)
        self.statistic[:] = 0.0
        self._llr[:] = 0.0
        self._fitted = True

    def fit_learned(self) -> np.ndarray:
        """Fit on the noise learned during the warm-up; returns it."""
        self.fit(self.learned.sigma())
        return self.sigma

    @property
    def judged(self) -> np.ndarray:
        """Which elements are judged (a boolean mask)."""
        return np.isfinite(self.sigma)

    def add(self, usable: np.ndarray, values: np.ndarray) -> None:
        """One frame: the step of every element with a fresh good reading since its last one."""
        steps = values - self._last
        where = usable & np.isfinite(steps)
        if self._fitted:
            z2 = np.minimum(steps[where] ** 2 / (2.0 * self.sigma[where] ** 2), CLIP_Z2)
            llr = -math.log(self.ratio) + 0.5 * (1.0 - 1.0 / self.ratio**2) * z2
            self._llr[where] += np.where(np.isfinite(llr), llr, 0.0)
        else:
            self.learned.add(where, steps[where])
        self._last[usable] = values[usable]

    def close(self, *, warmup: bool) -> np.ndarray:
        """End a subgroup; the elements whose CUSUM crossed ``h`` (restarted), none while learning."""
        if warmup or not self._fitted:
            return np.zeros(self.n, dtype=bool)
        self.statistic = np.maximum(0.0, self.statistic + self._llr)
        self._llr[:] = 0.0
        flags = self.judged & (self.statistic > self.h)
        self.crossed = np.where(flags, self.statistic, 0.0)
        self.statistic[flags] = 0.0
        return flags
