"""Frames: aligned snapshots of every tag on one millisecond timeline, with quality flags.

Samples arrive from several PLCs at their own rates. The :class:`Aligner` keeps, per tag
element, the latest sample (an as-of join) and turns it into a :class:`Frame` at a
requested time. Each value carries one quality flag, decided by :func:`classify`:

* ``missing`` — never sampled;
* ``bad`` — the latest read failed (connection lost, PLC reported a bad value / NaN);
* ``stale`` — the latest good sample is older than the tag's staleness bound
  (``staleness_periods`` sample periods), e.g. a PLC whose clock stopped;
* ``good`` — otherwise.

A stale value keeps the last good value; bad and missing values are NaN.

Text tags (``string``, ``datetime``) are not elements: their samples ride along in
:attr:`Frame.text` (None where the read failed), for the historian's ``text_samples``, and
never reach a detector.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from virtual_plc.tagmap import Tag, element_slices


class Quality(IntEnum):
    """Quality flag of one value in a frame (stored as its name in the historian)."""

    GOOD = 0
    STALE = 1
    BAD = 2
    MISSING = 3


QUALITY_NAMES: list[str] = [q.name.lower() for q in Quality]


class ElementIndex:
    """Names of every tag element (``tag`` or ``tag[i]``) and where each tag's elements sit."""

    def __init__(self, tags: Sequence[Tag]) -> None:
        self.tags = list(tags)
        self.names, self.slices = element_slices(self.tags)
        self.position = {name: i for i, name in enumerate(self.names)}
        self.arrays = {t.name for t in self.tags if t.length is not None}
        self.period = np.repeat([t.period_ms for t in self.tags], [t.elements for t in self.tags]).astype(np.int64)

    def __len__(self) -> int:
        return len(self.names)

    def positions(self, names: Sequence[str]) -> np.ndarray:
        """Positions of element ``names`` (cached by callers)."""
        return np.array([self.position[n] for n in names], dtype=np.int64)


@dataclass(frozen=True)
class Frame:
    """One aligned snapshot: plant time, a value and a quality per tag element.

    ``fresh`` marks the elements sampled at this frame (their tag was due); the
    historian stores those, so each tag keeps its own rate on the common timeline.
    ``wall_ms`` is the UTC wall-clock time (ms since the epoch) the edge aligned the frame at:
    the receive time of its samples, stored beside plant time; ``source_ms``, where a server
    stamped a sample itself (OPC UA source timestamps), that time per element (-1 elsewhere).
    ``text`` holds the text tags sampled at this frame.
    """

    ts_ms: int
    index: ElementIndex
    values: np.ndarray
    quality: np.ndarray
    fresh: np.ndarray
    wall_ms: int = 0
    source_ms: np.ndarray | None = None
    text: dict[str, str | None] = field(default_factory=dict)

    def value(self, tag: str) -> float | np.ndarray:
        """Value of ``tag``: a float for a scalar, an array for an array tag."""
        sl = self.index.slices[tag]
        return self.values[sl] if tag in self.index.arrays else float(self.values[sl.start])

    def quality_of(self, tag: str) -> Quality:
        """Worst quality among ``tag``'s elements."""
        return Quality(int(self.quality[self.index.slices[tag]].max()))


def classify(now_ms: int, last_good_ms: np.ndarray, last_failed: np.ndarray, bound_ms: np.ndarray) -> np.ndarray:
    """The quality rule, vectorised over elements (see module docstring).

    ``last_good_ms`` is -1 where no good sample was ever seen.
    """
    quality = np.full(last_good_ms.shape, Quality.GOOD, dtype=np.uint8)
    quality[now_ms - last_good_ms > bound_ms] = Quality.STALE
    never = last_good_ms < 0
    quality[last_failed] = Quality.BAD
    quality[never & ~last_failed] = Quality.MISSING
    return quality


class Aligner:
    """As-of alignment of samples from any number of collectors onto frames."""

    def __init__(self, index: ElementIndex, *, staleness_periods: float = 2.0) -> None:
        if staleness_periods < 1:
            raise ValueError(f"staleness_periods must be >= 1, got {staleness_periods}")
        self.index = index
        n = len(index)
        self.bound_ms = (index.period * staleness_periods).astype(np.int64)
        self.last_value = np.full(n, np.nan)
        self.last_good_ms = np.full(n, -1, dtype=np.int64)
        self.last_failed = np.zeros(n, dtype=bool)
        self._fresh = np.zeros(n, dtype=bool)
        self._source_ms: np.ndarray | None = None  # per element, once any server stamps its samples
        self._text: dict[str, str | None] = {}

    def update(self, positions: np.ndarray, values: np.ndarray, ts_ms: int,
               source_ms: np.ndarray | None = None) -> None:
        """Take samples read at PLC time ``ts_ms``; NaN values count as failed reads.

        ``source_ms``: the server's own UTC timestamps of the samples (-1 where it gave none).
        """
        ok = ~np.isnan(values)
        good = positions[ok]
        self.last_value[good] = values[ok]
        self.last_good_ms[good] = ts_ms
        self.last_failed[positions] = ~ok
        self._fresh[positions] = True
        if source_ms is not None:
            if self._source_ms is None:
                self._source_ms = np.full(len(self.index), -1, dtype=np.int64)
            self._source_ms[positions] = source_ms
        elif self._source_ms is not None:
            self._source_ms[positions] = -1

    def update_text(self, values: dict[str, str | None]) -> None:
        """Take text-tag samples (None: the read failed); the next frame carries them."""
        self._text.update(values)

    def frame(self, ts_ms: int, wall_ms: int | None = None) -> Frame:
        """The frame at ``ts_ms`` (``wall_ms``: its UTC time, default now); resets the "sampled since last
        frame" marks."""
        quality = classify(ts_ms, self.last_good_ms, self.last_failed, self.bound_ms)
        values = np.where(quality <= Quality.STALE, self.last_value, np.nan)
        fresh, self._fresh = self._fresh, np.zeros_like(self._fresh)
        wall = time.time_ns() // 1_000_000 if wall_ms is None else wall_ms
        source = None if self._source_ms is None else self._source_ms.copy()
        text, self._text = self._text, {}
        return Frame(ts_ms, self.index, values, quality, fresh, wall, source, text)
