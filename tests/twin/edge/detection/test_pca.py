"""The PCA T²/SPE monitor on synthetic data whose structure is known."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.edge.detection.pca import PcaMonitor, spe_limit

# three latent factors (standard deviations 3, 2, 1) seen through eight sensors, plus noise
LOADINGS = np.array([
    [1.0, 0.8, 0.6, 0.4, 0.2, 0.0, 0.0, 0.3],
    [0.0, 0.5, -0.5, 1.0, 0.3, 0.7, 0.0, 0.0],
    [0.2, 0.0, 0.0, 0.0, 0.9, -0.6, 1.0, 0.4],
])
OFFSET = np.arange(8) * 10.0


def in_control(rng: np.random.Generator, n: int) -> np.ndarray:
    factors = rng.standard_normal((n, 3)) * np.array([3.0, 2.0, 1.0])
    return factors @ LOADINGS + 0.3 * rng.standard_normal((n, 8)) + OFFSET


@pytest.fixture(scope="module")
def monitor() -> PcaMonitor:
    return PcaMonitor.fit(in_control(np.random.default_rng(0), 3000))


def test_the_model_finds_the_latent_structure(monitor: PcaMonitor) -> None:
    assert monitor.n_components == 3 and monitor.alpha == 0.01 and monitor.variance == 0.9
    share = np.cumsum(monitor.eigenvalues) / monitor.eigenvalues.sum()
    assert share[1] < 0.9 <= share[2]  # the fewest components reaching 90 %
    assert np.allclose(monitor.loadings.T @ monitor.loadings, np.eye(3))
    t2, spe = monitor.score(in_control(np.random.default_rng(1), 5))
    assert t2.shape == spe.shape == (5,) and (t2 >= 0).all() and (spe >= 0).all()


@settings(max_examples=12, deadline=None)
@given(alpha=st.floats(0.01, 0.1), seed=st.integers(0, 2**32 - 1))
def test_in_control_false_alarm_rate_is_about_alpha(alpha: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    fitted = PcaMonitor.fit(in_control(rng, 3000), alpha=alpha)
    fresh = in_control(rng, 20_000)
    t2, spe = fitted.score(fresh)
    assert 0.6 * alpha < np.mean(t2 > fitted.t2_limit) < 1.4 * alpha
    assert 0.6 * alpha < np.mean(spe > fitted.spe_limit) < 1.4 * alpha
    assert alpha < np.mean(fitted.alarms(fresh)) < 2.4 * alpha  # either statistic


@settings(max_examples=25, deadline=None)
@given(size=st.floats(0.0, 30.0), component=st.integers(0, 2), row=st.integers(0, 99))
def test_a_shift_along_a_principal_direction_raises_t2_and_leaves_spe(monitor, size, component, row) -> None:
    x0 = in_control(np.random.default_rng(2), 100)[row]
    direction = monitor.loadings[:, component]
    shifted = x0 + size * np.sqrt(monitor.eigenvalues[component]) * direction * monitor.scale
    (t2_0, t2_1), (spe_0, spe_1) = monitor.score(np.vstack([x0, shifted]))
    assert spe_1 == pytest.approx(spe_0, rel=1e-9, abs=1e-9)
    score0 = ((x0 - monitor.mean) / monitor.scale) @ direction / np.sqrt(monitor.eigenvalues[component])
    assert t2_1 == pytest.approx(t2_0 + 2 * size * score0 + size**2, rel=1e-9, abs=1e-9)
    if size > abs(score0) + np.sqrt(monitor.t2_limit):
        assert monitor.alarms(shifted[None, :])[0]


@settings(max_examples=25, deadline=None)
@given(size=st.floats(0.0, 10.0), row=st.integers(0, 99))
def test_an_off_model_shift_raises_spe_and_leaves_t2(monitor, size, row) -> None:
    x0 = in_control(np.random.default_rng(3), 100)[row]
    # a direction orthogonal to every kept component: outside the model
    direction = np.linalg.svd(monitor.loadings.T)[2][-1]
    assert np.allclose(monitor.loadings.T @ direction, 0.0)
    shifted = x0 + size * direction * monitor.scale
    (t2_0, t2_1), (spe_0, spe_1) = monitor.score(np.vstack([x0, shifted]))
    assert t2_1 == pytest.approx(t2_0, rel=1e-9, abs=1e-9)
    z0 = (x0 - monitor.mean) / monitor.scale
    residual0 = z0 - monitor.loadings @ (monitor.loadings.T @ z0)
    assert spe_1 == pytest.approx(spe_0 + 2 * size * residual0 @ direction + size**2, rel=1e-9, abs=1e-9)
    if size > np.sqrt(spe_0) + np.sqrt(monitor.spe_limit):
        assert monitor.alarms(shifted[None, :])[0]


def test_the_spe_limit_follows_jackson_mudholkar_and_falls_back_to_box() -> None:
    from scipy import stats

    lam = np.array([0.5, 0.3, 0.2])
    t1, t2, t3 = lam.sum(), (lam**2).sum(), (lam**3).sum()
    h0 = 1 - 2 * t1 * t3 / (3 * t2**2)
    z = stats.norm.ppf(0.99)
    expected = t1 * (z * np.sqrt(2 * t2 * h0**2) / t1 + 1 + t2 * h0 * (h0 - 1) / t1**2) ** (1 / h0)
    assert spe_limit(lam, 0.01) == pytest.approx(expected)
    assert spe_limit(np.array([]), 0.01) == 0.0
    single = spe_limit(np.array([2.0]), 0.01)  # h0 = 1/3: still Jackson-Mudholkar
    assert single == pytest.approx(2.0 * stats.chi2.ppf(0.99, 1), rel=0.05)


@pytest.mark.parametrize(
    ("X", "kwargs", "message"),
    [
        (np.ones(10), {}, "X_clean must be 2-D"),
        ([["a", "b"], ["c", "d"], ["e", "f"]], {}, "X_clean must be a 2-D array of numbers"),
        (np.array([[1.0, 2.0], [np.nan, 1.0], [3.0, 4.0]]), {}, "non-finite value at row 1, column 0"),
        (np.ones((5, 1)), {}, "at least 2 columns"),
        (np.array([[1.0, 2.0], [2.0, 1.0]]), {}, "at least 3 rows"),
        (np.column_stack([np.arange(5.0), np.ones(5)]), {"columns": ["tep.a", "tep.b"]}, "no variance in tep.b"),
        (np.column_stack([np.arange(5.0), np.ones(5)]), {}, "no variance in column 1"),
        (np.eye(4), {"variance": 1.5}, "variance must be in \\(0, 1\\]"),
        (np.eye(4), {"alpha": 0.0}, "alpha must be in \\(0, 1\\)"),
        (np.eye(4), {"columns": ["x"]}, "columns names 1 variables but X_clean has 4"),
    ],
)
def test_bad_input_is_named(X, kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        PcaMonitor.fit(X, **kwargs)


def test_scoring_checks_its_input_against_the_fit(monitor: PcaMonitor) -> None:
    with pytest.raises(ValueError, match="X has 3 columns; the monitor was fitted on 8"):
        monitor.score(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="X holds a non-finite value at row 0, column 2: inf"):
        monitor.alarms(np.array([[0, 0, np.inf, 0, 0, 0, 0, 0]], dtype=float))
