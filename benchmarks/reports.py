"""How long ``twin report html`` takes: the flagship coater run and a 24 h Tennessee Eastman run.

``python benchmarks/reports.py [--repeats 3]`` runs both scenarios offline once (``twin run --offline`` into a
temporary folder), then times ``render_html`` + write (what ``twin report html RUN_DIR`` does after start-up) and
the whole command in a fresh process, ``--repeats`` times each, and prints medians beside the targets of the
issue "A hall, not a line" (flagship < 10 s, 24 h TEP < 20 s). Asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from twin.harness.runview.html import write_html  # noqa: E402

CASES = (("flagship (coater, 600 s)", "scenarios/coater_coil_ageing.yaml", 10.0),
         ("TEP IDV(1), 24 h", "scenarios/tep_idv01.yaml", 20.0))
TWIN = str(Path(sys.executable).with_name("twin"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, scenario, target in CASES:
            run = Path(tmp) / Path(scenario).stem
            subprocess.run([TWIN, "run", str(ROOT / scenario), "--offline", "--out", str(run)], check=True,
                           capture_output=True)
            in_process, command = [], []
            for _ in range(args.repeats):
                started = time.perf_counter()
                write_html(run)
                in_process.append(time.perf_counter() - started)
                started = time.perf_counter()
                subprocess.run([TWIN, "report", "html", str(run)], check=True, capture_output=True)
                command.append(time.perf_counter() - started)
            size = (run / "report.html").stat().st_size / 1e6
            rows.append((name, statistics.median(in_process), statistics.median(command), target, size))
    print(f"{'run':28s} {'render+write':>13s} {'twin report html':>17s} {'target':>7s} {'page MB':>8s}")
    for name, render, whole, target, size in rows:
        print(f"{name:28s} {render:12.1f}s {whole:16.1f}s {target:6.0f}s {size:8.1f}")
    print(f"medians of {args.repeats}; the command includes Python start-up and imports")


if __name__ == "__main__":
    main()
