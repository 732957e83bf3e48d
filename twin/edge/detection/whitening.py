"""Pre-whitening: monitor one-step-ahead forecast errors of autocorrelated signals.

SPC detectors assume independent observations. Process data are rarely independent: a
temperature that follows the hall, a blade that warms with its coolant, a viscosity that
wanders with the weather. Fed straight into a CUSUM, such a signal looks like a shift every
few minutes. The textbook remedy (Montgomery, *Introduction to Statistical Quality Control*,
"SPC with autocorrelated process data") is to chart the errors of a one-step-ahead forecast.
We use the moving-centre-line EWMA forecast (the Box–Jenkins IMA(1,1) predictor),

.. math::

    \\hat x_{t} = \\lambda\\,x_{t-1} + (1-\\lambda)\\,\\hat x_{t-1}, \\qquad e_t = x_t - \\hat x_t,

with :math:`\\lambda` chosen per stream from a grid to minimise the sum of squared one-step
errors over the in-control warm-up: a noisy signal gets a small :math:`\\lambda` (a long
memory, almost its mean), a smooth one a large :math:`\\lambda` (almost its last value).
Slow common-cause wander is absorbed; a fault ramp of :math:`r` per step leaves a steady error
of :math:`r/\\lambda`, which CUSUM and EWMA detectors catch; a step shows as a spike.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> noise = rng.normal(size=(300, 1))
>>> walk = np.cumsum(rng.normal(size=(300, 1)), axis=0)
>>> w = EwmaWhitener()
>>> sigma = w.fit(np.hstack([noise, walk]))
>>> [float(x) for x in w.lam]          # noise: a long memory; a random walk: nearly its last value
[0.02, 0.85]
"""

from __future__ import annotations

import warnings

import numpy as np

LAMBDA_GRID = np.array([0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.85, 1.0])


class EwmaWhitener:
    """Per-stream EWMA one-step forecast errors: fit on in-control history, then one step at a time."""

    def __init__(self, grid: np.ndarray = LAMBDA_GRID) -> None:
        if not np.all((grid > 0) & (grid <= 1)):
            raise ValueError(f"every lambda in grid must be in (0, 1], got {grid}")
        self.grid = np.asarray(grid, dtype=float)
        self.lam: np.ndarray | None = None
        self._forecast: np.ndarray | None = None

    def fit(self, history: np.ndarray) -> np.ndarray:
        """Choose lambda per stream on ``history`` (n_steps, n_streams; NaN = no value).

        Returns the standard deviation of the one-step errors with the chosen lambda, and
        leaves the forecast ready for the step after ``history``.
        """
        if history.ndim != 2 or len(history) < 3:
            raise ValueError(f"history must be (n_steps >= 3, n_streams), got shape {history.shape}")
        errors = [_one_step_errors(history, np.full(history.shape[1], lam)) for lam in self.grid]
        sse = np.vstack([np.nansum(e**2, axis=0) for e, _ in errors])
        best = np.argmin(sse, axis=0)
        self.lam = self.grid[best]
        chosen = np.stack([errors[b][0][:, i] for i, b in enumerate(best)], axis=1)
        self._forecast = np.stack([errors[b][1][i] for i, b in enumerate(best)])
        with warnings.catch_warnings():  # a stream seen once has no spread; NaN says so
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanstd(chosen, axis=0, ddof=1)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """The forecast error of this step (NaN where ``x`` is missing), then update the forecast."""
        if self.lam is None or self._forecast is None:
            raise RuntimeError("fit the whitener before using it")
        error = x - self._forecast
        self._forecast = np.where(np.isfinite(x), self.lam * x + (1 - self.lam) * self._forecast, self._forecast)
        return error


def _one_step_errors(history: np.ndarray, lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One-step errors of the EWMA forecast over ``history`` and the forecast after it."""
    first = np.where(np.isfinite(history[0]), history[0], np.nanmean(history, axis=0))
    forecast = first.copy()
    errors = np.full(history.shape, np.nan)
    for t in range(1, len(history)):
        x = history[t]
        errors[t] = x - forecast
        forecast = np.where(np.isfinite(x), lam * x + (1 - lam) * forecast, forecast)
    return errors, forecast
