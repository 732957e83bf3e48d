"""The shapes of a root-cause sweep: how one plant's labelled episodes are drawn, run and scored.

A :class:`SweepPlant` per plant (:data:`twin.harness.rca.coater.COATER`,
:data:`twin.harness.rca.tep.TEP`) says which splits there are (:class:`Split`), how a fault is
drawn, how results are broken down and which evaluations are made; an :class:`EpisodeSpec` is
one drawn episode. :mod:`twin.harness.rca.dataset` runs them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from plant_models.base import FaultSpec
from rootcause.features import EvidenceSettings
from twin.harness.scenario import Scenario, load_scenario
from virtual_plc.tagmap import TagMap

SENSOR_KINDS = ("sensor_stuck", "sensor_bias", "sensor_noise_burst", "sensor_dropout")


@dataclass(frozen=True)
class Split:
    """How the episodes of one split are drawn.

    ``variant`` is the plant variant (the coater's number of blades; 0 for a plant without
    variants), ``quantiles`` the ranges the magnitude quantile is drawn from, ``onset_s`` the
    onset range, ``targets`` which fault targets: ``all``, ``not_heldout`` or ``only_heldout``.
    """

    variant: int
    quantiles: tuple[tuple[float, float], ...]
    onset_s: tuple[float, float]
    targets: str  # "all", "not_heldout", "only_heldout"


@dataclass(frozen=True)
class EpisodeSpec:
    """One labelled episode to run."""

    split: str
    index: int
    seed: int
    variant: int
    kind: str
    target: str
    magnitude: float
    quantile: float
    onset_s: float
    plant: str = "coater"

    @property
    def label_kind(self) -> str:
        """``sensor`` for sensor faults, else ``process``."""
        return "sensor" if self.kind.startswith("sensor_") else "process"

    def fault(self) -> FaultSpec:
        """The plant-level fault this episode injects."""
        return FaultSpec(kind=self.kind, target=self.target, start_s=self.onset_s, magnitude=self.magnitude)  # type: ignore[arg-type]

    def digest_record(self) -> dict[str, Any]:
        """The spec as :meth:`Dataset.digest` hashes it: a coater spec keeps the field names of the
        first dataset format (``blades``, no plant), so digests published in model cards stay valid."""
        record = {("blades" if k == "variant" else k): v for k, v in asdict(self).items()}
        if record["plant"] == "coater":
            del record["plant"]
        return record


@dataclass(frozen=True)
class SweepPlant:
    """How the labelled episodes of one plant are drawn, run and scored.

    ``draw(split, rng, tagmap, index)`` returns ``(kind, target, magnitude, quantile)``;
    ``fault_kind(spec)`` what per-kind results are keyed by; ``variant_options(variant)`` the
    plant options of a variant. The evidence settings are the base scenario's
    ``rootcause.evidence``, so a run of that scenario diagnoses with what the model saw.
    """

    name: str
    base_scenario: Path
    splits: dict[str, Split]
    evaluations: dict[str, tuple[str, float]]  # evaluation name -> (split, share of knowledge links dropped)
    draw: Callable[[Split, np.random.Generator, TagMap, int], tuple[str, str, float, float]]
    fault_kind: Callable[[EpisodeSpec], str]
    variant_options: Callable[[int], dict[str, Any]]
    scan_ms: int | None  # None: the base scenario's
    detect_within_s: float
    eval_episodes: int
    description: str

    def evidence(self) -> EvidenceSettings:
        """The evidence settings of the base scenario (what runs of this plant diagnose with)."""
        return _base(self.base_scenario).rootcause.evidence

    @property
    def runs_dir(self) -> Path:
        """Where ``twin rootcause`` writes datasets and evaluations by default (relative to the working directory)."""
        return Path("runs/rootcause") if self.name == "coater" else Path("runs/rootcause") / self.name


@functools.cache
def _base(path: Path) -> Scenario:
    """A base scenario, read once per process."""
    return load_scenario(path)
