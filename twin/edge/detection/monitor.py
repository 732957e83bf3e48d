"""The runner's detector: frames in, abnormal-signal verdicts out.

:class:`Detector` is the plug-in point (ARCHITECTURE.md): anything with
``observe(frame) -> list[Signal]``. The runner hands every verdict to the ISA-18.2
:class:`~twin.edge.detection.alarms.AlarmManager`, so a plug-in gets alarm handling for free.

:class:`SubgroupMonitor` is ours:

1. every frame, the fresh ``good`` readings of each monitored tag element are summed into
   the current subgroup (``subgroup_s`` of plant time);
2. what in control looks like comes from a **baseline** (:mod:`twin.edge.detection.baseline`,
   ``detection.baseline``) learned once on earlier in-control history, so every subgroup from
   the first one is judged; without one, from the first ``warmup_s`` after the first frame the
   monitor sees (so an edge that joins a running PLC late still learns), whose subgroup means
   then only teach. Either way an element that stayed constant, or was seen fewer than
   ``MIN_WARMUP_SUBGROUPS`` times, is not monitored, and the report says so;
3. after that, each closed subgroup goes through the monitor rule's pipeline — the residual
   of a context model for a dynamic band (:mod:`twin.edge.detection.thresholds`), the one-step
   forecast error for autocorrelated signals (:mod:`twin.edge.detection.whitening`, on by
   default), the threshold rules' band factor — into a vectorised detector bank (Shewhart
   with run rules, EWMA, or CUSUM from :mod:`twin.edge.detection.spc`); centre and sigma of what
   the bank sees are learned from the warm-up, and every stream that signals becomes a
   :class:`~twin.edge.detection.alarms.Signal`;
4. independently, a monitored sensor whose readings stop moving altogether is reported
   ``stuck`` by the flatline check (:mod:`twin.edge.detection.flatline`); one whose steps grow
   noisy is reported ``noise`` by the dispersion check (:mod:`twin.edge.detection.dispersion`,
   which a subgroup mean would hide); one that delivers no good sample at all is reported
   ``no_good_data`` by the data-loss check (:mod:`twin.edge.detection.dataloss`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from twin.edge.detection import spc
from twin.edge.detection.alarms import Signal
from twin.edge.detection.baseline import Baseline, BaselineError
from twin.edge.detection.dataloss import DataLossCheck
from twin.edge.detection.dispersion import DispersionCheck
from twin.edge.detection.flatline import FlatlineCheck
from twin.edge.detection.settings import DetectionSettings, MonitorRule
from twin.edge.detection.thresholds import ContextModel, RuleEngine
from twin.edge.detection.whitening import EwmaWhitener
from twin.edge.frames import ElementIndex, Frame, Quality

MIN_WARMUP_SUBGROUPS = 10


@runtime_checkable
class Detector(Protocol):
    """Frames in, verdicts out: the detection plug-in point."""

    def observe(self, frame: Frame) -> list[Signal]:
        """Verdicts for this frame (usually empty)."""
        ...


@dataclass
class _Group:
    """The elements one monitor rule watches, and its bank once warm-up is over."""

    rule: MonitorRule
    positions: np.ndarray
    bank: Any = None
    names: list[str] = field(default_factory=list)
    context: np.ndarray | None = None  # positions of the context elements (dynamic band)
    model: ContextModel | None = None
    whitener: EwmaWhitener | None = None


class SubgroupMonitor:
    """Subgroup means, learned limits, one detector bank per monitor rule (module docstring)."""

    def __init__(self, settings: DetectionSettings, index: ElementIndex, baseline: Baseline | None = None,
                 baseline_file: str | None = None) -> None:
        self.settings = settings
        self.index = index
        self.baseline = baseline
        self.baseline_file = baseline_file
        self.subgroup_ms = int(round(settings.subgroup_s * 1000))
        self.warmup_ms = int(round(settings.warmup_s * 1000))
        if self.subgroup_ms <= 0:
            raise ValueError(f"subgroup_s must be at least 1 ms, got {settings.subgroup_s}")
        readable = [t for t in index.tags if t.access == "ro" and t.is_analog]  # no setpoints, bools or text
        self.groups: list[_Group] = []
        for rule_index, tags in settings.assign([t.name for t in readable]).items():
            rule = settings.monitor[rule_index]
            positions = np.concatenate([np.arange(index.slices[t].start, index.slices[t].stop) for t in tags])
            unknown = [c for c in rule.context if c not in index.position]
            if unknown:
                raise ValueError(f"monitor rule for {rule.tags}: context tag(s) {unknown} are not collected")
            context = index.positions(rule.context) if rule.context else None
            self.groups.append(_Group(rule, positions, context=context))
        self.rules = RuleEngine(settings.threshold_rules, index.names)
        n = len(index)
        self._sums = np.zeros(n)
        self._counts = np.zeros(n)
        self._warmup: list[np.ndarray] = []
        self._warmup_until_ms = self.warmup_ms  # moved to the first frame's time + warm-up by observe()
        self._next_close: int | None = None
        self.not_monitored: dict[str, str] = {}
        watched = np.unique(np.concatenate([g.positions for g in self.groups])) if self.groups else np.zeros(0, int)
        self._flatline_positions = watched
        self.flatline = (
            FlatlineCheck(len(watched), settings.flatline_subgroups, floors=self._floors(watched))
            if settings.flatline_subgroups else None
        )
        self.dataloss = (
            DataLossCheck(len(watched), settings.dataloss_subgroups) if settings.dataloss_subgroups else None
        )
        self.dispersion = (
            DispersionCheck(len(watched), settings.noise_h, settings.noise_ratio) if settings.noise_h else None
        )
        if baseline is not None:
            self._start_from(baseline)

    def _floors(self, positions: np.ndarray) -> np.ndarray:
        """The low end of each element's range (NaN where open): a reading held there is at rest, not stuck."""
        low = np.repeat([np.nan if t.low is None else t.low for t in self.index.tags],
                        [t.elements for t in self.index.tags])
        return low[positions] if len(low) else np.zeros(0)

    def _start_from(self, baseline: Baseline) -> None:
        """Build the banks from the baseline's history now: every subgroup of the run is judged."""
        if abs(baseline.subgroup_s - self.settings.subgroup_s) > 1e-9:
            raise BaselineError(f"the baseline was learned on subgroups of {baseline.subgroup_s:g} s, the detection "
                                f"settings use {self.settings.subgroup_s:g} s: learn it again with these settings")
        history = baseline.matrix(self.index.names)
        absent = [n for n in self.index.names if n not in set(baseline.elements)]
        self._warmup = list(history)
        self._build_banks()
        for name in absent:
            if name in self.not_monitored:
                self.not_monitored[name] = "not in the baseline"
        if self.flatline is not None:
            limits = baseline.flat_limits
            self.flatline.judge(np.array([limits.get(self.index.names[p], 0) for p in self._flatline_positions]))
        if self.dispersion is not None:
            noise = baseline.noise
            self.dispersion.fit(np.array([noise.get(self.index.names[p], np.nan) for p in self._flatline_positions]))

    @property
    def ready(self) -> bool:
        """True once the warm-up is over and the banks are built."""
        return all(g.bank is not None for g in self.groups)

    def observe(self, frame: Frame) -> list[Signal]:
        """Add the frame to the current subgroup; judge the subgroup that closes, if one does."""
        signals: list[Signal] = []
        if self._next_close is None:  # the first frame: the warm-up counts from here, not from plant time 0
            self._warmup_until_ms = frame.ts_ms + (self.warmup_ms if self.baseline is None else -1)
            self._next_close = frame.ts_ms - frame.ts_ms % self.subgroup_ms + self.subgroup_ms
        while frame.ts_ms >= self._next_close:
            signals.extend(self._close(self._next_close))
            self._next_close += self.subgroup_ms
        usable = frame.fresh & (frame.quality == Quality.GOOD)
        self._sums[usable] += frame.values[usable]
        self._counts[usable] += 1
        if self.flatline is not None:
            where = self._flatline_positions
            self.flatline.add(usable[where], frame.values[where])
        if self.dataloss is not None:
            self.dataloss.add(frame.quality[self._flatline_positions] >= Quality.BAD)
        if self.dispersion is not None:
            where = self._flatline_positions
            self.dispersion.add(usable[where], frame.values[where])
        return signals

    def _close(self, t_ms: int) -> list[Signal]:
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.where(self._counts > 0, self._sums / self._counts, np.nan)
        self._sums[:] = 0.0
        self._counts[:] = 0.0
        warmup = t_ms <= self._warmup_until_ms
        stuck = self.flatline.close(warmup=warmup) if self.flatline is not None else None
        lost = self.dataloss.close() if self.dataloss is not None else None
        noisy = self.dispersion.close(warmup=warmup) if self.dispersion is not None else None
        if warmup:
            self._warmup.append(means)
            return []
        if not self.ready:
            self._build_banks()
        factor = self.rules.step(t_ms, means)
        signals = [s for g in self.groups for s in self._judge(g, means, factor[g.positions])]
        if stuck is not None:
            for pos in self._flatline_positions[stuck]:
                signals.append(Signal(tag=self.index.names[pos], detector="flatline", rule="stuck",
                                      value=float(means[pos]), limit=0.0))
        if noisy is not None:
            assert self.dispersion is not None
            for i in np.flatnonzero(noisy):
                signals.append(Signal(tag=self.index.names[self._flatline_positions[i]], detector="dispersion",
                                      rule="noise", value=float(self.dispersion.crossed[i]), limit=self.dispersion.h))
        if lost is not None:
            for pos in self._flatline_positions[lost]:
                signals.append(Signal(tag=self.index.names[pos], detector="data_loss", rule="no_good_data",
                                      value=float("nan"), limit=0.0))
        return signals

    def _build_banks(self) -> None:
        history = np.vstack(self._warmup) if self._warmup else np.full((0, len(self.index)), np.nan)
        seen = np.sum(~np.isnan(history), axis=0)
        with warnings.catch_warnings():  # elements seen once are expected; they are not monitored
            warnings.simplefilter("ignore", RuntimeWarning)
            sigma = np.nanstd(history, axis=0, ddof=1) if len(history) > 1 else np.full(len(self.index), np.nan)
        for group in self.groups:
            keep = []
            for pos in group.positions:
                name = self.index.names[pos]
                if seen[pos] < MIN_WARMUP_SUBGROUPS:
                    self.not_monitored[name] = f"only {int(seen[pos])} good subgroups during warm-up"
                elif not np.isfinite(sigma[pos]) or sigma[pos] <= 0:
                    self.not_monitored[name] = "constant during warm-up"
                else:
                    keep.append(pos)
            group.positions = np.array(keep, dtype=np.int64)
            group.names = [self.index.names[p] for p in keep]
            if not len(keep):
                group.bank = _make_bank(group.rule, np.zeros(0), np.ones(0))
                continue
            series = history[:, group.positions]
            if group.context is not None:
                group.model = ContextModel(self.settings.context_forgetting)
                group.model.fit(series, history[:, group.context])
                series = series - np.vstack([group.model.predict(c) for c in history[:, group.context]])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                center_g = np.nanmean(series, axis=0)
                sigma_g = np.nanstd(series, axis=0, ddof=1)
            prewhiten = self.settings.prewhiten if group.rule.prewhiten is None else group.rule.prewhiten
            if prewhiten:
                group.whitener = EwmaWhitener()
                sigma_g = group.whitener.fit(series)
                center_g = np.zeros(len(keep))
            sigma_g = np.where(np.isfinite(sigma_g) & (sigma_g > 0), sigma_g, sigma[group.positions])
            group.bank = _make_bank(group.rule, center_g, sigma_g)
        self._warmup = []
        if self.dispersion is not None and self.baseline is None:
            self.dispersion.fit_learned()

    def _judge(self, group: _Group, means: np.ndarray, factor: np.ndarray) -> list[Signal]:
        """One subgroup through the group's pipeline: context residual, whitening, band factor, bank."""
        if not len(group.positions):
            return []
        raw = means[group.positions]
        series = raw
        if group.model is not None and group.context is not None:
            series = raw - group.model.predict(means[group.context])
        if group.whitener is not None:
            series = group.whitener(series)
        center = group.bank.center  # each rule's own centre: several rules may watch one tag
        flags = group.bank.update(center + (series - center) / factor)
        if group.model is not None and group.context is not None:
            group.model.update(raw, means[group.context], np.isfinite(series) & ~flags)
        out = []
        for i in np.flatnonzero(flags):
            above = bool(group.bank.side[i] > 0)
            limit = float(group.bank.upper[i] if above else group.bank.lower[i])
            rule = _rule_name(group, i, above) + (" (context band)" if group.model else "")
            out.append(
                Signal(
                    tag=group.names[i],
                    detector=group.rule.label,
                    rule=rule,
                    value=float(group.bank.statistic[i]),
                    limit=limit,
                )
            )
        return out

    def summary(self) -> dict[str, Any]:
        """What is monitored, by which detector, and what is not (with the reason)."""
        return {
            "monitored": {g.rule.label: len(g.positions) for g in self.groups},
            "not_monitored": dict(sorted(self.not_monitored.items())),
            "learned_from": "baseline" if self.baseline is not None else "warmup",
            "baseline": self.baseline.describe(self.baseline_file) if self.baseline is not None else None,
            "warmup_s": self.settings.warmup_s if self.baseline is None else 0.0,
            "subgroup_s": self.settings.subgroup_s,
            "dynamic_bands": [g.names for g in self.groups if g.model is not None],
            "noise_checked": int(self.dispersion.judged.sum()) if self.dispersion is not None else 0,
            "threshold_firings": list(self.rules.firings),
        }


def _make_bank(rule: MonitorRule, center: np.ndarray, sigma: np.ndarray) -> Any:
    if rule.detector == "shewhart":
        return spc.ShewhartBank(center, sigma, rules=tuple(rule.rules), rule_set=rule.rule_set, L=rule.L)
    if rule.detector == "ewma":
        return spc.EwmaBank(center, sigma, lam=rule.lam, L=rule.L)
    return spc.CusumBank(center, sigma, k=rule.k, h=rule.h)


def _rule_name(group: _Group, i: int, above: bool) -> str:
    if group.rule.detector == "shewhart":
        prefix = "WE" if group.rule.rule_set == "western-electric" else "NEL"
        return f"{prefix}{int(group.bank.last_rules[i])}"
    return "upper" if above else "lower"
