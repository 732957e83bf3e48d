"""Data loss: a sensor that stopped delivering good values (drop-out, broken wire, failed input card).

A dropped-out sensor reads NaN, the edge marks its samples ``bad``, and every detector that
judges good values simply stops seeing it: silence that looks like health. This check closes
the gap: an element whose every sample in ``subgroups`` subgroups in a row was bad or missing
raises a ``no_good_data`` verdict, repeated while the loss lasts.

>>> import numpy as np
>>> check = DataLossCheck(n=2, subgroups=2)
>>> for _ in range(3):
...     check.add(np.array([False, True]))            # element 1 reads bad
...     verdict = check.close()
>>> verdict.tolist()
[False, True]
"""

from __future__ import annotations

import numpy as np


class DataLossCheck:
    """Per-element runs of subgroups with no good sample at all."""

    def __init__(self, n: int, subgroups: int) -> None:
        if subgroups < 1:
            raise ValueError(f"subgroups must be at least 1, got {subgroups}")
        self.subgroups = subgroups
        self._frames = 0
        self._bad = np.zeros(n, dtype=np.int64)
        self._run = np.zeros(n, dtype=np.int64)

    def add(self, bad: np.ndarray) -> None:
        """Take one frame's bad-or-missing marks."""
        self._frames += 1
        self._bad += bad

    def close(self) -> np.ndarray:
        """End the subgroup; return which elements have now lost data for ``subgroups`` subgroups."""
        lost = (self._bad == self._frames) if self._frames else np.zeros_like(self._bad, dtype=bool)
        self._run = np.where(lost, self._run + 1, 0)
        self._frames = 0
        self._bad[:] = 0
        return self._run >= self.subgroups
