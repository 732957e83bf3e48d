"""Tennessee Eastman fault detection: PCA T²/SPE vs the twin's own detectors, at equal false alarms.

For each disturbance (kernel IDV number) the plant runs offline with its own seed, the
disturbance stepping in at ``--onset`` (magnitude 1, the kernel's scale), and the 22 continuous
XMEAS and the 12 values sent to the valves are sampled every 180 s like the classic data sets
(analysers left out, as in the question). Every sample goes into

* **PCA** — :class:`~twin.edge.detection.pca.PcaMonitor` (90 % variance, 99 % T² and SPE limits),
  fitted on a separate clean run (seed ``--seed - 1``, samples after its first hour, columns
  constant there dropped); a sample is flagged when T² or SPE is beyond its limit;
* **twin** — the production :class:`~twin.edge.detection.monitor.SubgroupMonitor` with the
  ``detection`` section of ``scenarios/tep_clean.yaml`` (the same in every TEP scenario), driven
  with one frame per sample as ``benchmarks/dynamic_thresholds.py`` does; it learns centre and
  sigma from the first ``warmup_s`` of the same run (clean: the onset is later). A sample is
  flagged when any monitored tag's detector signals at that subgroup.

Equal false-alarm rate: every detector's statistic is recorded relative to its own limit
(|x − centre| / (L·σ) for Shewhart, |C| / h for CUSUM), so "any detector signals" is
"max ratio > 1". The limits of all rules are then scaled by one common factor ``c`` (L → cL,
h → ch) chosen as the pooled quantile of that max ratio over the clean runs' monitored samples
at which the twin's false-alarm rate equals PCA's on the same clean samples. The ``shipped``
column keeps c = 1 (the limits in the scenario, set for no alarm in a clean day).

Rates: FDR = flagged / samples after onset; FAR = flagged / clean samples (pre-onset samples
after warm-up for the fault runs, all monitored samples of the clean runs).

Reproduce: ``.venv/bin/python benchmarks/tep_detection.py --jobs 2`` (about 2-3 minutes on 2
cores); ``--quick`` for five disturbances and one seed.
"""

from __future__ import annotations

import argparse
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
from plant_models.tennessee_eastman.signals import DISTURBANCES, XMEAS, XMV  # noqa: E402
from twin.edge.detection.monitor import SubgroupMonitor  # noqa: E402
from twin.edge.detection.pca import PcaMonitor  # noqa: E402
from twin.edge.frames import ElementIndex, Frame  # noqa: E402
from twin.harness.scenario import load_scenario  # noqa: E402
from virtual_plc.tagmap import Tag  # noqa: E402

SCENARIO = ROOT / "scenarios" / "tep_clean.yaml"
SAMPLE_S = 180
COLUMNS = [r.tag for r in XMEAS[:22]] + [m.readback for m in XMV]
IDV = {d.idv: d for d in DISTURBANCES}
DEFAULT = [1, 2, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 16, 17, 18, 19, 20, 3, 9, 15]
QUICK = [1, 4, 5, 10, 16, 3]
SLOW = {5, 10, 16, 19, 20, 21}  # slow / random ones the twin should win on


def ratios(m: SubgroupMonitor) -> float:
    """Largest statistic / limit over every monitored stream of every rule at the last subgroup."""
    best = np.nan
    for g in m.groups:
        bank = g.bank
        if bank is None or not bank.n_streams:
            continue
        if g.rule.detector == "cusum":
            r = np.abs(bank.statistic) / bank.h
        else:
            r = np.abs(bank.statistic - bank.center) / np.abs(bank.upper - bank.center)
        if np.isfinite(r).any():
            best = float(np.nanmax([best, np.nanmax(r)]))
    return best


