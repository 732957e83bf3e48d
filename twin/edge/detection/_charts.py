"""Shewhart control charts: x-bar, R, S, individuals (x-bar.one), p, np, c and u.

Conventions are Montgomery's, as R's qcc implements them (``stats.*``, ``sd.*`` and
``limits.*`` in qcc's ``qcc.R``): the centre and sigma come from Phase I only; Phase II
points (``newdata``) are judged on the Phase I limits, each with its own sample size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from twin.edge.detection import _inputs as check
from twin.edge.detection._attributes import Limits, attribute_chart
from twin.edge.detection._constants import D2_MAX, c4, d2, d3
from twin.edge.detection._rules import RULE_SETS, RuleEngine

KINDS = ("xbar", "R", "S", "xbar.one", "p", "np", "c", "u")
_SD_METHODS = {
    "xbar": ("UWAVE-R", "UWAVE-SD", "MVLUE-R", "MVLUE-SD", "RMSDF"),
    "R": ("UWAVE-R", "MVLUE-R"),
    "S": ("UWAVE-SD", "MVLUE-SD", "RMSDF"),
    "xbar.one": ("MR", "SD"),
}


@dataclass(frozen=True, eq=False)
class ControlChart:
    """A Shewhart chart: Phase I (then Phase II) statistics with their control limits.

    Attributes
    ----------
    kind : str
        ``"xbar"``, ``"R"``, ``"S"``, ``"xbar.one"``, ``"p"``, ``"np"``, ``"c"`` or ``"u"``.
    statistics : numpy.ndarray
        The charted statistic per point, Phase I then Phase II.
    sizes : numpy.ndarray
        Sample size per point.
    center : float
        Centre line (Phase I).
    std_dev : float
        The sigma qcc reports: within-subgroup sigma for x-bar/R/S/x-bar.one;
        sqrt(p(1-p)/n) for p (n: the average Phase I size when sizes differ), sqrt(n p(1-p))
        for np, sqrt(c) for c and sqrt(u) (per unit) for u.
    lcl, ucl : numpy.ndarray
        Control limits per point.
    n_phase1 : int
        Number of Phase I points; points from this index on are Phase II.
    nsigmas : float
        Width of the control limits in sigmas.
    observations : numpy.ndarray
        Phase I observations (all subgroup values, or the counts), for capability.
    """

    kind: str
    statistics: np.ndarray
    sizes: np.ndarray
    center: float
    std_dev: float
    lcl: np.ndarray
    ucl: np.ndarray
    n_phase1: int
    nsigmas: float
    observations: np.ndarray = field(repr=False)
    _limits: Limits = field(repr=False)

    @property
    def beyond_limits(self) -> list[int]:
        """Points strictly beyond their control limits, Phase I and II (0-based, sorted)."""
        x = self.statistics
        return np.flatnonzero((x > self.ucl) | (x < self.lcl)).tolist()

    def zone_limits(self, k: float) -> tuple[np.ndarray, np.ndarray]:
        """Limits ``k`` sigmas of the charted statistic from the centre, per point.

        Parameters
        ----------
        k
            Distance from the centre in sigmas of the statistic (``zone_limits(nsigmas)``
            are the control limits).

        Returns
        -------
        tuple of numpy.ndarray
            ``(lower, upper)``, one value per point. Lower limits of R, S, p, np, c and u
            charts floor at 0 (p and np upper limits cap at 1 and n), as qcc's do.
        """
        return self._limits(float(k))

    def rules(self, rule_set: str = "western-electric") -> dict[int, list[int]]:
        """Points that break each run rule of ``rule_set``.

        Parameters
        ----------
        rule_set
            ``"western-electric"`` (rules 1-4) or ``"nelson"`` (rules 1-8).

        Returns
        -------
        dict
            Rule number -> sorted 0-based indices of the points flagged by that rule
            (every rule of the set is a key). Zones sit at 1/3 and 2/3 of ``nsigmas``
            and each point is judged on its own zone limits; see :mod:`twin.edge.detection._rules`.
        """
        if rule_set not in RULE_SETS:
            raise ValueError(f"rule_set must be one of {sorted(RULE_SETS)}, got {rule_set!r}")
        engine = RuleEngine(1, rule_set)
        l1, u1 = self.zone_limits(self.nsigmas / 3.0)
        l2, u2 = self.zone_limits(self.nsigmas * 2.0 / 3.0)
        zones = np.stack((l1, u1, l2, u2, self.lcl, self.ucl))
        out: dict[int, list[int]] = {r: [] for r in engine.rules}
        center = np.array([self.center])
        for t in range(self.statistics.size):
            mask = engine.step(self.statistics[t:t + 1], center, zones[:, t:t + 1])
            for rule in engine.decode(mask[0]):
                out[rule].append(t)
        return out


def control_chart(kind: str, data: Any, sizes: Any = None, newdata: Any = None, newsizes: Any = None, *,
                  nsigmas: float = 3.0, center: float | None = None, std_dev: float | None = None,
                  std_dev_method: str | None = None) -> ControlChart:
    r"""Build a Shewhart control chart the way R's qcc does.

    Parameters
    ----------
    kind
        ``"xbar"``, ``"R"``, ``"S"`` (``data``: subgroups, unequal sizes allowed),
        ``"xbar.one"`` (``data``: individual values), ``"p"``, ``"np"``, ``"c"``, ``"u"``
        (``data``: counts, with ``sizes``).
    data
        Phase I data.
    sizes
        Sample sizes for attribute charts (scalar or one per point). Required for p, np, u.
    newdata, newsizes
        Phase II data, judged on the Phase I limits.
    nsigmas
        Width of the control limits in sigmas.
    center
        A known centre (target) instead of the Phase I estimate.
    std_dev
        A known within-subgroup sigma instead of the estimate (variable charts only).
    std_dev_method
        Sigma estimator: x-bar ``"UWAVE-R"`` (default; ``"RMSDF"`` when a subgroup has more
        than 25 observations), ``"UWAVE-SD"``, ``"MVLUE-R"``, ``"MVLUE-SD"``, ``"RMSDF"``;
        R ``"UWAVE-R"``/``"MVLUE-R"``; S ``"UWAVE-SD"``/``"MVLUE-SD"``/``"RMSDF"``;
        x-bar.one ``"MR"`` (default, :math:`\overline{MR}/1.128`) or ``"SD"``
        (:math:`s/c_4(n)`). Case-insensitive.

    Returns
    -------
    ControlChart

    Notes
    -----
    Limits per point :math:`t` with sample size :math:`n_t`:

    .. math::

        \bar x:\ \bar{\bar x} \pm L\sigma/\sqrt{n_t} \qquad
        R:\ \bar R \pm L d_3(n_t)\sigma \qquad
        S:\ \bar S \pm L\sigma\sqrt{1-c_4(n_t)^2} \qquad
        p:\ \bar p \pm L\sqrt{\bar p(1-\bar p)/n_t} \qquad
        u:\ \bar u \pm L\sqrt{\bar u/n_t}

    Examples
    --------
    >>> import numpy as np
    >>> from twin.edge.detection import spc
    >>> rng = np.random.default_rng(7)
    >>> groups = rng.normal(10.0, 0.5, size=(20, 4))
    >>> chart = spc.control_chart("xbar", groups)
    >>> round(chart.center, 4), round(chart.std_dev, 4), round(float(chart.ucl[0]), 4)
    (9.9118, 0.4545, 10.5935)
    >>> chart.beyond_limits
    []
    >>> spc.control_chart("p", [3, 5, 4, 6, 2, 14, 5], sizes=50).beyond_limits
    [5]
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {list(KINDS)}, got {kind!r}")
    nsigmas = check.positive(nsigmas, "nsigmas")
    if center is not None:
        center = check.number(center, "center")
    if kind in ("p", "np", "c", "u"):
        if std_dev is not None:
            raise ValueError(f"std_dev is not used by a {kind} chart: its limits follow from the centre")
        if std_dev_method is not None:
            raise ValueError(f"std_dev_method does not apply to a {kind} chart")
        a = attribute_chart(kind, data, sizes, newdata, newsizes, center=center)
        lcl, ucl = a.limits(nsigmas)
        return ControlChart(kind, a.statistics, a.sizes, a.center, a.std_dev, lcl, ucl, a.n_phase1, nsigmas,
                            a.observations, a.limits)
    method = _method(kind, std_dev_method)
    if std_dev is not None:
        std_dev = check.positive(std_dev, "std_dev")
    if kind == "xbar.one":
        if newsizes is not None and np.any(np.asarray(newsizes) != 1):
            raise ValueError(f"newsizes must be 1 for an xbar.one chart, got {newsizes!r}")
        return _individuals(data, sizes, newdata, nsigmas, center, std_dev, method)
    return _grouped(kind, data, sizes, newdata, newsizes, nsigmas, center, std_dev, method)


