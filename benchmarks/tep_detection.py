"""Tennessee Eastman fault detection: PCA T²/SPE vs the twin's own detectors, at equal false alarms.

For each disturbance (kernel IDV number) the plant runs offline with its own seed, the
disturbance stepping in at ``--onset`` (magnitude 1, the kernel's scale), and the 22 continuous
XMEAS and the 12 values sent to the valves are sampled every 180 s like the classic data sets
(analysers left out, as in the question). Sample ``i`` (0-based) is taken at ``(i + 1) * 180`` s.
A separate clean run (seed ``--seed - 1``) is the training run: its samples from ``--settle``
(default 6 h, below) on are what "in control" looks like for the methods that learn it once.
Every sample goes into

* **PCA** — :class:`~twin.edge.detection.pca.PcaMonitor` (90 % variance, 99 % T² and SPE limits)
  fitted on the training run (columns constant there dropped); a sample is flagged when T² or SPE
  is beyond its limit. It judges every sample from the first.
* **twin, warm-up** — the production :class:`~twin.edge.detection.monitor.SubgroupMonitor` with the
  ``detection`` section of ``scenarios/tep_clean.yaml`` (the same in every TEP scenario), driven
  with one frame per sample; it learns centre and sigma from the first ``warmup_s`` of the same
  run and judges the samples after it.
* **twin, baseline** — the same monitor built from a :class:`~twin.edge.detection.baseline.Baseline`
  that :func:`~twin.edge.detection.baseline.learn_baseline` learns from the training run's
  historian over its settled samples (the rows PCA is fitted on: one sample is one 3-min subgroup
  mean), so, like PCA, it judges every sample from the first.

A twin sample is flagged when a detector of a monitor rule (``level``, ``change``, ``spike``)
signals at the subgroup holding it (the flatline and data-loss checks are left out, as PCA has
none). A CUSUM restarts after it signals (:class:`~twin.edge.detection.spc.CusumBank`), so a
flagged sample is a detection, not a sum held above its limit.

**Equal false-alarm rate.** The target rate is ``--far`` (default 1 %; PCA's T² and SPE limits
are then scaled by one common factor to reach it on the clean runs) or, with ``--far 0``, PCA's
own rate with its 99 % limits on the clean runs. Each twin mode then has the limits of all its
rules scaled by one common factor ``c`` (L → cL, h → ch; the monitor is replayed at each ``c``,
since a restarting CUSUM's path depends on h), the smallest ``c`` whose clean false-alarm rate
is at most the target. The ``shipped`` figures keep c = 1 (the limits in the scenario, set for no alarm in a
clean day). The calibration is in-sample on the ``--clean`` runs (seeds ``--seed + 1000 + i``);
the pre-onset samples of the fault runs are out-of-sample.

**Which samples count.** The simulated plant starts from its initial state and settles over
hours: PCA fitted on a clean run after its first hour flags 80-100 % of another clean run's
first hour, 30-50 % of its second and about 5 % up to 8 h, against about 1 % after; and that
start-up inflates the training sigma of a third of the columns 1.5-2.4 times. So the methods
learn from, and are scored from, ``--settle`` on (default: the twin's warm-up, 6 h; every
method then is scored on the same samples): PCA and the baseline twin run from the first sample,
but their flags before it are not counted; the warm-up twin judges nothing before ``warmup_s``
anyway. Clean runs: samples ``settle/180 .. end``. FAR of a fault run: samples
``settle/180 .. onset/180 - 1`` (the last is taken at the onset itself). FDR: flagged / samples
after onset (taken after ``--onset``, before a trip if the plant trips).
**First detection delay**: from the onset to the first post-onset sample that starts a run of
``--consecutive`` flagged samples (default 1: the first flagged sample), in minutes; the
smallest possible is 3 min (the first sample after onset). The table gives its median over the
seeds (``never`` if undetected in most of them).

Reproduce the published table (``docs/results/detection.md``; 48 h runs, 3 seeds, 1 % clean
false alarms): ``.venv/bin/python benchmarks/tep_detection.py --jobs 1`` (about 20 minutes on one
core; ``--jobs 2`` on an idle machine); ``--rules tuned --idv 10 12 13 16 18 24 25 26 27`` for the
candidate rules on issue 25's target set; ``--quick`` for six disturbances and one seed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks._parallel import map_with_progress  # noqa: E402
from plant_models.base import FaultSpec  # noqa: E402
from plant_models.registry import build_plant  # noqa: E402
from plant_models.tennessee_eastman.signals import DISTURBANCES, XMEAS, XMV  # noqa: E402
from twin.edge.detection.baseline import Baseline, Source, learn_baseline  # noqa: E402
from twin.edge.detection.monitor import SubgroupMonitor  # noqa: E402
from twin.edge.detection.pca import PcaMonitor  # noqa: E402
from twin.edge.detection.settings import DetectionSettings, MonitorRule  # noqa: E402
from twin.edge.frames import ElementIndex, Frame  # noqa: E402
from twin.edge.historian import Historian  # noqa: E402
from twin.harness.scenario import load_scenario  # noqa: E402
from virtual_plc.tagmap import Tag  # noqa: E402

SCENARIO = ROOT / "scenarios" / "tep_clean.yaml"
SAMPLE_S = 180
COLUMNS = [r.tag for r in XMEAS[:22]] + [m.readback for m in XMV]
IDV = {d.idv: d for d in DISTURBANCES}
DEFAULT = [1, 2, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 16, 17, 18, 19, 20, 24, 25, 26, 27, 3, 9, 15]
QUICK = [1, 4, 5, 10, 16, 3]
SLOW = {5, 10, 16, 19, 20, 21}  # slow / random ones the twin should win on
TARGET = [10, 12, 13, 16, 18, 24, 25, 26, 27]  # issue 25's target set
MODES = ("warmup", "baseline")
# ``--rules tuned``: a candidate for the scenarios' ``monitor`` block, tuned for issue 25's target on
# seeds 100 and 700 (training runs 99 and 699, clean runs 1100-1103 and 1700-1703) and not shipped:
# ``plant_models/tennessee_eastman/sweep.yaml`` repeats the scenarios' block for the root-cause sweep
# (a test keeps them equal), so shipping it means changing both and re-checking the TEP diagnosis.
# Limits are twice the relative weights that were tuned, so that at c = 1 (as written) no clean run
# of those seeds alarms with the warm-up (the worst clean sample reaches 0.83 of its limit); only the
# ratios matter for the calibrated columns.
_SETTLING = ["tep.separator.temperature", "tep.stripper.temperature", "tep.condenser.cw_outlet_temperature",
             "tep.separator.underflow_valve_out", "tep.stripper.underflow_valve_out", "tep.stripper.level",
             "tep.stripper.steam_flow"]
TUNED: list[dict[str, object]] = [
    # far from the baseline: measurements and valves that are stationary once the plant settled
    {"name": "level", "tags": ["tep.*"], "exclude": _SETTLING, "detector": "shewhart", "rules": [1], "L": 8,
     "prewhiten": False},
    # the separator / stripper temperatures, levels and valves still settle for days: a wide band
    {"name": "level_slow", "tags": _SETTLING, "detector": "shewhart", "rules": [1], "L": 24, "prewhiten": False},
    # a small persistent change of the one-step forecast errors (k 0.5: half a sigma), restarting
    {"name": "change", "tags": ["tep.*"], "exclude": ["tep.purge.valve_out"], "detector": "cusum", "k": 0.5,
     "h": 32},
    {"name": "spike", "tags": ["tep.*"], "detector": "shewhart", "rules": [1], "L": 11},
    # the random disturbances: forecast errors that stay large for a few samples (EWMA, lambda 0.2)
    {"name": "drift", "tags": ["tep.*"], "detector": "ewma", "lam": 0.2, "L": 8},
]


def simulate(args: tuple[int, int, float, float]) -> np.ndarray:
    """One plant run: the samples (n, columns); rows after a trip (PlantShutdown) stay NaN."""
    idv, seed, duration_s, onset_s = args
    spec = load_scenario(SCENARIO)
    plant = build_plant("tennessee_eastman", seed, spec.plant_options)
    if idv:
        plant.inject(FaultSpec(kind="step", target=IDV[idv].name, start_s=onset_s, magnitude=1.0))
    n = int(duration_s // SAMPLE_S)
    X = np.full((n, len(COLUMNS)), np.nan)
    for k in range(1, n + 1):
        try:
            plant.env.run(until=k * SAMPLE_S * 1000)
        except RuntimeError:  # a trip: the rest of the run stays NaN
            break
        readings = plant.measurements()
        X[k - 1] = [readings[c] for c in COLUMNS]
    return X


def simulate_cached(args: tuple[int, int, float, float], cache: Path | None) -> np.ndarray:
    """:func:`simulate`, read from / written to ``cache`` (a folder) when one is given."""
    if cache is None:
        return simulate(args)
    idv, seed, duration_s, onset_s = args
    path = cache / f"tep_idv{idv:02d}_seed{seed}_{duration_s:g}s_onset{onset_s:g}s.npy"
    if path.is_file():
        return np.load(path)
    X = simulate(args)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, X)
    return X


def element_index() -> ElementIndex:
    """The benchmark's tags: one read-only element per column, sampled every 180 s."""
    return ElementIndex([Tag(name=name, low=-1e9, high=1e9, period_ms=SAMPLE_S * 1000) for name in COLUMNS])


