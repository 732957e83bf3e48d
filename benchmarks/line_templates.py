"""The shipped line templates, scored: detection, root cause by method, false alarms, the closed loop.

Reproduce (about 10 minutes on a 2-core machine)::

    .venv/bin/python benchmarks/line_templates.py            # every template under scenarios/lines/
    .venv/bin/python benchmarks/line_templates.py --seeds 5 --lines spot_welding pouch_sealer

For every template folder under ``scenarios/lines/`` and every scenario in it, over ``--seeds``
seeds (1, 2, ...), offline episodes (no sockets: the same edge code, faster):

* fault scenarios: median detection delay (onset → first alarm) and how many runs detected at
  all; root-cause top-1 / top-3 accuracy of the first diagnosis after the onset for each method:
  ``gnn`` is the **coater's** trained model used without retraining (``plant_models/coater/
  rootcause.pt``), the others are the baselines (random walk, earliest onset, correlation) on the
  template's own knowledge file;
* clean scenarios: alarms per run (every one is false);
* where the template has a playbook: the fault scenario again with ``--policy auto`` and its own
  root-cause settings (what a user's run does), the share of
  runs with a correction applied and verified, and the quality metric before the onset and at the end.

Prints one markdown table (``--out`` also writes it to a file). Nothing here asserts anything.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks._parallel import map_with_progress  # noqa: E402
from plant_models.registry import plant_spec  # noqa: E402
from twin.harness.episode import EpisodeConfig, run_episode  # noqa: E402
from twin.harness.scenario import SCENARIO_DIR, load_scenario  # noqa: E402

LINES = SCENARIO_DIR / "lines"
METHODS = ("gnn", "random_walk", "earliest_onset", "correlation")


@dataclass(frozen=True)
class Job:
    """One offline episode: a scenario, a seed, a diagnosis method, a control policy."""

    scenario: Path
    seed: int
    method: str
    policy: str


def run_job(job: Job) -> dict[str, Any]:
    """Run one episode into a temporary folder and keep what the table needs."""
    import tempfile

    for name in ("asyncua", "pymodbus"):
        logging.getLogger(name).setLevel(logging.ERROR)
    overrides: dict[str, Any] = {}
    if job.method != "default":  # "default": the scenario's own root-cause settings
        overrides = {"rootcause": {"method": job.method}}
        if job.method == "gnn":
            overrides["rootcause"]["model"] = str(plant_spec("coater").model_file())
    scenario = load_scenario(job.scenario, overrides)
    with tempfile.TemporaryDirectory() as tmp:
        report = asyncio.run(run_episode(scenario, EpisodeConfig(
            seed=job.seed, mode="offline", out_dir=Path(tmp), policy=job.policy)))  # type: ignore[arg-type]
    scores = report.scores
    corrections = [c for c in report.commands if c.kind == "correction"]
    return {
        "alarms": len(report.alarms),
        "delay": scores.detection_delay_s if scores else None,
        "top1": scores.top1_correct if scores else None,
        "top3": scores.top3_correct if scores else None,
        "applied": any(c.status == "applied" for c in corrections),
        "verified": scores.verified_delay_s is not None if scores else False,
        "quality": (scores.quality.metric, scores.quality.pre_fault, scores.quality.final) if scores else None,
        "wall_s": report.durations.wall_s,
    }


def share(values: list[bool | None]) -> str:
    """``k/n`` of the true values."""
    return f"{sum(bool(v) for v in values)}/{len(values)}"


def main(argv: list[str] | None = None) -> int:
    """Run every job on a local pool and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--lines", nargs="*", default=None, help="template folders (default: all)")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    folders = sorted(p for p in LINES.iterdir() if (p / "line.yaml").is_file()
                     and (args.lines is None or p.name in args.lines))
    jobs: list[Job] = []
    for folder in folders:
        for path in sorted(folder.glob("*.yaml")):
            if path.name in ("line.yaml", "knowledge.yaml", "playbook.yaml"):
                continue
            faulty = bool(load_scenario(path).faults)
            for seed in range(1, args.seeds + 1):
                for method in (METHODS if faulty else ("random_walk",)):
                    jobs.append(Job(path, seed, method, "off"))
                if faulty and (folder / "playbook.yaml").is_file():
                    jobs.append(Job(path, seed, "default", "auto"))
    results = map_with_progress(run_job, jobs, args.processes)
    by: dict[tuple[Path, str, str], list[dict[str, Any]]] = {}
    for job, result in zip(jobs, results):
        by.setdefault((job.scenario, job.method, job.policy), []).append(result)
    lines = ["| line | scenario | detected | delay (s, median) | " + " | ".join(f"{m} top-1 / top-3" for m in METHODS)
             + " | clean: alarms per run | auto: applied / verified | quality before → after (auto) |",
             "|---" * (7 + len(METHODS)) + "|"]
    for folder in folders:
        for path in sorted(folder.glob("*.yaml")):
            if (path, "random_walk", "off") not in by:
                continue
            base = by[(path, "random_walk", "off")]
            if not load_scenario(path).faults:
                alarms = statistics.mean(r["alarms"] for r in base)
                lines.append(f"| {folder.name} | {path.stem} | | | " + " | " * len(METHODS) + f"{alarms:.1f} | | |")
                continue
            delays = [r["delay"] for r in base if r["delay"] is not None]
            cells = []
            for method in METHODS:
                runs = by.get((path, method, "off"), [])
                cells.append(f"{share([r['top1'] for r in runs])} / {share([r['top3'] for r in runs])}")
            auto = by.get((path, "default", "auto"), [])
            auto_cell = (f"{share([r['applied'] for r in auto])} / {share([r['verified'] for r in auto])}"
                         if auto else "no playbook")
            quality = ""
            if auto and auto[0]["quality"] and auto[0]["quality"][0]:
                pre = [r["quality"][1] for r in auto if r["quality"][1] is not None]
                final = [r["quality"][2] for r in auto if r["quality"][2] is not None]
                off_final = [r["quality"][2] for r in base if r["quality"] and r["quality"][2] is not None]
                if pre and final and off_final:
                    quality = (f"`{auto[0]['quality'][0].rsplit('.', 1)[-1]}` {statistics.median(pre):.3g} → "
                               f"{statistics.median(final):.3g} (off: {statistics.median(off_final):.3g})")
            lines.append(f"| {folder.name} | {path.stem} | {len(delays)}/{len(base)} | "
                         f"{statistics.median(delays) if delays else '-'} | " + " | ".join(cells)
                         + f" | | {auto_cell} | {quality} |")
    table = "\n".join(lines)
    print(table)
    if args.out:
        args.out.write_text(table + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
