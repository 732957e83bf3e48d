"""Lineage at plant scale: record a supply run's genealogy and walk it from field failures.

``python benchmarks/lineage.py [--scale 1] [--walks 50]`` runs the brake-disc scenario (three suppliers,
90 lots each, about 270,000 shipped units), scans it into a fresh catalogue (``Catalogue.scan``: lots,
inspections, units, field failures and repairs as lineage edges), then walks upstream from field failures
(unit, inspection, lot, supplier, design parameter) and downstream from lots (every unit). ``--scale N``
adds N-1 copies of the genealogy under other names, to see how a walk grows with the table. Prints the
edges, the scan's wall time, and the walks' median and p95 in ms, in one run.

Then the motor assembly line at ``--motors`` units (default 100,000: about 222 h of plant time, made by the line
engine alone, ~1 min): each motor's lots and curves as lineage in the shapes ``line_edges`` records from the
line's tags (read here from the parts the engine made: a 222-hour edge run would take far longer than the walk it
feeds), its lots' design parameters and suppliers (``design_edges``), its field failures (``returns`` of the
engine, ``failure_edges``) and the process FMEA's lines (``fmea_failure_edges``); walks upstream from every field
failure to the motor, its lots, design parameters, suppliers, curves and FMEA line.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pyarrow.parquet as pq  # noqa: E402

from plant_models.line.model import LineModel  # noqa: E402
from twin.edge.assets.catalogue import Catalogue  # noqa: E402
from twin.edge.assets.fmea import read_fmea  # noqa: E402
from twin.edge.assets.lineage import Edge, design_edges, failure_edges, fmea_failure_edges, walk  # noqa: E402
from twin.harness.supply.runner import run_supply  # noqa: E402
from twin.harness.supply.scenario import load_supply_scenario  # noqa: E402

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "supply_brake_disc_runout.yaml"
MOTOR = Path(__file__).resolve().parents[1] / "scenarios" / "lines" / "motor_assembly"


def timed(calls: list) -> list[float]:
    """Wall time in ms of each call."""
    out = []
    for call in calls:
        started = time.perf_counter()
        call()
        out.append((time.perf_counter() - started) * 1000)
    return out


def motor_genealogy(units: int, seed: int) -> tuple[list[Edge], list[dict]]:
    """The motor line's genealogy at ``units`` motors, and its field failures (see the module docstring)."""
    line = LineModel(MOTOR / "line.yaml", seed)
    cycle_ms = int(line.template.parts.cycle_s * 1000)  # type: ignore[union-attr]
    line.env.run(until=units * cycle_ms + 60_000)  # the last motor through all four stations
    edges: set[Edge] = set()
    for record in line.parts_log:
        unit = f"unit:motor-{record['part_id']}"
        edges.add((f"lot:motor.bearing_lot-{record['bearing_lot']:.0f}", unit, "built_into"))
        edges.add((f"lot:motor.rotor_lot-{record['rotor_lot']:.0f}", unit, "built_into"))
        for curve in ("motor.bearing_press.force_curve", "motor.screwdriver.torque_curve"):
            edges.add((f"curve:bench/{curve}#{record['part_id']}", unit, "recorded_for"))
    returns = line.field_returns() or []
    genealogy = sorted(edges)
    genealogy += design_edges(line.design_parameters(), genealogy)
    genealogy += failure_edges(returns)
    genealogy += fmea_failure_edges(read_fmea(MOTOR / "fmea.csv").rows, returns)
    return genealogy, returns


def report(name: str, times: list[float]) -> None:
    """Print a walk's median and p95."""
    p95 = sorted(times)[max(0, int(len(times) * 0.95) - 1)]
    print(f"{name:40s} median {statistics.median(times):7.1f} ms   p95 {p95:7.1f} ms   ({len(times)} walks)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=1, help="copies of the genealogy in the catalogue")
    parser.add_argument("--walks", type=int, default=50, help="walks of each kind")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--motors", type=int, default=100_000, help="motors of the line run (0: skip)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        run_supply(load_supply_scenario(SCENARIO), seed=args.seed, out_dir=run, transport="inprocess")
        with Catalogue(Path(tmp) / "assets.duckdb") as cat:
            started = time.perf_counter()
            cat.scan(run)
            scan_s = time.perf_counter() - started
            for copy in range(1, args.scale):
                cat.con.execute("INSERT INTO lineage SELECT upstream || $c, downstream || $c, relation, run "
                                "FROM lineage WHERE run = $run AND NOT contains(upstream, '~')",
                                {"c": f"~{copy}", "run": str(run)})
            edges = cat.con.execute("SELECT count(*) FROM lineage").fetchone()[0]
            units = cat.con.execute("SELECT count(*) FROM lineage WHERE downstream LIKE 'unit:%'").fetchone()[0]
            failures = [r["serial"] for r in pq.read_table(run / "returns.parquet").to_pylist()]
            if not failures:  # this seed's field returned nothing: walk from shipped units instead
                failures = [int(u.split(":")[1]) for (u,) in cat.con.execute(
                    "SELECT downstream FROM lineage WHERE downstream LIKE 'unit:%' LIMIT ?", [args.walks]).fetchall()]
                starts = [f"unit:{s}" for s in failures]
            else:
                starts = [f"field_failure:{s}" for s in failures]
            starts = (starts * (args.walks // len(starts) + 1))[: args.walks]
            lots = [u for (u,) in cat.con.execute("SELECT DISTINCT upstream FROM lineage WHERE upstream LIKE 'lot:%' "
                                                  "LIMIT ?", [args.walks]).fetchall()]
            up = timed([lambda s=s: walk(cat.con, s) for s in starts])
            reached = walk(cat.con, starts[0])
            down = timed([lambda s=s: walk(cat.con, s, "downstream") for s in lots])
    print(f"genealogy: {edges:,} edges ({units:,} unit links, scale {args.scale}); scan {scan_s:.2f} s "
          f"({edges / args.scale / scan_s:,.0f} edges/s)")
    print(f"walk up from {starts[0]}: {len(reached.nodes())} nodes ({', '.join(reached.nodes()[1:])})")
    for name, times in (("upstream from a field failure", up), ("downstream from a lot (all its units)", down)):
        report(name, times)
    if args.motors:
        motor_walks(args.motors, args.seed, args.walks)


def motor_walks(units: int, seed: int, walks: int) -> None:
    """The motor line's part of the benchmark: build, record and walk (see the module docstring)."""
    started = time.perf_counter()
    genealogy, returns = motor_genealogy(units, seed)
    made_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp, Catalogue(Path(tmp) / "assets.duckdb") as cat:
        started = time.perf_counter()
        cat.link(genealogy, run="bench")
        link_s = time.perf_counter() - started
        starts = [f"field_failure:{r['unit']}" for r in returns][:walks]
        if not starts:
            print(f"motor line: {units:,} motors, no field failure at seed {seed}")
            return
        up = timed([lambda s=s: walk(cat.con, s) for s in starts])
        reached = walk(cat.con, starts[0])
    print(f"motor line: {units:,} motors made in {made_s:.0f} s, {len(returns):,} field failures; "
          f"{len(genealogy):,} edges recorded in {link_s:.2f} s")
    print(f"walk up from {starts[0]}: {len(reached.nodes())} nodes ({', '.join(reached.nodes()[1:])})")
    report("upstream from a motor's field failure", up)


if __name__ == "__main__":
    main()
