"""The pure-Python single-stream detectors equal their banks of one stream, step for step.

``ShewhartDetector``, ``EwmaDetector`` and ``CusumDetector`` keep their state as floats and ints
(no numpy per update); the banks are the vectorised definition. Fed the same stream -- NaN and
None gaps, shifts, trends, alternations, points exactly on the zone lines, resets -- both must
give the same signal, statistic, limits, side and rule at every step. The arithmetic is the
same in the same order, so the floats are compared for exact equality.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.edge.detection import spc
from twin.edge.detection._cusum import cusum_step, cusum_step_float
from twin.edge.detection._rules import RULE_SETS, RuleEngine, sigma_zones
from twin.edge.detection._scalar import RunRules

RESET = "reset"  # a stream item that resets both detectors instead of feeding them


def same(a: float, b: float) -> bool:
    """Equal floats, NaN equal to NaN."""
    return a == b or (math.isnan(a) and math.isnan(b))


@st.composite
def standard_streams(draw: st.DrawFn) -> list[float | None | str]:
    """Streams in sigma units around 0: noise, held shifts, trends, alternations, zone lines, gaps, resets."""
    noise = st.floats(-4.5, 4.5)
    segment = st.one_of(
        st.lists(noise, min_size=1, max_size=30),
        st.tuples(st.floats(-4.0, 4.0), st.lists(st.floats(-0.8, 0.8), min_size=1, max_size=25)).map(
            lambda s: [s[0] + e for e in s[1]]),  # a held shift
        st.tuples(noise, st.floats(-1.0, 1.0), st.integers(4, 10)).map(
            lambda s: [s[0] + i * s[1] for i in range(s[2])]),  # a trend
        st.tuples(noise, noise, st.integers(4, 18)).map(
            lambda s: [s[i % 2] for i in range(s[2])]),  # alternation
        st.lists(st.sampled_from([-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0]), min_size=1, max_size=12),  # zone lines
        st.sampled_from([[math.nan], [None], [math.nan, math.nan], [RESET]]),
    )
    return [x for seg in draw(st.lists(segment, min_size=1, max_size=8)) for x in seg]


def observations(stream: list[float | None | str], center: float, sigma: float, L: float) -> list[float | None | str]:
    """Sigma units to observations; the zone lines exactly where the bank draws them (``center ± m·L/3·sigma``)."""
    w = L / 3.0 * sigma
    return [x if x is None or x == RESET or math.isnan(x)
            else center + x * w if x in (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0) else center + x * sigma
            for x in stream]


def assert_same_run(scalar: spc.Detector, reference: spc.Detector, stream: list[float | None | str],
                    rule: Callable[[], tuple[int, int]] | None = None) -> None:
    """Feed both detectors ``stream`` and compare them after every step."""
    for t, x in enumerate(stream):
        if x == RESET:
            scalar.reset()
            reference.reset()
        else:
            with np.errstate(all="ignore"):  # infinities on purpose
                signal = reference.update(x)  # type: ignore[arg-type]
            assert scalar.update(x) is signal, t  # type: ignore[arg-type]
        assert same(scalar.statistic, reference.statistic), (t, scalar.statistic, reference.statistic)
        assert (scalar.upper, scalar.lower) == (reference.upper, reference.lower), t
        assert scalar.side == reference.side, t
        if rule is not None:
            assert rule()[0] == rule()[1], t


centers = st.floats(-1e3, 1e3)
sigmas = st.floats(1e-3, 1e3)
widths = st.floats(0.1, 6.0)


@st.composite
def rule_choices(draw: st.DrawFn) -> tuple[str, tuple[int, ...]]:
    """A rule set and a non-empty subset of its rules."""
    rule_set = draw(st.sampled_from(sorted(RULE_SETS)))
    rules = draw(st.sets(st.sampled_from(RULE_SETS[rule_set]), min_size=1))
    return rule_set, tuple(sorted(rules))


@settings(max_examples=300, deadline=None, derandomize=True)
@given(centers, sigmas, widths, rule_choices(), standard_streams())
def test_shewhart_detector_equals_its_bank(center: float, sigma: float, L: float,
                                           choice: tuple[str, tuple[int, ...]], stream: list) -> None:
    rule_set, rules = choice
    scalar = spc.ShewhartDetector(center, sigma, rules=rules, rule_set=rule_set, L=L)
    bank = spc.ShewhartBank(center, sigma, rules=rules, rule_set=rule_set, L=L)
    assert_same_run(scalar, spc.Detector(bank), observations(stream, center, sigma, L),
                    rule=lambda: (scalar.last_rule, int(bank.last_rules[0])))


@settings(max_examples=300, deadline=None, derandomize=True)
@given(centers, sigmas, st.floats(1e-4, 1.0), widths, st.booleans(), standard_streams())
def test_ewma_detector_equals_its_bank(center: float, sigma: float, lam: float, L: float, exact: bool,
                                       stream: list) -> None:
    scalar = spc.EwmaDetector(center, sigma, lam=lam, L=L, exact_limits=exact)
    reference = spc.Detector(spc.EwmaBank(center, sigma, lam=lam, L=L, exact_limits=exact))
    assert_same_run(scalar, reference, observations(stream, center, sigma, L))


@settings(max_examples=300, deadline=None, derandomize=True)
@given(centers, sigmas, st.floats(0.0, 3.0), st.floats(0.1, 10.0), st.booleans(), standard_streams())
def test_cusum_detector_equals_its_bank(center: float, sigma: float, k: float, h: float, restart: bool,
                                        stream: list) -> None:
    scalar = spc.CusumDetector(center, sigma, k=k, h=h, restart=restart)
    reference = spc.Detector(spc.CusumBank(center, sigma, k=k, h=h, restart=restart))
    assert_same_run(scalar, reference, observations(stream, center, sigma, 3.0))


@pytest.mark.parametrize("lam", [1e-3, 0.05, 0.5, 1.0])
def test_exact_ewma_limits_equal_the_banks_over_long_runs(lam: float) -> None:
    """Past the blocks of precomputed limits and into the asymptote (about 18,000 steps at lam 0.001)."""
    rng = np.random.default_rng(5)
    stream: list = (2.0 + 1.5 * rng.standard_normal(20_000 if lam < 0.01 else 1000)).tolist()
    stream[::97] = [math.nan] * len(stream[::97])
    stream[100] = RESET
    scalar = spc.EwmaDetector(2.0, 1.5, lam=lam, L=3.0, exact_limits=True)
    assert_same_run(scalar, spc.Detector(spc.EwmaBank(2.0, 1.5, lam=lam, L=3.0, exact_limits=True)), stream)
    assert (scalar.upper, scalar.lower) == (spc.EwmaDetector(2.0, 1.5, lam=lam, L=3.0).upper,
                                            spc.EwmaDetector(2.0, 1.5, lam=lam, L=3.0).lower)


@pytest.mark.parametrize(("make", "name"), [
    (lambda: spc.ShewhartDetector(0.0, 1.0, rules=range(1, 9), rule_set="nelson"), "shewhart"),
    (lambda: spc.EwmaDetector(0.0, 1.0, lam=0.2, L=2.86, exact_limits=True), "ewma"),
    (lambda: spc.CusumDetector(0.0, 1.0, k=0.5, h=4.0), "cusum"),
])
def test_infinities_and_overflow_take_the_same_path(make: Callable[[], spc.Detector], name: str) -> None:
    banks = {"shewhart": lambda: spc.ShewhartBank(0.0, 1.0, rules=range(1, 9), rule_set="nelson"),
             "ewma": lambda: spc.EwmaBank(0.0, 1.0, lam=0.2, L=2.86, exact_limits=True),
             "cusum": lambda: spc.CusumBank(0.0, 1.0, k=0.5, h=4.0)}
    stream = [1.0, math.inf, 2.0, -math.inf, math.inf, 1e308, -1e308, 1e308, math.nan, 0.5, -0.0, RESET,
              -math.inf, 0.0, 1e308, 1e308, -1e308]
    assert_same_run(make(), spc.Detector(banks[name]()), stream)


def test_update_takes_what_the_bank_takes() -> None:
    """Numbers of any numeric type, numeric strings, None (no update)."""
    scalar, reference = spc.EwmaDetector(0.0, 1.0, lam=0.5, L=3.0), spc.Detector(spc.EwmaBank(0.0, 1.0, 0.5, 3.0))
    assert_same_run(scalar, reference, [np.float32(1.5), True, "0.25", None, np.array(2.0), 3])
    with pytest.raises(TypeError):
        scalar.update(1j)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="scalars"):
        spc.CusumDetector(np.zeros(2), 1.0, k=0.5, h=5.0)  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.sampled_from(sorted(RULE_SETS)), st.booleans(), centers, sigmas, widths, standard_streams())
def test_run_rules_give_the_engines_masks(rule_set: str, partial: bool, center: float, sigma: float, L: float,
                                          stream: list) -> None:
    """Every rule enabled, so the masks show every condition (Western Electric rule 4 is the run of 8)."""
    engine = RuleEngine(1, rule_set, partial_windows=partial)
    zones = sigma_zones(np.array([center]), np.array([sigma]), L)
    rules = RunRules(RuleEngine(1, rule_set, partial_windows=partial), center, zones[:, 0].tolist())
    for x in observations(stream, center, sigma, L):
        if x == RESET:
            engine.reset()
            rules.reset()
        elif x is not None and not math.isnan(x):
            assert rules.step(x) == int(engine.step(np.array([x]), np.array([center]), zones)[0])


def test_run_rules_on_a_long_random_walk() -> None:
    """Long runs, trends and alternations a short example rarely reaches."""
    rng = np.random.default_rng(11)
    x = np.cumsum(rng.choice([-0.6, -0.2, 0.3, 0.7], 20_000)) % 7.0 - 3.5
    x[rng.random(x.size) < 0.3] *= -1.0
    for rule_set in sorted(RULE_SETS):
        engine = RuleEngine(1, rule_set, partial_windows=True)
        zones = sigma_zones(np.zeros(1), np.ones(1), 3.0)
        rules = RunRules(engine, 0.0, zones[:, 0].tolist())
        masks = [rules.step(v) for v in x.tolist()]
        expected = [int(engine.step(np.array([v]), np.zeros(1), zones)[0]) for v in x]
        assert masks == expected
        assert all(any(m & (1 << r) for m in masks) for r in RULE_SETS[rule_set])  # every rule was exercised


special_floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                           st.sampled_from([0.0, -0.0, 0.5, 1.0, math.inf, -math.inf, math.nan]))


@settings(max_examples=500, deadline=None, derandomize=True)
@given(special_floats, special_floats, special_floats, st.floats(0.0, 1e300) | st.just(0.0))
def test_cusum_step_on_floats_is_the_array_step_bit_for_bit(pos: float, neg: float, z: float, k: float) -> None:
    with np.errstate(all="ignore"):
        expected = cusum_step(np.array([pos]), np.array([neg]), np.array([z]), k)
    for got, want in zip(cusum_step_float(pos, neg, z, k), expected):
        assert np.array_equal(np.array([got]), want, equal_nan=True)
        assert math.isnan(got) or math.copysign(1.0, got) == np.copysign(1.0, want[0])  # -0.0 kept as numpy does
