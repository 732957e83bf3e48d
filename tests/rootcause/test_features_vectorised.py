"""The per-tag statistics, computed for all tags at once, equal the one-tag-at-a-time computation they
replaced (issue #19: fast at plant scale). The reference below is that computation, kept here only."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from rootcause.features import TAG_FEATURES, EvidenceSettings, evidence_from_series, tag_statistics


# ------------------------------------------------------------------ the reference: one tag at a time
def reference_statistics(values: np.ndarray, quality: np.ndarray, n_base: int, per_mean: int,
                         deviation_z: float) -> tuple[np.ndarray, list[float], int | None]:
    """One tag's z-series, statistics and onset, as rootcause.features computed them before."""
    x = np.asarray(values, dtype=float)
    good = np.isfinite(x)
    filled = reference_fill(x)
    base, post = filled[:n_base], filled[n_base:]
    post_quality = np.asarray(quality[n_base:])
    base_means, post_means = reference_means(base, per_mean), reference_means(post, per_mean)
    mu = float(np.nanmean(base_means)) if np.isfinite(base_means).any() else 0.0
    scale = max(float(np.nanstd(base_means)) if np.isfinite(base_means).sum() > 1 else 0.0, 1e-6 * (abs(mu) + 1.0))
    z = np.nan_to_num((post_means - mu) / scale, nan=0.0)
    absz = np.abs(z)
    above = np.flatnonzero(absz > deviation_z)
    tail = post[-int(20 * per_mean):] if len(post) else post
    base_sd = float(np.nanstd(base)) if np.isfinite(base).sum() > 1 else 0.0
    tail_sd = float(np.nanstd(tail)) if np.isfinite(tail).sum() > 1 else 0.0
    base_step = float(np.nanstd(np.diff(base))) if len(base) > 2 else 0.0
    tail_step = float(np.nanstd(np.diff(tail))) if len(tail) > 2 else 0.0
    tail_diffs = np.diff(tail[np.isfinite(tail)])
    jumps = np.abs(np.diff(post_means)) / scale if len(post_means) > 1 else np.zeros(1)
    n_post = max(1, len(post_quality))
    stats = [
        float(np.log1p(absz.max(initial=0.0))),
        float(np.log1p(absz[-5:].mean() if len(absz) else 0.0)),
        float(np.clip(np.log10((tail_sd + 1e-9) / (base_sd + 1e-9)), -6.0, 3.0)),
        float((tail_diffs == 0).mean()) if len(tail_diffs) else 1.0,
        float(np.clip(np.log10((tail_step + 1e-9) / (base_step + 1e-9)), -6.0, 3.0)),
        float(np.log1p(np.nanmax(jumps, initial=0.0))),
        float((post_quality >= 2).sum() / n_post + (~good[n_base:]).sum() / n_post) / 2,
        float((post_quality == 1).sum() / n_post),
        float(np.sign(z[-5:].mean())) if len(z) else 0.0,
    ]
    return z, stats, int(above[0]) if len(above) else None


def reference_means(x: np.ndarray, per: int) -> np.ndarray:
    n = len(x) // per
    if n == 0:
        return np.full(1, np.nan)
    with np.errstate(invalid="ignore"):
        blocks = x[: n * per].reshape(n, per)
        counts = np.isfinite(blocks).sum(axis=1)
        return np.where(counts > 0, np.nansum(blocks, axis=1) / np.maximum(counts, 1), np.nan)


def reference_fill(x: np.ndarray) -> np.ndarray:
    ok = np.isfinite(x)
    if not ok.any():
        return np.zeros_like(x)
    idx = np.where(ok, np.arange(len(x)), 0)
    np.maximum.accumulate(idx, out=idx)
    out = x[idx]
    out[: int(np.argmax(ok))] = x[int(np.argmax(ok))]
    return out