def scaled(settings: DetectionSettings, c: float) -> DetectionSettings:
    """The settings with every monitor rule's limit times ``c`` (L for Shewhart and EWMA, h for CUSUM)."""
    if c == 1.0:
        return settings
    rules = [r.model_copy(update={"h": r.h * c} if r.detector == "cusum" else {"L": r.L * c})
             for r in settings.monitor]
    return settings.model_copy(update={"monitor": rules})


def learn(X: np.ndarray, settings: DetectionSettings, index: ElementIndex, from_sample: int, folder: Path) -> Baseline:
    """The baseline ``twin detect learn`` would learn from the training run ``X``'s samples ``from_sample..``.

    The run goes into an edge historian in ``folder`` (one frame per sample, as the edge stores
    it) and :func:`~twin.edge.detection.baseline.learn_baseline` learns from the period that
    starts at sample ``from_sample`` (its 3-min subgroups hold one sample each).
    """
    path = folder / "training.duckdb"
    m = len(index)
    quality, fresh = np.zeros(m, dtype=np.uint8), np.ones(m, dtype=bool)
    with Historian(path, index) as historian:
        for k, row in enumerate(X, start=1):
            if not np.isfinite(row).all():  # a trip: the run ends here
                break
            historian.append(Frame(k * SAMPLE_S * 1000, index, row, quality, fresh))
    start_ms = (from_sample + 1) * SAMPLE_S * 1000  # sample i is taken at (i + 1) * 180 s
    return learn_baseline([Source(path, start_ms=start_ms)], settings, "tennessee_eastman")


