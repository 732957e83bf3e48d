"""Monte Carlo run lengths against the published ARLs, within 3 standard errors.

The published values are rounded; the tolerance adds half a unit of their last digit.
Sources: Shewhart 3-sigma, 1/p (370.4; 43.9 at 1 sigma); Western Electric rules 1-4,
Champ & Woodall (1987, Technometrics 29, 393-399): 91.75 in control, 9.22 at 1 sigma;
EWMA lambda = 0.1, L = 2.814, Lucas & Saccucci (1990, Technometrics 32, 1-12): 500 and
10.3; CUSUM k = 0.5, h = 5, Montgomery (Table 9.3): 465 and 10.4.
"""

from __future__ import annotations

import pytest

from twin.edge.detection.arl import ArlResult, detector_factory, run_length_arl

RUNS = 40_000

CASES = [
    ("shewhart", {"rules": (1,)}, 0.0, "370.4"),
    ("shewhart", {"rules": (1,)}, 1.0, "43.9"),
    ("shewhart", {"rules": (1, 2, 3, 4)}, 0.0, "91.75"),
    ("shewhart", {"rules": (1, 2, 3, 4)}, 1.0, "9.22"),
    ("ewma", {"lam": 0.1, "L": 2.814}, 0.0, "500"),
    ("ewma", {"lam": 0.1, "L": 2.814}, 1.0, "10.3"),
    ("cusum", {"k": 0.5, "h": 5.0}, 0.0, "465"),
    ("cusum", {"k": 0.5, "h": 5.0}, 1.0, "10.4"),
]


@pytest.mark.parametrize(("name", "params", "shift", "published"), CASES)
def test_monte_carlo_arl_matches_the_published_value(name: str, params: dict, shift: float, published: str) -> None:
    result = run_length_arl(detector_factory(name, **params), shift, runs=RUNS, seed=2024)
    digits = len(published.split(".")[1]) if "." in published else 0
    assert result.censored == 0 and result.runs == RUNS
    assert abs(result.arl - float(published)) <= 3 * result.se + 0.5 * 10.0**-digits, result


def test_arl_result_is_reproducible_and_bounded() -> None:
    factory = detector_factory("cusum", k=0.5, h=5.0)
    a = run_length_arl(factory, 2.0, runs=500, seed=7)
    assert a == run_length_arl(factory, 2.0, runs=500, seed=7)
    assert isinstance(a, ArlResult) and a.se == pytest.approx(a.sdrl / 500**0.5)
    capped = run_length_arl(factory, 0.0, runs=200, seed=7, max_length=50)
    assert capped.censored > 150 and capped.arl <= 50


def test_bad_arl_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="runs"):
        run_length_arl(detector_factory("ewma", lam=0.1, L=2.8), runs=1)
    with pytest.raises(ValueError, match="name"):
        detector_factory("shewart")
    with pytest.raises(ValueError, match="lam"):
        detector_factory("ewma", lam=0.0, L=2.8)


def test_the_command_line_prints_a_table() -> None:
    from typer.testing import CliRunner

    from twin.cli import app

    result = CliRunner().invoke(app, ["detect", "arl", "cusum", "--shift", "2", "--runs", "300", "--seed", "3"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "ARL" in out and "SDRL" in out and out.strip().splitlines()[-1].split()[0] == "2.00"
