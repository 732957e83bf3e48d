"""Shewhart charts against qcc's printed output on Montgomery's textbook data."""

from __future__ import annotations

import numpy as np
import pytest

from tests.twin.edge.detection import data
from tests.twin.edge.detection.support import printed
from twin.edge.detection import spc

PHASE1 = data.PISTONRINGS[:25]
PHASE2 = data.PISTONRINGS[25:]


def test_xbar_chart_of_the_piston_rings() -> None:
    chart = spc.control_chart("xbar", PHASE1, newdata=PHASE2)
    printed(chart.center, "74.00118")
    printed(chart.std_dev, "0.009785039")
    printed(chart.lcl[0], "73.98805")
    printed(chart.ucl[0], "74.0143")
    assert chart.n_phase1 == 25 and chart.statistics.size == 40 and chart.lcl.size == chart.ucl.size == 40
    printed(float(np.mean(chart.statistics[25:])), "74.00765")
    # sigma = mean(R_i / d2(5)) and limits centre ± 3 sigma / sqrt(5), computed directly
    ranges = [max(g) - min(g) for g in PHASE1]
    sigma = sum(ranges) / 25 / 2.326
    assert chart.std_dev == pytest.approx(sigma, rel=1e-12)
    assert chart.ucl[39] == pytest.approx(chart.center + 3 * sigma / 5**0.5, rel=1e-12)
    # Montgomery: samples 37, 38, 39 of the Phase II data plot above the UCL
    assert chart.beyond_limits == [36, 37, 38]


def test_r_and_s_charts_of_the_piston_rings() -> None:
    r = spc.control_chart("R", PHASE1, newdata=PHASE2)
    printed(r.center, "0.02276")
    printed(r.std_dev, "0.009785039")
    assert r.lcl[0] == 0.0
    printed(r.ucl[0], "0.04812533")
    printed(float(np.mean(r.statistics[25:])), "0.02453333")
    s = spc.control_chart("S", PHASE1)
    printed(s.center, "0.009240037")
    printed(s.std_dev, "0.009829977")
    assert s.lcl[0] == 0.0
    printed(s.ucl[0], "0.01930242")


def test_unequal_subgroups_give_variable_limits() -> None:
    groups = data.pistonrings_unequal()
    assert sorted({len(g) for g in groups[:25]}) == [3, 4, 5]
    x = spc.control_chart("xbar", groups[:25], newdata=groups[25:])
    printed(x.center, "74.00075")
    printed(x.std_dev, "0.009856701")
    printed(x.lcl[0], "73.98753")  # n = 5
    printed(x.ucl[0], "74.01398")
    printed(x.lcl[1], "73.98368")  # n = 3
    printed(x.ucl[1], "74.01782")
    r = spc.control_chart("R", groups[:25])
    printed(r.center, "0.02230088")
    printed(r.ucl[0], "0.04785198")
    printed(r.ucl[1], "0.04857007")
    assert r.ucl[1] == pytest.approx(r.center + 3 * 0.8883697 * r.std_dev, rel=1e-12)  # d3(3) as qcc tables it


def test_individuals_chart_of_the_viscosity() -> None:
    mr = spc.control_chart("xbar.one", data.VISCOSITY_15)
    printed(mr.center, "33.52333")
    printed(mr.std_dev, "0.4261651")
    printed(mr.lcl[0], "32.24484")
    printed(mr.ucl[0], "34.80183")
    sd = spc.control_chart("xbar.one", data.VISCOSITY_15, std_dev_method="sd")
    printed(sd.std_dev, "0.3415928")
    printed(sd.lcl[0], "32.49855")
    printed(sd.ucl[0], "34.54811")


def test_p_and_np_charts_of_the_orange_juice_cans() -> None:
    trial = data.ORANGEJUICE_D[: data.ORANGEJUICE_TRIAL]
    p = spc.control_chart("p", trial, sizes=data.ORANGEJUICE_SIZE)
    printed(p.center, "0.2313333")
    # qcc's sd.p: sqrt(p(1-p)/n) (the 2018 vignette printed the per-unit 0.421685 = that * sqrt(50))
    printed(p.std_dev * 50**0.5, "0.421685")
    printed(p.lcl[0], "0.05242755")
    printed(p.ucl[0], "0.4102391")
    assert p.beyond_limits == [14, 22]  # Montgomery: samples 15 and 23 (new batch, new operator)
    np_chart = spc.control_chart("np", trial, sizes=data.ORANGEJUICE_SIZE)
    printed(np_chart.center, "11.56667")
    printed(np_chart.std_dev, "2.981763")
    printed(np_chart.lcl[0], "2.621377")
    printed(np_chart.ucl[0], "20.51196")
    # revised limits without samples 15 and 23, then the Phase II samples 31-54
    kept = [d for i, d in enumerate(trial) if i not in (14, 22)]
    revised = spc.control_chart("p", kept, sizes=50, newdata=data.ORANGEJUICE_D[30:], newsizes=50)
    printed(revised.center, "0.215")
    printed(revised.std_dev * 50**0.5, "0.4108223")
    printed(revised.lcl[-1], "0.04070284")
    printed(revised.ucl[-1], "0.3892972")
    printed(float(np.mean(revised.statistics[28:])), "0.1108333")


