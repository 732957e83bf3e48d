"""Closed loop on the flagship: fault onset → verified correction (plant time) and analysis wall time per alarm.

Reproduce (bounded: ``--seeds`` runs of ``--duration`` plant seconds each; about 30 s per
offline run and 80 s per lockstep run on a 2-core machine)::

    .venv/bin/python benchmarks/closed_loop.py [--seeds 7 8 9] [--lockstep] [--duration 600]

Each seed runs ``scenarios/coater_coil_ageing.yaml`` with policy ``auto`` (offline by
default: the bridge writes the PLC's process image; ``--lockstep`` goes over the sockets),
then prints per run and as medians: onset → first alarm, diagnosis, applied command and
verified correction (plant s), the analysis wall time per alarm (detection and root cause
on the scans that raised alarms or made diagnoses, ms), and the wrinkle rate before the
fault and at the end, beside the end of the same seed run **without the fault** (policy off):
the wrinkle rate is a count per metre over 60 s of web, which wanders by a factor of two from
minute to minute on a clean line, so "back to the pre-fault level" is judged against what the
line does with no fault at all, not against its first two minutes alone.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from twin.contracts import Scores  # noqa: E402
from twin.harness.episode import EpisodeConfig, run_episode  # noqa: E402
from twin.harness.scenario import load_scenario  # noqa: E402

FLAGSHIP = Path(__file__).resolve().parents[1] / "scenarios" / "coater_coil_ageing.yaml"
COLUMNS = ("detection_delay_s", "diagnosis_delay_s", "command_delay_s", "verified_delay_s",
           "analysis_wall_ms_per_alarm")


def run_one(seed: int, mode: str, duration_s: float, out: Path, *, faults: bool = True) -> Scores:
    """One episode of the flagship, policy auto (``faults`` False: the same seed, no fault, policy off); its scores."""
    scenario = load_scenario(FLAGSHIP)
    if not faults:
        scenario = scenario.model_copy(update={"faults": []})
    config = EpisodeConfig(seed=seed, out_dir=out, mode=mode, policy="auto" if faults else "off",  # type: ignore[arg-type]
                           duration_s=duration_s)
    report = asyncio.run(run_episode(scenario, config))
    assert report.scores is not None
    return report.scores


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _median(values: list[float | None]) -> str:
    seen = [v for v in values if v is not None]
    missing = len(values) - len(seen)
    text = f"{statistics.median(seen):.1f}" if seen else "-"
    return text + (f" ({missing} never)" if missing else "")


def main(argv: list[str] | None = None) -> int:
    """Run the seeds and print a table and the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 8, 9])
    parser.add_argument("--lockstep", action="store_true", help="over real sockets (default: offline)")
    parser.add_argument("--duration", type=float, default=600.0, help="plant seconds per run")
    args = parser.parse_args(argv)
    mode = "lockstep" if args.lockstep else "offline"
    rows: list[Scores] = []
    print(f"flagship, policy auto, {mode}, {args.duration:g} s per run")
    print("seed  " + "  ".join(COLUMNS) + "  wrinkles pre -> final (no fault: final)")
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            s = run_one(seed, mode, args.duration, Path(tmp) / str(seed))
            clean = run_one(seed, "offline", args.duration, Path(tmp) / f"{seed}-clean", faults=False)
            rows.append(s)
            cells = "  ".join(f"{getattr(s, c)}" for c in COLUMNS)
            print(f"{seed:4d}  {cells}  {_rate(s.quality.pre_fault)} -> {_rate(s.quality.final)} "
                  f"(no fault: {_rate(clean.quality.final)})", flush=True)
    print("median: " + ", ".join(f"{c} {_median([getattr(s, c) for s in rows])}" for c in COLUMNS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
