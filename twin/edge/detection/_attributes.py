"""Attribute charts: p (proportion), np (count), c (count per unit), u (count per unit size).

Limits are binomial / Poisson limits per point, as qcc's ``limits.np`` and ``limits.c``:
lower limits floor at 0, upper limits of p and np cap at 1 and n.

``std_dev`` is qcc's ``sd.*``: sqrt(p(1-p)/n) for p, sqrt(n p(1-p)) for np, sqrt(c) for c
and sqrt(u) (per unit) for u. qcc gives p a vector when the sizes differ; a scalar is
kept here by using the average Phase I size (Montgomery's average-sample-size chart).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from twin.edge.detection import _inputs as check

Limits = Callable[[float], tuple[np.ndarray, np.ndarray]]


class AttributeChart(NamedTuple):
    """What :func:`~twin.edge.detection.spc.control_chart` needs to build a p, np, c or u chart."""

    statistics: np.ndarray
    sizes: np.ndarray
    center: float
    std_dev: float
    n_phase1: int
    observations: np.ndarray
    limits: Limits


def attribute_chart(kind: str, data: Any, sizes: Any, newdata: Any, newsizes: Any, *,
                    center: float | None) -> AttributeChart:
    """Statistics, centre, sigma and limits of a p, np, c or u chart (see :func:`control_chart`)."""
    x1 = check.counts(data, "data")
    n1 = _sizes(kind, sizes, x1.size, "sizes")
    if kind in ("p", "np"):
        over = np.flatnonzero(x1 > n1)
        if over.size:
            i = over[0]
            raise ValueError(f"data[{i}] is {x1[i]:g} nonconforming out of sizes[{i}] = {n1[i]:g}")
    x, n = x1, n1
    if newdata is not None:
        x2 = check.counts(newdata, "newdata")
        if newsizes is None and sizes is not None and np.ndim(sizes) == 0:
            newsizes = sizes
        n2 = _sizes(kind, newsizes, x2.size, "newsizes")
        if kind in ("p", "np") and np.any(x2 > n2):
            i = int(np.flatnonzero(x2 > n2)[0])
            raise ValueError(f"newdata[{i}] is {x2[i]:g} nonconforming out of newsizes[{i}] = {n2[i]:g}")
        x, n = np.concatenate([x1, x2]), np.concatenate([n1, n2])
    elif newsizes is not None:
        raise ValueError("newsizes given without newdata")

    if kind == "p":
        pbar = float(np.sum(x1) / np.sum(n1))
        c = pbar if center is None else center
        stats, std_dev = x / n, float(np.sqrt(pbar * (1 - pbar) / np.mean(n1)))

        def limits(k: float) -> tuple[np.ndarray, np.ndarray]:
            tol = k * np.sqrt(c * (1 - c) * n)
            return np.maximum(c * n - tol, 0.0) / n, np.minimum(c * n + tol, n) / n

    elif kind == "np":
        if np.unique(n).size != 1:
            raise ValueError("an np chart needs equal sizes (sizes and newsizes); use a p chart for unequal sizes")
        pbar = float(np.sum(x1) / np.sum(n1))
        c = float(n1[0] * pbar) if center is None else center
        stats, std_dev = x.copy(), float(np.sqrt(n1[0] * pbar * (1 - pbar)))

        def limits(k: float) -> tuple[np.ndarray, np.ndarray]:
            p = c / n
            tol = k * np.sqrt(p * (1 - p) * n)
            return np.maximum(c - tol, 0.0), np.minimum(c + tol, n)

    elif kind == "c":
        cbar = float(np.mean(x1))
        c = cbar if center is None else center
        stats, std_dev = x.copy(), float(np.sqrt(cbar))

        def limits(k: float) -> tuple[np.ndarray, np.ndarray]:
            ones = np.ones(x.size)
            return np.maximum(0.0, c - k * np.sqrt(c)) * ones, (c + k * np.sqrt(c)) * ones

    else:  # u
        ubar = float(np.sum(x1) / np.sum(n1))
        c = ubar if center is None else center
        stats, std_dev = x / n, float(np.sqrt(ubar))

        def limits(k: float) -> tuple[np.ndarray, np.ndarray]:
            cn = c * n
            return np.maximum(0.0, cn - k * np.sqrt(cn)) / n, (cn + k * np.sqrt(cn)) / n

    if c < 0 or (kind == "p" and c > 1):
        raise ValueError(f"center must be a valid {kind} chart centre, got {center!r}")
    return AttributeChart(stats, n, float(c), std_dev, x1.size, x1.copy(), limits)


def _sizes(kind: str, sizes: Any, n: int, name: str) -> np.ndarray:
    if kind == "c":
        if sizes is None:
            return np.ones(n)
        arr = check.sizes(sizes, n, name, integer=False)
        if np.unique(arr).size != 1:
            raise ValueError(f"{name} must all be equal for a c chart (use a u chart for unequal sizes)")
        return arr
    if sizes is None:
        raise ValueError(f"{name} is required for a {kind} chart")
    return check.sizes(sizes, n, name, integer=kind in ("p", "np"))