def replay(X: np.ndarray, settings: DetectionSettings, index: ElementIndex,
           baseline: Baseline | None = None) -> np.ndarray:
    """Drive a :class:`SubgroupMonitor` with one frame per sample; True where a monitor rule signals.

    Frame ``k`` (plant time ``k * 180`` s) carries sample ``k - 1`` and closes the subgroup of
    sample ``k - 2``; after a trip the frames are empty (stale), which judges nothing.
    """
    monitor = SubgroupMonitor(settings, index, baseline)
    rules = {r.label for r in settings.monitor}
    n, m = X.shape
    quality = np.zeros(m, dtype=np.uint8)
    fresh, stale = np.ones(m, dtype=bool), np.zeros(m, dtype=bool)
    empty = np.zeros(m)
    flags = np.zeros(n, dtype=bool)
    for k in range(1, n + 2):
        row = X[k - 1] if k <= n else None
        live = row is not None and bool(np.isfinite(row).all())
        signals = monitor.observe(Frame(k * SAMPLE_S * 1000, index, row if live else empty, quality,
                                        fresh if live else stale))
        if k >= 2 and any(s.detector in rules for s in signals):
            flags[k - 2] = True
    return flags


def first_detection(flags: np.ndarray, onset: int, consecutive: int) -> int | None:
    """Index of the first sample at or after ``onset`` that starts ``consecutive`` flagged samples."""
    run = 0
    for i in range(onset, len(flags)):
        run = run + 1 if flags[i] else 0
        if run >= consecutive:
            return i - consecutive + 1
    return None


