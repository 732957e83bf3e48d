"""Line-model benchmark: the declarative engine at 100, 1,000 and 5,000 signals, and beside the coater.

Reproduce (about 3 minutes on a 2-core machine)::

    .venv/bin/python benchmarks/line_model.py

What is measured, each as **plant seconds per wall second** (``x RT``), median of ``--repeats``:

``model``
    The bare SimPy model of a synthetic template (:func:`plant_models.line.synthetic.synthetic_template`:
    units of ten signals with servo loops, lags, a dead time, hinge/saturation/product couplings,
    material flow between units and a shared utility) at a 100 ms tick: ``env.run`` alone.
``offline``
    A whole episode (:func:`twin.harness.episode.run_episode`, mode ``offline``) at a 100 ms scan:
    the plant, the virtual PLC's process image read in-process, alignment, the historian and
    detection (the default monitor on every tag), no sockets.
``lockstep``
    The same episode over real Modbus TCP and OPC UA sockets on 127.0.0.1.

Then the coater's hand-written model beside a synthetic template of about the same number of tags at
the coater's own 10 ms tick, both bare; ``per tag`` divides the wall time per plant second by the
number of tags, and ``template/coater`` is the ratio of those (the target is ≤ 2).

Every timed run is bounded in plant time (``--seconds``, shorter for the socket runs of the largest
line); nothing here asserts on timings.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import logging  # noqa: E402

from ruamel.yaml import YAML  # noqa: E402

from plant_models.coater.model import CoaterLine  # noqa: E402
from plant_models.line.model import LineModel  # noqa: E402
from plant_models.line.synthetic import synthetic_template  # noqa: E402
from plant_models.line.template import LineTemplate  # noqa: E402
from twin.harness.episode import EpisodeConfig, run_episode  # noqa: E402
from twin.harness.scenario import Scenario  # noqa: E402

SIZES = (100, 1_000, 5_000)


def bare_factor(model: object, seconds: float) -> float:
    """Plant seconds per wall second of ``model.env.run`` over ``seconds``."""
    env = model.env  # type: ignore[attr-defined]
    start = time.perf_counter()
    env.run(until=env.now + int(seconds * 1000))
    return seconds / (time.perf_counter() - start)


def write_template(template: LineTemplate, folder: Path) -> Path:
    """The template as a YAML file (what a scenario's plant_options point at)."""
    path = folder / f"{template.line}_{len(template.assets)}.yaml"
    with path.open("w", encoding="utf-8") as handle:
        YAML().dump(template.model_dump(mode="json", by_alias=True, exclude_defaults=True), handle)
    return path


def episode_factor(template_path: Path, mode: str, seconds: float, folder: Path) -> float:
    """Plant seconds per wall second of one episode of ``seconds`` at a 100 ms scan."""
    scenario = Scenario(name="bench_line", plant="line", plant_options={"template": str(template_path)},
                        seed=1, duration_s=seconds, scan_ms=100)
    start = time.perf_counter()
    asyncio.run(run_episode(scenario, EpisodeConfig(mode=mode, out_dir=folder / f"run_{mode}")))  # type: ignore[arg-type]
    return seconds / (time.perf_counter() - start)


def median(values: list[float]) -> float:
    """The median, rounded for the table."""
    return round(statistics.median(values), 1)


def main(argv: list[str] | None = None) -> int:
    """Print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="plant seconds per timed run")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per cell (median)")
    parser.add_argument("--sizes", type=int, nargs="*", default=list(SIZES))
    args = parser.parse_args(argv)
    for name in ("asyncua", "pymodbus"):
        logging.getLogger(name).setLevel(logging.ERROR)
    print(f"# line model: plant s per wall s, median of {args.repeats} (100 ms tick and scan)")
    print(f"{'signals':>8} {'tags':>6} {'model x RT':>11} {'offline x RT':>13} {'lockstep x RT':>14}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for size in args.sizes:
            template = synthetic_template(size, seed=1)
            path = write_template(template, folder)
            model = [bare_factor(LineModel(template, seed), args.seconds) for seed in range(args.repeats)]
            tags = len(LineModel(template, 0).signals())
            offline = [episode_factor(path, "offline", args.seconds, folder) for _ in range(args.repeats)]
            socket_s = args.seconds if size <= 1_000 else args.seconds / 4
            lockstep = [episode_factor(path, "lockstep", socket_s, folder) for _ in range(args.repeats)]
            print(f"{size:>8} {tags:>6} {median(model):>11} {median(offline):>13} {median(lockstep):>14}")
        print("\n# hand-written coater vs a template of about its size, both bare at a 10 ms tick")
        coater_tags = len(CoaterLine(0).signals())
        small = synthetic_template(coater_tags, seed=1, tick_ms=10)
        small_tags = len(LineModel(small, 0).signals())
        coater = [bare_factor(CoaterLine(seed), args.seconds) for seed in range(args.repeats)]
        engine = [bare_factor(LineModel(small, seed), args.seconds) for seed in range(args.repeats)]
        coater_per_tag = 1e6 / (statistics.median(coater) * coater_tags)  # µs of wall per plant s per tag
        engine_per_tag = 1e6 / (statistics.median(engine) * small_tags)
        print(f"{'model':>10} {'tags':>5} {'x RT':>7} {'per tag (µs wall / plant s)':>28}")
        print(f"{'coater':>10} {coater_tags:>5} {median(coater):>7} {coater_per_tag:>28.1f}")
        print(f"{'template':>10} {small_tags:>5} {median(engine):>7} {engine_per_tag:>28.1f}")
        print(f"template/coater per tag: {engine_per_tag / coater_per_tag:.2f}  (target <= 2)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
