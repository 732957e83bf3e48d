"""Dynamic thresholds: context models and declarative threshold rules."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.edge.detection.thresholds import ContextModel, RuleCondition, RuleEngine, ThresholdRule


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), slope=st.floats(-5, 5), noise=st.floats(0.05, 2.0))
def test_context_model_recovers_the_context_effect_and_residual_sigma(seed: int, slope: float, noise: float) -> None:
    rng = np.random.default_rng(seed)
    humidity = 50 + 15 * np.sin(np.linspace(0, 6, 400))
    y = 100 + slope * (humidity - 50) + rng.normal(0, noise, 400)
    model = ContextModel()
    sigma = model.fit(y[:, None], humidity[:, None])
    assert abs(sigma[0] - noise) < 0.2 * noise
    expected = 100 + slope * 10
    # standard error of a least-squares prediction at x0 = 60
    se = noise * np.sqrt(1 / 400 + (60 - humidity.mean()) ** 2 / np.sum((humidity - humidity.mean()) ** 2))
    assert abs(model.predict(np.array([60.0]))[0] - expected) < 4.5 * se


def test_a_context_band_separates_a_shift_from_context_driven_movement() -> None:
    rng = np.random.default_rng(1)
    humidity = 50 + 20 * np.sin(np.linspace(0, 12, 1200))
    y = 100 + 0.5 * (humidity - 50) + rng.normal(0, 0.2, 1200)
    model = ContextModel()
    sigma = model.fit(y[:300, None], humidity[:300, None])[0]
    static_sigma = y[:300].std()
    assert static_sigma > 10 * sigma  # the static band must swallow the humidity swing
    clean = np.array([y[t] - model.predict(humidity[t : t + 1])[0] for t in range(300, 1200)])
    assert np.abs(clean).max() < 5 * sigma  # context-driven movement stays inside the dynamic band
    assert abs(0.6 + clean.mean()) > 0.5  # and a 0.6 shift (3 residual sigmas) would stand out


def test_online_update_follows_a_slowly_changing_relation() -> None:
    model = ContextModel(forgetting=0.98)
    c = np.linspace(0, 1, 200)
    model.fit((2 * c)[:, None], c[:, None])
    for value in np.linspace(0, 1, 500):
        model.update(np.array([3 * value + 1]), np.array([value]), np.array([True]))
    assert abs(model.predict(np.array([0.5]))[0] - 2.5) < 0.05


def test_context_model_errors_are_named() -> None:
    with pytest.raises(ValueError, match="forgetting must be in"):
        ContextModel(forgetting=0)
    with pytest.raises(ValueError, match="need at least 4 warm-up subgroups with context"):
        ContextModel().fit(np.ones((3, 1)), np.ones((3, 1)))


def test_a_rule_fires_after_its_hold_time_and_records_why() -> None:
    rule = ThresholdRule(name="humid", when=RuleCondition(tag="l.amb.rh", above=85, for_s=3 * 86400),
                         tags=["l.xray.*"], action="tighten", percent=30)
    names = ["l.amb.rh", "l.xray.t[0]", "l.xray.t[1]", "l.blade.p"]
    engine = RuleEngine([rule], names)
    day = 86_400_000
    factors = [engine.step(t, np.array([90.0, 0, 0, 0])) for t in (0, day, 2 * day, 3 * day)]
    assert list(factors[2]) == [1, 1, 1, 1]
    assert list(factors[3]) == pytest.approx([1, 0.7, 0.7, 1])
    assert engine.step(3 * day + 1000, np.array([80.0, 0, 0, 0])).tolist() == [1, 1, 1, 1]
    assert [f["active"] for f in engine.firings] == [True, False]
    assert "l.amb.rh above 85 for 259200 s: tighten l.xray.* by 30 %" in engine.firings[0]["reason"]


def test_rule_errors_are_named() -> None:
    with pytest.raises(ValueError, match="exactly one of 'above' or 'below'"):
        RuleCondition(tag="a.b", above=1, below=2)
    rule = ThresholdRule(name="r", when=RuleCondition(tag="l.nope", below=1), tags=["*"], percent=10)
    with pytest.raises(ValueError, match="no collected tag named 'l.nope'"):
        RuleEngine([rule], ["l.a.b"])
