"""Adaptive versus fixed incoming inspection over seeded supply episodes.

``python benchmarks/supply_inspection.py [--episodes 200] [--jobs 2]`` runs the four supply
scenarios (clean, BMS thermal shock, brake-disc runout, ESD humidity) in turn on seeds 0, 1, ...
until ``--episodes`` episodes; each episode is the adaptive stack and the fixed baseline
(normal ISO 2859-1 inspection of every lot) on the same seed. Prints samples, screening,
escapes, field failures and quality cost of both, per scenario and in total, the share of fault
episodes whose faults were all detected, their mean detection delay in days (an episode's delay
is its slowest fault's), and warnings per episode (on clean episodes every warning is a false
alarm).

Supplier data go through the portal in-process here (``transport="inprocess"``): the same
payloads as over MQTT, without the broker round trips; ``tests/test_supply_portal.py`` shows
that a run over MQTT writes the same report as in-process for the same seed.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._parallel import map_with_progress  # noqa: E402
from twin.harness.supply.runner import run_supply  # noqa: E402
from twin.harness.supply.scenario import load_supply_scenario  # noqa: E402

SCENARIOS = ["supply_clean", "supply_bms_thermal_shock", "supply_brake_disc_runout", "supply_esd_humidity"]
FIELDS = ("samples", "screened", "escapes", "field_failures_warranty")


def episode(job: tuple[str, int]) -> tuple[str, dict[str, float]]:
    name, seed = job
    spec = load_supply_scenario(Path(__file__).resolve().parents[1] / "scenarios" / f"{name}.yaml")
    r = run_supply(spec, seed=seed, write=False, transport="inprocess")
    row = {f"{side}_{f}": getattr(getattr(r, side), f) for side in ("adaptive", "fixed") for f in FIELDS}
    row["adaptive_cost"], row["fixed_cost"] = r.adaptive.quality_cost["total"], r.fixed.quality_cost["total"]
    row["detected"] = float(all(d.detected for d in r.detection)) if r.detection else float("nan")
    delays = [d.delay_days for d in r.detection if d.detected and d.delay_days is not None]
    row["delay_days"] = max(delays) if delays and len(delays) == len(r.detection) else float("nan")
    row["delayed"] = 0.0 if row["delay_days"] != row["delay_days"] else 1.0
    row["warnings"] = r.scores["warnings"]
    return name, row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    jobs = [(SCENARIOS[i % len(SCENARIOS)], i // len(SCENARIOS)) for i in range(args.episodes)]
    results = map_with_progress(episode, jobs, args.jobs)
    totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    counts: dict[str, int] = defaultdict(int)
    for name, row in results:
        counts[name] += 1
        for key, value in row.items():
            if value == value:
                totals[name][key] += value
                totals["all"][key] += value
    counts["all"] = len(results)
    print(f"{'scenario':<26}{'n':>4}{'samples ad/fix':>20}{'change':>9}{'escapes ad/fix':>18}"
          f"{'field fail ad/fix':>19}{'cost change':>13}{'detected':>10}{'delay d':>9}{'warnings':>10}")
    for name in [*SCENARIOS, "all"]:
        t, n = totals[name], counts[name]
        change = 100 * (t["adaptive_samples"] - t["fixed_samples"]) / t["fixed_samples"]
        cost = 100 * (t["adaptive_cost"] - t["fixed_cost"]) / t["fixed_cost"]
        detected = "-" if name == "supply_clean" else f"{t['detected'] / n:.0%}" if name != "all" else ""
        delay = f"{t['delay_days'] / t['delayed']:.1f}" if name not in ("supply_clean", "all") and t["delayed"] else ""
        print(f"{name:<26}{n:>4}{t['adaptive_samples']:>10,.0f}/{t['fixed_samples']:<9,.0f}{change:>8.1f}%"
              f"{t['adaptive_escapes']:>9,.0f}/{t['fixed_escapes']:<8,.0f}"
              f"{t['adaptive_field_failures_warranty']:>9,.0f}/{t['fixed_field_failures_warranty']:<9,.0f}"
              f"{cost:>12.1f}%{detected:>10}{delay:>9}{t['warnings'] / n:>10.2f}")


if __name__ == "__main__":
    main()