def test_c_and_u_charts_of_the_circuit_boards() -> None:
    x, n = data.CIRCUIT_X, data.CIRCUIT_SIZE
    c = spc.control_chart("c", x[:26], sizes=n)
    printed(c.center, "19.84615")
    printed(c.std_dev, "4.454902")
    printed(c.lcl[0], "6.481447")
    printed(c.ucl[0], "33.21086")
    assert c.beyond_limits == [5, 19]  # Montgomery: samples 6 and 20
    inc = [v for i, v in enumerate(x[:26]) if i not in (5, 19)]
    c2 = spc.control_chart("c", inc, sizes=n, newdata=x[26:], newsizes=n)
    printed(c2.center, "19.66667")
    printed(c2.std_dev, "4.434712")
    printed(c2.lcl[-1], "6.362532")
    printed(c2.ucl[-1], "32.9708")
    u = spc.control_chart("u", inc, sizes=n, newdata=x[26:], newsizes=n)
    printed(u.center, "0.1966667")
    printed(u.std_dev, "0.4434712")
    printed(u.lcl[-1], "0.06362532")
    printed(u.ucl[-1], "0.329708")


def test_u_chart_of_the_personal_computers() -> None:
    u = spc.control_chart("u", data.PCMANUFACT_X, sizes=data.PCMANUFACT_SIZE)
    printed(u.center, "1.93")
    printed(u.std_dev, "1.389244")
    printed(u.lcl[0], "0.06613305")
    printed(u.ucl[0], "3.793867")
    assert u.beyond_limits == []


def test_u_chart_with_fractional_inspection_units() -> None:
    u = spc.control_chart("u", data.DYEDCLOTH_X, sizes=data.DYEDCLOTH_SIZE)
    ubar = sum(data.DYEDCLOTH_X) / sum(data.DYEDCLOTH_SIZE)
    assert u.center == pytest.approx(ubar, rel=1e-12)  # Montgomery: 153 / 107.5 = 1.42
    n = np.asarray(data.DYEDCLOTH_SIZE)
    np.testing.assert_allclose(u.ucl, ubar + 3 * np.sqrt(ubar / n), rtol=1e-12)
    np.testing.assert_allclose(u.lcl, np.maximum(0.0, ubar - 3 * np.sqrt(ubar / n)), rtol=1e-12)


def test_lower_limits_floor_at_zero_and_p_limits_cap_at_one() -> None:
    p = spc.control_chart("p", [1, 0, 2, 1], sizes=10)
    assert (p.lcl == 0).all() and (p.zone_limits(30)[1] == 1).all()
    c = spc.control_chart("c", [1, 0, 2, 1])
    assert (c.lcl == 0).all()


def test_known_center_and_sigma_override_the_estimates() -> None:
    chart = spc.control_chart("xbar", PHASE1, center=74.0, std_dev=0.01, nsigmas=2.0)
    assert chart.center == 74.0 and chart.std_dev == 0.01
    assert chart.ucl[0] == pytest.approx(74.0 + 2 * 0.01 / 5**0.5)
    mvlue = spc.control_chart("xbar", PHASE1, std_dev_method="MVLUE-R")
    assert mvlue.std_dev == pytest.approx(0.009785039, rel=1e-6)  # equal sizes: same as UWAVE-R


def test_zone_limits_are_k_sigma_of_the_statistic() -> None:
    chart = spc.control_chart("xbar", PHASE1)
    lo, hi = chart.zone_limits(1.0)
    assert hi[0] - chart.center == pytest.approx(chart.std_dev / 5**0.5)
    lo3, hi3 = chart.zone_limits(3.0)
    np.testing.assert_allclose(lo3, chart.lcl)
    np.testing.assert_allclose(hi3, chart.ucl)


def test_rules_on_the_piston_rings_phase_two() -> None:
    chart = spc.control_chart("xbar", PHASE1, newdata=PHASE2)
    we = chart.rules("western-electric")
    assert set(we) == {1, 2, 3, 4}
    assert we[1] == chart.beyond_limits
    assert we == {1: [36, 37, 38], 2: [34, 36, 37, 38, 39], 3: [34, 37, 38, 39], 4: []}
    nelson = chart.rules("nelson")
    assert set(nelson) == set(range(1, 9))
    assert nelson[5] == we[2] and nelson[6] == we[3] and nelson[1] == we[1]


def test_p_chart_with_unequal_sizes() -> None:
    counts, sizes = [4, 9, 2, 7, 5], [50, 100, 25, 80, 60]
    p = spc.control_chart("p", counts, sizes=sizes, newdata=[3], newsizes=[40])
    pbar = sum(counts) / sum(sizes)
    n = np.array(sizes + [40], dtype=float)
    assert p.center == pytest.approx(pbar, rel=1e-12)
    np.testing.assert_allclose(p.ucl, pbar + 3 * np.sqrt(pbar * (1 - pbar) / n), rtol=1e-12)
    np.testing.assert_allclose(p.lcl, np.maximum(0.0, pbar - 3 * np.sqrt(pbar * (1 - pbar) / n)), rtol=1e-12)
    assert p.std_dev == pytest.approx(np.sqrt(pbar * (1 - pbar) / np.mean(sizes)), rel=1e-12)
