"""Flatline: a sensor that stopped moving (stuck transmitter, frozen PLC input, stale gateway).

A stuck reading sits at a perfectly plausible level, so level and change detectors stay silent
(its forecast error even goes to zero). What gives it away is that a live measurement of a
real process is never *exactly* repeated: noise moves at least the last bit. A subgroup is
**flat** for an element when all its readings are identical and equal to the previous
subgroup's mean; ``subgroups`` flat subgroups in a row raise a ``stuck`` verdict, repeated while it stays flat.

Only elements that moved in every warm-up subgroup are judged, so a quantised signal that
legitimately repeats, or a value that never changes, is never called stuck.

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


class FlatlineCheck:
    """Per-element flat-subgroup runs; ``close`` says which elements just reached ``subgroups``."""

    def __init__(self, n: int, subgroups: int) -> None:
        if subgroups < 1:
            raise ValueError(f"subgroups must be at least 1, got {subgroups}")
        self.subgroups = subgroups
        self._min = np.full(n, np.inf)
        self._max = np.full(n, -np.inf)
        self._count = np.zeros(n, dtype=np.int64)
        self._previous = np.full(n, np.nan)
        self._run = np.zeros(n, dtype=np.int64)
        self._warm_seen = np.zeros(n, dtype=np.int64)
        self._warm_moved = np.zeros(n, dtype=np.int64)
        self.judged: np.ndarray | None = None  # elements that moved in every warm-up subgroup

    def add(self, usable: np.ndarray, values: np.ndarray) -> None:
        """Take the usable readings of one frame."""
        self._min[usable] = np.minimum(self._min[usable], values[usable])
        self._max[usable] = np.maximum(self._max[usable], values[usable])
        self._count[usable] += 1

    def moving(self) -> np.ndarray:
        """Elements that moved in every warm-up subgroup (seen in at least two): the ones judged."""
        return (self._warm_seen >= 2) & (self._warm_moved == self._warm_seen)

    def judge(self, moving: np.ndarray) -> None:
        """Judge these elements from the start (what a baseline learned moves), with no warm-up of its own."""
        self.judged = np.asarray(moving, dtype=bool)

    def close(self, *, warmup: bool) -> np.ndarray:
        """End the subgroup; during warm-up learn who moves, after it return who is stuck now."""
        seen = self._count > 0
        mean_if_flat = np.where(seen & (self._max == self._min), self._min, np.nan)
        flat = seen & (mean_if_flat == self._previous)
        moved = seen & np.isfinite(self._previous) & ~flat
        stuck = np.zeros(len(seen), dtype=bool)
        if warmup:
            compared = seen & np.isfinite(self._previous)
            self._warm_seen += compared
            self._warm_moved += moved
        else:
            if self.judged is None:
                self.judged = self.moving()
            self._run = np.where(flat & self.judged, self._run + 1, np.where(seen, 0, self._run))
            stuck = self._run >= self.subgroups
        with np.errstate(invalid="ignore"):  # unseen elements give inf - inf; np.where drops them
            self._previous = np.where(seen, (self._min + self._max) / 2, self._previous)
        self._min[:], self._max[:], self._count[:] = np.inf, -np.inf, 0
        return stuck
