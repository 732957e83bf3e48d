"""Data health of a run, per process step: is this data fit to learn from?

A **step** is an asset path of the tag map (``coater.blade3`` for ``coater.blade3.pressure``); its
measures, each a share in [0, 1]:

* **completeness** — good samples over the samples each element's period promised over the run,
  averaged over the step's elements (:mod:`twin.edge.assets.quality`);
* **timeliness** — share of subgroups (``subgroup_ms``, at least the element's period) in which the
  element delivered a fresh good sample, averaged over the step's elements: what an SPC chart updated on
  schedule needs;
* **sensors** — one minus the share of judged subgroups in which an element was stuck, noisy or dropped,
  for the worst element of the step. The historian is replayed, subgroup by subgroup, through the very
  checks the edge runs live (:class:`~twin.edge.detection.flatline.FlatlineCheck`,
  :class:`~twin.edge.detection.dispersion.DispersionCheck`,
  :class:`~twin.edge.detection.dataloss.DataLossCheck`) with the detection defaults; the first
  ``warmup_share`` of the run teaches them what in control looks like and is not judged;
* **clock** — clock agreement (wall against plant time), where the run can say (else ``None``);
* **timestamps** — for a station that logs part ids, the share of its parts on which its inspection
  records changed with the equipment log (:mod:`twin.edge.assets.timestamps`; else ``None``).

A step's **score** is its weakest measure (a step is as fit to learn from as its worst trait), and it is
**healthy** when the score reaches ``healthy_at`` (default 0.95).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from twin.contracts import RunFiles
from twin.edge.assets.quality import ElementQuality, element_quality, span_of
from twin.edge.assets.timestamps import timestamp_agreement
from twin.edge.detection.dataloss import DataLossCheck
from twin.edge.detection.dispersion import DispersionCheck
from twin.edge.detection.flatline import FlatlineCheck
from twin.edge.detection.settings import DetectionSettings
from twin.edge.historian import HistorianReader

HEALTHY_AT = 0.95  # a step whose weakest measure reaches this is healthy
SUBGROUP_MS = 1000
WARMUP_SHARE = 0.25
_DEFAULTS = DetectionSettings()


@dataclass
class StepHealth:
    """The health measures of one process step over one run (module docstring)."""

    step: str
    elements: int
    completeness: float
    timeliness: float
    sensors: float
    clock: float | None
    problems: list[str] = field(default_factory=list)
    timestamps: float | None = None

    def measures(self) -> dict[str, float | None]:
        """Every measure by name (None: the run cannot say)."""
        return {"completeness": self.completeness, "timeliness": self.timeliness, "sensors": self.sensors,
                "clock": self.clock, "timestamps": self.timestamps}

    @property
    def score(self) -> float:
        """The weakest measure."""
        return min(m for m in self.measures().values() if m is not None)

    def weakest(self) -> str:
        """The name of the weakest measure (what to fix first)."""
        return min((v, k) for k, v in self.measures().items() if v is not None)[1]


@dataclass
class RunHealth:
    """Every step's health in one run, and the run's overall figures."""

    run: str
    span_ms: tuple[int, int]
    steps: list[StepHealth]
    healthy_at: float = HEALTHY_AT

    def healthy(self) -> list[StepHealth]:
        """The steps whose score reaches :attr:`healthy_at`."""
        return [s for s in self.steps if s.score >= self.healthy_at]

    @property
    def healthy_share(self) -> float:
        """Share of the steps that are healthy (1 for a run without steps: nothing to fault)."""
        return len(self.healthy()) / len(self.steps) if self.steps else 1.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record: the run, the threshold, and every step with its score."""
        return {"run": self.run, "span_ms": list(self.span_ms), "healthy_at": self.healthy_at,
                "healthy_share": self.healthy_share,
                "steps": [{**asdict(s), "score": s.score, "healthy": s.score >= self.healthy_at}
                          for s in self.steps]}


def run_context(run_dir: Path) -> tuple[float | None, bool]:
    """``(plant seconds, whether wall and plant clocks should agree)`` from a run's ``report.json``; without a
    report (a real line's historian) the span comes from the samples and the clocks should agree."""
    path = run_dir / RunFiles.REPORT
    if not path.is_file():
        return None, True
    try:
        report = json.loads(path.read_text())
        durations = report.get("durations") or {}
        factor = durations.get("realtime_factor")
        realtime = report.get("mode") == "realtime" and factor is not None and abs(float(factor) - 1.0) < 0.1
        return durations.get("plant_s"), realtime
    except (ValueError, TypeError, AttributeError):
        return None, False


def run_health(run_dir: str | Path, *, subgroup_ms: int = SUBGROUP_MS, warmup_share: float = WARMUP_SHARE,
               healthy_at: float = HEALTHY_AT) -> RunHealth:
    """The :class:`RunHealth` of the run directory ``run_dir`` (its ``historian.duckdb``, and its
    ``report.json`` when there is one)."""
    run_dir = Path(run_dir)
    plant_s, clock = run_context(run_dir)
    with HistorianReader(run_dir / RunFiles.HISTORIAN) as reader:
        return historian_health(reader, str(run_dir), plant_s=plant_s, clock=clock, subgroup_ms=subgroup_ms,
                                warmup_share=warmup_share, healthy_at=healthy_at)