def _method(kind: str, method: str | None) -> str | None:
    if method is None:
        return None
    if not isinstance(method, str) or method.upper() not in _SD_METHODS[kind]:
        raise ValueError(f"std_dev_method for a {kind} chart must be one of {list(_SD_METHODS[kind])}, "
                         f"got {method!r}")
    return method.upper()


def within_sd(groups: list[np.ndarray], method: str) -> float:
    """Within-subgroup sigma from subgroups (qcc's ``sd.xbar``)."""
    n = np.array([g.size for g in groups], dtype=float)
    if method.endswith("-R") and n.max() > D2_MAX:
        raise ValueError(f"data has a subgroup of {int(n.max())} observations; range-based sigma needs "
                         f"subgroups of at most {D2_MAX} (use std_dev_method='RMSDF' or an S chart)")
    if method == "UWAVE-R":
        r = np.array([np.ptp(g) for g in groups])
        return float(np.sum(r / d2(n)) / n.size)
    if method == "MVLUE-R":
        r = np.array([np.ptp(g) for g in groups])
        w = (d2(n) / d3(n)) ** 2
        return float(np.sum(r / d2(n) * w) / np.sum(w))
    s = np.array([np.std(g, ddof=1) for g in groups])
    if method == "UWAVE-SD":
        return float(np.sum(s / c4(n)) / n.size)
    if method == "MVLUE-SD":
        w = c4(n) ** 2 / (1 - c4(n) ** 2)
        return float(np.sum(s / c4(n) * w) / np.sum(w))
    w = n - 1  # RMSDF
    return float(np.sqrt(np.sum(s**2 * w) / np.sum(w)) / c4(np.sum(w) + 1))


