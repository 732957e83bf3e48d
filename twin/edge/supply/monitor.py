"""Supplier SPC on published subgroups, and the three-level warning ladder built on it.

Per supplier characteristic, the first ``phase1`` subgroup means fix an individuals chart on the
means (``spc.control_chart("xbar.one")``: centre, and a sigma that holds within- and
between-lot variation alike). After that a two-sided CUSUM (``spc.CusumDetector``) watches the
means, and an upper CUSUM watches the dispersion: each subgroup's variance over the Phase I
pooled variance, ``v = s^2 / s0^2``, with reference ``dispersion_k = ln(rho) / (1 - 1/rho)`` (the
likelihood-ratio CUSUM for a variance ratio ``rho``, here 3) and limit ``dispersion_h``. The
dispersion CUSUM finds variance growth and mixed lots (units of another process in a subgroup
inflate its variance long before they move the mean). A signal of either opens a **warning** at
level 1 with its ``cause`` (``mean``: the supplier's process has moved; ``dispersion``: it varies
more than in Phase I); while it
is open the capability of the recent subgroups (``spc.capability``, Cpk) escalates it to level 2
below ``cpk_level2`` and to level 3 below ``cpk_level3``. Each level is a routed task for one role
(see :mod:`twin.edge.supply.workflow`). After the supplier's correction the CUSUM restarts;
``verify`` subgroups without a signal close the warning.

**False alarms.** A clean run must raise no warning, so the chart is designed for a target
false-alarm probability per run, not from the textbook ARL: its centre and sigma are *estimated*
from ``phase1`` subgroups, and that estimation error, not the known-parameter ARL, dominates.
With ``k = 1, h = 8`` the known-parameter two-sided ARL is about 2e7 subgroups (Siegmund), yet
with 40 Phase I subgroups a characteristic watched for 320 more subgroups (90 production days,
four subgroups a lot) signals in 2.7e-4 of in-control runs (Monte Carlo, 400,000 runs), 8e-4
for a run with three suppliers. :func:`false_alarm_probability` simulates exactly this
procedure. Two ways reach the target of 1e-4 per characteristic: a wider ``h = 10`` (3e-5)
or a longer Phase I, 80 subgroups (4.5e-5 with ``h = 8``). The wider limit pays for the
estimation error in detection (brake-disc runout drift, 50 seeds: mean delay 7.1 days instead
of 6.0, worst 22 days instead of 10); the longer Phase I removes the
error itself (mean 6.0, worst 8 days) and costs ten more days before the chart, and hence
skip-lot, starts. The defaults take the longer Phase I.

The dispersion CUSUM has the same problem, worse: ``v`` is skewed (chi-square with 4 degrees of
freedom over 4), and ``s0`` comes from 320 degrees of freedom. With ``k = 1.648`` (``rho = 3``) a
limit of ``h = 8`` signals in 1.3 % of in-control runs of 320 subgroups; ``h = 14`` in 3.6e-5
(Monte Carlo, 10^6 runs, :func:`false_alarm_probability` with ``chart="dispersion"``), so mean
and dispersion together stay within 1e-4 per characteristic. A sigma 1.75 times Phase I's is
then flagged after 11 subgroups on average, 46 in 99.99 % of runs; 1.5 times after 25 (median
22) with a long tail when Phase I over-estimated ``s0``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import stats

from twin.edge.detection import spc


class MonitorSettings(BaseModel):
    """Supplier-SPC settings (scenario ``detection.supplier_spc``)."""

    model_config = ConfigDict(extra="forbid")

    phase1: int = Field(default=80, ge=10, description="subgroups that fix the chart (see the module notes on "
                        "false alarms)")
    k: float = Field(default=1.0, gt=0, description="CUSUM reference value, sigmas of the subgroup mean")
    h: float = Field(default=8.0, gt=0, description="CUSUM decision interval, sigmas")
    window: int = Field(default=12, ge=4, description="recent subgroups for the shift estimate and Cpk")
    cpk_level2: float = Field(default=1.33, gt=0)
    cpk_level3: float = Field(default=1.2, gt=0)
    cpk_capable: float = Field(default=1.33, gt=0, description="Cpk that qualifies a supplier for skip-lot")
    verify: int = Field(default=12, ge=1, description="subgroups in control that close a warning")
    dispersion_k: float = Field(default=1.648, gt=0, description="reference of the variance CUSUM: ln(rho)/(1-1/rho), "
                                "rho = 3")
    dispersion_h: float = Field(default=14.0, gt=0, description="limit of the variance CUSUM (see the module notes)")


@dataclass
class SupplierWarning:
    """An open or closed supplier warning and the levels it reached."""

    id: str
    supplier: str
    stream: str
    opened_h: float
    cause: str = "mean"
    level: int = 1
    shift: float = 0.0
    cpk: float = float("nan")
    closed_h: float | None = None
    levels: list[dict[str, Any]] = field(default_factory=list)


class SupplierMonitor:
    """SPC on one supplier's characteristic stream (subgroups of raw values in canonical units)."""

    def __init__(self, supplier: str, stream: str, lsl: float | None, usl: float | None,
                 settings: MonitorSettings) -> None:
        self.supplier, self.stream, self.lsl, self.usl, self.settings = supplier, stream, lsl, usl, settings
        self._phase1: list[np.ndarray] = []
        self._recent: deque[np.ndarray] = deque(maxlen=settings.window)
        self.detector: spc.CusumDetector | None = None
        self.dispersion: spc.CusumDetector | None = None
        self.center = self.sigma = self.variance = float("nan")
        self._phase1_df = 0
        self.warning: SupplierWarning | None = None
        self.warnings: list[SupplierWarning] = []
        self._quiet = 0
        self.subgroups = 0

    @property
    def in_control(self) -> bool:
        """Chart fixed and no open warning."""
        return self.detector is not None and self.warning is None

    def capable(self) -> bool:
        """In control with recent Cpk at least ``cpk_capable`` (a condition for skip-lot)."""
        return self.in_control and self.cpk() >= self.settings.cpk_capable

    def cpk(self) -> float:
        """Cpk of the recent subgroups (within sigma from their ranges)."""
        if len(self._recent) < 4:
            return float("nan")
        chart = spc.control_chart("xbar", np.vstack(list(self._recent)))
        return float(spc.capability(chart, lsl=self.lsl, usl=self.usl, target=chart.center)["Cp_k"][0])

    def update(self, t_h: float, groups: list[list[float]]) -> list[dict[str, Any]]:
        """Take one lot's subgroups; return the warning events (opened, escalated, closed) they cause."""
        events: list[dict[str, Any]] = []
        for group in np.atleast_2d(np.asarray(groups, dtype=float)):
            self.subgroups += 1
            self._recent.append(group)
            if self.detector is None:
                self._phase1.append(group)
                if len(self._phase1) >= self.settings.phase1:
                    self._fix_chart()
                continue
            events += self._judge(t_h, group)
        return events

    def corrected(self) -> None:
        """The supplier corrected its process: restart the CUSUM so its effect can be verified."""
        if self.detector is not None and self.dispersion is not None:
            self.detector.reset()
            self.dispersion.reset()
            self._quiet = 0

    def shift(self) -> float:
        """Estimated shift of the process mean: recent subgroup means minus the chart centre."""
        return float(np.mean([g.mean() for g in self._recent]) - self.center)

    def sigma_ratio(self) -> float:
        """Recent within-subgroup sigma over Phase I's (pooled variances)."""
        return float(np.sqrt(np.mean([np.var(g, ddof=1) for g in self._recent]) / self.variance))

    def _spread_now(self) -> bool:
        """Whether the recent subgroups' pooled variance is above Phase I's (F test, 0.1 %): a mean
        signal that comes with it is extra variation swinging the means, not a moved process."""
        groups = list(self._recent)[-max(self.subgroups - self.settings.phase1, 1):]  # after Phase I only
        df_recent = sum(len(g) - 1 for g in groups)
        ratio = np.mean([np.var(g, ddof=1) for g in groups]) / self.variance
        return bool(ratio > stats.f.ppf(0.999, df_recent, self._phase1_df))

    def _fix_chart(self) -> None:
        phase1 = np.vstack(self._phase1)
        center, sigma = phase1_estimate(phase1)
        self.center, self.sigma = float(center), float(sigma)
        self.variance = float(np.var(phase1, axis=1, ddof=1).mean())
        self._phase1_df = phase1.shape[0] * (phase1.shape[1] - 1)
        # restart=False: every lot is flagged while the shift lasts (which lots to trace, not how many detections)
        self.detector = spc.CusumDetector(self.center, self.sigma, k=self.settings.k, h=self.settings.h,
                                          restart=False)
        self.dispersion = spc.CusumDetector(0.0, 1.0, k=self.settings.dispersion_k, h=self.settings.dispersion_h,
                                            restart=False)

    def _judge(self, t_h: float, group: np.ndarray) -> list[dict[str, Any]]:
        assert self.detector is not None and self.dispersion is not None
        spread = self.dispersion.update(float(np.var(group, ddof=1)) / self.variance)
        shift = self.detector.update(float(group.mean()))
        signal = spread or shift
        w = self.warning
        if w is None:
            if not signal:
                return []
            cause = "dispersion" if spread or self._spread_now() else "mean"
            w = self.warning = SupplierWarning(id=f"W-{self.supplier}-{len(self.warnings) + 1}", supplier=self.supplier,
                                               stream=self.stream, opened_h=t_h, cause=cause)
            self.warnings.append(w)
            rule = (f"CUSUM k={self.settings.dispersion_k:g} h={self.settings.dispersion_h:g} on subgroup variances"
                    if spread else f"CUSUM k={self.settings.k:g} h={self.settings.h:g} on subgroup means"
                    + (" (recent variance significantly above Phase I)" if cause == "dispersion" else ""))
            return [self._level(w, t_h, 1, rule)]
        events = []
        cpk = self.cpk()
        for level, limit in ((2, self.settings.cpk_level2), (3, self.settings.cpk_level3)):
            if w.level == level - 1 and cpk < limit:
                events.append(self._level(w, t_h, level, f"Cpk of the last {len(self._recent)} subgroups "
                                                          f"{cpk:.2f} < {limit:g}"))
        self._quiet = 0 if signal else self._quiet + 1
        if self._quiet >= self.settings.verify:
            w.closed_h = t_h
            self.warning = None
            events.append({"event": "closed", "warning": w.id, "supplier": w.supplier, "t_h": t_h,
                           "reason": f"{self._quiet} subgroups in control after correction"})
        return events

    def _level(self, w: SupplierWarning, t_h: float, level: int, rule: str) -> dict[str, Any]:
        w.level, w.shift, w.cpk = level, self.shift(), self.cpk()
        entry = {"event": "level", "warning": w.id, "supplier": w.supplier, "stream": w.stream, "level": level,
                 "t_h": t_h, "rule": rule, "cause": w.cause, "shift": w.shift, "sigma_ratio": self.sigma_ratio(),
                 "cpk": w.cpk, "center": self.center, "sigma_mean": self.sigma}
        w.levels.append(entry)
        return entry


