"""The vectorised sensor layer on a tiny two-sensor group."""

from __future__ import annotations

import numpy as np
import pytest

from plant_models.rng import rng_for
from plant_models.sensors import SensorBank, SensorGroup, SensorSpec


def tiny_group(sigma: float = 0.1) -> SensorGroup:
    specs = [SensorSpec("a.x", 1, sigma, 0.0, 10.0), SensorSpec("a.profile", 3, sigma, 0.0, 10.0)]
    return SensorGroup(specs, period_ms=10, rng=rng_for(0, "test"), history_s=0.05,
                       initial=np.full(4, 5.0))


def test_layout_and_noise_level() -> None:
    group = tiny_group()
    assert group.width == 4 and group.slices["a.profile"] == slice(1, 4)
    samples = np.array([group.sample(np.full(4, 5.0)).copy() for _ in range(4000)])
    assert samples.mean() == pytest.approx(5.0, abs=0.01)
    assert samples.std() == pytest.approx(0.1, rel=0.05)


def test_values_saturate_at_the_range() -> None:
    group = tiny_group(sigma=0.0)
    assert group.sample(np.array([-3.0, 4.0, 12.0, 9.0])).tolist() == [0.0, 4.0, 10.0, 9.0]


def test_stuck_bias_and_dropout_stack_and_unwind() -> None:
    group = tiny_group(sigma=0.0)
    group.sample(np.array([1.0, 2.0, 3.0, 4.0]))
    group.stick("a.profile")
    group.add_bias("a.x", 0.5)
    assert group.sample(np.array([6.0, 6.0, 6.0, 6.0])).tolist() == [6.5, 2.0, 3.0, 4.0]
    group.drop("a.x")
    assert np.isnan(group.sample(np.full(4, 6.0))[0])
    group.drop("a.x", -1)
    group.unstick("a.profile")
    group.add_bias("a.x", -0.5)
    assert group.sample(np.full(4, 7.0)).tolist() == [7.0] * 4


def test_lag_replays_the_history_and_is_bounded() -> None:
    group = tiny_group(sigma=0.0)
    group.add_lag("a.x", group.skew_samples(0.03))
    out = [group.sample(np.full(4, float(k)))[0] for k in range(1, 8)]
    assert out == [5.0, 5.0, 5.0, 1.0, 2.0, 3.0, 4.0], "initial values fill the history"
    with pytest.raises(ValueError, match="0..0.05 s"):
        group.skew_samples(0.06)


def test_noise_burst_uses_its_own_generator() -> None:
    quiet, noisy = tiny_group(), tiny_group()
    handle = noisy.start_burst("a.x", 3.0, rng_for(0, "burst"))
    a = quiet.sample(np.full(4, 5.0)).copy()
    b = noisy.sample(np.full(4, 5.0)).copy()
    assert a[0] != b[0] and np.array_equal(a[1:], b[1:])
    noisy.stop_burst(handle)
    assert np.array_equal(quiet.sample(np.full(4, 5.0)), noisy.sample(np.full(4, 5.0)))


def test_bank_names_unknown_sensors() -> None:
    bank = SensorBank([tiny_group()])
    assert bank.names == ["a.x", "a.profile"]
    with pytest.raises(KeyError, match="'a.y'"):
        bank.group("a.y")
