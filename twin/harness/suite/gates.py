"""Gates: ``metric[.aggregate] op number``, judged over a suite's episodes.

* **metric** — a per-episode figure from ``report.json`` (:func:`episode_metrics`):
  ``detection_delay_s`` (and the other delays; a fault never detected counts as ∞),
  ``false_alarms_per_hour`` (alarms before the first onset, or in a clean run, per plant hour),
  ``top1_accuracy`` / ``top3_accuracy`` (1 or 0 per faulty episode; no diagnosis is 0),
  ``alarms``, ``commands_applied``, ``commands_refused``, ``quality_final``, ``sentinel_recall`` and
  ``sentinel_false_per_1000`` (a scenario with a ``sentinel`` block), and for supply runs
  ``escapes`` and every other numeric score. A metric that does not apply to an episode (a delay
  in a clean run) leaves it out.
* **aggregate** — ``p50``, ``p90``, ``p95``, ``max``, ``min``, ``mean``, ``sum``; without one, the gate
  holds for *every* episode (``escapes == 0``). ``max`` and ``min`` gates, and gates without an
  aggregate, are also judged per episode (so JUnit names the episode that broke them).

>>> g = parse_gate("detection_delay_s.p90 <= 120")
>>> g.metric, g.aggregate, g.op, g.threshold
('detection_delay_s', 'p90', '<=', 120.0)
>>> g.value([30.0, 40.0, 500.0]), g.holds(g.value([30.0, 40.0, 500.0]))
(500.0, False)
>>> parse_gate("escapes == 0").holds(0.0)
True
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict

OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt, "==": operator.eq, "!=": operator.ne}
AGGREGATES: dict[str, Callable[[np.ndarray], float]] = {
    "p50": lambda v: _percentile(v, 50), "p90": lambda v: _percentile(v, 90), "p95": lambda v: _percentile(v, 95),
    "max": lambda v: float(np.max(v)),
    "min": lambda v: float(np.min(v)), "mean": lambda v: float(np.mean(v)), "sum": lambda v: float(np.sum(v)),
}
PER_EPISODE = (None, "max", "min")


def _percentile(values: np.ndarray, q: float) -> float:
    """Nearest-rank percentile: always one of the values, so a never-detected (∞) episode stays ∞."""
    return float(np.percentile(values, q, method="inverted_cdf"))
_GATE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)(?:\.([a-z0-9]+))?\s*(<=|>=|==|!=|<|>)\s*([-+0-9.eE]+|inf)\s*$")


class Gate(BaseModel):
    """One parsed gate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: str
    aggregate: str | None
    op: str
    threshold: float

    @property
    def text(self) -> str:
        """The gate as written: ``detection_delay_s.p90 <= 120``."""
        agg = f".{self.aggregate}" if self.aggregate else ""
        return f"{self.metric}{agg} {self.op} {self.threshold:g}"

    @property
    def lower_is_better(self) -> bool:
        """Whether a smaller value is the better one (for regressions against a baseline)."""
        return self.op in ("<=", "<")

    def value(self, values: Sequence[float]) -> float | None:
        """The aggregate over episodes (the worst episode without an aggregate); None without values."""
        if not len(values):
            return None
        data = np.asarray(values, dtype=float)
        if self.aggregate is not None:
            return AGGREGATES[self.aggregate](data)
        if self.op in ("<=", "<"):
            return float(np.max(data))
        if self.op in (">=", ">"):
            return float(np.min(data))
        bad = [v for v in data if not self.holds(float(v))]
        return float(bad[0]) if bad else float(data[0])

    def holds(self, value: float | None) -> bool:
        """Whether ``value`` meets the gate (no value does not)."""
        return value is not None and not math.isnan(value) and OPS[self.op](value, self.threshold)


def parse_gate(text: str) -> Gate:
    """A gate from its text; a bad one raises ValueError naming what is wrong."""
    match = _GATE.match(text)
    if match is None:
        raise ValueError(f"gate {text!r}: write metric[.aggregate] op number, e.g. 'detection_delay_s.p90 <= 120'")
    metric, aggregate, op, number = match.groups()
    if aggregate is not None and aggregate not in AGGREGATES:
        raise ValueError(f"gate {text!r}: unknown aggregate {aggregate!r}; use one of {', '.join(AGGREGATES)}")
    return Gate(metric=metric, aggregate=aggregate, op=op, threshold=float(number))


def format_value(value: float | None) -> str:
    """A measured figure for tables and messages (∞ for a delay that never ended)."""
    if value is None:
        return "n/a"
    if math.isinf(value):
        return "never" if value > 0 else "-inf"
    return f"{value:.4g}"
