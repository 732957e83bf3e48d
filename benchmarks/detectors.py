"""Detector benchmark: single-stream microseconds per update, beside river's drift detectors, and banks per scan.

Reproduce (about half a minute on a 2-core machine; river is optional, for the comparison only)::

    .venv/bin/pip install river==0.26.1   # not a project dependency
    .venv/bin/python benchmarks/detectors.py

What is measured

``single``
    ``update(x)`` of one :class:`~twin.edge.detection.spc.ShewhartDetector` (Western Electric
    rules 1-4, and all eight Nelson rules), :class:`~twin.edge.detection.spc.EwmaDetector`
    (lambda 0.1, L 2.814, asymptotic and exact limits) and
    :class:`~twin.edge.detection.spc.CusumDetector` (k 0.5, h 5) on an in-control N(0, 1)
    stream of Python floats: median microseconds per update over ``--repeats`` runs, each
    on a fresh detector. Beside each, the same detector as one stream of its bank
    (``spc.Detector(bank)``, numpy at every update: how the single-stream detectors ran
    before they had their own pure-Python path).
``river``
    The same for river's drift detectors (``river.drift`` ADWIN, PageHinkley, KSWIN on the
    values; ``river.drift.binary`` DDM, EDDM, FHDDM, HDDM_A, HDDM_W on ``x > 1.645``, a 5 %
    error stream), if river is installed; otherwise one line saying how to install it.
``bank``
    ``update(x)`` of a :class:`~twin.edge.detection.spc.ShewhartBank` (rules 1-4, and all eight
    Nelson rules), :class:`~twin.edge.detection.spc.EwmaBank` and
    :class:`~twin.edge.detection.spc.CusumBank` of ``--tags`` streams (default 5,000), one
    value per stream per scan, vectorised with numpy across streams: median microseconds
    per scan, per tag, and tag updates per second. ``nan`` repeats it with 10 % of the
    streams missing a value each scan (the no-update path).

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
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from twin.edge.detection import spc  # noqa: E402

COMMAND = ".venv/bin/python benchmarks/detectors.py"


def time_single(make: Callable[[], Any], xs: list[Any], repeats: int, budget_s: float) -> float:
    """Median microseconds per ``update`` of fresh detectors from ``make`` over ``xs``, ``repeats`` times.

    Each repeat stops early once it has used its share of ``budget_s`` (checked every 1,000 updates).
    """
    per_update = []
    for _ in range(repeats):
        update = make().update
        done, start = 0, time.perf_counter()
        deadline = start + budget_s / repeats
        for i in range(0, len(xs), 1000):
            for x in xs[i:i + 1000]:
                update(x)
            done += len(xs[i:i + 1000])
            if time.perf_counter() > deadline:
                break
        per_update.append((time.perf_counter() - start) / done * 1e6)
    return statistics.median(per_update)


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


# name: (pure-Python detector, the same detector as one stream of its bank)
SINGLE: dict[str, tuple[Callable[[], spc.Detector], Callable[[], spc.Detector]]] = {
    "shewhart (WE 1-4)": (lambda: spc.ShewhartDetector(0.0, 1.0),
                          lambda: spc.Detector(spc.ShewhartBank(0.0, 1.0))),
    "shewhart (Nelson 1-8)": (lambda: spc.ShewhartDetector(0.0, 1.0, rules=range(1, 9), rule_set="nelson"),
                              lambda: spc.Detector(spc.ShewhartBank(0.0, 1.0, rules=range(1, 9), rule_set="nelson"))),
    "ewma": (lambda: spc.EwmaDetector(0.0, 1.0, lam=0.1, L=2.814),
             lambda: spc.Detector(spc.EwmaBank(0.0, 1.0, lam=0.1, L=2.814))),
    "ewma (exact limits)": (lambda: spc.EwmaDetector(0.0, 1.0, lam=0.1, L=2.814, exact_limits=True),
                            lambda: spc.Detector(spc.EwmaBank(0.0, 1.0, lam=0.1, L=2.814, exact_limits=True))),
    "cusum": (lambda: spc.CusumDetector(0.0, 1.0, k=0.5, h=5.0),
              lambda: spc.Detector(spc.CusumBank(0.0, 1.0, k=0.5, h=5.0))),
}
BANKS = {
    "shewhart (WE 1-4)": lambda n: spc.ShewhartBank(np.zeros(n), np.ones(n)),
    "shewhart (Nelson 1-8)": lambda n: spc.ShewhartBank(np.zeros(n), np.ones(n), rules=range(1, 9), rule_set="nelson"),
    "ewma": lambda n: spc.EwmaBank(np.zeros(n), np.ones(n), lam=0.1, L=2.814),
    "ewma (exact limits)": lambda n: spc.EwmaBank(np.zeros(n), np.ones(n), lam=0.1, L=2.814, exact_limits=True),
    "cusum": lambda n: spc.CusumBank(np.zeros(n), np.ones(n), k=0.5, h=5.0),
}


def river_detectors() -> tuple[str, dict[str, tuple[Callable[[], Any], bool]]]:
    """river's version and drift detectors as ``name: (factory, takes 0/1 errors)``; empty if river is missing."""
    try:
        import river
        from river import drift
        from river.drift import binary
    except ImportError:
        return "", {}
    return river.__version__, {
        "ADWIN": (drift.ADWIN, False),
        "PageHinkley": (drift.PageHinkley, False),
        "KSWIN": (lambda: drift.KSWIN(seed=0), False),
        "binary.DDM": (binary.DDM, True),
        "binary.EDDM": (binary.EDDM, True),
        "binary.FHDDM": (binary.FHDDM, True),
        "binary.HDDM_A": (binary.HDDMA, True),
        "binary.HDDM_W": (binary.HDDMW, True),
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--tags", type=int, default=5000, help="streams per bank (default 5000)")
    parser.add_argument("--updates", type=int, default=20_000, help="updates per single-stream repeat (default 20000)")
    parser.add_argument("--repeats", type=int, default=5, help="single-detector repeats, median reported (default 5)")
    parser.add_argument("--scans", type=int, default=2000, help="bank scans (default 2000)")
    parser.add_argument("--budget", type=float, default=3.0, help="wall-time cap per measurement, s (default 3)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and print the tables."""
    args = parse_args(argv)
    print(f"reproduce: {COMMAND} --tags {args.tags} --updates {args.updates} --repeats {args.repeats}"
          f" --scans {args.scans}")
    version, river = river_detectors()
    print(f"numpy {np.__version__}, python {sys.version.split()[0]}, river {version or 'not installed'}\n")
    xs = np.random.default_rng(0).standard_normal(args.updates).tolist()  # Python floats, as a plug-in feeds them

    print(f"{'single-stream detector':<24} {'us/update':>10} {'updates/s':>12} {'bank of one, us/update':>23}")
    for name, (make, make_via_bank) in SINGLE.items():
        us = time_single(make, xs, args.repeats, args.budget)
        via_bank = time_single(make_via_bank, xs, args.repeats, args.budget)
        print(f"{name:<24} {us:>10.2f} {1e6 / us:>12,.0f} {via_bank:>23.2f}")

    if not river:
        print("\nriver drift detectors: river is not installed "
              "(`.venv/bin/pip install river==0.26.1` to compare; it is not a project dependency)")
    else:
        print(f"\n{'river drift detector':<24} {'us/update':>10} {'updates/s':>12}")
        errors = [x > 1.645 for x in xs]  # the binary detectors watch an error indicator
        for name, (make, binary) in river.items():
            us = time_single(make, errors if binary else xs, args.repeats, args.budget)
            print(f"{name:<24} {us:>10.2f} {1e6 / us:>12,.0f}")

    print(f"\n{'bank of ' + format(args.tags, ',') + ' streams':<24} {'us/scan':>9} {'us/tag':>8} {'updates/s':>13}"
          f" {'us/scan nan':>12} {'updates/s nan':>14}")
    for name, make in BANKS.items():
        full = time_bank(make, args.tags, args.scans, args.budget, 0.0)
        gaps = time_bank(make, args.tags, args.scans, args.budget, 0.1)
        print(f"{name:<24} {full * 1e6:>9.1f} {full * 1e6 / args.tags:>8.4f} {args.tags / full:>13,.0f}"
              f" {gaps * 1e6:>12.1f} {0.9 * args.tags / gaps:>14,.0f}")


if __name__ == "__main__":
    main()
