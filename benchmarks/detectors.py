"""Detector benchmark: single-stream updates per second, and banks of many streams per scan.

Reproduce (a few seconds on a 2-core machine)::

    .venv/bin/python benchmarks/detectors.py

What is measured

``single``
    ``update(x)`` of one :class:`~twin.edge.detection.spc.ShewhartDetector` (Western Electric
    rules 1-4), :class:`~twin.edge.detection.spc.EwmaDetector` (lambda 0.1, L 2.814) and
    :class:`~twin.edge.detection.spc.CusumDetector` (k 0.5, h 5) on an in-control N(0, 1)
    stream: updates per second.
``bank``
    ``update(x)`` of a :class:`~twin.edge.detection.spc.ShewhartBank` (rules 1-4, and all eight
    Nelson rules), :class:`~twin.edge.detection.spc.EwmaBank` and
    :class:`~twin.edge.detection.spc.CusumBank` of ``--tags`` streams (default 5,000), one
    value per stream per scan, vectorised with numpy across streams: median microseconds
    per scan and tag updates per second. ``nan`` repeats it with 10 % of the streams
    missing a value each scan (the no-update path).

Observations are drawn before timing; every loop is bounded by a count and by wall time.
Nothing here asserts on timings.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from twin.edge.detection import spc  # noqa: E402

COMMAND = ".venv/bin/python benchmarks/detectors.py"


def time_single(make: Callable[[], spc.Detector], n: int, budget_s: float) -> float:
    """Updates per second of one detector, over at most ``n`` updates or ``budget_s`` seconds."""
    detector = make()
    xs = np.random.default_rng(0).standard_normal(n).tolist()
    done, start = 0, time.perf_counter()
    deadline = start + budget_s
    for i in range(0, n, 1000):
        for x in xs[i:i + 1000]:
            detector.update(x)
        done += len(xs[i:i + 1000])
        if time.perf_counter() > deadline:
            break
    return done / (time.perf_counter() - start)


def time_bank(make: Callable[[int], spc.DetectorBank], tags: int, scans: int, budget_s: float,
              missing: float) -> float:
    """Median seconds per scan of a bank of ``tags`` streams, over at most ``scans`` scans or ``budget_s``."""
    rng = np.random.default_rng(1)
    block = rng.standard_normal((64, tags))
    if missing:
        block[rng.random(block.shape) < missing] = np.nan
    bank = make(tags)
    for row in block[:8]:  # warm up
        bank.update(row)
    times = []
    deadline = time.perf_counter() + budget_s
    for i in range(scans):
        row = block[i % len(block)]
        t0 = time.perf_counter()
        bank.update(row)
        times.append(time.perf_counter() - t0)
        if time.perf_counter() > deadline:
            break
    return statistics.median(times)


SINGLE = {
    "shewhart (WE 1-4)": lambda: spc.ShewhartDetector(0.0, 1.0),
    "ewma": lambda: spc.EwmaDetector(0.0, 1.0, lam=0.1, L=2.814),
    "cusum": lambda: spc.CusumDetector(0.0, 1.0, k=0.5, h=5.0),
}
BANKS = {
    "shewhart (WE 1-4)": lambda n: spc.ShewhartBank(np.zeros(n), np.ones(n)),
    "shewhart (Nelson 1-8)": lambda n: spc.ShewhartBank(np.zeros(n), np.ones(n), rules=range(1, 9), rule_set="nelson"),
    "ewma": lambda n: spc.EwmaBank(np.zeros(n), np.ones(n), lam=0.1, L=2.814),
    "ewma (exact limits)": lambda n: spc.EwmaBank(np.zeros(n), np.ones(n), lam=0.1, L=2.814, exact_limits=True),
    "cusum": lambda n: spc.CusumBank(np.zeros(n), np.ones(n), k=0.5, h=5.0),
}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--tags", type=int, default=5000, help="streams per bank (default 5000)")
    parser.add_argument("--updates", type=int, default=50_000, help="single-detector updates (default 50000)")
    parser.add_argument("--scans", type=int, default=2000, help="bank scans (default 2000)")
    parser.add_argument("--budget", type=float, default=3.0, help="wall-time cap per measurement, s (default 3)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and print the tables."""
    args = parse_args(argv)
    print(f"reproduce: {COMMAND} --tags {args.tags} --updates {args.updates} --scans {args.scans}")
    print(f"numpy {np.__version__}, python {sys.version.split()[0]}\n")
    print(f"{'single-stream detector':<24} {'updates/s':>12}")
    for name, make in SINGLE.items():
        print(f"{name:<24} {time_single(make, args.updates, args.budget):>12,.0f}")
    print(f"\n{'bank of ' + format(args.tags, ',') + ' streams':<24} {'us/scan':>9} {'updates/s':>13}"
          f" {'us/scan nan':>12} {'updates/s nan':>14}")
    for name, make in BANKS.items():
        full = time_bank(make, args.tags, args.scans, args.budget, 0.0)
        gaps = time_bank(make, args.tags, args.scans, args.budget, 0.1)
        print(f"{name:<24} {full * 1e6:>9.1f} {args.tags / full:>13,.0f} {gaps * 1e6:>12.1f}"
              f" {0.9 * args.tags / gaps:>14,.0f}")


if __name__ == "__main__":
    main()
