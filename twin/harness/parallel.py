"""Run many independent jobs (episodes) in parallel: a local process pool, or Ray.

The same jobs give the same results, in the same order, on either backend and with any
number of processes: each job carries its own seed, and results are returned in job order.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from multiprocessing import Pool
from typing import Any

from twin.contracts import Backend

Progress = Callable[[int, int], None]


def run_parallel(
    fn: Callable[[Any], Any],
    jobs: Sequence[Any],
    *,
    processes: int | None = None,
    backend: Backend = "pool",
    progress: Progress | None = None,
    actors: bool = False,
) -> list[Any]:
    """``[fn(job) for job in jobs]`` on the chosen backend, in job order.

    ``fn`` must be importable by name (a module-level function) for ``pool`` and ``ray``.
    ``progress(done, total)`` is called as results arrive. Ray (the ``ray`` extra) joins the cluster
    ``RAY_ADDRESS`` names, else starts locally on 127.0.0.1 with ``processes`` CPUs, unless a Ray runtime is
    already up. ``actors`` runs each job on Ray in an actor of its own rather than as a task.
    """
    processes = processes or os.cpu_count() or 1
    total = len(jobs)
    if backend == "serial" or (backend == "pool" and processes == 1) or total <= 1:
        out = []
        for i, job in enumerate(jobs, 1):
            out.append(fn(job))
            if progress:
                progress(i, total)
        return out
    if backend == "pool":
        results: list[Any] = []
        with Pool(processes) as pool:
            for i, result in enumerate(pool.imap(fn, jobs), 1):
                results.append(result)
                if progress:
                    progress(i, total)
        return results
    if backend == "ray":
        return _run_ray(fn, jobs, processes, progress, actors)
    raise ValueError(f"unknown backend {backend!r}; choose serial, pool or ray")


class JobActor:
    """A Ray actor that runs one kind of job (``fn``): a worker of its own for as long as it lives."""

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        self.fn = fn

    def run(self, job: Any) -> Any:
        """``fn(job)`` in this actor's process."""
        return self.fn(job)


def _run_ray(fn: Callable[[Any], Any], jobs: Sequence[Any], processes: int, progress: Progress | None,
             actors: bool = False) -> list[Any]:
    try:
        import ray
    except ImportError:
        raise RuntimeError("the ray backend needs Ray: pip install 'quality-twin[ray]'") from None
    started_here = not ray.is_initialized()
    if started_here and os.environ.get("RAY_ADDRESS"):  # a running cluster: it has its own CPUs
        ray.init(address=os.environ["RAY_ADDRESS"], log_to_driver=False, configure_logging=False)
    elif started_here:
        ray.init(num_cpus=processes, include_dashboard=False, _node_ip_address="127.0.0.1",
                 log_to_driver=False, configure_logging=False)
    try:
        if actors:  # one actor per job, each its own worker process (a hall's line: its PLC, edge and historian)
            actor = ray.remote(num_cpus=1)(JobActor)
            refs = [actor.remote(fn).run.remote(job) for job in jobs]
        else:
            remote = ray.remote(num_cpus=1)(fn)
            refs = [remote.remote(job) for job in jobs]
        position = {ref: i for i, ref in enumerate(refs)}
        results: list[Any] = [None] * len(refs)
        pending = list(refs)
        done = 0
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for ref in ready:
                results[position[ref]] = ray.get(ref)
                done += 1
                if progress:
                    progress(done, len(refs))
        return results
    finally:
        if started_here:
            ray.shutdown()
