"""Read the evidence of one alarm window from a historian."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from rootcause.features import Evidence, EvidenceSettings, evidence_from_series
from twin.edge.historian import HistorianReader


def read_evidence(
    reader: HistorianReader,
    tags: Sequence[str],
    alarms: Sequence[tuple[str, int]],
    t_ms: int,
    settings: EvidenceSettings,
) -> Evidence:
    """The :class:`Evidence` for a diagnosis at plant time ``t_ms`` of the alarms ``(tag, t_ms)``.

    Only ``tags`` are read from the historian (a diagnosis passes the tags of the graph it ranks over:
    on a large plant, the alarms' neighbourhood). Tags the historian does not hold are skipped (a
    graph node without data keeps zero features). An array tag is reduced to the mean of its
    elements, its quality to the worst.
    The window starts no earlier than the reader's first data (:meth:`HistorianReader.first_ms`:
    the run's start, or before it when a detection baseline lends its in-control reference).
    """
    first = min((t for _, t in alarms), default=t_ms)
    earliest = reader.first_ms() if hasattr(reader, "first_ms") else 0
    window = settings.window_ms(first, t_ms, 0 if earliest is None else earliest)
    wanted = set(tags)
    by_tag: dict[str, list[str]] = {}  # the stored elements of each wanted tag (an array tag's: several)
    for name in reader.tags():
        base = name.split("[", 1)[0]
        if base in wanted:
            by_tag.setdefault(base, []).append(name)
    elements = {tag: sorted(by_tag[tag], key=_element_order) for tag in tags if tag in by_tag}
    flat = [n for names in elements.values() for n in names]
    grid = reader.resample(settings.grid_ms, window[0], window[2] + settings.grid_ms, flat) if flat else {}
    series: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for tag, names in elements.items():
        if len(names) == 1:
            series[tag] = grid[names[0]]
            continue
        values = np.stack([grid[n][0] for n in names])
        with warnings.catch_warnings():  # an all-missing grid point is 'mean of empty slice': it stays NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(values, axis=0)
        series[tag] = (mean, np.max(np.stack([grid[n][1] for n in names]), axis=0))
    return evidence_from_series(series, alarms, t_ms, window, settings)


def _element_order(name: str) -> tuple[str, int]:
    if "[" in name:
        base, index = name[:-1].split("[")
        return base, int(index)
    return name, -1