def _group_stat(kind: str, groups: list[np.ndarray]) -> np.ndarray:
    if kind == "xbar":
        return np.array([g.mean() for g in groups])
    if kind == "R":
        return np.array([np.ptp(g) for g in groups], dtype=float)
    return np.array([np.std(g, ddof=1) for g in groups])


def _grouped(kind: str, data: Any, sizes: Any, newdata: Any, newsizes: Any, nsigmas: float, center: float | None,
             std_dev: float | None, method: str | None) -> ControlChart:
    groups = check.subgroups(data, "data", min_size=2)
    n1 = np.array([g.size for g in groups], dtype=float)
    _same_sizes(sizes, n1, "sizes")
    stats = _group_stat(kind, groups)
    if center is None:
        center = float(np.sum(n1 * stats) / np.sum(n1))
    if std_dev is None:
        default = {"xbar": "RMSDF" if n1.max() > 25 else "UWAVE-R", "R": "UWAVE-R", "S": "UWAVE-SD"}[kind]
        std_dev = within_sd(groups, method or default)
    all_n = n1
    if newdata is not None:
        new_groups = check.subgroups(newdata, "newdata", min_size=2)
        n2 = np.array([g.size for g in new_groups], dtype=float)
        _same_sizes(newsizes, n2, "newsizes")
        stats = np.concatenate([stats, _group_stat(kind, new_groups)])
        all_n = np.concatenate([n1, n2])
    elif newsizes is not None:
        raise ValueError("newsizes given without newdata")
    if kind == "R" and all_n.max() > 50:
        raise ValueError(f"R chart limits need subgroups of at most 50 observations, got {int(all_n.max())}")
    c, sd = float(center), float(std_dev)

    def limits(k: float) -> tuple[np.ndarray, np.ndarray]:
        if kind == "xbar":
            half = k * sd / np.sqrt(all_n)
            return c - half, c + half
        half = k * sd * (d3(all_n) if kind == "R" else np.sqrt(1.0 - c4(all_n) ** 2))
        return np.maximum(0.0, c - half), c + half

    lcl, ucl = limits(nsigmas)
    obs = np.concatenate(groups)
    return ControlChart(kind, stats, all_n, c, sd, lcl, ucl, len(groups), nsigmas, obs, limits)


