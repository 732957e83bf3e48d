"""EWMA and CUSUM charts against qcc, and the charts against the streaming banks."""

from __future__ import annotations

import numpy as np
import pytest

from tests.twin.edge.detection import data
from tests.twin.edge.detection.support import printed
from twin.edge.detection import spc

PHASE1 = data.PISTONRINGS[:25]
PHASE2 = data.PISTONRINGS[25:]


def test_ewma_of_the_piston_rings() -> None:
    chart = spc.ewma(PHASE1, lam=0.2)
    printed(chart.center, "74.00118")
    printed(chart.std_dev, "0.009785039")
    printed(chart.lcl[0], "73.99855")
    printed(chart.ucl[0], "74.00380")
    printed(chart.lcl[1], "73.99781")
    printed(chart.ucl[1], "74.00454")
    printed(chart.lcl[24], "73.99680")
    printed(chart.ucl[24], "74.00555")
    phase2 = spc.ewma(PHASE1, lam=0.2, nsigmas=2.7, newdata=PHASE2)
    assert phase2.n_phase1 == 25 and phase2.smoothed.size == 40
    printed(phase2.lcl[0], "73.99881")
    printed(phase2.ucl[1], "74.00420")
    printed(phase2.lcl[39], "73.99724")
    printed(phase2.ucl[39], "74.00511")
    assert phase2.violations and min(phase2.violations) >= 25


def test_ewma_of_individuals_uses_the_moving_range() -> None:
    chart = spc.ewma(data.VISCOSITY_15, lam=0.2, nsigmas=2.7)
    printed(chart.std_dev, "0.4261651")
    printed(chart.lcl[0], "33.29320")
    printed(chart.ucl[0], "33.75346")
    printed(chart.lcl[1], "33.22862")
    printed(chart.ucl[1], "33.81804")
    printed(chart.lcl[14], "33.14002")
    printed(chart.ucl[14], "33.90664")


def test_ewma_recursion_starts_at_the_centre() -> None:
    x = [1.0, 2.0, 3.0]
    chart = spc.ewma(x, lam=0.5, center=0.0, std_dev=1.0)
    np.testing.assert_allclose(chart.smoothed, [0.5, 1.25, 2.125])
    np.testing.assert_allclose(chart.ucl, 3 * np.sqrt(0.5 / 1.5 * (1 - 0.25 ** np.arange(1, 4))))


def test_cusum_of_the_piston_rings() -> None:
    chart = spc.cusum(PHASE1, decision_interval=4, se_shift=1)
    printed(chart.center, "74.00118")
    printed(chart.std_dev, "0.009785039")
    se = chart.std_dev / np.sqrt(5)
    means = np.array([np.mean(g) for g in PHASE1])
    np.testing.assert_allclose(chart.z, (means - chart.center) / se, rtol=1e-12)
    pos = neg = 0.0
    for t, z in enumerate(chart.z):
        pos, neg = max(0.0, pos + z - 0.5), max(0.0, neg - z - 0.5)
        assert chart.pos[t] == pytest.approx(pos) and chart.neg[t] == pytest.approx(-neg)
    assert (chart.neg <= 0).all() and not np.signbit(chart.neg[chart.neg == 0]).any()


def test_cusum_signals_strictly_beyond_h_and_head_start_is_honoured() -> None:
    chart = spc.cusum([5.5, 0.5], center=0.0, std_dev=1.0, decision_interval=5.0, se_shift=1.0)
    assert chart.pos[0] == 5.0 and chart.violations_upper == []  # exactly h is not beyond
    fir = spc.cusum([0.0], center=0.0, std_dev=1.0, head_start=2.0)
    assert fir.pos[0] == 1.5 and fir.neg[0] == -1.5
    shifted = spc.cusum(PHASE1, newdata=PHASE2)
    assert shifted.violations_upper and min(shifted.violations_upper) >= 25 and shifted.violations_lower == []


def test_the_ewma_chart_and_the_ewma_bank_are_one_recursion() -> None:
    rng = np.random.default_rng(8)
    x = rng.normal(0.2, 1.0, 300)
    chart = spc.ewma(x, lam=0.15, nsigmas=2.9, center=0.0, std_dev=1.0)
    bank = spc.EwmaBank(0.0, 1.0, lam=0.15, L=2.9, exact_limits=True)
    flags = [bool(bank.update(np.array([v]))[0]) for v in x[:150]]
    assert bank.statistic[0] == chart.smoothed[149] and bank.upper[0] == chart.ucl[149]
    for v in x[150:]:
        flags.append(bool(bank.update(np.array([v]))[0]))
    assert np.flatnonzero(flags).tolist() == chart.violations


def test_the_cusum_chart_and_the_cusum_bank_are_one_recursion() -> None:
    rng = np.random.default_rng(9)
    x = rng.normal(-0.4, 1.0, 300)
    chart = spc.cusum(x, center=0.0, std_dev=1.0, decision_interval=4.0, se_shift=1.0)
    bank = spc.CusumBank(0.0, 1.0, k=0.5, h=4.0, restart=False)  # the chart does not restart
    up, down = [], []
    for t, v in enumerate(x):
        bank.update(np.array([v]))
        assert bank.pos[0] == chart.pos[t] and bank.neg[0] == chart.neg[t]
        if bank.pos[0] > 4.0:
            up.append(t)
        if bank.neg[0] < -4.0:
            down.append(t)
    assert up == chart.violations_upper and down == chart.violations_lower


def test_a_sustained_shift_gives_repeated_signals_with_restart_and_a_held_one_without() -> None:
    """Restart after signal: each signal is a detection (one per run length), not a sum held above h."""
    x = np.concatenate([np.zeros(10), np.full(40, 2.0)])  # +2 sigma from t = 10: the sums grow 1.5 a step
    restarted = spc.CusumBank(0.0, 1.0, k=0.5, h=5.0)
    held = spc.CusumBank(0.0, 1.0, k=0.5, h=5.0, restart=False)
    again, kept = [], []
    for t, v in enumerate(x):
        if restarted.update(np.array([v]))[0]:
            again.append(t)
            assert restarted.statistic[0] == 6.0 and restarted.pos[0] == 0.0  # the signal carries the crossing sum
        if held.update(np.array([v]))[0]:
            kept.append(t)
    assert again == list(range(13, 50, 4))  # every 4th step: 1.5, 3, 4.5, 6 > 5
    assert kept == list(range(13, 50)) and held.statistic[0] == 1.5 * 40
    fir = spc.CusumBank(0.0, 1.0, k=0.5, h=5.0, head_start=2.5)
    flags = [bool(fir.update(np.array([2.0]))[0]) for _ in range(6)]
    assert flags == [False, True, False, True, False, True]  # restarts at the head start: 4, 5.5 | 4, 5.5 | ...
    shifted = spc.CusumBank(np.zeros(3), np.ones(3), k=0.5, h=5.0)
    for _ in range(4):
        out = shifted.update(np.array([2.0, np.nan, -2.0]))
    assert out.tolist() == [True, False, True] and shifted.neg.tolist() == [0.0, 0.0, 0.0]
    assert shifted.statistic[2] == -6.0 and np.isnan(shifted.statistic[1])


def test_restart_does_not_change_the_run_length_to_the_first_signal() -> None:
    from twin.edge.detection.arl import detector_factory, run_length_arl

    runs = [run_length_arl(detector_factory("cusum", k=0.5, h=4.0, restart=r), 1.0, runs=2000, seed=4)
            for r in (True, False)]
    assert runs[0] == runs[1]
