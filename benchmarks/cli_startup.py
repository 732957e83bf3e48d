"""How long ``twin --help`` takes: median wall time of repeated runs, in one process each.

    .venv/bin/python benchmarks/cli_startup.py --runs 15
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="how many runs (each a fresh interpreter)")
    args = parser.parse_args()
    twin = Path(sys.executable).with_name("twin")
    walls = []
    for _ in range(args.runs):
        started = time.perf_counter()
        subprocess.run([str(twin), "--help"], capture_output=True, check=True)
        walls.append(time.perf_counter() - started)
    bare = []
    for _ in range(args.runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], capture_output=True, check=True)
        bare.append(time.perf_counter() - started)
    med, base = statistics.median(walls), statistics.median(bare)
    print(f"twin --help: median {med * 1000:.0f} ms over {args.runs} runs (p90 "
          f"{sorted(walls)[int(0.9 * (len(walls) - 1))] * 1000:.0f} ms); a bare interpreter: {base * 1000:.0f} ms; "
          f"ratio {med / base:.1f}x")


if __name__ == "__main__":
    main()
