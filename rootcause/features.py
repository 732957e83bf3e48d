"""Evidence from the historian window around an alarm, and the features the graph carries.

Everything here is computed from what the edge can see: the historian's samples (with their
quality flags) and the alarms. The window runs from ``lookback_s`` before the first alarm to
the diagnosis time; its first ``baseline_s`` seconds are the reference ("how the signal
looked before"). Signals are read on a fixed grid (``grid_ms``, 100 ms by default, so a 10 ms
and a 100 ms scan give features of the same distribution), averaged into means of ``mean_s``
(1 s by default), and expressed as z-scores against the baseline's means.

Times in the features are counted in those means (the *step*), so a plant with slow dynamics
(the Tennessee Eastman process: 3-min samples, ``grid_ms = mean_s * 1000 = 180 000``) gets
features of the same scale as the coater on its 1 s means: an onset one minute before the alarm
on the coater reads like an onset 60 samples (3 h) before it on TEP. A tag *deviates* when a
mean is ``deviation_z`` baseline sigmas off (4 by default; a plant that wanders in closed loop
over hours, like TEP, needs more).

Per tag (node features, :data:`TAG_FEATURES`): size of the deviation (max and final |z|),
onset of the first deviation relative to the first alarm and its rank among all deviating
tags, whether and when it alarmed, and the data-quality evidence that tells a sensor fault
from a process fault: a flat line (stuck), noise growth (noise burst), a one-second jump
(bias step), the share of bad or missing samples (dropout).

Per link (edge features, :data:`EDGE_FEATURES`): the best lagged cross-correlation of the
two z-series with the effect lagging the cause, its lag, the onset difference (a
transfer-style "did the cause move first" score), and whether both ends deviated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

GRID_MS = 100
MEAN_S = 1.0
DEVIATION_Z = 4.0
TAG_FEATURES = (
    "z_max", "z_final", "deviated", "onset_rel", "onset_rank", "earliest", "alarmed", "alarm_rel",
    "flat", "zero_steps", "noise_ratio", "jump", "bad_share", "stale_share", "sign",
)
EDGE_FEATURES = ("xcorr", "xcorr_lag", "onset_lead", "both_deviated", "observed")
MAX_LAG_S = 10


class EvidenceSettings(BaseModel):
    """How much history a diagnosis looks at, and at what resolution."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    lookback_s: float = Field(default=120.0, gt=0, description="window start, seconds before the first alarm")
    baseline_s: float = Field(default=60.0, gt=0, description="reference part at the start of the window")
    evidence_s: float = Field(default=30.0, ge=0, description="the settled diagnosis: this long after the first alarm")
    first_s: float = Field(default=5.0, ge=0, description="the first diagnosis: this long after the first alarm, "
                                                          "revised at evidence_s; at or above evidence_s: only one")
    min_confidence: float = Field(default=0.9, ge=0, le=1, description="an early diagnosis less sure than this "
                                  "is not published but tried again every first_s, until evidence_s")
    grid_ms: int = Field(default=GRID_MS, gt=0, description="read the historian on this grid (as-of values)")
    mean_s: float = Field(default=MEAN_S, gt=0, description="average the grid into means of this length: the step")
    deviation_z: float = Field(default=DEVIATION_Z, gt=0, description="a tag deviates when a mean is this many "
                                                                      "baseline sigmas off")

    @model_validator(mode="after")
    def _means_fit_the_grid(self) -> EvidenceSettings:
        per_mean = self.mean_s * 1000 / self.grid_ms
        if per_mean < 1 or abs(per_mean - round(per_mean)) > 1e-9:
            raise ValueError(f"mean_s ({self.mean_s:g} s) must be a whole number of grid steps "
                             f"(grid_ms = {self.grid_ms})")
        if self.baseline_s * 1000 < 2 * self.mean_s * 1000:
            raise ValueError(f"baseline_s ({self.baseline_s:g} s) must hold at least two means of {self.mean_s:g} s")
        return self

    def window_ms(self, first_alarm_ms: int, t_ms: int, earliest_ms: int = 0) -> tuple[int, int, int]:
        """Window start, end of the baseline, and end (the diagnosis time), in plant ms; the window starts no
        earlier than ``earliest_ms``, the first moment the historian (with a baseline's reference) has data for."""
        start = max(earliest_ms, first_alarm_ms - int(self.lookback_s * 1000))
        return start, start + int(self.baseline_s * 1000), t_ms


