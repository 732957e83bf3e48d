"""Plots of a finished run: trends of chosen tags, quality flags, and the injected faults.

Reads only the run directory (historian + ``report.json``). The fault onsets drawn come
from the report's truth: this is reporting, not edge analytics.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from twin.contracts import RunFiles, read_report
from twin.edge.frames import Quality
from twin.edge.historian import HistorianReader

MAX_PANELS = 12


def plot_run(run_dir: str | Path, patterns: Sequence[str], out: str | Path, *, resolution_ms: int = 1000) -> Path:
    """Write a PNG with one panel per tag matching ``patterns``, in the order of the patterns.

    A scalar is a line of its as-of value on a ``resolution_ms`` grid; an array tag (a
    thickness profile, a spectrum) is a heatmap of its elements against time. Time where
    a value was not ``good`` is shaded; every injected fault's onset is marked.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    report = read_report(run_dir)
    end_ms = int(report.durations.plant_s * 1000)
    with HistorianReader(run_dir / RunFiles.HISTORIAN) as reader:
        tags = _matching_tags(reader.tags(), patterns)
        series = {tag: _series(reader, tag, resolution_ms, end_ms) for tag in tags}
    fig, axes = plt.subplots(len(tags), 1, figsize=(11, 1.9 * len(tags) + 0.8), sharex=True, squeeze=False)
    for ax, tag in zip(axes[:, 0], tags):
        t_s, values, bad = series[tag]
        if values.shape[0] == 1:
            ax.plot(t_s, values[0], lw=1.0, color="#1f5aa6")
        else:  # an array tag: elements (lanes, bins) against time
            step = t_s[1] - t_s[0] if len(t_s) > 1 else 1.0
            image = ax.imshow(values, aspect="auto", origin="lower", cmap="viridis", interpolation="nearest",
                              extent=(t_s[0] - step / 2, t_s[-1] + step / 2, -0.5, values.shape[0] - 0.5))
            fig.colorbar(image, cax=ax.inset_axes((1.005, 0.0, 0.012, 1.0)))  # keeps panels aligned
        ax.set_ylabel(tag.split(".", 1)[-1].replace(".", "\n", 1), fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        if bad.any():
            ax.fill_between(t_s, 0, 1, where=bad, transform=ax.get_xaxis_transform(), color="#d62728", alpha=0.15,
                            step="mid", label="not good")
        for fault in report.faults:
            ax.axvline(fault.onset_s, color="#ff7f0e", lw=1.2, ls="--")
    faults = "; ".join(f"{f.kind} on {f.target} at {f.onset_s:g} s" for f in report.faults) or "no fault"
    axes[0, 0].set_title(f"{report.scenario['name']} (seed {report.seed}): {faults}", fontsize=10)
    axes[-1, 0].set_xlabel("plant time (s)")
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _matching_tags(stored: list[str], patterns: Sequence[str]) -> list[str]:
    """Tags (array elements folded into their tag) matching the patterns, in pattern order."""
    tags = list(dict.fromkeys(name.split("[", 1)[0] for name in stored))
    chosen = list(dict.fromkeys(t for p in patterns for t in tags if fnmatch.fnmatchcase(t, p)))
    if not chosen:
        raise ValueError(f"no stored tag matches {list(patterns)}; stored tags start with {tags[:5]}")
    if len(chosen) > MAX_PANELS:
        raise ValueError(f"{len(chosen)} tags match {list(patterns)}; narrow the patterns to {MAX_PANELS} or fewer")
    return chosen


def _series(reader: HistorianReader, tag: str, resolution_ms: int, end_ms: int) -> tuple[np.ndarray, ...]:
    """Grid times (s), values (one row per element) and a not-good mask over time."""
    resampled = reader.resample(resolution_ms, 0, max(end_ms, resolution_ms), [tag])
    values = np.vstack([v for v, _ in resampled.values()])
    quality = np.vstack([q for _, q in resampled.values()])
    grid = np.arange(0, max(end_ms, resolution_ms), resolution_ms) / 1000
    return grid, values, (quality != Quality.GOOD).any(axis=0)
