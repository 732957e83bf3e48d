"""Flatline: a sensor that stopped moving (stuck transmitter, frozen PLC input, stale gateway).

A stuck reading sits at a perfectly plausible level, so level and change detectors stay silent
(its forecast error even goes to zero). What gives it away is that a live measurement of a
real process is never *exactly* repeated for long: noise moves at least the last bit. A subgroup
is **flat** for an element when all its readings are identical and equal to the previous
subgroup's mean; a run of flat subgroups as long as the element's **limit** raises a ``stuck``
verdict, repeated while it stays flat.

The limit is learned from the warm-up (or a baseline): ``subgroups``, or twice the longest flat
run the element showed there plus one, whichever is longer, so a slow or quantised signal that
legitimately repeats a reading now and then is judged by its own habits. A reading held at the
element's **floor** (the low end of its range: a count or rate at zero when nothing happens) is
a resting state, not a frozen sensor, and never counts as flat. An element that was flat
in more than a tenth of its warm-up subgroups (a count that steps now and then, a value that
never changes) is not judged at all: flatness is its nature.

Examples
--------
>>> import numpy as np
>>> check = FlatlineCheck(n=2, subgroups=3)
>>> rng = np.random.default_rng(0)
>>> for _ in range(10):                                  # warm-up: element 0 moves, 1 is constant
...     check.add(np.array([True, True]), np.array([rng.normal(), 5.0]))
...     _ = check.close(warmup=True)
>>> [bool(check.close(warmup=False)[0]) for _ in range(1)]   # first judged subgroup: no readings
[False]
>>> runs = []
>>> for _ in range(4):                                   # element 0 freezes at 1.25
...     check.add(np.array([True, True]), np.array([1.25, 5.0]))
...     runs.append(check.close(warmup=False).tolist())
>>> runs
[[False, False], [False, False], [False, False], [True, False]]
"""

from __future__ import annotations

import numpy as np

MOVING_SHARE = 0.9  # an element is judged when it moved in at least this share of its warm-up subgroups


class FlatlineCheck:
    """Per-element flat-subgroup runs; ``close`` says which elements just reached ``subgroups``."""

    def __init__(self, n: int, subgroups: int, floors: np.ndarray | None = None) -> None:
        if subgroups < 1:
            raise ValueError(f"subgroups must be at least 1, got {subgroups}")
        self.subgroups = subgroups
        self.floors = np.full(n, np.nan) if floors is None else np.asarray(floors, dtype=float)
        self._min = np.full(n, np.inf)
        self._max = np.full(n, -np.inf)
        self._count = np.zeros(n, dtype=np.int64)
        self._previous = np.full(n, np.nan)
        self._run = np.zeros(n, dtype=np.int64)
        self._warm_seen = np.zeros(n, dtype=np.int64)
        self._warm_moved = np.zeros(n, dtype=np.int64)
        self._warm_max_run = np.zeros(n, dtype=np.int64)
        self.limits: np.ndarray | None = None  # flat subgroups in a row that make each element stuck; 0: not judged

    def add(self, usable: np.ndarray, values: np.ndarray) -> None:
        """Take the usable readings of one frame."""
        self._min[usable] = np.minimum(self._min[usable], values[usable])
        self._max[usable] = np.maximum(self._max[usable], values[usable])
        self._count[usable] += 1

    def learned_limits(self) -> np.ndarray:
        """Per element, the flat run that makes it stuck, from the warm-up (0: not judged, it rarely moved)."""
        judged = (self._warm_seen >= 2) & (self._warm_moved >= MOVING_SHARE * self._warm_seen)
        return np.where(judged, np.maximum(self.subgroups, 2 * self._warm_max_run + 1), 0)

    def judge(self, limits: np.ndarray) -> None:
        """Judge with these limits from the start (what a baseline learned), with no warm-up of its own."""
        self.limits = np.asarray(limits, dtype=np.int64)

    def close(self, *, warmup: bool) -> np.ndarray:
        """End the subgroup; during warm-up learn who moves, after it return who is stuck now."""
        seen = self._count > 0
        mean_if_flat = np.where(seen & (self._max == self._min), self._min, np.nan)
        flat = seen & (mean_if_flat == self._previous) & (mean_if_flat != self.floors)
        moved = seen & np.isfinite(self._previous) & ~flat
        stuck = np.zeros(len(seen), dtype=bool)
        if warmup:
            compared = seen & np.isfinite(self._previous)
            self._warm_seen += compared
            self._warm_moved += moved
            self._run = np.where(flat, self._run + 1, np.where(seen, 0, self._run))
            self._warm_max_run = np.maximum(self._warm_max_run, self._run)
        else:
            if self.limits is None:
                self.limits = self.learned_limits()
                self._run[:] = 0
            judged = self.limits > 0
            self._run = np.where(flat & judged, self._run + 1, np.where(seen, 0, self._run))
            stuck = judged & (self._run >= self.limits)
        with np.errstate(invalid="ignore"):  # unseen elements give inf - inf; np.where drops them
            self._previous = np.where(seen, (self._min + self._max) / 2, self._previous)
        self._min[:], self._max[:], self._count[:] = np.inf, -np.inf, 0
        return stuck