def calibrate(far_of: object, target: float, lo: float = 0.2, hi: float = 5.0, steps: int = 18) -> float:
    """The smallest common limit factor (to ~1 %) whose clean false-alarm rate is at most ``target``."""
    assert callable(far_of)
    if far_of(hi) > target:
        raise SystemExit(f"even limits x {hi:g} give a clean false-alarm rate above {target:.4f}")
    if far_of(lo) <= target:
        return lo
    for _ in range(steps):  # geometric bisection; FAR falls as the limits widen
        mid = float(np.sqrt(lo * hi))
        lo, hi = (lo, mid) if far_of(mid) <= target else (mid, hi)
    return hi


def fmt_delay(minutes: float) -> str:
    """A delay in minutes, or ``never``."""
    return f"{minutes:.0f}" if np.isfinite(minutes) else "never"


def main(argv: list[str] | None = None) -> None:
    """Run every disturbance, calibrate to a common false-alarm rate, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idv", type=int, nargs="+", default=None, help=f"kernel IDV numbers (default {DEFAULT}; "
                        f"issue 25's target set: {' '.join(map(str, TARGET))})")
    parser.add_argument("--seeds", type=int, default=3, help="runs per disturbance")
    parser.add_argument("--clean", type=int, default=4, help="clean runs for the false-alarm rate and calibration")
    parser.add_argument("--duration", type=float, default=172800.0, help="plant seconds per run")
    parser.add_argument("--onset", type=float, default=28800.0)
    parser.add_argument("--seed", type=int, default=300, help="first seed (the training run is seed - 1; the TUNED "
                        "rules were tuned on 100 and 700)")
    parser.add_argument("--far", type=float, default=0.01,
                        help="target clean false-alarm rate per sample for every method (PCA's limits scaled too); "
                             "0: PCA's own rate with its 99 %% limits")
    parser.add_argument("--settle", type=float, default=None,
                        help="plant seconds the simulated plant takes to settle from its initial state: the "
                             "training run is learned from there, false alarms are counted from there, for every "
                             "method (default: the twin's warm-up)")
    parser.add_argument("--consecutive", type=int, default=1,
                        help="a detection is the first of this many consecutive flagged samples (default 1)")
    parser.add_argument("--rules", choices=("shipped", "tuned"), default="shipped",
                        help="the twin's monitor rules: the scenarios' (shipped) or the candidate TUNED block")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--cache", type=Path, default=None, help="folder keeping the simulated runs (reused)")
    parser.add_argument("--verbose", action="store_true", help="print every run's delays")
    parser.add_argument("--quick", action="store_true", help=f"IDV {QUICK}, one seed, two clean runs")
    args = parser.parse_args(argv)
    idvs = args.idv or (QUICK if args.quick else DEFAULT)
    seeds, n_clean = (1, 2) if args.quick else (args.seeds, args.clean)
    settings = load_scenario(SCENARIO).detection
    if args.rules == "tuned":
        settings = settings.model_copy(update={"monitor": [MonitorRule.model_validate(r) for r in TUNED]})
    warmup_s = settings.warmup_s
    if not warmup_s < args.onset < args.duration:
        parser.error(f"need warm-up ({warmup_s:g} s) < --onset < --duration")
    settle = warmup_s if args.settle is None else args.settle
    if not 0 <= settle < args.onset:
        parser.error("need 0 <= --settle < --onset")
    if args.consecutive < 1:
        parser.error("--consecutive must be at least 1")
    jobs = [(0, args.seed - 1, args.duration, args.onset)]
    jobs += [(0, args.seed + 1000 + i, args.duration, args.onset) for i in range(n_clean)]
    jobs += [(idv, args.seed + 10 * idv + s, args.duration, args.onset) for idv in idvs for s in range(seeds)]
    started = time.perf_counter()
    runs = map_with_progress(partial(simulate_cached, cache=args.cache), jobs, args.jobs, noun="runs", every=10)
    simulated = time.perf_counter() - started

    scored = int(settle // SAMPLE_S)  # the first sample learned from, and the first a false alarm counts at
    X_train = runs[0][scored:]
    X_train = X_train[np.isfinite(X_train).all(axis=1)]
    keep = np.nanstd(X_train, axis=0) > 1e-9
    pca = PcaMonitor.fit(X_train[:, keep], variance=0.9, alpha=0.01,
                         columns=[c for c, k in zip(COLUMNS, keep) if k])

    def pca_ratio(X: np.ndarray) -> np.ndarray:
        ok = np.isfinite(X[:, keep]).all(axis=1)
        out = np.zeros(len(X))
        t2, spe = pca.score(X[ok][:, keep])
        out[ok] = np.maximum(t2 / pca.t2_limit, spe / pca.spe_limit)
        return out

    index = element_index()
    with tempfile.TemporaryDirectory(prefix="tep_detection_") as folder:
        baseline = learn(runs[0], settings, index, scored, Path(folder))
    first = {"pca": scored, "warmup": max(scored, int(warmup_s // SAMPLE_S)), "baseline": scored}
    onset = int(args.onset // SAMPLE_S)  # samples onset.. are taken after the onset (sample i at (i + 1) * 180 s)
    clean = runs[1:1 + n_clean]

    pca_clean = np.concatenate([pca_ratio(X)[first["pca"]:] for X in clean])
    if not args.far:
        c_pca, target = 1.0, float(np.mean(pca_clean > 1.0))
    else:
        allowed = int(np.floor(args.far * len(pca_clean)))
        c_pca = float(np.sort(pca_clean)[len(pca_clean) - allowed - 1])
        target = float(np.mean(pca_clean > c_pca))

    def twin_far(mode: str, c: float) -> float:
        flagged = [replay(X, scaled(settings, c), index, baseline if mode == "baseline" else None)[first[mode]:]
                   for X in clean]
        return float(np.mean(np.concatenate(flagged)))

    factor = {mode: calibrate(lambda c, mode=mode: twin_far(mode, c), target) for mode in MODES}
    far_clean = {mode: twin_far(mode, factor[mode]) for mode in MODES}
    far_shipped = {mode: twin_far(mode, 1.0) for mode in MODES}

    rows = []
    for j, idv in enumerate(idvs):
        done = runs[1 + n_clean + j * seeds: 1 + n_clean + (j + 1) * seeds]
        fdr = {m: [] for m in ("pca", *MODES, "shipped")}
        far = {m: [] for m in ("pca", *MODES)}
        delay = {m: [] for m in ("pca", *MODES)}
        for X in done:
            valid = np.isfinite(X).all(axis=1)
            post = (np.arange(len(X)) >= onset) & valid
            flags = {"pca": pca_ratio(X) > c_pca}
            for mode in MODES:
                flags[mode] = replay(X, scaled(settings, factor[mode]), index,
                                     baseline if mode == "baseline" else None)
            flags["shipped"] = replay(X, settings, index, baseline)
            for m, f in flags.items():
                fdr[m].append(f[post])
                if m in far:
                    far[m].append(f[first[m]:onset])
                    i = first_detection(f & valid, onset, args.consecutive)
                    delay[m].append(np.inf if i is None else ((i + 1) * SAMPLE_S - args.onset) / 60.0)
        rows.append({"idv": idv, "kind": IDV[idv].kind,
                     "fdr": {m: float(np.mean(np.concatenate(v))) for m, v in fdr.items()},
                     "far": {m: float(np.mean(np.concatenate(v))) for m, v in far.items()},
                     "delay": {m: float(np.median(v)) for m, v in delay.items()},
                     "delays": delay})

    print(f"\nTEP detection: {seeds} run(s) per disturbance of {args.duration / 3600:g} h, onset "
          f"{args.onset / 3600:g} h, samples every {SAMPLE_S} s ({len(COLUMNS)} columns: XMEAS 1-22 + XMV 1-12)")
    print(f"training run: seed {args.seed - 1}, {len(X_train)} samples from {settle / 3600:g} h. "
          f"PCA: {pca.n_components} components of {int(keep.sum())} columns. twin: {args.rules} rules "
          f"({', '.join(r.label for r in settings.monitor)}); "
          f"warm-up: the first {warmup_s / 3600:g} h of each run; baseline: the training run "
          f"({len(baseline.history)} subgroups)")
    print(f"clean FAR over {n_clean} clean run(s), target {target:.4f}: PCA {target:.4f} (limits x {c_pca:.3f}), "
          + ", ".join(f"twin {m} {far_clean[m]:.4f} (limits x {factor[m]:.3f})" for m in MODES)
          + "; shipped limits: " + ", ".join(f"{m} {far_shipped[m]:.4f}" for m in MODES))
    print(f"false alarms counted from {settle / 3600:g} h (warm-up twin: from "
          f"{first['warmup'] * SAMPLE_S / 3600:g} h); delay: median minutes from onset to the first of "
          f"{args.consecutive} consecutive flagged sample(s)")
    head = (f"{'IDV':>4s} {'kind':9s} {'PCA FDR':>8s} {'delay':>6s} {'warm FDR':>9s} {'delay':>6s} "
            f"{'base FDR':>9s} {'delay':>6s} {'shipped':>8s} {'PCA FAR':>8s} {'warm FAR':>9s} {'base FAR':>9s}")
    print(head)
    print("-" * len(head))
    for r in rows:
        f, a, d = r["fdr"], r["far"], r["delay"]
        win = f["baseline"] > f["pca"] and d["baseline"] <= d["pca"]
        mark = " target" if r["idv"] in TARGET else ""
        mark += (" met" if win else " not met") if mark else ""
        print(f"{r['idv']:4d} {r['kind']:9s} {f['pca']:8.3f} {fmt_delay(d['pca']):>6s} {f['warmup']:9.3f} "
              f"{fmt_delay(d['warmup']):>6s} {f['baseline']:9.3f} {fmt_delay(d['baseline']):>6s} {f['shipped']:8.3f} "
              f"{a['pca']:8.3f} {a['warmup']:9.3f} {a['baseline']:9.3f}{mark}")
        if args.verbose:
            print("      delays (min): " + "; ".join(
                f"{m} " + " ".join(fmt_delay(x) for x in r["delays"][m]) for m in ("pca", *MODES)))
    hard = [r for r in rows if r["idv"] not in (3, 9, 15)]
    if hard:
        print("mean FDR without IDV 3/9/15: " + ", ".join(
            f"{m} {np.mean([r['fdr'][m] for r in hard]):.3f}" for m in ("pca", *MODES)))
    print("(shipped: the baseline twin at the rules' limits as written; FAR: the counted pre-onset samples;"
          " target met: baseline FDR above PCA's and median delay not longer)")
    print(f"wall time {time.perf_counter() - started:.0f} s ({simulated:.0f} s simulating). Reproduce: "
          ".venv/bin/python benchmarks/tep_detection.py " + " ".join(argv if argv is not None else sys.argv[1:]))


if __name__ == "__main__":
    main()
