"""A hall at plant scale: 1, 5 and 20 lines of ~1,000 signals each at a 100 ms scan, in one process on one clock.

Each line is a synthetic line template of about 1,000 signals (:func:`plant_models.line.synthetic.synthetic_template`:
a shared coolant utility, servo loops, lags, dead times, material flow from unit to unit), behind its own
virtual PLC and read by its own edge stack (collect, align, store, detect: the scenario's default detection;
no closed loop), run by ``twin.harness.hall`` exactly as ``twin run HALL.yaml`` runs it. For each hall size, in
lockstep over sockets (Modbus TCP and OPC UA on 127.0.0.1) and offline (the PLC image read in-process):

* plant seconds per wall second (the target: 20,000 tags at 100 ms at least 1x real time in lockstep), in one
  process on one clock, and for more than one line also with the lines as a pool of worker processes;
* where the time goes, from a cProfile of the scans of a second, shorter run: own time by part of the stack (the plant
  model, the PLC's scan, the PLC's servers answering reads, the edge's clients reading, alignment, the
  historian, detection and alarms, asyncio and sockets); time in C functions (numpy, DuckDB, sockets) goes to
  the part that called them.

    .venv/bin/python benchmarks/hall.py                  # about 10 min on 2 cores (--seconds 10)
    .venv/bin/python benchmarks/hall.py --lines 1 5 --seconds 5 --quick
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from plant_models.line.synthetic import synthetic_template  # noqa: E402
from twin.cli.common import quiet_libraries  # noqa: E402
from twin.harness.hall import load_hall, run_hall  # noqa: E402

SIGNALS = 1000
SCAN_MS = 100

# (part of the stack, path fragments of the Python files whose own time it takes), first match wins
PARTS: list[tuple[str, tuple[str, ...]]] = [
    ("plant model", ("plant_models/", "simpy/")),
    ("PLC scan", ("virtual_plc/plc.py", "virtual_plc/image.py", "virtual_plc/schedule.py", "virtual_plc/codec.py")),
    ("PLC servers", ("virtual_plc/modbus_server.py", "virtual_plc/opcua_server.py", "asyncua/server/")),
    ("edge reads", ("twin/edge/collector.py", "virtual_plc/drivers.py", "asyncua/", "pymodbus/")),
    ("alignment", ("twin/edge/frames.py",)),
    ("historian", ("twin/edge/historian.py", "twin/edge/partitions.py", "duckdb")),
    ("detection", ("twin/edge/detection/", "rootcause/")),
    ("asyncio, sockets", ("asyncio/", "selectors.py", "socket.py")),
]


def part_of(filename: str) -> str:
    """The part of the stack a Python file belongs to (``other`` when none)."""
    for part, fragments in PARTS:
        if any(fragment in filename for fragment in fragments):
            return part
    return "other"


def shares(profile: cProfile.Profile) -> dict[str, float]:
    """Own time per part of the stack, as shares of the total; a C function's time goes to its callers' parts,
    in proportion to the time each caller spent in it."""
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    out: dict[str, float] = {}
    for (filename, _, _), (_, _, own, _, callers) in stats.items():
        if filename != "~":
            out[part_of(filename)] = out.get(part_of(filename), 0.0) + own
            continue
        spent = sum(c[2] for c in callers.values()) or 1.0
        for (caller_file, _, _), c in callers.items():
            part = part_of(caller_file)
            out[part] = out.get(part, 0.0) + own * c[2] / spent
    total = sum(out.values()) or 1.0
    return {part: value / total for part, value in sorted(out.items(), key=lambda kv: -kv[1])}


def write_hall(folder: Path, lines: int, seconds: float) -> Path:
    """A synthetic ~1,000-signal line template and scenario, and a hall of ``lines`` copies of it."""
    template = synthetic_template(SIGNALS, seed=1, tick_ms=SCAN_MS, fast_ms=SCAN_MS, slow_ms=1000)
    (folder / "line.yaml").write_text(yaml.safe_dump(template.model_dump(mode="json", by_alias=True,
                                                                         exclude_none=True)), encoding="utf-8")
    (folder / "scenario.yaml").write_text(yaml.safe_dump({
        "name": "synthetic", "plant": "line", "plant_options": {"template": "line.yaml"}, "seed": 1,
        "duration_s": seconds, "scan_ms": SCAN_MS, "control": {"policy": "off"}}), encoding="utf-8")
    (folder / "hall.yaml").write_text(yaml.safe_dump({
        "kind": "hall", "name": f"hall{lines}", "seed": 1, "duration_s": seconds,
        "lines": [{"scenario": "scenario.yaml", "name": f"line{k:02d}"} for k in range(lines)]}), encoding="utf-8")
    return folder / "hall.yaml"


def run(lines: int, mode: str, seconds: float, profile: bool,
        backend: str = "together") -> tuple[float, int, dict[str, float]]:
    """Run a hall of ``lines`` lines for ``seconds`` plant seconds: plant s per wall s, tags, and (with
    ``profile``) the shares of a profiled run."""
    with tempfile.TemporaryDirectory(prefix="qt-hall-") as tmp:
        hall, scenarios = load_hall(write_hall(Path(tmp), lines, seconds))
        started = time.perf_counter()
        report = run_hall(hall, scenarios, out_dir=Path(tmp) / "out", mode=mode,  # type: ignore[arg-type]
                          backend=backend)  # type: ignore[arg-type]
        speed = seconds / (time.perf_counter() - started)
        parts: dict[str, float] = {}
        if profile:  # the scans only: from the first tick's end to the last's (not wiring, not the reports)
            profiler = cProfile.Profile()

            def scans(done: int, total: int) -> None:
                if done >= total:
                    profiler.disable()
                elif done == SCAN_MS:
                    profiler.enable()

            run_hall(hall, scenarios, out_dir=Path(tmp) / "profiled", mode=mode,  # type: ignore[arg-type]
                     duration_s=max(2.0, seconds / 2), progress=scans)
            parts = shares(profiler)
    return speed, report.tags, parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, nargs="+", default=[1, 5, 20], help="hall sizes")
    parser.add_argument("--seconds", type=float, default=10.0, help="plant seconds per run (half that profiled)")
    parser.add_argument("--quick", action="store_true", help="no profile")
    args = parser.parse_args()
    quiet_libraries()
    print(f"hall of synthetic lines, ~{SIGNALS:,} signals each, scan {SCAN_MS} ms, {args.seconds:g} plant s a run")
    print(f"{'lines':>5} {'tags':>7} {'mode':>9} {'plant s / wall s':>17}   where the time goes (profiled run)")
    for lines in args.lines:
        for mode in ("lockstep", "offline"):
            speed, tags, parts = run(lines, mode, args.seconds, not args.quick)
            where = ", ".join(f"{part} {share:.0%}" for part, share in parts.items() if share >= 0.01)
            print(f"{lines:>5} {tags:>7,} {mode:>9} {speed:>17.2f}   {where}", flush=True)
        if lines > 1:  # the same lines as worker processes, one per core: what the second core adds
            speed, tags, _ = run(lines, "lockstep", args.seconds, False, backend="pool")
            print(f"{lines:>5} {tags:>7,} {'lockstep':>9} {speed:>17.2f}   (pool of {min(lines, os.cpu_count() or 1)}"
                  " worker processes, a line each at a time; not profiled)", flush=True)


if __name__ == "__main__":
    main()