def reference_features(series: dict, alarms: list[tuple[str, int]], window: tuple[int, int, int],
                       settings: EvidenceSettings) -> dict[str, tuple[np.ndarray, np.ndarray, float | None]]:
    """Per tag: z-series, features and onset, a tag at a time (the onset rank and 'earliest' compare them)."""
    start, base_end, _ = window
    first_alarm_ms = min(t for _, t in alarms)
    n_base = max(2, (base_end - start) // settings.grid_ms)
    per_mean = max(1, int(round(settings.mean_s * 1000 / settings.grid_ms)))
    alarmed: dict[str, int] = {}
    for tag, t in alarms:
        alarmed[tag] = min(t, alarmed.get(tag, t))
    raw = {}
    for tag, (values, quality) in series.items():
        z, stats, onset = reference_statistics(values, quality, n_base, per_mean, settings.deviation_z)
        onset_s = None if onset is None else (base_end + (onset + 1) * settings.mean_s * 1000 - first_alarm_ms) / 1000
        raw[tag] = (z, stats, onset_s)
    onsets = sorted(o for _, _, o in raw.values() if o is not None)
    out = {}
    for tag, (z, stats, onset_s) in raw.items():
        deviated = onset_s is not None
        alarm_rel = (alarmed[tag] - first_alarm_ms) / (60_000 * settings.mean_s) if tag in alarmed else 2.0
        features = np.array([
            *stats[:2], float(deviated),
            np.clip(onset_s / (60 * settings.mean_s) if deviated else 2.0, -2.0, 2.0),
            onsets.index(onset_s) / max(1, len(onsets) - 1) if deviated else 1.0,
            float(deviated and onset_s == onsets[0]), float(tag in alarmed), np.clip(alarm_rel, -2.0, 2.0),
            *stats[2:],
        ], dtype=np.float32)
        out[tag] = (z.astype(np.float32), features, onset_s)
    return out


# ------------------------------------------------------------------ the strategies
values_of = st.one_of(st.floats(-1e6, 1e6), st.just(float("nan")), st.just(float("inf")))


@st.composite
def tag_series(draw: st.DrawFn, length: int) -> tuple[np.ndarray, np.ndarray]:
    """A tag's grid values: noise, maybe a step, a flat stretch or gaps; and quality codes 0..3."""
    shape = draw(st.sampled_from(["noise", "step", "flat", "drawn"]))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    if shape == "drawn":
        values = draw(hnp.arrays(np.float64, length, elements=values_of))
    else:
        values = rng.normal(draw(st.floats(-1e3, 1e3)), draw(st.floats(0.0, 50.0)), length)
        if shape == "step":
            values[draw(st.integers(0, max(0, length - 1))):] += draw(st.floats(-1e3, 1e3))
        if shape == "flat":
            values[draw(st.integers(0, max(0, length - 1))):] = draw(st.floats(-10.0, 10.0))
        values[rng.random(length) < draw(st.floats(0.0, 1.0))] = np.nan
    quality = draw(hnp.arrays(np.uint8, length, elements=st.integers(0, 3)))
    return values, quality


# ------------------------------------------------------------------ the tests
@settings(max_examples=120, deadline=None)
@given(data=st.data(), length=st.integers(0, 260), per_mean=st.sampled_from([1, 2, 3, 10]),
       n_base=st.integers(2, 120), deviation_z=st.floats(0.5, 8.0))
def test_tag_statistics_of_all_tags_at_once_equal_one_tag_at_a_time(
        data: st.DataObject, length: int, per_mean: int, n_base: int, deviation_z: float) -> None:
    rows = data.draw(st.lists(tag_series(length), min_size=1, max_size=5))
    values = np.stack([v for v, _ in rows])
    quality = np.stack([q for _, q in rows])
    z, stats, onset = tag_statistics(values, quality, n_base, per_mean, deviation_z)
    for i, (v, q) in enumerate(rows):
        ref_z, ref_stats, ref_onset = reference_statistics(v, q, n_base, per_mean, deviation_z)
        np.testing.assert_array_equal(z[i], ref_z)
        np.testing.assert_array_equal(stats[i], ref_stats)
        assert (None if onset[i] < 0 else int(onset[i])) == ref_onset


@settings(max_examples=60, deadline=None)
@given(data=st.data(), base_means=st.integers(2, 12), after=st.integers(0, 90), n_tags=st.integers(1, 6),
       per_mean=st.sampled_from([1, 5, 10]))
def test_evidence_features_equal_the_one_tag_at_a_time_computation(
        data: st.DataObject, base_means: int, after: int, n_tags: int, per_mean: int) -> None:
    grid_ms = 100
    settings = EvidenceSettings(grid_ms=grid_ms, mean_s=per_mean * grid_ms / 1000,
                                baseline_s=base_means * per_mean * grid_ms / 1000)
    length = base_means * per_mean + after
    series = {f"t{i}": data.draw(tag_series(length)) for i in range(n_tags)}
    end = length * grid_ms
    window = (0, base_means * per_mean * grid_ms, end)
    alarms = [(f"t{data.draw(st.integers(0, n_tags - 1))}", data.draw(st.integers(0, end))) for _ in range(2)]
    evidence = evidence_from_series(series, alarms, end, window, settings)
    reference = reference_features(series, alarms, window, settings)
    assert list(evidence.tags) == list(reference)
    for tag, (z, features, onset_s) in reference.items():
        got = evidence.tags[tag]
        np.testing.assert_array_equal(got.z, z)
        np.testing.assert_array_equal(got.features, features, err_msg=str(TAG_FEATURES))
        assert got.onset_s == onset_s


def test_series_of_different_lengths_are_computed_apart_and_agree_with_each_alone() -> None:
    rng = np.random.default_rng(3)
    settings = EvidenceSettings()
    series = {"a": (rng.normal(size=900), np.zeros(900, np.uint8)),
              "b": (rng.normal(size=700), np.zeros(700, np.uint8))}
    series["a"][0][700:] += 50.0
    both = evidence_from_series(series, [("a", 75_000)], 90_000, (0, 60_000, 90_000), settings)
    for tag in series:
        alone = evidence_from_series({tag: series[tag]}, [("a", 75_000)], 90_000, (0, 60_000, 90_000), settings)
        np.testing.assert_array_equal(both.tags[tag].z, alone.tags[tag].z)
    assert both.feature("a", "deviated") == 1.0 and both.feature("b", "deviated") == 0.0