def episode(args: tuple[int, int, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """One run: the samples (n, columns) and the twin's max ratio per sample (NaN in warm-up)."""
    idv, seed, duration_s, onset_s = args
    spec = load_scenario(SCENARIO)
    plant = build_plant("tennessee_eastman", seed, spec.plant_options)
    if idv:
        plant.inject(FaultSpec(kind="step", target=IDV[idv].name, start_s=onset_s, magnitude=1.0))
    tags = [Tag(name=name, low=-1e9, high=1e9, period_ms=SAMPLE_S * 1000) for name in COLUMNS]
    index = ElementIndex(tags)
    monitor = SubgroupMonitor(spec.detection, index)
    quality = np.zeros(len(tags), dtype=np.uint8)
    fresh, stale = np.ones(len(tags), dtype=bool), np.zeros(len(tags), dtype=bool)
    n = int(duration_s // SAMPLE_S)
    X, r = np.full((n, len(tags)), np.nan), np.full(n + 1, np.nan)
    for k in range(1, n + 1):
        try:
            plant.env.run(until=k * SAMPLE_S * 1000)
        except RuntimeError:  # a trip (PlantShutdown): the rest of the run stays NaN
            break
        readings = plant.measurements()
        X[k - 1] = [readings[c] for c in COLUMNS]
        monitor.observe(Frame(k * SAMPLE_S * 1000, index, X[k - 1], quality, fresh))
        r[k - 1] = ratios(monitor)  # the subgroup that just closed holds sample k - 1
    monitor.observe(Frame((n + 1) * SAMPLE_S * 1000, index, np.zeros(len(tags)), quality, stale))
    r[n] = ratios(monitor)
    return X, r[1:]  # r[i] now judges sample i (0-based; sample i is taken at (i + 1) * 180 s)


def main(argv: list[str] | None = None) -> None:
    """Run every disturbance, calibrate to PCA's false-alarm rate, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idv", type=int, nargs="+", default=None, help=f"kernel IDV numbers (default {DEFAULT})")
    parser.add_argument("--seeds", type=int, default=2, help="runs per disturbance")
    parser.add_argument("--clean", type=int, default=4, help="clean runs for the false-alarm rate and calibration")
    parser.add_argument("--duration", type=float, default=86400.0, help="plant seconds per run")
    parser.add_argument("--onset", type=float, default=28800.0)
    parser.add_argument("--seed", type=int, default=100, help="first seed (PCA trains on seed - 1)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help=f"IDV {QUICK}, one seed, two clean runs")
    args = parser.parse_args(argv)
    idvs = args.idv or (QUICK if args.quick else DEFAULT)
    seeds, n_clean = (1, 2) if args.quick else (args.seeds, args.clean)
    warmup_s = load_scenario(SCENARIO).detection.warmup_s
    if not warmup_s < args.onset < args.duration:
        parser.error(f"need warm-up ({warmup_s:g} s) < --onset < --duration")
    jobs = [(0, args.seed - 1, args.duration, args.onset)]
    jobs += [(0, args.seed + 1000 + i, args.duration, args.onset) for i in range(n_clean)]
    jobs += [(idv, args.seed + 10 * idv + s, args.duration, args.onset) for idv in idvs for s in range(seeds)]
    started = time.perf_counter()
    results = map_with_progress(episode, jobs, args.jobs, noun="runs", every=10)

    X_train = results[0][0][int(3600 // SAMPLE_S):]
    keep = np.nanstd(X_train, axis=0) > 1e-9
    pca = PcaMonitor.fit(X_train[:, keep], variance=0.9, alpha=0.01,
                         columns=[c for c, k in zip(COLUMNS, keep) if k])

    def pca_flags(X: np.ndarray) -> np.ndarray:
        ok = np.isfinite(X[:, keep]).all(axis=1)
        out = np.zeros(len(X), dtype=bool)
        out[ok] = pca.alarms(X[ok][:, keep])
        return out

    first = int(warmup_s // SAMPLE_S)  # samples 0 .. first-1 are the twin's warm-up
    onset = int(args.onset // SAMPLE_S)  # sample i is taken at (i + 1) * 180 s; onset at sample index onset - 1
    clean = results[1:1 + n_clean]
    pca_clean = np.concatenate([pca_flags(X)[first:] for X, _ in clean])
    r_clean = np.concatenate([r[first:] for _, r in clean])
    far_pca = float(np.mean(pca_clean))
    ok = np.isfinite(r_clean)
    c = float(np.quantile(r_clean[ok], 1 - far_pca))
    far_twin, far_shipped = float(np.mean(r_clean[ok] > c)), float(np.mean(r_clean[ok] > 1))

    rows = []
    for j, idv in enumerate(idvs):
        runs = results[1 + n_clean + j * seeds: 1 + n_clean + (j + 1) * seeds]
        post_p, post_t, post_s, pre_p, pre_t = [], [], [], [], []
        for X, r in runs:
            p = pca_flags(X)
            valid = np.isfinite(X).all(axis=1)
            post = np.arange(len(X)) >= onset
            pre = (np.arange(len(X)) >= first) & ~post
            post_p.append(p[post & valid])
            pre_p.append(p[pre])
            post_t.append(r[post & valid] > c)
            post_s.append(r[post & valid] > 1)
            pre_t.append(r[pre] > c)
        rows.append((idv, IDV[idv].kind, *(float(np.mean(np.concatenate(v))) for v in
                                            (post_p, post_t, post_s, pre_p, pre_t))))

    print(f"\nTEP detection: {seeds} run(s) per disturbance of {args.duration / 3600:g} h, onset "
          f"{args.onset / 3600:g} h, samples every {SAMPLE_S} s ({len(COLUMNS)} columns: XMEAS 1-22 + XMV 1-12)")
    print(f"PCA: {pca.n_components} components of {int(keep.sum())} columns, trained on seed {args.seed - 1}; "
          f"twin: warm-up {warmup_s / 3600:g} h of each run, rules of {SCENARIO.name}")
    print(f"clean FAR over {n_clean} clean run(s): PCA {far_pca:.4f}, twin calibrated {far_twin:.4f} "
          f"(limits x {c:.3f}), twin shipped {far_shipped:.4f}")
    head = f"{'IDV':>4s} {'kind':9s} {'PCA FDR':>8s} {'twin FDR':>9s} {'shipped':>8s} {'PCA FAR':>8s} {'twin FAR':>9s}"
    print(head)
    print("-" * len(head))
    for idv, kind, fp, ft, fs, ap, at in rows:
        mark = " *" if ft > fp + 0.005 else (" -" if ft < fp - 0.005 else "")
        print(f"{idv:4d} {kind:9s} {fp:8.3f} {ft:9.3f} {fs:8.3f} {ap:8.3f} {at:9.3f}{mark}")
    hard = [r for r in rows if r[0] not in (3, 9, 15)]
    if hard:
        print(f"mean FDR without IDV 3/9/15: PCA {np.mean([r[2] for r in hard]):.3f}, twin "
              f"{np.mean([r[3] for r in hard]):.3f}; slow/random {sorted(SLOW & set(idvs))}: PCA "
              f"{np.mean([r[2] for r in hard if r[0] in SLOW] or [np.nan]):.3f}, twin "
              f"{np.mean([r[3] for r in hard if r[0] in SLOW] or [np.nan]):.3f}")
    print("(* twin better, - twin worse by > 0.005; FAR columns: pre-onset samples after the twin's warm-up)")
    print(f"wall time {time.perf_counter() - started:.0f} s. Reproduce: .venv/bin/python benchmarks/tep_detection.py "
          + " ".join(argv if argv is not None else sys.argv[1:]))


if __name__ == "__main__":
    main()
