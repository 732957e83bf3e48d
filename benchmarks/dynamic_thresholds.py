"""Static band vs dynamic (context) band on a thickness that follows the daily humidity.

Question (issue 4, section 3): at the same in-control false-alarm rate, does a band conditioned
on context detect a 1σ thickness shift with at most half the delay of a static Shewhart band?

Each episode runs the coater of ``scenarios/coater_humidity_swing.yaml`` (humidity swinging
±20 %RH over a compressed 5-minute "day", driving slurry viscosity and so thickness) with its
own seed, and from ``--onset`` s the X-ray gauge reads thickness ``--shift`` µm high (about one
in-control sigma of the day's thickness). Once a second, the plant's readings go as frames into
two production :class:`~twin.edge.detection.monitor.SubgroupMonitor` instances watching
``coater.xray.thickness_mean`` with a Shewhart rule 1:

* **static** — the band learned from the warm-up (one whole "day");
* **dynamic** — the band of the residual of a model on the context tags (viscosity, line
  speed, humidity), learned on the same warm-up and updated online.

Both record the standardised deviation of every subgroup. The limit of each method is then set
from its *own* clean segments (warm-up end to onset, all episodes pooled) so that both raise
the same number of false alarms (``--false-alarm-rate`` per subgroup), and the delay is the
time from onset to the first subgroup beyond that limit (censored at the end of the episode).

Reproduce: ``.venv/bin/python benchmarks/dynamic_thresholds.py`` (200 episodes, 2 processes,
about 5 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks._parallel import map_with_progress  # noqa: E402
from plant_models.base import FaultSpec  # noqa: E402
from plant_models.registry import build_plant  # noqa: E402
from twin.edge.detection.monitor import SubgroupMonitor  # noqa: E402
from twin.edge.detection.settings import DetectionSettings, MonitorRule  # noqa: E402
from twin.edge.frames import ElementIndex, Frame  # noqa: E402
from twin.harness.scenario import load_scenario  # noqa: E402
from virtual_plc.tagmap import Tag  # noqa: E402

SCENARIO = ROOT / "scenarios" / "coater_humidity_swing.yaml"
TARGET = "coater.xray.thickness_mean"
CONTEXT = ["coater.slurry.viscosity", "coater.line.speed", "coater.ambient.humidity"]
NEVER = 1e9  # a limit no deviation reaches: the monitors only record


def monitor(context: list[str], warmup_s: float, index: ElementIndex) -> SubgroupMonitor:
    """A production monitor on the thickness with a Shewhart rule that never fires."""
    rule = MonitorRule(name="band", tags=[TARGET], detector="shewhart", rules=[1], L=NEVER, prewhiten=False,
                       context=context)
    return SubgroupMonitor(DetectionSettings(warmup_s=warmup_s, monitor=[rule]), index)


def standardised(m: SubgroupMonitor) -> float:
    """The last subgroup's deviation from the centre, in the band's sigmas."""
    bank = m.groups[0].bank
    if bank is None or not len(bank.statistic):
        return float("nan")
    return float((bank.statistic[0] - bank.center[0]) / bank.sigma[0])


def episode(args: tuple[int, float, float, float, float]) -> tuple[np.ndarray, np.ndarray, float]:
    """One seeded episode: per-second standardised deviations of both bands, and the static sigma (um)."""
    seed, duration_s, onset_s, shift, warmup_s = args
    spec = load_scenario(SCENARIO)
    plant = build_plant(spec.plant, seed, spec.plant_options)
    plant.inject(FaultSpec(kind="sensor_bias", target=TARGET, start_s=onset_s, magnitude=shift))
    tags = [Tag(name=name, low=-1e9, high=1e9, period_ms=1000) for name in [TARGET, *CONTEXT]]
    index = ElementIndex(tags)
    static, dynamic = monitor([], warmup_s, index), monitor(CONTEXT, warmup_s, index)
    fresh = np.ones(len(tags), dtype=bool)
    quality = np.zeros(len(tags), dtype=np.uint8)
    z_static, z_dynamic = [], []
    for second in range(1, int(duration_s) + 1):
        plant.env.run(until=second * 1000)
        readings = plant.measurements()
        frame = Frame(second * 1000, index, np.array([readings[t.name] for t in tags]), quality, fresh)
        static.observe(frame)
        dynamic.observe(frame)
        z_static.append(standardised(static))
        z_dynamic.append(standardised(dynamic))
    return np.array(z_static), np.array(z_dynamic), float(static.groups[0].bank.sigma[0])


def limit_for(clean: np.ndarray, rate: float) -> float:
    """The |z| limit that ``rate`` of the clean subgroups exceed."""
    return float(np.quantile(np.abs(clean[np.isfinite(clean)]), 1 - rate))


def delays(z: np.ndarray, limit: float, onset: int, end: int) -> np.ndarray:
    """Seconds from onset to the first |z| beyond the limit, per episode (end - onset if never)."""
    beyond = np.abs(z[:, onset:end]) > limit
    first = np.where(beyond.any(axis=1), beyond.argmax(axis=1), end - onset)
    return first.astype(float)


def main(argv: list[str] | None = None) -> None:
    """Run the comparison and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--duration", type=float, default=900.0, help="plant seconds per episode")
    parser.add_argument("--onset", type=float, default=600.0)
    parser.add_argument("--shift", type=float, default=4.0, help="gauge shift in um (about 1 sigma)")
    parser.add_argument("--warmup", type=float, default=300.0)
    parser.add_argument("--false-alarm-rate", type=float, default=0.001, help="per clean subgroup, both bands")
    parser.add_argument("--seed", type=int, default=1000, help="first episode seed")
    args = parser.parse_args(argv)
    if not 0 < args.warmup < args.onset < args.duration:
        parser.error("need 0 < --warmup < --onset < --duration")
    jobs = [(args.seed + i, args.duration, args.onset, args.shift, args.warmup) for i in range(args.episodes)]
    started = time.perf_counter()
    results = map_with_progress(episode, jobs, args.jobs)
    z_static = np.vstack([s for s, _, _ in results])
    z_dynamic = np.vstack([d for _, d, _ in results])
    static_sigma = statistics.median(sigma for _, _, sigma in results)
    warm, onset, end = int(args.warmup), int(args.onset), int(args.duration)
    clean_static, clean_dynamic = z_static[:, warm:onset], z_dynamic[:, warm:onset]
    rows = []
    for name, z, clean in (("static band", z_static, clean_static), ("dynamic band", z_dynamic, clean_dynamic)):
        limit = limit_for(clean, args.false_alarm_rate)
        d = delays(z, limit, onset, end)
        achieved = float(np.mean(np.abs(clean[np.isfinite(clean)]) > limit))
        detected = d < end - onset
        rows.append((name, limit, achieved, float(np.median(d)), float(np.mean(d)), float(np.mean(detected))))
    print(f"\n{args.episodes} episodes of {SCENARIO.name} (seeds {args.seed}..{args.seed + args.episodes - 1}), "
          f"gauge shift {args.shift:g} um at {args.onset:g} s, warm-up {args.warmup:g} s")
    print(f"{'band':14s} {'limit |z|':>10s} {'FA/subgroup':>12s} {'median delay':>13s} {'mean delay':>11s} "
          f"{'detected':>9s}")
    for name, limit, achieved, med, mean, det in rows:
        print(f"{name:14s} {limit:10.2f} {achieved:12.4f} {med:11.0f} s {mean:9.1f} s {det:9.1%}")
    ratio = rows[1][3] / rows[0][3] if rows[0][3] > 0 else float("nan")
    print(f"the shift is {args.shift / static_sigma:.2f} sigma of the day's thickness (static sigma, median "
          f"{static_sigma:.2f} um)")
    print(f"\ndynamic / static median delay: {ratio:.3f} (target <= 0.5)")
    print(f"wall time {time.perf_counter() - started:.0f} s. "
          "Reproduce: .venv/bin/python benchmarks/dynamic_thresholds.py")


if __name__ == "__main__":
    main()
