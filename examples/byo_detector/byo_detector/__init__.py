"""A team's own detector for Quality Twin: a z-score on one-second means, after a warm-up.

It implements the ``twin.edge.plugins.Detector`` protocol (``observe(frame) -> list[Signal]``) and is
registered by entry point (``quality_twin.detectors``: ``zscore``), so ``twin check SUITE
--detector zscore`` and the pytest plug-in can run it without changing Quality Twin.

``lazy_detector`` (``zscore_lazy``) is the same detector with a limit ten times wider: the
"deliberately worse" version a gate should catch.
"""

from __future__ import annotations

import fnmatch
from typing import Any

import numpy as np

from twin.edge.detection.alarms import Signal

__all__ = ["ZScoreDetector", "lazy_detector"]


class ZScoreDetector:
    """|mean of the last second − warm-up mean| / warm-up spread of one-second means > ``limit``.

    Options (the scenario's ``plugins.detector.options``): ``tags`` (shell patterns, default
    ``["*.pressure", "*.temperature", "*.flow"]``), ``limit`` (default 6), ``warmup_s`` (default:
    the scenario's ``detection.warmup_s``), ``persist`` (consecutive seconds over the limit, 3).
    """

    def __init__(self, context: Any) -> None:
        options = context.options
        patterns = options.get("tags", ["*.pressure", "*.temperature", "*.flow"])
        self.limit = float(options.get("limit", 6.0))
        self.persist = int(options.get("persist", 3))
        self.warmup_ms = int(float(options.get("warmup_s", context.detection.warmup_s)) * 1000)
        readable = {t.name for t in context.index.tags if t.access == "ro"}
        self.names = [n for n in context.index.names if n in readable
                      and any(fnmatch.fnmatchcase(n, p) for p in patterns)]
        self.positions = np.array([context.index.names.index(n) for n in self.names], dtype=int)
        self._second: int | None = None
        self._sum = np.zeros(len(self.names))
        self._count = np.zeros(len(self.names))
        self._warm: list[np.ndarray] = []
        self._mean: np.ndarray | None = None
        self._sd: np.ndarray | None = None
        self._over = np.zeros(len(self.names), dtype=int)
        self._alarmed = np.zeros(len(self.names), dtype=bool)

    def observe(self, frame: Any) -> list[Signal]:
        """Accumulate this frame; judge the second that just closed."""
        second = frame.ts_ms // 1000
        out: list[Signal] = []
        if self._second is not None and second != self._second:
            out = self._close(self._second * 1000)
            self._sum[:], self._count[:] = 0.0, 0.0
        self._second = second
        values = frame.values[self.positions]
        good = np.isfinite(values)
        self._sum[good] += values[good]
        self._count[good] += 1
        return out

    def _close(self, t_ms: int) -> list[Signal]:
        with np.errstate(invalid="ignore", divide="ignore"):
            means = self._sum / self._count
        if t_ms < self.warmup_ms:
            self._warm.append(means)
            return []
        if self._mean is None:
            warm = np.array(self._warm)
            self._mean = np.nanmean(warm, axis=0)
            self._sd = np.nanstd(warm, axis=0) + 1e-9
        z = np.abs(means - self._mean) / self._sd
        over = np.nan_to_num(z, nan=0.0) > self.limit
        self._over = np.where(over, self._over + 1, 0)
        fire = (self._over >= self.persist) & ~self._alarmed
        self._alarmed |= fire
        return [Signal(self.names[i], "zscore", f"z>{self.limit:g}", float(means[i]), float(self.limit))
                for i in np.flatnonzero(fire)]


def lazy_detector(context: Any) -> ZScoreDetector:
    """The same detector with a limit ten times wider: slower, and blind to small drifts."""
    detector = ZScoreDetector(context)
    detector.limit *= 10
    return detector
