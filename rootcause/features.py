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
#: how many statistics of a tag's own series :func:`tag_statistics` gives (z_max, z_final, flat ... sign)
N_STATISTICS = 9
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
    uncertain_below: float = Field(default=0.5, ge=0, le=1, description="a published diagnosis less sure than "
                                   "this says it is uncertain and names its leading candidates, not one")
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

    The statistics are computed for all tags at once (:func:`tag_statistics`, one 2-D array per
    series length: normally one), then the features that compare tags (onset rank, earliest).
    """
    settings = settings or EvidenceSettings()
    grid_ms, mean_s = settings.grid_ms, settings.mean_s
    start, base_end, _ = window
    first_alarm_ms = min((t for _, t in alarms), default=t_ms)
    n_base = max(2, (base_end - start) // grid_ms)
    per_mean = max(1, int(round(mean_s * 1000 / grid_ms)))
    alarmed: dict[str, int] = {}
    for tag, t in alarms:
        alarmed[tag] = min(t, alarmed.get(tag, t))
    names = list(series)
    evidence = Evidence(t_ms, first_alarm_ms, step_s=mean_s)
    if not names:
        return evidence
    # one block of tags per (values, quality) length; z-series and statistics per block, onsets per tag
    by_length: dict[tuple[int, int], list[int]] = {}
    for i, tag in enumerate(names):
        values, quality = series[tag]
        by_length.setdefault((len(values), len(quality)), []).append(i)
    z_of: list[np.ndarray] = [np.empty(0, np.float32)] * len(names)
    stats = np.zeros((len(names), N_STATISTICS))
    onset_idx = np.full(len(names), -1, dtype=np.int64)
    for rows in by_length.values():
        values = np.stack([np.asarray(series[names[i]][0], dtype=float) for i in rows])
        quality = np.stack([np.asarray(series[names[i]][1]) for i in rows])
        z, block_stats, block_onset = tag_statistics(values, quality, n_base, per_mean, settings.deviation_z)
        z32 = z.astype(np.float32)
        for k, i in enumerate(rows):
            z_of[i] = z32[k]
        stats[rows], onset_idx[rows] = block_stats, block_onset
    deviated = onset_idx >= 0
    # onset in seconds after the first alarm (the end of the onset's mean), per deviating tag
    onset_s = (base_end + (onset_idx + 1) * mean_s * 1000 - first_alarm_ms) / 1000
    onsets = np.sort(onset_s[deviated])
    # rank: how many deviating tags moved strictly earlier, over the number of deviating tags less one
    rank = np.where(deviated, np.searchsorted(onsets, onset_s, "left") / max(1, len(onsets) - 1), 1.0)
    earliest = deviated & (onset_s == (onsets[0] if len(onsets) else np.nan))
    is_alarmed = np.array([tag in alarmed for tag in names])
    alarm_ms = np.array([alarmed.get(tag, first_alarm_ms) for tag in names], dtype=np.int64)
    # times in units of 60 steps (a minute of 1 s means on the coater), clipped to +-2
    alarm_rel = np.where(is_alarmed, (alarm_ms - first_alarm_ms) / (60_000 * mean_s), 2.0)
    features = np.column_stack([
        stats[:, :2],
        deviated,
        np.clip(np.where(deviated, onset_s / (60 * mean_s), 2.0), -2.0, 2.0),
        rank,
        earliest,
        is_alarmed,
        np.clip(alarm_rel, -2.0, 2.0),
        stats[:, 2:],
    ]).astype(np.float32)
    for i, tag in enumerate(names):
        evidence.tags[tag] = TagEvidence(z_of[i], features[i], float(onset_s[i]) if deviated[i] else None)
    return evidence


def tag_statistics(
    values: np.ndarray, quality: np.ndarray, n_base: int, per_mean: int, deviation_z: float = DEVIATION_Z
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per tag (a row of ``values`` and ``quality``, tags x grid points): the z-series of the means after the
    baseline, the statistics that need no other tag, and the onset (index of the first mean more than
    ``deviation_z`` off; -1 for none).

    The baseline is the first ``n_base`` grid points; means are of ``per_mean`` points. Missing values
    (NaN) are carried forward first. The statistics (columns) are: ``z_max``, ``z_final``, ``flat``,
    ``zero_steps``, ``noise_ratio``, ``jump``, ``bad_share``, ``stale_share``, ``sign`` (the order of
    :data:`TAG_FEATURES`). Every row gets exactly the numbers a one-tag computation gives: the same numpy
    reductions, along the rows.
    """
    x = np.asarray(values, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"values must be tags x grid points, got shape {x.shape}")
    n_tags = len(x)
    good = np.isfinite(x)
    filled = _forward_fill(x)  # finite everywhere: the plain reductions below equal the NaN-aware ones
    base, post = filled[:, :n_base], filled[:, n_base:]
    post_quality = np.asarray(quality)[:, n_base:]
    base_means, post_means = _means(base, per_mean), _means(post, per_mean)  # a NaN column when too short
    has_mean = base.shape[1] >= per_mean  # the baseline holds at least one whole mean
    mu = base_means.mean(axis=1) if has_mean else np.zeros(n_tags)
    spread = base_means.std(axis=1) if has_mean and base_means.shape[1] > 1 else np.zeros(n_tags)
    scale = np.maximum(spread, 1e-6 * (np.abs(mu) + 1.0))
    z = np.nan_to_num((post_means - mu[:, None]) / scale[:, None], nan=0.0)
    absz = np.abs(z)
    above = absz > deviation_z
    onset = np.where(above.any(axis=1), np.argmax(above, axis=1), -1)
    tail = post[:, -int(20 * per_mean):]
    base_sd, tail_sd = _row_std(base), _row_std(tail)
    tail_diffs = np.diff(tail, axis=1)
    base_step, tail_step = _row_std(np.diff(base, axis=1)), _row_std(tail_diffs)
    zero_steps = (tail_diffs == 0).mean(axis=1) if tail_diffs.shape[1] else np.ones(n_tags)
    jumps = np.abs(np.diff(post_means, axis=1)) / scale[:, None]  # no column when there is one mean
    n_post = max(1, post_quality.shape[1])
    stats = np.column_stack([
        np.log1p(absz.max(axis=1)),
        np.log1p(absz[:, -5:].mean(axis=1)),
        np.clip(np.log10((tail_sd + 1e-9) / (base_sd + 1e-9)), -6.0, 3.0),
        zero_steps,
        np.clip(np.log10((tail_step + 1e-9) / (base_step + 1e-9)), -6.0, 3.0),
        np.log1p(jumps.max(axis=1, initial=0.0)),
        ((post_quality >= 2).sum(axis=1) / n_post + (~good[:, n_base:]).sum(axis=1) / n_post) / 2,
        (post_quality == 1).sum(axis=1) / n_post,
        np.sign(z[:, -5:].mean(axis=1)),
    ])
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


def _row_std(x: np.ndarray) -> np.ndarray:
    """Standard deviation of each row (of finite values); 0 for rows of one value or none."""
    return x.std(axis=1) if x.shape[1] > 1 else np.zeros(len(x))


def _means(x: np.ndarray, per: int) -> np.ndarray:
    """Means of consecutive blocks of ``per`` finite samples along each row (a ragged last block is dropped;
    rows too short for one block get one NaN)."""
    n = x.shape[1] // per
    if n == 0:
        return np.full((len(x), 1), np.nan)
    return x[:, : n * per].reshape(len(x), n, per).sum(axis=2) / per


def _forward_fill(x: np.ndarray) -> np.ndarray:
    """Carry each row's last finite value forward (leading gaps take its first finite value; a row without one
    becomes zeros)."""
    ok = np.isfinite(x)
    if ok.all():
        return x
    columns = np.arange(x.shape[1])
    idx = np.where(ok, columns, 0)
    np.maximum.accumulate(idx, axis=1, out=idx)
    out = np.take_along_axis(x, idx, axis=1)
    first = np.argmax(ok, axis=1)
    out = np.where(columns < first[:, None], x[np.arange(len(x)), first][:, None], out)
    out[~ok.any(axis=1)] = 0.0
    return out
