"""Baselines: what "in control" looks like on a line, learned once, kept in a file, and versioned.

Without a baseline, every run learns in control from its own first ``warmup_s`` and judges
nothing before that: a fault present from the start, or one that starts during the warm-up,
becomes part of what the run calls normal. A :class:`Baseline` holds exactly what the warm-up
learns — the subgroup means of every tag element over an in-control period (from which the
detector rebuilds centres, sigmas, forecast models and context bands with the run's own monitor
rules), how long each element's readings ever stayed exactly flat (a live measurement is never
exactly repeated for long: the flatline check's limits) and the noise of its reading-to-reading
steps (the dispersion check's σ) — learned from one or more earlier runs or from a real
line's historian over a chosen period, with the health of that period.

``twin detect learn RUN_DIR... --out baseline.json`` writes one (:func:`learn_baseline`);
``detection.baseline: FILE`` in a scenario or the edge's settings loads it
(:func:`load_baseline`), and the warm-up then only serves as the fallback when none is given.
The report says which was used (``detection.baseline``).

A baseline records the line, the elements, the subgroup length, the detection settings it was
learned with, the periods it came from, their health and a SHA-256 of its content, checked on
load: an edited file is refused. Learning from a period that holds alarms, or in which an element
has too few good samples, is refused unless forced; a forced baseline says so (``health.flagged``)
and so does every report that uses it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from twin.edge.detection.dispersion import noise_sigma
from twin.edge.detection.flatline import FlatlineCheck
from twin.edge.detection.settings import DetectionSettings
from twin.edge.frames import Quality
from twin.edge.historian import HistorianReader

BASELINE_VERSION = 1
MIN_GOOD_SHARE = 0.95  # an element with fewer good samples than this in the period is flagged


class BaselineError(ValueError):
    """A baseline that cannot be learned or used; the message says why and what to do."""


class Period(BaseModel):
    """One stretch of history a baseline was learned from."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(description="the historian (or run folder) it was read from")
    start_ms: int = Field(description="first plant ms of the period (inclusive)")
    end_ms: int = Field(description="end of the period, plant ms (exclusive)")
    subgroups: int = Field(description="subgroups the period gave")


class Health(BaseModel):
    """How far the learning period can be trusted to be in control."""

    model_config = ConfigDict(extra="forbid")

    good_share: float = Field(description="share of the period's samples that were good")
    low_good_elements: dict[str, float] = Field(
        default_factory=dict, description=f"elements with fewer than {MIN_GOOD_SHARE:.0%} good samples")
    alarms: list[str] = Field(default_factory=list, description="alarms raised in the period (tag: rule, t_ms)")
    flagged: bool = Field(default=False, description="learned although the period was not healthy (--force)")


class Reference(BaseModel):
    """The last stretch of the learning period on a regular grid: what a diagnosis compares against when
    its alarm comes so soon after the start that the run holds no in-control reference of its own."""

    model_config = ConfigDict(extra="forbid")

    grid_ms: int = Field(gt=0, description="grid step of the values (the diagnosis's evidence grid)")
    values: list[list[float | None]] = Field(description="as-of values, one row per grid step, columns = elements")


