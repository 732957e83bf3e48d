r"""Hotelling :math:`T^2` chart for individual multivariate observations (Phase I).

.. math::

    T^2_i = (x_i-\bar x)^\top S^{-1} (x_i-\bar x), \qquad
    UCL = \frac{(m-1)^2}{m}\, B^{-1}\!\left(\gamma;\ \tfrac{p}{2},\ \tfrac{m-p-1}{2}\right)

with :math:`S` the sample covariance (divisor :math:`m-1`), :math:`m` observations of
:math:`p` variables and :math:`\gamma = (1-0.0027)^p` by default (Tracy, Mason & Young 1992;
qcc's ``stats.T2.single`` / ``limits.T2.single``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from twin.edge.detection import _inputs as check


@dataclass(frozen=True, eq=False)
class HotellingT2:
    """A Phase I Hotelling :math:`T^2` chart.

    Attributes
    ----------
    statistics : numpy.ndarray
        :math:`T^2` per observation.
    center : numpy.ndarray
        Mean vector.
    cov : numpy.ndarray
        Sample covariance matrix.
    ucl : float
        Upper control limit (the lower limit is 0).
    confidence_level : float
        Confidence level of the limit.
    beyond_limits : list of int
        Observations with :math:`T^2 > UCL`.
    """

    statistics: np.ndarray
    center: np.ndarray
    cov: np.ndarray
    ucl: float
    confidence_level: float
    beyond_limits: list[int]


def hotelling_t2(X: Any, *, confidence_level: float | None = None) -> HotellingT2:
    """Hotelling :math:`T^2` chart of individual observations, with the beta-based Phase I UCL.

    Parameters
    ----------
    X
        Observations, shape ``(m, p)`` with ``m > p + 1``.
    confidence_level
        Confidence level of the UCL; defaults to :math:`(1-0.0027)^p`.

    Returns
    -------
    HotellingT2

    Examples
    --------
    >>> import numpy as np
    >>> from twin.edge.detection import spc
    >>> rng = np.random.default_rng(2)
    >>> X = rng.multivariate_normal([0.0, 0.0], [[1.0, 0.8], [0.8, 1.0]], size=30)
    >>> X[12] = [2.0, -2.0]
    >>> t2 = spc.hotelling_t2(X)
    >>> round(t2.ucl, 4), t2.beyond_limits
    (8.9936, [12])
    """
    X = check.matrix(X, "X")
    m, p = X.shape
    if m <= p + 1:
        raise ValueError(f"X needs more observations than variables + 1, got {m} observations of {p} variables")
    conf = (1 - 0.0027) ** p if confidence_level is None else check.in_open_unit(confidence_level,
                                                                                 "confidence_level")
    center = X.mean(axis=0)
    dev = X - center
    cov = dev.T @ dev / (m - 1)
    try:
        solved = np.linalg.solve(cov, dev.T)
    except np.linalg.LinAlgError:
        raise ValueError("X has a singular covariance matrix (a constant or collinear variable)") from None
    t2 = np.einsum("ij,ji->i", dev, solved)
    ucl = float((m - 1) ** 2 / m * stats.beta.ppf(conf, p / 2, (m - p - 1) / 2))
    return HotellingT2(t2, center, cov, ucl, float(conf), np.flatnonzero(t2 > ucl).tolist())