def historian_health(reader: HistorianReader, run: str, *, plant_s: float | None = None, clock: bool = False,
                     subgroup_ms: int = SUBGROUP_MS, warmup_share: float = WARMUP_SHARE,
                     healthy_at: float = HEALTHY_AT) -> RunHealth:
    """The :class:`RunHealth` of an open historian (``run`` names it in the record)."""
    if subgroup_ms <= 0:
        raise ValueError(f"subgroup_ms must be positive, got {subgroup_ms}")
    if not 0 <= warmup_share < 1:
        raise ValueError(f"warmup_share must be in [0, 1), got {warmup_share}")
    span = span_of(reader, plant_s)
    quality = element_quality(reader, span, clock=clock)
    table = reader.window(*span)  # read once: the replay and the timestamp agreement both go through it
    timely, sensor, problems = _replay(table, quality, span, subgroup_ms, warmup_share)
    agreement = timestamp_agreement(table, quality, span, warmup_share)
    steps: dict[str, list[int]] = {}
    for i, q in enumerate(quality):
        steps.setdefault(q.step, []).append(i)
    out = []
    for step, members in steps.items():
        clocks = [quality[i].clock_agreement for i in members if quality[i].clock_agreement is not None]
        out.append(StepHealth(
            step=step, elements=len(members),
            completeness=float(np.mean([quality[i].good_share for i in members])),
            timeliness=float(np.mean(timely[members])), sensors=float(np.min(sensor[members])),
            clock=float(np.mean(clocks)) if clocks else None,
            problems=sorted({p for i in members for p in problems[i]} | (
                {"records out of step with the part log"} if agreement.get(step, 1.0) < healthy_at else set())),
            timestamps=agreement.get(step)))
    return RunHealth(run, span, out, healthy_at)


def _replay(table: pa.Table, quality: Sequence[ElementQuality], span: tuple[int, int], subgroup_ms: int,
            warmup_share: float) -> tuple[np.ndarray, np.ndarray, list[set[str]]]:
    """Per element: timeliness, sensor health and the problems seen, from replaying the samples subgroup by
    subgroup through the edge's flatline, noise and data-loss checks."""
    n = len(quality)
    start, end = span
    position = {q.element: i for i, q in enumerate(quality)}
    ts = table.column("ts_ms").to_numpy()
    pos = np.array([position.get(t, -1) for t in table.column("tag").to_pylist()], dtype=np.int64)
    values = table.column("value").to_numpy(zero_copy_only=False).astype(float)
    good = np.array([q == "good" for q in table.column("quality").to_pylist()], dtype=bool)
    keep = pos >= 0
    ts, pos, values, good = ts[keep], pos[keep], values[keep], good[keep] & np.isfinite(values[keep])
    periods = np.array([q.period_ms for q in quality], dtype=np.int64)
    sub = max(subgroup_ms, int(periods.max(initial=1)))  # every element can deliver in every subgroup
    n_sub = max(1, -(-(end - start) // sub))
    warm = int(n_sub * warmup_share)
    flat = FlatlineCheck(n, max(_DEFAULTS.flatline_subgroups, 1))
    noise = DispersionCheck(n, _DEFAULTS.noise_h, _DEFAULTS.noise_ratio)
    loss = DataLossCheck(n, max(_DEFAULTS.dataloss_subgroups, 1))
    fresh_in = np.zeros((n_sub, n), dtype=bool)
    flagged = np.zeros(n, dtype=np.int64)
    problems: list[set[str]] = [set() for _ in range(n)]
    group = (ts - start) // sub
    bounds = np.searchsorted(group, np.arange(n_sub + 1))
    for k in range(n_sub):
        lo, hi = bounds[k], bounds[k + 1]
        frame_ts = ts[lo:hi]
        cuts = np.flatnonzero(np.diff(frame_ts)) + 1
        got = np.zeros(n, dtype=bool)
        for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(frame_ts)], strict=True):
            p, v, g = pos[lo + a:lo + b], values[lo + a:lo + b], good[lo + a:lo + b]
            usable, row = np.zeros(n, dtype=bool), np.full(n, np.nan)
            usable[p[g]], row[p[g]] = True, v[g]
            flat.add(usable, row)
            noise.add(usable, row)
            got |= usable
        fresh_in[k] = got
        loss.add(~got)
        lost = loss.close()
        warming = k < warm
        if k == warm:
            noise.fit_learned()
        stuck, noisy = flat.close(warmup=warming), noise.close(warmup=warming)
        if warming:
            continue
        for name, mask in (("stuck", stuck), ("noisy", noisy), ("dropped", lost)):
            for i in np.flatnonzero(mask):
                problems[i].add(name)
        flagged += stuck | noisy | lost
    judged = max(n_sub - warm, 1)
    return fresh_in.mean(axis=0), 1.0 - flagged / judged, problems
