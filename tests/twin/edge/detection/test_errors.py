"""Bad input gets a ValueError whose message names the argument."""

from __future__ import annotations

import math

import numpy as np
import pytest

from twin.edge.detection import spc

GROUPS = [[1.0, 2.0, 3.0], [2.0, 3.0, 4.0]]


@pytest.mark.parametrize(("call", "pattern"), [
    (lambda: spc.control_chart("xbar", [[1.0, 2.0], []]), r"data\[1\] is an empty subgroup"),
    (lambda: spc.control_chart("R", []), "data must not be empty"),
    (lambda: spc.control_chart("S", [[1.0, 2.0], [3.0]]), r"data\[1\] has 1 observation"),
    (lambda: spc.control_chart("xbar", [[1.0, math.nan], [1.0, 2.0]]), r"data\[0\]\[1\] is nan"),
    (lambda: spc.control_chart("xbar", GROUPS, newdata=[[1.0, 2.0], [math.nan, 1.0]]), r"newdata\[1\]\[0\] is nan"),
    (lambda: spc.control_chart("xbar", [1.0, 2.0, 3.0]), "data must be a sequence of subgroups"),
    (lambda: spc.control_chart("xbar.one", [1.0, math.inf]), r"data\[1\] is inf"),
    (lambda: spc.control_chart("xbar.one", [1.0]), "data needs at least 2 values"),
    (lambda: spc.control_chart("p", [1, -2, 3], sizes=10), r"data\[1\] is -2; counts must be >= 0"),
    (lambda: spc.control_chart("c", [1, 2], newdata=[-1]), r"newdata\[0\] is -1; counts must be >= 0"),
    (lambda: spc.control_chart("p", [1, 2, 3]), "sizes is required for a p chart"),
    (lambda: spc.control_chart("p", [1, 12], sizes=10), r"data\[1\] is 12 nonconforming out of sizes\[1\] = 10"),
    (lambda: spc.control_chart("p", [1, 2], sizes=[10, 0]), r"sizes\[1\] is 0; sizes must be > 0"),
    (lambda: spc.control_chart("np", [1, 2], sizes=[10, 5.5]), r"sizes\[1\] is 5.5; sizes must be whole"),
    (lambda: spc.control_chart("p", [1, 2], sizes=[10, 10, 10]), "sizes has 3 entries but there are 2 points"),
    (lambda: spc.control_chart("p", [1, 2], sizes=[10, 20], newdata=[1]), "newsizes is required"),
    (lambda: spc.control_chart("np", [1, 2], sizes=[10, 20]), "np chart needs equal sizes"),
    (lambda: spc.control_chart("c", [1, 2], sizes=[10, 20]), "sizes must all be equal for a c chart"),
    (lambda: spc.control_chart("xbar", GROUPS, sizes=[3, 4]), "sizes must match the subgroup lengths"),
    (lambda: spc.control_chart("x", GROUPS), "kind must be one of"),
    (lambda: spc.control_chart("xbar", GROUPS, nsigmas=0), "nsigmas must be > 0"),
    (lambda: spc.control_chart("xbar", GROUPS, std_dev=-1.0), "std_dev must be > 0"),
    (lambda: spc.control_chart("xbar", GROUPS, std_dev_method="MR"), "std_dev_method for a xbar chart"),
    (lambda: spc.control_chart("p", [1, 2], sizes=10, std_dev=0.1), "std_dev is not used by a p chart"),
    (lambda: spc.control_chart("R", [list(range(30))] * 2), "subgroups of at most 25"),
    (lambda: spc.ewma([1.0, 2.0, 3.0], lam=1.5), r"lam must be in \(0, 1\], got 1.5"),
    (lambda: spc.ewma([1.0, 2.0, 3.0], lam=0.0), r"lam must be in \(0, 1\], got 0.0"),
    (lambda: spc.ewma([[1.0, 2.0], [1.0]], lam=0.2), r"data\[1\] has 1 observation"),
    (lambda: spc.EwmaDetector(0.0, 1.0, lam=-0.1, L=3.0), r"lam must be in \(0, 1\]"),
    (lambda: spc.EwmaBank(np.zeros(2), np.ones(2), lam=0.1, L=0.0), "L must be > 0"),
    (lambda: spc.cusum([1.0, 2.0], decision_interval=0), "decision_interval must be > 0"),
    (lambda: spc.cusum([1.0, 2.0], head_start=5.0), "head_start must be >= 0 and < decision_interval"),
    (lambda: spc.CusumDetector(0.0, 1.0, k=-0.5, h=5.0), "k must be >= 0"),
    (lambda: spc.CusumBank(0.0, 1.0, k=0.5, h=math.nan), "h must be finite"),
    (lambda: spc.ShewhartBank(np.zeros(2), np.array([1.0, 0.0])), "sigma must be finite and > 0"),
    (lambda: spc.ShewhartBank(np.array([0.0, math.nan]), 1.0), "center must be finite"),
    (lambda: spc.ShewhartDetector(0.0, 1.0, rules=(5,)), "rules must be a non-empty subset of"),
    (lambda: spc.ShewhartDetector(0.0, 1.0, rule_set="nelsen"), "rule_set must be one of"),
    (lambda: spc.hotelling_t2([[1.0, 2.0], [2.0, 1.0], [3.0, 3.0]]), "X needs more observations"),
    (lambda: spc.hotelling_t2([[1.0, 2.0]] * 3 + [[2.0, 3.0]]), "singular covariance"),
    (lambda: spc.hotelling_t2([[1.0, math.nan]] * 5), r"X\[0, 1\] is nan"),
    (lambda: spc.hotelling_t2([[1.0, 2.0], [2.0, 1.0], [3.0, 3.0], [1.0, 1.0]], confidence_level=1.0),
     r"confidence_level must be in \(0, 1\)"),
])
def test_bad_input_names_the_argument(call, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        call()


def test_capability_refuses_what_it_cannot_use() -> None:
    chart = spc.control_chart("xbar", GROUPS)
    with pytest.raises(ValueError, match="lsl and usl cannot both be None"):
        spc.capability(chart, lsl=None, usl=None)
    with pytest.raises(ValueError, match="lsl must be below usl"):
        spc.capability(chart, lsl=5.0, usl=1.0)
    with pytest.raises(ValueError, match=r"confidence_level must be in \(0, 1\)"):
        spc.capability(chart, lsl=0.0, usl=5.0, confidence_level=95)
    with pytest.raises(ValueError, match="chart must be an xbar or xbar.one chart"):
        spc.capability(spc.control_chart("c", [1, 2]), lsl=0.0, usl=5.0)


def test_banks_refuse_a_wrong_number_of_values() -> None:
    bank = spc.CusumBank(np.zeros(3), 1.0, k=0.5, h=5.0)
    with pytest.raises(ValueError, match=r"x must have shape \(3,\)"):
        bank.update(np.zeros(2))
