"""Timestamp agreement: do a station's inspection records and its equipment log agree on when each part was there?

A line that publishes part ids (``<station>.part_id``, see the line templates) logs each part as it leaves a
station; the station's per-part results (a vibration reading, a press force, a torque) are that part's
inspection records and change with it, in the same scan. A result whose clock runs behind (a skewed gauge, a
test bench that buffers its results) changes some samples after the part it belongs to, so its record no
longer matches the part the equipment log says was there.

:func:`timestamp_agreement` measures that per station from the historian alone:

* the **equipment log** is the times the part id changed (good samples);
* a tag of the station is a **per-part record** when, in the first ``warmup_share`` of the run, it changed
  within one sample period of at least :data:`PER_PART` of the part changes (a lot number, a reject rate or
  a setpoint does not; a continuous signal that changes at every sample does, and always agrees);
* after the warm-up, a record **agrees** on a part when it changed within ``tolerance`` of the part's log
  time: the larger of the two tags' sample periods, less one millisecond (the same scan, or the next sample
  of a slower tag; not a sample late);
* the station's agreement is that of its worst record (the share of parts it agreed on).

A record skewed from the start of the run is not learned as per-part and so not judged; the data-health
dashboard then shows nothing for it (documented in the how-to).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from twin.edge.assets.quality import ElementQuality

PART_ID = ".part_id"
PER_PART = 0.9  # share of warm-up part changes a record must follow to count as a per-part record
MIN_PARTS = 4  # fewer part changes in a part of the run: nothing to judge there


def change_times(ts: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The times at which a series (good samples, in time order) took a new value (its first sample excluded)."""
    if len(values) < 2:
        return np.empty(0, dtype=np.int64)
    return ts[1:][values[1:] != values[:-1]]


def followed(parts: np.ndarray, changes: np.ndarray, tolerance_ms: int) -> np.ndarray:
    """For each part time, whether ``changes`` (sorted) holds a time within ``tolerance_ms`` of it."""
    if len(changes) == 0:
        return np.zeros(len(parts), dtype=bool)
    at = np.searchsorted(changes, parts)
    before = np.abs(parts - changes[np.clip(at - 1, 0, len(changes) - 1)])
    after = np.abs(changes[np.clip(at, 0, len(changes) - 1)] - parts)
    return np.minimum(before, after) <= tolerance_ms


def timestamp_agreement(table: pa.Table, quality: Sequence[ElementQuality], span: tuple[int, int],
                        warmup_share: float) -> dict[str, float]:
    """Per station (``<line>.<station>``) that publishes a part id: the share of its parts, after the warm-up,
    on which every per-part record agreed with the equipment log (module docstring), from ``table``: the
    historian's samples over ``span`` (:meth:`~twin.edge.historian.HistorianReader.window`). Stations with too
    few parts, or no per-part record, are left out."""
    period = {q.element: q.period_ms for q in quality}
    part_tags = sorted(e for e in period if e.endswith(PART_ID))
    if not part_tags:
        return {}  # a line that logs no part ids (a continuous process): nothing to hold records against
    start, end = span
    samples = _good_samples(table)
    warm_end = start + int((end - start) * warmup_share)
    out: dict[str, float] = {}
    for part_tag in part_tags:
        station = part_tag.removesuffix(PART_ID)
        records = [e for e in period if e.startswith(station + ".") and e != part_tag and "[" not in e
                   and len(e) > len(station) + 1 and "." not in e[len(station) + 1:]]
        series = _good_series(samples, [part_tag, *records])
        ts, ids = series.get(part_tag, (np.empty(0, dtype=np.int64), np.empty(0)))
        parts = change_times(ts[ids > 0], ids[ids > 0])
        warm, judged = parts[parts < warm_end], parts[parts >= warm_end]
        if len(warm) < MIN_PARTS or len(judged) < MIN_PARTS:
            continue
        worst: float | None = None
        for record in records:
            if record not in series:
                continue
            changes = change_times(*series[record])
            tolerance = max(period[part_tag], period[record]) - 1
            if followed(warm, changes, tolerance).mean() < PER_PART:
                continue  # not a per-part record (a lot number, a reject rate, a setpoint)
            share = float(followed(judged, changes, tolerance).mean())
            worst = share if worst is None else min(worst, share)
        if worst is not None:
            out[station] = worst
    return out


Columns = tuple[np.ndarray, np.ndarray, np.ndarray]  # times, element names, values of the good, finite samples


def _good_samples(table: pa.Table) -> Columns:
    """The good, finite samples of a historian window as arrays, read out of the table once."""
    values = table.column("value").to_numpy(zero_copy_only=False).astype(float)
    good = np.array([q == "good" for q in table.column("quality").to_pylist()], dtype=bool) & np.isfinite(values)
    names = np.array(table.column("tag").to_pylist(), dtype=object)
    return table.column("ts_ms").to_numpy()[good], names[good], values[good]


def _good_series(samples: Columns, tags: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each of ``tags``' samples (:func:`_good_samples`): (times, values), in time order."""
    ts, names, values = samples
    out = {}
    for tag in tags:
        keep = names == tag
        if keep.any():
            order = np.argsort(ts[keep], kind="stable")
            out[tag] = (ts[keep][order], values[keep][order])
    return out