def phase1_estimate(groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre and sigma of subgroup means from Phase I subgroups (shape ``(..., m, n)``, any leading axes).

    The centre is the grand mean; the sigma is the larger of the moving-range estimate on the
    means (``spc.control_chart("xbar.one")``: MR-bar / d2(2), which also holds between-lot
    variation) and the within-subgroup sigma over sqrt(n) (``spc.control_chart("xbar")``:
    R-bar / d2(n)); a few dozen moving ranges alone can err by a third.
    """
    groups = np.asarray(groups, dtype=float)
    n = groups.shape[-1]
    means = groups.mean(axis=-1)
    moving = np.abs(np.diff(means, axis=-1)).mean(axis=-1) / spc.d2(2).item()
    within = np.ptp(groups, axis=-1).mean(axis=-1) / spc.d2(n).item()
    return means.mean(axis=-1), np.maximum(moving, within / np.sqrt(n))


def false_alarm_probability(settings: MonitorSettings, monitored: int, subgroup_size: int = 5, *,
                            runs: int = 20_000, seed: int = 0, chart: str = "mean") -> float:
    """Monte Carlo probability that an in-control characteristic opens a warning within ``monitored``
    subgroups after Phase I, Phase I estimation error included.

    Each run draws ``settings.phase1`` subgroups of ``subgroup_size`` N(0, 1) values, fixes the
    chart as :class:`SupplierMonitor` does (:func:`phase1_estimate` for ``chart="mean"``, the
    pooled variance for ``chart="dispersion"``), then feeds ``monitored`` in-control subgroups
    to the CUSUM; all runs are the streams of one ``spc.CusumBank``. For a run with ``m``
    characteristics the family-wise rate is about ``m`` times this.

    >>> false_alarm_probability(MonitorSettings(k=0.5, h=4.0), 100, runs=2_000)
    0.4485
    """
    if chart not in ("mean", "dispersion"):
        raise ValueError(f"chart must be 'mean' or 'dispersion', not {chart!r}")
    rng = np.random.default_rng(seed)
    phase1 = rng.standard_normal((runs, settings.phase1, subgroup_size))
    fired = np.zeros(runs, dtype=bool)
    if chart == "mean":
        center, sigma = phase1_estimate(phase1)
        bank = spc.CusumBank(center, sigma, k=settings.k, h=settings.h, restart=False)
        for _ in range(monitored):
            fired |= bank.update(rng.standard_normal(runs) / np.sqrt(subgroup_size))
        return float(fired.mean())
    variance = np.var(phase1, axis=2, ddof=1).mean(axis=1)
    bank = spc.CusumBank(np.zeros(runs), np.ones(runs), k=settings.dispersion_k, h=settings.dispersion_h,
                         restart=False)
    for _ in range(monitored):
        fired |= bank.update(rng.chisquare(subgroup_size - 1, runs) / (subgroup_size - 1) / variance)
    return float(fired.mean())