def _same_sizes(sizes: Any, n: np.ndarray, name: str) -> None:
    if sizes is None:
        return
    given = np.broadcast_to(np.asarray(sizes, dtype=float), n.shape)
    if not np.array_equal(given, n):
        raise ValueError(f"{name} must match the subgroup lengths {n.astype(int).tolist()}, got {sizes!r}")


def _individuals(data: Any, sizes: Any, newdata: Any, nsigmas: float, center: float | None, std_dev: float | None,
                 method: str | None) -> ControlChart:
    x = check.values(data, "data", min_len=1 if std_dev is not None else 2)
    if sizes is not None and np.any(np.asarray(sizes) != 1):
        raise ValueError(f"sizes must be 1 for an xbar.one chart, got {sizes!r}")
    if center is None:
        center = float(np.mean(x))
    if std_dev is None:
        if (method or "MR") == "MR":
            std_dev = float(np.mean(np.abs(np.diff(x))) / d2(2).item())
        else:
            std_dev = float(np.std(x, ddof=1) / c4(x.size))
    stats = x if newdata is None else np.concatenate([x, check.values(newdata, "newdata")])
    c, sd = float(center), float(std_dev)
    ones = np.ones(stats.size)

    def limits(k: float) -> tuple[np.ndarray, np.ndarray]:
        return c - k * sd * ones, c + k * sd * ones

    lcl, ucl = limits(nsigmas)
    return ControlChart("xbar.one", stats.copy(), ones, c, sd, lcl, ucl, x.size, nsigmas, x.copy(), limits)


def mean_series(data: Any, newdata: Any, center: float | None,
                std_dev: float | None) -> tuple[np.ndarray, np.ndarray, int, float, float]:
    """Means to monitor (EWMA, CUSUM), as qcc's ``ewma``/``cusum`` prepare them.

    Subgroups give subgroup means, sigma = unweighted mean of R/d2 (RMSDF past 25) and a
    size-weighted centre; a flat sequence gives individuals, sigma = mean moving range / 1.128.

    Returns
    -------
    tuple
        ``(statistics, sizes, n_phase1, center, std_dev)``, Phase I then Phase II.
    """
    if center is not None:
        center = check.number(center, "center")
    if std_dev is not None:
        std_dev = check.positive(std_dev, "std_dev")
    if check.is_grouped(data):
        chart = _grouped("xbar", data, None, newdata, None, 3.0, center, std_dev, None)
    else:
        chart = _individuals(data, None, newdata, 3.0, center, std_dev, None)
    return chart.statistics, chart.sizes, chart.n_phase1, chart.center, chart.std_dev
