"""The noise check: a sensor whose reading-to-reading steps grow noisy, which subgroup means hide.

Exact properties (scale and offset do not matter; one large step is not noise; a count that
jumps is not judged) are checked over ranges with hypothesis; the in-control and out-of-control
behaviour over many independent elements at once, so a rate is measured rather than one path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.twin.edge.detection.test_baseline import CENTRE, INDEX, NOISE, SETTINGS, alarms_of, frames, historian_of
from twin.edge.detection.baseline import Source, learn_baseline, load_baseline
from twin.edge.detection.dispersion import DispersionCheck, NoiseStats, noise_sigma
from twin.edge.detection.monitor import SubgroupMonitor
from twin.edge.frames import Frame

N = 400  # independent elements per check


def learned_check(rng: np.random.Generator, steps: int = 600, h: float = 22.0,
                  signal: np.ndarray | None = None) -> DispersionCheck:
    """A check that learned unit noise from ``steps`` readings (or from ``signal``, rows = readings)."""
    check = DispersionCheck(N, h=h)
    for row in rng.standard_normal((steps, N)) if signal is None else signal:
        check.add(np.ones(N, bool), row)
        check.close(warmup=True)
    check.fit_learned()
    return check


def first_flags(check: DispersionCheck, rows: np.ndarray) -> np.ndarray:
    """For each element, the index of the first row whose subgroup raised it (-1: never)."""
    first = np.full(N, -1)
    for t, row in enumerate(rows):
        check.add(np.ones(N, bool), row)
        flags = check.close(warmup=False)
        first[(first < 0) & flags] = t
    return first


def test_in_control_noise_rarely_alarms_and_grown_noise_is_found() -> None:
    rng = np.random.default_rng(11)
    check = learned_check(rng)
    quiet = first_flags(check, rng.standard_normal((2000, N)))
    # 800,000 in-control steps: the run length in control is of the order of exp(h) steps per element
    assert (quiet >= 0).sum() <= 2
    check.statistic[:] = 0.0
    tripled = first_flags(check, 3.0 * rng.standard_normal((60, N)))
    assert (tripled >= 0).mean() >= 0.95
    assert np.median(tripled[tripled >= 0]) < 30


@settings(max_examples=40, deadline=None)
@given(scale=st.floats(1e-4, 1e4), offset=st.floats(-1e6, 1e6), seed=st.integers(0, 2**32 - 1))
def test_the_verdicts_do_not_depend_on_the_units_or_the_level(scale: float, offset: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    learn = rng.standard_normal((100, N))
    judged = np.concatenate([rng.standard_normal((40, N)), 2.5 * rng.standard_normal((40, N))])
    plain = learned_check(rng, signal=learn)
    moved = learned_check(rng, signal=offset + scale * learn)
    a, b = first_flags(plain, judged), first_flags(moved, offset + scale * judged)
    assert np.mean(a == b) >= 0.99  # rounding at 1e10 dynamic range may move a crossing by a step, rarely


@settings(max_examples=30, deadline=None)
@given(step=st.floats(5.0, 1e6), at=st.integers(1, 98), seed=st.integers(0, 2**32 - 1))
def test_one_large_step_is_a_process_change_not_noise(step: float, at: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    check = learned_check(rng, steps=1000)
    rows = rng.standard_normal((100, N))
    rows[at:] += step  # a level step of any size in every element
    assert (first_flags(check, rows) < 0).mean() >= 0.99


def test_a_count_that_sits_still_and_jumps_is_not_judged() -> None:
    rng = np.random.default_rng(3)
    counts = np.cumsum(rng.random((600, N)) < 0.02, axis=0).astype(float)  # a windowed count's habit
    stats = NoiseStats(N)
    steps = np.diff(counts, axis=0)
    for row in steps:
        stats.add(np.ones(N, bool), row)
    assert np.isnan(stats.sigma()).all()
    assert np.isnan(noise_sigma(np.array([10.0]), np.array([5.0]), np.array([5.0]))).all()  # too few steps


def test_a_slow_swing_does_not_hide_the_noise_level() -> None:
    rng = np.random.default_rng(5)
    t = np.arange(600)[:, None]
    swing = 40 * np.sin(2 * np.pi * t / 86_400 * 60)  # a daily swing, read once a minute for ten hours
    check = learned_check(rng, signal=swing + rng.standard_normal((600, N)))
    assert np.allclose(check.sigma, 1.0, rtol=0.15)


def test_a_baseline_learns_each_elements_noise_and_the_monitor_finds_a_noisy_sensor(tmp_path: Path) -> None:
    baseline = learn_baseline([Source(historian_of(tmp_path, frames(120, seed=1)))], SETTINGS, "l")
    assert set(baseline.noise) == set(INDEX.names)
    expected = NOISE * (1 + np.sqrt(2 / 1199))  # every 100 ms for 120 s, raised by its standard error
    assert np.allclose([baseline.noise[n] for n in INDEX.names], expected, rtol=0.15)
    saved = load_baseline(baseline.save(tmp_path / "b.json"))
    assert saved.noise == baseline.noise
    monitor = SubgroupMonitor(SETTINGS, INDEX, saved)
    run = frames(60, seed=7)
    rng = np.random.default_rng(8)
    burst = [Frame(f.ts_ms, INDEX, f.values.copy(), f.quality, f.fresh) for f in run]
    for f in burst[300:]:  # from 30 s, the oven temperature's noise quadruples (mean unchanged)
        f.values[0] = CENTRE[0] + 4 * NOISE[0] * rng.standard_normal()
    alarms = alarms_of(monitor, burst)
    noisy = [(t, tag) for t, tag, rule in alarms if rule == "noise"]
    assert noisy and {tag for _, tag in noisy} == {"l.oven.temp"} and noisy[0][0] >= 30_000
    assert alarms_of(SubgroupMonitor(SETTINGS, INDEX, saved), run) == []


def test_a_baseline_learned_before_the_noise_check_still_loads(tmp_path: Path) -> None:
    baseline = learn_baseline([Source(historian_of(tmp_path, frames(60, seed=1)))], SETTINGS, "l")
    old = baseline.model_copy(update={"noise": {}})
    loaded = load_baseline(old.save(tmp_path / "old.json"))
    monitor = SubgroupMonitor(SETTINGS, INDEX, loaded)
    assert monitor.summary()["noise_checked"] == 0
