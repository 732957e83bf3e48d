"""Helpers for the detection tests."""

from __future__ import annotations

import math

import numpy as np


def printed(value: float, text: str, rel: float = 1e-6) -> None:
    """``value`` agrees with a number qcc printed as ``text``: within 1e-6 relative, or
    within half a unit of the last printed digit when the print is coarser than that."""
    ref = float(text)
    digits = len(text.split(".")[1]) if "." in text else 0
    tol = max(rel * abs(ref), 0.5 * 10.0**-digits * (1 + 1e-9))
    assert math.isclose(value, ref, abs_tol=tol, rel_tol=0), f"{value!r} != {text} (tolerance {tol:.2g})"


def naive_rules(x: list[float], center: float, zones: dict[int, tuple[list[float], list[float]]],
                rule_set: str) -> dict[int, list[int]]:
    """Run rules written out directly from their definitions (full windows, own limits).

    ``zones[k] = (lcl_k, ucl_k)`` per point for k = 1, 2, 3 sigma.
    """
    n = len(x)
    (l1, u1), (l2, u2), (l3, u3) = zones[1], zones[2], zones[3]
    beyond3 = [t for t in range(n) if x[t] > u3[t] or x[t] < l3[t]]

    def k_of_m(k: int, m: int, lo: list[float], up: list[float]) -> list[int]:
        out = []
        for t in range(m - 1, n):
            w = range(t - m + 1, t + 1)
            if x[t] > up[t] and sum(x[i] > up[i] for i in w) >= k:
                out.append(t)
            elif x[t] < lo[t] and sum(x[i] < lo[i] for i in w) >= k:
                out.append(t)
        return out

    def run_of(length: int, cond: list[bool], offset: int = 0) -> list[int]:
        out, run = [], 0
        for j, c in enumerate(cond):
            run = run + 1 if c else 0
            if run >= length:
                out.append(j + offset)
        return out

    def side_runs(length: int) -> list[int]:
        return sorted(run_of(length, [v > center for v in x]) + run_of(length, [v < center for v in x]))

    d = [x[t] - x[t - 1] for t in range(1, n)]
    trend = sorted(run_of(5, [v > 0 for v in d], 1) + run_of(5, [v < 0 for v in d], 1))
    alternating = run_of(12, [d[j] * d[j - 1] < 0 for j in range(1, len(d))], 2)
    within = run_of(15, [l1[t] <= x[t] <= u1[t] for t in range(n)])
    mix = [t for t in range(7, n)
           if all(x[i] > u1[i] or x[i] < l1[i] for i in range(t - 7, t + 1))
           and any(x[i] > u1[i] for i in range(t - 7, t + 1)) and any(x[i] < l1[i] for i in range(t - 7, t + 1))]
    two, four = k_of_m(2, 3, l2, u2), k_of_m(4, 5, l1, u1)
    if rule_set == "western-electric":
        return {1: beyond3, 2: two, 3: four, 4: side_runs(8)}
    return {1: beyond3, 2: side_runs(9), 3: trend, 4: alternating, 5: two, 6: four, 7: within, 8: mix}


def constant_zones(center: float, sigma: float, n: int) -> dict[int, tuple[list[float], list[float]]]:
    """Zones ``center ± k sigma`` for k = 1, 2, 3, repeated for ``n`` points."""
    return {k: ([center - k * sigma] * n, [center + k * sigma] * n) for k in (1, 2, 3)}


def as_list(a: np.ndarray) -> list[float]:
    """A plain list of floats."""
    return [float(v) for v in a]
