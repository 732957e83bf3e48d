"""Credibility: how far to trust an asset, from where it comes from and how its samples measured up.

.. math::

    \\text{credibility} = \\text{prior}(\\text{source kind}) \\times \\text{good share}
        \\times (1 - \\text{gap share}) \\times \\text{clock agreement}

* **prior** — what the source kind is worth before any sample is seen (:data:`SOURCE_PRIOR`): a value
  read straight from a device (1.0) beats one a program derived at the edge (0.9), one a supplier
  reported (0.7) and one typed in by hand (0.5). A tag map's ``credibility`` column gives the kind (or,
  as a number, the prior itself).
* **good share** — good samples over the samples the tag's period promised
  (:mod:`twin.edge.assets.quality`);
* **gap share** — the share of the run spent in stretches with no good sample: a sustained loss
  counts twice (once in each factor), because a model can bridge scattered losses, not a minute-long one;
* **clock agreement** — share of samples whose wall-clock stamp agrees with plant time (1 where the
  clocks are not expected to agree: simulated time).

A product, not a sum: each factor is a probability-like share in [0, 1], any one of them can make an
asset worthless on its own (a perfectly delivered hand-typed number is still hand-typed; a device read
that is half bad is worth half), and the result falls whenever any measured share gets worse, which is
what a person reading the catalogue expects (tested: more bad samples never raise it).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import get_args

from twin.edge.assets.quality import ElementQuality
from virtual_plc.tagmap import SourceKind

SOURCE_KINDS: tuple[str, ...] = get_args(SourceKind)
SOURCE_PRIOR: dict[str, float] = {
    "device-direct": 1.0,
    "edge-computed": 0.9,
    "supplier-reported": 0.7,
    "manual-entry": 0.5,
}


def source_of(value: float | str | None, default: str = "device-direct") -> tuple[str, float]:
    """``(source kind, prior)`` of a tag map's ``credibility`` cell: a kind names both; a number is the prior
    of a ``default``-kind source (a PLC tag: device-direct); empty is the default kind's own prior."""
    if isinstance(value, str):
        if value not in SOURCE_PRIOR:
            raise ValueError(f"unknown source kind {value!r}; one of {', '.join(SOURCE_KINDS)}")
        return value, SOURCE_PRIOR[value]
    if value is None:
        return default, SOURCE_PRIOR[default]
    return default, float(value)


def credibility(prior: float, good_share: float, gap_share: float, clock_agreement: float | None = None) -> float:
    """The credibility formula of the module docstring (each share in [0, 1]; ``None`` clock: not judged).

    >>> credibility(1.0, 1.0, 0.0)
    1.0
    >>> credibility(0.5, 1.0, 0.0)          # a hand-typed value, perfectly delivered
    0.5
    >>> round(credibility(1.0, 0.8, 0.1, 0.9), 3)
    0.648
    """
    clock = 1.0 if clock_agreement is None else clock_agreement
    return max(0.0, min(1.0, prior * good_share * (1.0 - gap_share) * clock))


def pooled(parts: Iterable[ElementQuality]) -> tuple[float, float, float | None]:
    """``(good share, gap share, clock agreement)`` of several elements or runs together, each weighted by
    the samples it promised (an array tag's elements, a tag scanned over several runs)."""
    parts = list(parts)
    weight = sum(p.expected for p in parts)
    if not weight:
        return 0.0, 1.0, None
    good = sum(p.good_share * p.expected for p in parts) / weight
    gaps = sum(p.gap_share * p.expected for p in parts) / weight
    clocked = [p for p in parts if p.clock_agreement is not None]
    clock_weight = sum(p.expected for p in clocked)
    clock = sum(p.clock_agreement * p.expected for p in clocked) / clock_weight if clocked else None  # type: ignore[operator]
    return good, gaps, clock
