"""What the loop remembers of the signals it acts on: start-of-run and recent samples, and effect sizes.

:class:`SignalHistory` keeps, per watched signal, the good samples of the first
``start_s`` seconds (the run's commissioning period) and a rolling window of the last
``horizon_s`` seconds, taking a sample only when its tag was freshly read.

>>> h = SignalHistory(start_s=10, horizon_s=60)
>>> for t in range(0, 30_000, 1000):
...     h.add(t, 20.0 if t < 15_000 else 14.0)
>>> h.mean_start(10), h.mean_between(25_000, 30_000)
(20.0, 14.0)
>>> h.slope_between(20_000, 30_000)                 # flat since the step
0.0
>>> effect_size(reference=20.0, before=14.0, after=18.5)
0.75
"""

from __future__ import annotations

import math
from collections import deque


class SignalHistory:
    """Good samples of one signal: the start of the run, and a rolling recent window."""

    def __init__(self, start_s: float, horizon_s: float) -> None:
        self.start_ms = int(start_s * 1000)
        self.horizon_ms = int(horizon_s * 1000)
        self.first_t: int | None = None
        self.start: list[float] = []
        self.start_t: list[int] = []
        self.recent: deque[tuple[int, float]] = deque()

    def add(self, t_ms: int, value: float) -> None:
        """Take one good sample at plant time ``t_ms``."""
        if not math.isfinite(value):
            return
        if self.first_t is None:
            self.first_t = t_ms
        if t_ms - self.first_t < self.start_ms:
            self.start.append(value)
            self.start_t.append(t_ms)
        self.recent.append((t_ms, value))
        while self.recent and self.recent[0][0] < t_ms - self.horizon_ms:
            self.recent.popleft()

    def mean_start(self, seconds: float) -> float | None:
        """Mean over the first ``seconds`` of the run (None before any sample)."""
        if self.first_t is None:
            return None
        limit = self.first_t + seconds * 1000
        values = [v for t, v in zip(self.start_t, self.start) if t < limit]
        return sum(values) / len(values) if values else None

    def mean_between(self, t0_ms: int, t1_ms: int) -> float | None:
        """Mean of the recent samples with ``t0_ms <= t < t1_ms`` (None when there are none)."""
        values = [v for t, v in self.recent if t0_ms <= t < t1_ms]
        return sum(values) / len(values) if values else None

    def slope_between(self, t0_ms: int, t1_ms: int) -> float | None:
        """Least-squares rate (units per second) of the recent samples with ``t0_ms <= t < t1_ms``;
        None with fewer than three samples or no spread in time."""
        points = [(t, v) for t, v in self.recent if t0_ms <= t < t1_ms]
        if len(points) < 3:
            return None
        mean_t = sum(t for t, _ in points) / len(points)
        mean_v = sum(v for _, v in points) / len(points)
        spread = sum((t - mean_t) ** 2 for t, _ in points)
        if spread <= 0:
            return None
        return 1000.0 * sum((t - mean_t) * (v - mean_v) for t, v in points) / spread

    def latest(self) -> float | None:
        """The newest good sample."""
        return self.recent[-1][1] if self.recent else None


def effect_size(reference: float, before: float, after: float) -> float | None:
    """Fraction of the deviation from ``reference`` removed: 1 fully restored, 0 no change, < 0 worse.

    None when there was no deviation to remove.
    """
    deviation = abs(before - reference)
    if deviation < 1e-12:
        return None
    return round(1.0 - abs(after - reference) / deviation, 12)