class Baseline(BaseModel):
    """A learned in-control baseline (the module docstring says what it holds)."""

    model_config = ConfigDict(extra="forbid")

    version: int = BASELINE_VERSION
    line: str = Field(description="the plant or line (the tag map's plant)")
    subgroup_s: float = Field(description="the subgroup length the means were taken over")
    elements: list[str] = Field(description="tag elements, the columns of history")
    history: list[list[float | None]] = Field(description="subgroup means, one row per subgroup (null: no good "
                                                          "sample in it)")
    flat_limits: dict[str, int] = Field(description="flat subgroups in a row that make an element stuck (the "
                                                   "flatline check's limits; absent: not judged)")
    noise: dict[str, float] = Field(default_factory=dict, description="each element's step noise, rms of "
                                    "successive differences / sqrt(2) (the noise check's sigma; absent: not judged)")
    detection: dict[str, Any] = Field(default_factory=dict, description="the detection settings it was learned with")
    periods: list[Period] = Field(default_factory=list)
    health: Health
    reference: Reference | None = Field(default=None, description="the period's last stretch on the evidence "
                                                                   "grid, for diagnoses right after a start")
    sha256: str = Field(default="", description="hash of everything above, checked on load")

    def content_hash(self) -> str:
        """SHA-256 of the baseline's content (everything but the hash itself), canonical JSON; an empty
        ``noise`` is left out, so a file learned before the noise check existed still verifies."""
        body = self.model_dump(mode="json", exclude={"sha256"} | ({"noise"} if not self.noise else set()))
        return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()

    def matrix(self, names: Sequence[str]) -> np.ndarray:
        """The history as a (subgroups, len(names)) array in the order of ``names``; NaN where absent."""
        column = {name: i for i, name in enumerate(self.elements)}
        raw = np.array([[np.nan if v is None else v for v in row] for row in self.history], dtype=float)
        raw = raw.reshape(len(self.history), len(self.elements))
        out = np.full((len(raw), len(names)), np.nan)
        for j, name in enumerate(names):
            if name in column:
                out[:, j] = raw[:, column[name]]
        return out

    def save(self, path: str | Path) -> Path:
        """Write the baseline (with its hash) as JSON."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        sealed = self.model_copy(update={"sha256": self.content_hash()})
        path.write_text(json.dumps(sealed.model_dump(mode="json"), separators=(",", ":")) + "\n", encoding="utf-8")
        return path

    def describe(self, path: str | Path | None = None) -> dict[str, Any]:
        """What a report says about the baseline it used."""
        return {"file": str(path) if path else None, "sha256": self.sha256, "line": self.line,
                "subgroups": len(self.history), "periods": [p.model_dump() for p in self.periods],
                "flagged": self.health.flagged}


def load_baseline(path: str | Path) -> Baseline:
    """Read a baseline file; :class:`BaselineError` when it is missing, malformed, of another version or edited."""
    path = Path(path)
    if not path.is_file():
        raise BaselineError(f"{path}: no baseline file (twin detect learn writes one)")
    try:
        baseline = Baseline.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise BaselineError(f"{path}: not a baseline file: {err}") from None
    if baseline.version != BASELINE_VERSION:
        raise BaselineError(f"{path}: baseline version {baseline.version}, this edge reads {BASELINE_VERSION}")
    if baseline.sha256 != baseline.content_hash():
        raise BaselineError(f"{path}: content does not match its sha256: the file was changed after it was learned")
    return baseline


@dataclass(frozen=True)
class Source:
    """A historian to learn from, over ``[start_ms, end_ms)`` (None: from its first / to its last sample),
    with the alarms raised meanwhile (from the run's report or edge.json, if any)."""

    historian: Path
    start_ms: int | None = None
    end_ms: int | None = None
    alarms: tuple[tuple[int, str], ...] = ()  # (t_ms, "tag: rule")


def learn_baseline(sources: Sequence[Source], settings: DetectionSettings, line: str | None = None, *,
                   force: bool = False, reference: tuple[int, float] | None = None) -> Baseline:
    """Learn a baseline from ``sources``: their subgroup means, each element's flatline limit and step noise.

    ``line`` defaults to the first word of the elements' names. ``reference`` (grid ms, seconds):
    also keep the last seconds of the last source on that grid (:class:`Reference`). Refuses
    (:class:`BaselineError`) a period that holds alarms or an element with fewer than
    :data:`MIN_GOOD_SHARE` good samples, unless ``force`` (then ``health.flagged`` says so).
    """
    if not sources:
        raise BaselineError("no historian to learn from")
    subgroup_ms = int(round(settings.subgroup_s * 1000))
    rows: list[np.ndarray] = []
    periods: list[Period] = []
    elements: list[str] | None = None
    good = total = 0
    per_element_good: dict[str, int] = {}
    per_element_total: dict[str, int] = {}
    alarms: list[str] = []
    flat: FlatlineCheck | None = None
    steps: dict[str, np.ndarray] = {}  # element -> [count, sum |step|, sum step^2]
    for source in sources:
        if not source.historian.is_file():
            raise BaselineError(f"{source.historian}: no historian")
        with duckdb.connect(str(source.historian), read_only=True) as con:
            names = [r[0] for r in con.execute("SELECT name FROM elements ORDER BY rowid").fetchall()]
            if elements is None:
                elements = names
                flat = FlatlineCheck(len(elements), settings.flatline_subgroups or 1)
            first, last = con.execute("SELECT min(ts_ms), max(ts_ms) FROM samples").fetchone()
            if first is None:
                raise BaselineError(f"{source.historian}: the historian holds no samples")
            start = first if source.start_ms is None else source.start_ms
            end = last + 1 if source.end_ms is None else source.end_ms
            counts = con.execute("SELECT tag, count(*) FILTER (WHERE quality = 'good'), count(*) FROM samples "
                                 "WHERE ts_ms >= ? AND ts_ms < ? GROUP BY tag", [start, end]).fetchall()
            groups = con.execute(
                "SELECT tag, ts_ms // ? AS g, avg(value) AS mean, min(value) AS low, max(value) AS high FROM samples "
                "WHERE quality = 'good' AND ts_ms >= ? AND ts_ms < ? GROUP BY 1, 2", [subgroup_ms, start, end],
            ).fetchnumpy()
            for tag, *sums in con.execute(_STEP_SUMS, [start, end]).fetchall():
                steps[tag] = steps.get(tag, np.zeros(3)) + np.array(sums, dtype=float)
        for tag, n_good, n_all in counts:
            per_element_good[tag] = per_element_good.get(tag, 0) + int(n_good)
            per_element_total[tag] = per_element_total.get(tag, 0) + int(n_all)
            good, total = good + int(n_good), total + int(n_all)
        column = {name: j for j, name in enumerate(elements)}
        first_group, last_group = start // subgroup_ms, (end - 1) // subgroup_ms
        # whole subgroups only: a partial one at either end would be a mean of fewer samples
        whole = range(first_group + (start % subgroup_ms != 0), last_group + ((end % subgroup_ms) == 0))
        if len(whole) < 3:
            raise BaselineError(f"{source.historian}: {end - start} ms holds fewer than 3 subgroups of "
                                f"{settings.subgroup_s:g} s")
        offset = whole.start
        mean = np.full((len(whole), len(elements)), np.nan)
        low, high = mean.copy(), mean.copy()
        j = np.array([column.get(str(tag), -1) for tag in groups["tag"]], dtype=np.int64)
        i = np.asarray(groups["g"], dtype=np.int64) - offset
        keep = (j >= 0) & (i >= 0) & (i < len(whole))
        for target, key in ((mean, "mean"), (low, "low"), (high, "high")):
            target[i[keep], j[keep]] = np.asarray(groups[key], dtype=float)[keep]
        assert flat is not None
        for i in range(len(whole)):
            seen = np.isfinite(mean[i])
            flat.add(seen, low[i])
            flat.add(seen, high[i])
            flat.close(warmup=True)
        rows.append(mean)
        periods.append(Period(source=str(source.historian), start_ms=int(start), end_ms=int(end),
                              subgroups=len(whole)))
        alarms += [f"{what} at {t} ms" for t, what in source.alarms if start <= t < end]
    assert elements is not None and flat is not None
    low_good = {name: round(per_element_good.get(name, 0) / per_element_total[name], 4)
                for name in elements if per_element_total.get(name)
                and per_element_good.get(name, 0) / per_element_total[name] < MIN_GOOD_SHARE}
    health = Health(good_share=round(good / total, 6) if total else 0.0, low_good_elements=low_good,
                    alarms=alarms, flagged=bool(low_good or alarms))
    if health.flagged and not force:
        problems = ([f"{len(alarms)} alarm(s) in the period: {'; '.join(alarms[:5])}"] if alarms else []) + (
            [f"{len(low_good)} element(s) with under {MIN_GOOD_SHARE:.0%} good samples: "
             + ", ".join(f"{k} ({v:.0%})" for k, v in list(low_good.items())[:5])] if low_good else [])
        raise BaselineError("the period is not in control: " + "; ".join(problems)
                            + " (choose another period, or --force to learn it anyway, flagged)")
    history = np.vstack(rows)
    limits = flat.learned_limits()
    stepped = [name for name in elements if name in steps]
    sums = np.array([steps[name] for name in stepped]).reshape(len(stepped), 3)
    sigma = noise_sigma(sums[:, 0], sums[:, 1], sums[:, 2])
    kept = None
    if reference is not None:
        grid_ms, seconds = reference
        last = periods[-1]
        start = max(last.start_ms, last.end_ms - int(seconds * 1000))
        with HistorianReader(sources[-1].historian) as reader:
            grid = reader.resample(grid_ms, start, last.end_ms, elements)
        columns = np.column_stack([np.where(grid[n][1] == 0, grid[n][0], np.nan) for n in elements])
        kept = Reference(grid_ms=grid_ms, values=_rows(columns))
    return Baseline(
        line=line or (elements[0].split(".", 1)[0] if elements else "line"), subgroup_s=settings.subgroup_s,
        elements=elements,
        history=_rows(history), flat_limits={name: int(n) for name, n in zip(elements, limits) if n},
        noise={name: float(f"{s:.9g}") for name, s in zip(stepped, sigma) if np.isfinite(s)},
        detection=settings.model_dump(mode="json", exclude={"baseline"}), periods=periods, health=health,
        reference=kept,
    )


_STEP_SUMS = """
    SELECT tag, count(*), sum(abs(step)), sum(step * step) FROM (
        SELECT tag, value - lag(value) OVER w AS step, quality, lag(quality) OVER w AS before
        FROM samples WHERE ts_ms >= ? AND ts_ms < ? WINDOW w AS (PARTITION BY tag ORDER BY ts_ms))
    WHERE quality = 'good' AND before = 'good' AND step IS NOT NULL GROUP BY tag
"""  # each element's steps between consecutive good samples: count, sum of |step|, sum of step^2


def _rows(values: np.ndarray) -> list[list[float | None]]:
    """JSON rows of a float array: 9 significant digits, null for NaN."""
    return [[None if not np.isfinite(v) else float(f"{v:.9g}") for v in row] for row in values]


class ReferencedReader:
    """A historian reader that answers for the time before the run with a baseline's :class:`Reference`.

    The reference's rows are placed right before ``run_start_ms``; a resample on the reference's grid that
    reaches back before the run gets them (quality ``good``, ``missing`` where the reference has no value),
    and :meth:`first_ms` says how far back that goes. Everything else is the wrapped reader's.
    """

    def __init__(self, reader: HistorianReader, baseline: Baseline, run_start_ms: int) -> None:
        assert baseline.reference is not None
        self._reader = reader
        self._grid_ms = baseline.reference.grid_ms
        self._column = {name: j for j, name in enumerate(baseline.elements)}
        self._values = np.array([[np.nan if v is None else v for v in row] for row in baseline.reference.values],
                                dtype=float).reshape(len(baseline.reference.values), len(baseline.elements))
        self._run_start_ms = run_start_ms
        self._ref_start_ms = run_start_ms - len(self._values) * self._grid_ms

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reader, name)

    def first_ms(self) -> int:
        """The start of the reference: the earliest time this reader has data for."""
        return self._ref_start_ms

    def resample(self, period_ms: int, start_ms: int, end_ms: int, tags: Sequence[str], *,
                 staleness_periods: float = 2.0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """As :meth:`HistorianReader.resample`, with the reference for grid points before the run."""
        if start_ms >= self._run_start_ms or period_ms != self._grid_ms:
            return self._reader.resample(period_ms, start_ms, end_ms, tags, staleness_periods=staleness_periods)
        grid = np.arange(start_ms, end_ms, period_ms, dtype=np.int64)
        before = grid[grid < self._run_start_ms]
        rows = np.clip((before - self._ref_start_ms) // self._grid_ms, -1, len(self._values))
        inside = (rows >= 0) & (rows < len(self._values))
        live_start = int(grid[len(before)]) if len(before) < len(grid) else end_ms
        live = (self._reader.resample(period_ms, live_start, end_ms, tags, staleness_periods=staleness_periods)
                if live_start < end_ms else {})
        out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for name in tags:
            j = self._column.get(name)
            values = np.full(len(before), np.nan)
            if j is not None:
                values[inside] = self._values[rows[inside], j]
            quality = np.where(np.isfinite(values), Quality.GOOD, Quality.MISSING).astype(np.uint8)
            after_values, after_quality = live.get(name, (np.zeros(0), np.zeros(0, np.uint8)))
            out[name] = (np.concatenate([values, after_values]), np.concatenate([quality, after_quality]))
        return out
