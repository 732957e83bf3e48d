"""Capability indices and Hotelling T^2 against qcc's printed output."""

from __future__ import annotations

import numpy as np
import pytest

from tests.twin.edge.detection import data
from tests.twin.edge.detection.support import printed
from twin.edge.detection import spc

# qcc vignette, process.capability(q1, spec.limits = ...) on pistonrings[1:25]
CASES = [
    ((73.95, 74.05, None), {"Cp": ("1.703", "1.491", "1.915"), "Cp_l": ("1.743", "1.555", "1.932"),
                            "Cp_u": ("1.663", "1.483", "1.844"), "Cp_k": ("1.663", "1.448", "1.878"),
                            "Cpm": ("1.691", "1.480", "1.902")}),
    ((73.95, 74.05, 74.02), {"Cp": ("1.7033", "1.4914", "1.9148"), "Cp_l": ("1.7433", "1.5548", "1.9319"),
                             "Cp_u": ("1.6632", "1.4827", "1.8437"), "Cp_k": ("1.6632", "1.4481", "1.8783"),
                             "Cpm": ("0.7856", "0.6556", "0.9154")}),
    ((73.99, 74.01, None), {"Cp": ("0.3407", "0.2983", "0.3830"), "Cp_l": ("0.3807", "0.3176", "0.4439"),
                            "Cp_u": ("0.3006", "0.2424", "0.3588"), "Cp_k": ("0.3006", "0.2312", "0.3700"),
                            "Cpm": ("0.3382", "0.2960", "0.3804")}),
    ((73.99, 74.1, None), {"Cp": ("1.8736", "1.6406", "2.1063"), "Cp_l": ("0.3807", "0.3176", "0.4439"),
                           "Cp_u": ("3.3665", "3.0115", "3.7215"), "Cp_k": ("0.3807", "0.3055", "0.4559"),
                           "Cpm": ("0.4083", "0.3377", "0.4788")}),
]


@pytest.mark.parametrize(("spec", "expected"), CASES)
def test_capability_of_the_piston_rings(spec: tuple, expected: dict) -> None:
    lsl, usl, target = spec
    chart = spc.control_chart("xbar", data.PISTONRINGS[:25])
    cap = spc.capability(chart, lsl=lsl, usl=usl, target=target)
    assert set(cap) == {"Cp", "Cp_l", "Cp_u", "Cp_k", "Cpm"}
    assert cap.n == 125 and cap.target == (target if target is not None else (lsl + usl) / 2)
    for name, triple in expected.items():
        for value, text in zip(cap[name], triple):
            printed(value, text)


def test_capability_formulas_and_pp_through_the_overall_sd() -> None:
    chart = spc.control_chart("xbar", data.PISTONRINGS[:25])
    cap = spc.capability(chart, lsl=73.95, usl=74.05)
    assert cap["Cp"][0] == pytest.approx(0.1 / (6 * chart.std_dev), rel=1e-12)
    overall = np.std(np.concatenate([np.asarray(g) for g in data.PISTONRINGS[:25]]), ddof=1)
    assert cap.overall_std_dev == pytest.approx(overall, rel=1e-12)
    pp = spc.capability(chart, lsl=73.95, usl=74.05, std_dev=cap.overall_std_dev)
    assert pp["Cp"][0] == pytest.approx(0.1 / (6 * overall), rel=1e-12)


def test_one_sided_specification() -> None:
    chart = spc.control_chart("xbar.one", data.VISCOSITY_15)
    cap = spc.capability(chart, lsl=None, usl=35.0)
    assert np.isnan(cap["Cp"][0]) and np.isnan(cap["Cp_l"][0]) and np.isnan(cap["Cpm"][0])
    assert cap["Cp_k"][0] == cap["Cp_u"][0] == pytest.approx((35.0 - chart.center) / (3 * chart.std_dev))


def test_hotelling_t2_of_the_boiler_temperatures() -> None:
    t2 = spc.hotelling_t2(data.BOILER, confidence_level=0.999)
    printed(t2.ucl, "17.41705")
    printed(float(t2.statistics.min()), "1.316342")
    printed(float(t2.statistics.max()), "17.575293")
    printed(float(t2.statistics.mean()), "7.68")  # = p (m - 1) / m for any data
    np.testing.assert_allclose(t2.center, [525.00, 513.56, 538.92, 521.68, 503.80, 512.44, 478.72, 477.24])
    printed(float(t2.cov[0, 1]), "0.9583333")
    printed(float(t2.cov[3, 4]), "13.5583333")
    assert t2.beyond_limits == [int(np.argmax(t2.statistics))]
    default = spc.hotelling_t2(data.BOILER)
    assert default.confidence_level == pytest.approx((1 - 0.0027) ** 8)
    assert default.ucl < t2.ucl
