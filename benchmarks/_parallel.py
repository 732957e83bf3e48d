"""Run benchmark episodes on a local process pool, with progress on stderr (see :mod:`twin.harness.parallel`)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from twin.harness.parallel import run_parallel


def map_with_progress(fn: Callable[[Any], Any], jobs: Sequence[Any], processes: int, *, noun: str = "episodes",
                      every: int = 20) -> list[Any]:
    """``[fn(job) for job in jobs]`` on ``processes`` processes, in order, printing progress."""
    started = time.perf_counter()

    def report(done: int, total: int) -> None:
        if done % every == 0 or done == total:
            print(f"  {done}/{total} {noun}, {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)

    return run_parallel(fn, jobs, processes=processes, backend="pool", progress=report)
