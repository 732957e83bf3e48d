"""Run benchmark episodes on a local process pool, with progress on stderr."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from multiprocessing import Pool
from typing import Any


def map_with_progress(fn: Callable[[Any], Any], jobs: Sequence[Any], processes: int, *, noun: str = "episodes",
                      every: int = 20) -> list[Any]:
    """``[fn(job) for job in jobs]`` on ``processes`` processes, in order, printing progress."""
    started = time.perf_counter()
    results = []
    with Pool(processes) as pool:
        for i, result in enumerate(pool.imap(fn, jobs), 1):
            results.append(result)
            if i % every == 0 or i == len(jobs):
                print(f"  {i}/{len(jobs)} {noun}, {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return results
