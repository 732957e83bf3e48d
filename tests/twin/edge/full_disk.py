"""A historian on a disk that fills up, for the child processes of the historian tests (no tests here).

The child lowers its own file-size limit (RLIMIT_FSIZE, with SIGXFSZ ignored): every write past the limit then
fails with EFBIG in the operating system, as on a full disk, and the historian's code path is unchanged. A
child process, because the limit holds for every file the process writes.
"""

from __future__ import annotations

import resource
import signal
from pathlib import Path
from typing import Any

import numpy as np

from twin.edge.frames import Aligner, ElementIndex
from twin.edge.historian import Historian
from virtual_plc.tagmap import Tag


class FullDiskLine:
    """A two-tag line (``l.a``, ``l.b`` of two elements) appending frames to a :class:`Historian` at ``path``
    (``options``: the historian's); frame ``k`` holds ``k``, ``k + 0.25``, ``k + 0.5`` at plant time ``10 k`` ms
    and, with ``wall_ms0``, wall time ``wall_ms0 + 10 k``."""

    def __init__(self, path: Path, *, wall_ms0: int | None = None, **options: Any) -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, not a kill
        index = ElementIndex([Tag(name="l.a", period_ms=10), Tag(name="l.b", period_ms=10, length=2)])
        self.aligner = Aligner(index)
        self.historian = Historian(path, index, flush_rows=20, retry_s=0.0, **options)
        self.wall_ms0 = wall_ms0
        self.soft, self.hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        self.k = 0

    def frames(self, n: int) -> None:
        """Append the next ``n`` frames."""
        for _ in range(n):
            k = self.k
            self.aligner.update(np.array([0, 1, 2]), np.array([k, k + 0.25, k + 0.5]), k * 10)
            wall = {} if self.wall_ms0 is None else {"wall_ms": self.wall_ms0 + k * 10}
            self.historian.append(self.aligner.frame(k * 10, **wall))
            self.k += 1

    def fill(self, limit: int = 1) -> None:
        """The disk is full: no file grows past ``limit`` bytes."""
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, self.hard))

    def free(self) -> None:
        """Space again."""
        resource.setrlimit(resource.RLIMIT_FSIZE, (self.soft, self.hard))
