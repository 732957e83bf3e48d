"""Supplier SPC: the Phase I estimate and the false-alarm budget that sets the CUSUM limit."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import REPO
from twin.edge.detection import spc
from twin.edge.supply.monitor import MonitorSettings, false_alarm_probability, phase1_estimate
from twin.harness.supply.scenario import load_supply_scenario

PER_CHARACTERISTIC = 1e-4  # three characteristics: a clean run warns in at most ~1 of 3,300 runs


def test_phase1_estimate_is_the_charts_estimate():
    groups = np.random.default_rng(3).normal(4.0, 0.4, (40, 5))
    center, sigma = phase1_estimate(groups)
    means = spc.control_chart("xbar.one", groups.mean(axis=1))
    within = spc.control_chart("xbar", groups)
    assert center == pytest.approx(means.center)
    assert sigma == pytest.approx(max(means.std_dev, within.std_dev / np.sqrt(5)))
    stacked_center, _ = phase1_estimate(np.stack([groups, groups + 1.0]))
    assert stacked_center == pytest.approx([center, center + 1.0])


def subgroups_per_supplier() -> int:
    """Subgroups a supplier publishes in the clean scenario (90 production days, a lot a day)."""
    spec = load_supply_scenario(REPO / "scenarios" / "supply_clean.yaml")
    s = spec.chain.suppliers[0]
    return int(spec.chain.production_days * 24 / s.lot_interval_h) * s.subgroups_per_lot


@pytest.mark.parametrize(("settings", "within_budget"), [
    (MonitorSettings(), True),
    (MonitorSettings(phase1=40, h=8.0), False),  # the first design: 40 Phase I subgroups, 2.7e-4
])
@pytest.mark.slow
def test_the_cusum_design_against_the_false_alarm_budget(settings, within_budget):
    """Phase I estimation error, not the textbook ARL, sets the in-control false-alarm rate."""
    monitored = subgroups_per_supplier() - settings.phase1
    assert monitored >= 250
    p = false_alarm_probability(settings, monitored, runs=100_000, seed=7)
    assert (p <= PER_CHARACTERISTIC) == within_budget, p
    assert within_budget or p > 2 * PER_CHARACTERISTIC