@dataclass
class TagEvidence:
    """One tag's evidence: its z-series of 1 s means after the baseline, and its features."""

    z: np.ndarray
    features: np.ndarray
    onset_s: float | None


@dataclass
class Evidence:
    """What the historian showed around an alarm, per tag."""

    t_ms: int
    first_alarm_ms: int
    tags: dict[str, TagEvidence] = field(default_factory=dict)
    #: link features already computed (the model, the baselines and the evidence path all ask)
    links: dict[tuple[str, str], np.ndarray] = field(default_factory=dict, repr=False)
    #: seconds per element of the z-series (:attr:`EvidenceSettings.mean_s`): the unit of the time features
    step_s: float = MEAN_S

    def feature(self, tag: str, name: str) -> float:
        """One named feature of one tag."""
        return float(self.tags[tag].features[TAG_FEATURES.index(name)])


def evidence_from_series(
    series: Mapping[str, tuple[np.ndarray, np.ndarray]],
    alarms: Sequence[tuple[str, int]],
    t_ms: int,
    window: tuple[int, int, int],
    settings: EvidenceSettings | None = None,
) -> Evidence:
    """Build :class:`Evidence` from grid series (``tag -> (values, quality codes)``) and alarms.

    ``series`` are on the ``settings.grid_ms`` grid from ``window[0]``, to be averaged into means
    of ``settings.mean_s`` (default settings: 100 ms and 1 s); array tags have been reduced to one
    series (the element mean) by the caller. ``alarms`` are ``(tag, t_ms)`` pairs.
    """
    settings = settings or EvidenceSettings()
    grid_ms, mean_s = settings.grid_ms, settings.mean_s
    start, base_end, _ = window
    first_alarm_ms = min((t for _, t in alarms), default=t_ms)
    n_base = max(2, (base_end - start) // grid_ms)
    per_mean = max(1, int(round(mean_s * 1000 / grid_ms)))
    alarmed = {}
    for tag, t in alarms:
        alarmed[tag] = min(t, alarmed.get(tag, t))
    raw: dict[str, tuple[np.ndarray, np.ndarray, float | None]] = {}
    for tag, (values, quality) in series.items():
        z, partial, onset_idx = _tag_statistics(values, quality, n_base, per_mean, settings.deviation_z)
        onset_s = None if onset_idx is None else (base_end + (onset_idx + 1) * mean_s * 1000 - first_alarm_ms) / 1000
        raw[tag] = (z, partial, onset_s)
    onsets = sorted(o for _, _, o in raw.values() if o is not None)
    first_index = {}
    for i, o in enumerate(onsets):
        first_index.setdefault(o, i)
    evidence = Evidence(t_ms, first_alarm_ms, step_s=mean_s)
    for tag, (z, partial, onset_s) in raw.items():
        deviated = onset_s is not None
        rank = first_index[onset_s] / max(1, len(onsets) - 1) if deviated else 1.0
        # times in units of 60 steps (a minute of 1 s means on the coater), clipped to +-2
        alarm_rel = (alarmed[tag] - first_alarm_ms) / (60_000 * mean_s) if tag in alarmed else 2.0
        features = np.array([
            *partial[:2],
            float(deviated),
            np.clip(onset_s / (60 * mean_s) if deviated else 2.0, -2.0, 2.0),
            rank,
            float(deviated and onset_s == onsets[0]),
            float(tag in alarmed),
            np.clip(alarm_rel, -2.0, 2.0),
            *partial[2:],
        ], dtype=np.float32)
        evidence.tags[tag] = TagEvidence(z.astype(np.float32), features, onset_s)
    return evidence


def _tag_statistics(
    values: np.ndarray, quality: np.ndarray, n_base: int, per_mean: int, deviation_z: float = DEVIATION_Z
) -> tuple[np.ndarray, list[float], int | None]:
    """z-series after the baseline, scalar statistics, and the onset index (1 s means)."""
    x = np.asarray(values, dtype=float)
    good = np.isfinite(x)
    filled = _forward_fill(x)
    base, post = filled[:n_base], filled[n_base:]
    post_quality = np.asarray(quality[n_base:])
    base_means = _means(base, per_mean)
    post_means = _means(post, per_mean)
    mu = float(np.nanmean(base_means)) if np.isfinite(base_means).any() else 0.0
    scale = max(float(np.nanstd(base_means)) if np.isfinite(base_means).sum() > 1 else 0.0,
                1e-6 * (abs(mu) + 1.0))
    z = np.nan_to_num((post_means - mu) / scale, nan=0.0)
    absz = np.abs(z)
    above = np.flatnonzero(absz > deviation_z)
    onset = int(above[0]) if len(above) else None
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
    return z, stats, onset


def link_features(evidence: Evidence, cause: str, effect: str) -> np.ndarray:
    """Edge features of a cause -> effect link (zeros and ``observed = 0`` unless both are tags); cached."""
    cached = evidence.links.get((cause, effect))
    if cached is None:
        cached = evidence.links[(cause, effect)] = _link_features(evidence, cause, effect)
    return cached


def _link_features(evidence: Evidence, cause: str, effect: str) -> np.ndarray:
    a, b = evidence.tags.get(cause), evidence.tags.get(effect)
    if a is None or b is None:
        return np.zeros(len(EDGE_FEATURES), dtype=np.float32)
    corr, lag = lagged_correlation(a.z, b.z, MAX_LAG_S)
    if a.onset_s is not None and b.onset_s is not None:
        lead = float(np.clip((b.onset_s - a.onset_s) / (30.0 * evidence.step_s), -2.0, 2.0))
    else:
        lead = 0.0
    both = float(a.onset_s is not None and b.onset_s is not None)
    return np.array([corr, lag / MAX_LAG_S, lead, both, 1.0], dtype=np.float32)


def lagged_correlation(cause: np.ndarray, effect: np.ndarray, max_lag: int) -> tuple[float, int]:
    """Largest |correlation| of ``effect`` with ``cause`` shifted 0..max_lag steps earlier, and its lag.

    Every lag compares windows of the same length (the series minus ``max_lag``), so lags compete fairly.

    >>> t = np.arange(60.0); c = np.where(t > 20, t - 20, 0.0)
    >>> corr, lag = lagged_correlation(c, np.roll(c, 3), 10)
    >>> round(corr, 3), lag
    (1.0, 3)
    """
    n = min(len(cause), len(effect))
    max_lag = min(max_lag, n - 3)
    if max_lag < 0:
        return 0.0, 0
    width = n - max_lag
    x = np.asarray(cause[:width], dtype=float)
    windows = np.lib.stride_tricks.sliding_window_view(np.asarray(effect[:n], dtype=float), width)
    xc = x - x.mean()
    yc = windows - windows.mean(axis=1, keepdims=True)
    denom = np.sqrt((xc @ xc) * np.einsum("ij,ij->i", yc, yc))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(denom > 1e-12, (yc @ xc) / np.where(denom > 1e-12, denom, 1.0), 0.0)
    lag = int(np.argmax(np.abs(r)))
    return float(r[lag]), lag


def _means(x: np.ndarray, per: int) -> np.ndarray:
    """Means of consecutive blocks of ``per`` samples (a ragged last block is dropped)."""
    n = len(x) // per
    if n == 0:
        return np.full(1, np.nan)
    with np.errstate(invalid="ignore"):
        blocks = x[: n * per].reshape(n, per)
        counts = np.isfinite(blocks).sum(axis=1)
        sums = np.nansum(blocks, axis=1)
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def _forward_fill(x: np.ndarray) -> np.ndarray:
    """Carry the last finite value forward (leading gaps take the first finite value)."""
    ok = np.isfinite(x)
    if not ok.any():
        return np.zeros_like(x)
    idx = np.where(ok, np.arange(len(x)), 0)
    np.maximum.accumulate(idx, out=idx)
    out = x[idx]
    first = int(np.argmax(ok))
    out[:first] = x[first]
    return out
