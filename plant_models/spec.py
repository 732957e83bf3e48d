"""What a plant exports: one :class:`PlantSpec` per plant folder.

A plant folder (``plant_models/coater/``, ``plant_models/tennessee_eastman/``) holds the model
and, beside it, the plant's default data files: the knowledge file an engineer would write
about the line, the playbook of corrections, the trained root-cause model and the settings of
its root-cause sweep (:class:`SweepSettings`). They are found through :mod:`importlib.resources`,
so they work from an installed wheel as from a checkout. A scenario or the edge's settings may
name any other file instead.

>>> from plant_models.registry import plant_spec
>>> spec = plant_spec("coater")
>>> spec.knowledge_file().name, spec.playbook_file().name, spec.model_file().name
('knowledge.yaml', 'playbook.yaml', 'rootcause.pt')
>>> sorted(spec.sweep_settings().splits)
['heldout_magnitude', 'heldout_seeds', 'heldout_target', 'line_variant', 'train']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from plant_models.base import PlantModel
from qtconfig import ConfigError, line_of, load_yaml_model, read_yaml

KNOWLEDGE_FILE = "knowledge.yaml"
PLAYBOOK_FILE = "playbook.yaml"
MODEL_FILE = "rootcause.pt"
SWEEP_FILE = "sweep.yaml"


@dataclass(frozen=True)
class FaultRange:
    """One entry of a plant's fault catalogue: a fault kind on a target, and the magnitudes a sweep draws.

    ``target`` is a fault target, or ``*`` for every measured tag (sensor faults). A sweep draws a
    magnitude ``low + q·(high - low)`` for a quantile ``q``, negated half the time when ``signed``;
    with ``relative`` the magnitude is a fraction of the tag's engineering range.
    """

    kind: str
    target: str
    low: float
    high: float
    signed: bool = False
    relative: bool = False

    @property
    def family(self) -> str:
        """``sensor`` for sensor faults, else ``process``."""
        return "sensor" if self.kind.startswith("sensor_") else "process"


# sensor faults on any measured tag, magnitudes as a fraction of its engineering range (stuck and
# drop-out have none): what the plants' sweeps draw
SENSOR_FAULTS = (FaultRange("sensor_bias", "*", 0.01, 0.04, signed=True, relative=True),
                 FaultRange("sensor_noise_burst", "*", 0.005, 0.02, relative=True),
                 FaultRange("sensor_stuck", "*", 0.0, 0.0, relative=True),
                 FaultRange("sensor_dropout", "*", 0.0, 0.0, relative=True))


@dataclass(frozen=True)
class QualityCharacteristic:
    """A quality characteristic of the product (what a customer would reject) and its spec limits.

    The first of a plant's characteristics is what ``report.json`` scores as the run's quality;
    the limits (None: open side) give the app's defect rate.
    """

    tag: str
    low: float | None = None
    high: float | None = None

    def violated(self, values: np.ndarray) -> np.ndarray:
        """True where a value is outside the specification."""
        out = np.zeros(values.shape, dtype=bool)
        if self.low is not None:
            out |= values < self.low
        if self.high is not None:
            out |= values > self.high
        return out


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _ordered_pair(pair: tuple[float, float], lowest: float, highest: float) -> tuple[float, float]:
    if not lowest <= pair[0] <= pair[1] <= highest:
        raise ValueError(f"[{pair[0]:g}, {pair[1]:g}] must be [low, high] with "
                         f"{lowest:g} <= low <= high <= {highest:g}")
    return pair


class SweepSplit(_Strict):
    """How the episodes of one split of a root-cause sweep are drawn."""

    variant: int = Field(default=0, ge=0, description="the plant variant: the value of the sweep's variant_option "
                                                      "(the coater's number of blades); 0 for a plant without variants")
    quantiles: tuple[tuple[float, float], ...] = Field(
        min_length=1, description="ranges of the magnitude quantile within the catalogue's range: a range is "
                                  "picked at random, then a quantile in it")
    onset_s: tuple[float, float] = Field(description="[earliest, latest] fault onset, plant seconds")
    targets: Literal["all", "not_heldout", "only_heldout"] = Field(
        default="not_heldout", description="which fault targets, by the sweep's heldout_targets")

    @field_validator("quantiles")
    @classmethod
    def _quantiles(cls, value: tuple[tuple[float, float], ...]) -> tuple[tuple[float, float], ...]:
        return tuple(_ordered_pair(pair, 0.0, 1.0) for pair in value)

    @field_validator("onset_s")
    @classmethod
    def _onset(cls, value: tuple[float, float]) -> tuple[float, float]:
        return _ordered_pair(value, 0.0, float("inf"))


class SweepEvaluation(_Strict):
    """One evaluation of ``twin rootcause evaluate``: a split, with some knowledge links dropped."""

    split: str
    knowledge_drop: float = Field(default=0.0, ge=0, lt=1, description="share of knowledge links dropped")


def _under(target: str, name: str) -> bool:
    """``target`` is ``name`` or a dotted path under it."""
    return target == name or target.startswith(name + ".")


# what every episode of a sweep sets itself: not part of the base run
EPISODE_FIELDS = ("name", "plant", "seed", "duration_s", "faults")
Catalogue = Callable[[dict[str, Any]], tuple[FaultRange, ...]]  # a plant's fault catalogue from its options
Problem = tuple[tuple[Any, ...], str]  # a field path and what is wrong there


class SweepSettings(_Strict):
    """A plant's root-cause sweep (its folder's ``sweep.yaml``): how labelled episodes are drawn, run and scored.

    Every episode is the base run (``base``: scenario fields, or a scenario file beside this one)
    of the plant with one fault of its catalogue, drawn by the split's rules; it lasts until
    ``detect_within_s`` after the onset plus the evidence window.
    """

    description: str = Field(default="", description="what a model card says the model was trained on")
    scan_ms: int | None = Field(default=None, ge=1, le=60_000,
                                description="the episodes' PLC scan; null: the base run's")
    detect_within_s: float = Field(gt=0, description="an episode ends this long after the onset (plus the evidence "
                                                     "window): an alarm must come by then")
    eval_episodes: int = Field(default=100, ge=1,
                               description="episodes per evaluation split of `twin rootcause evaluate`")
    draw: Literal["random", "in_turn"] = Field(
        default="random", description="random: a family (sensor or process) at even odds, then a kind, then a "
                                      "target; in_turn: episode i takes the i-th (kind, target) of the pool, in "
                                      "catalogue order")
    breakdown: Literal["kind", "target"] = Field(default="kind", description="what results are broken down by")
    targets: list[str] | None = Field(default=None, description="only these catalogue targets; null: all of them")
    heldout_targets: list[str] = Field(
        default_factory=list, description="targets (and every target under them) that only `only_heldout` splits draw")
    variant_option: str | None = Field(default=None, description="the plant option a split's variant sets")
    runs_dir: str | None = Field(default=None, description="where datasets and evaluations go by default; "
                                                          "null: runs/rootcause/PLANT")
    splits: dict[str, SweepSplit] = Field(min_length=1)
    evaluations: dict[str, SweepEvaluation] = Field(default_factory=dict)
    base: dict[str, Any] | str = Field(
        default_factory=dict, description="the run every episode perturbs: scenario fields (no name, plant, seed, "
                                          "duration_s or faults: the sweep sets those), or a scenario file")

    # set by load_sweep_settings: the file, to name it in errors and resolve a base scenario file
    source: Path | None = Field(default=None, exclude=True)

    @field_validator("base")
    @classmethod
    def _no_episode_fields(cls, base: dict[str, Any] | str) -> dict[str, Any] | str:
        taken = [key for key in EPISODE_FIELDS if isinstance(base, dict) and key in base]
        if taken:
            raise ValueError(f"{', '.join(taken)}: set by the sweep for every episode, not in its base run")
        return base

    def variant_options(self, variant: int) -> dict[str, Any]:
        """The plant options of a split's variant."""
        return {self.variant_option: variant} if self.variant_option else {}

    def held_out(self, target: str) -> bool:
        """True for a held-out target or a target under one (``coater.blade3.pressure`` under ``coater.blade3``)."""
        return any(_under(target, h) for h in self.heldout_targets)

    def problems(self, catalogue: Catalogue) -> list[Problem]:
        """What is wrong with these settings for a plant whose fault catalogue (from the options) is ``catalogue``."""
        out: list[Problem] = []
        known: list[str] = []
        if self.targets or self.heldout_targets:
            known = sorted({r.target for split in self.splits.values()
                            for r in catalogue(self.variant_options(split.variant)) if r.target != "*"})
        listed = ", ".join(known[:12]) + (" ..." if len(known) > 12 else "")
        for i, name in enumerate(self.targets or []):
            if name not in known:
                out.append((("targets", i), f"{name!r} is no target of the plant's fault catalogue; targets: {listed}"))
        for i, name in enumerate(self.heldout_targets):  # an asset, or a tag under a target
            if not any(_under(t, name) or _under(name, t) for t in known):
                out.append((("heldout_targets", i), f"{name!r} is no target of the plant's fault catalogue, nor "
                                                    f"above or under one; targets: {listed}"))
        for name, split in self.splits.items():
            if split.variant and not self.variant_option:
                out.append((("splits", name, "variant"), "a variant needs the sweep's variant_option"))
            if split.targets == "only_heldout" and not self.heldout_targets:
                out.append((("splits", name, "targets"), "only_heldout, but the sweep holds no target out"))
        for name, evaluation in self.evaluations.items():
            if evaluation.split not in self.splits:
                out.append((("evaluations", name, "split"),
                            f"unknown split {evaluation.split!r}; splits: {', '.join(self.splits)}"))
        return out


def load_sweep_settings(path: str | Path, catalogue: Catalogue | None = None) -> SweepSettings:
    """Read a sweep file; checked against the plant's fault ``catalogue`` when given. Any problem is a
    :class:`~qtconfig.ConfigError` naming the file, the field and its line."""
    path = Path(path)
    settings = load_yaml_model(SweepSettings, path)
    settings.source = path
    problems = settings.problems(catalogue) if catalogue is not None else []
    if problems:
        document = read_yaml(path)
        messages = []
        for loc, message in problems:
            line = line_of(document, loc)
            dotted = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
            messages.append(f"field {dotted}" + (f" (line {line})" if line else "") + f": {message}")
        raise ConfigError(path, messages)
    return settings


@dataclass(frozen=True)
class PlantSpec:
    """One plant: its name, how to build it, and where its default data files live.

    ``build(seed, options)`` returns a fresh model (unknown options raise ``ValueError`` naming
    the key); ``package`` is the plant's folder as a package, where the data files are looked up.
    """

    name: str
    description: str
    build: Callable[[int, dict[str, Any]], PlantModel]
    package: str
    # where the data files of one instance live, from its options (the declarative line: beside its
    # template); None: the plant's own folder
    data_folder: Callable[[dict[str, Any]], Path] | None = None
    # the product's quality characteristics, from the options (a declarative line's are in its template)
    quality: Callable[[dict[str, Any]], tuple[QualityCharacteristic, ...]] = lambda options: ()
    # the fault catalogue, from the options: what a root-cause sweep may inject, and how strongly
    faults: Callable[[dict[str, Any]], tuple[FaultRange, ...]] = lambda options: ()

    def fault_catalogue(self, options: dict[str, Any] | None = None) -> tuple[FaultRange, ...]:
        """The faults a sweep of this plant (with ``options``) draws from, with their magnitude ranges."""
        return self.faults(dict(options or {}))

    def quality_characteristics(self, options: dict[str, Any] | None = None) -> tuple[QualityCharacteristic, ...]:
        """The product's quality characteristics (first: the one a run's quality is scored on)."""
        return self.quality(dict(options or {}))

    def folder(self, options: dict[str, Any] | None = None) -> Path:
        """The folder of the plant's data files (where ``twin rootcause train`` writes its model by default)."""
        if self.data_folder is not None and options:
            return self.data_folder(options)
        return Path(str(files(self.package)))

    def data_file(self, name: str, options: dict[str, Any] | None = None) -> Path | None:
        """The plant's data file ``name``, or None when the plant ships none."""
        path = self.folder(options) / name
        return path if path.is_file() else None

    def knowledge_file(self, options: dict[str, Any] | None = None) -> Path | None:
        """The knowledge file (cause → effect links an engineer knows about the line)."""
        return self.data_file(KNOWLEDGE_FILE, options)

    def playbook_file(self, options: dict[str, Any] | None = None) -> Path | None:
        """The playbook (what to do about a diagnosis); None: the plant has no closed loop."""
        return self.data_file(PLAYBOOK_FILE, options)

    def model_file(self, options: dict[str, Any] | None = None) -> Path | None:
        """The trained root-cause model; None: diagnosis falls back to the random walk."""
        return self.data_file(MODEL_FILE, options)

    def sweep_file(self, options: dict[str, Any] | None = None) -> Path | None:
        """The root-cause sweep's settings: the instance's (a line's: beside its template), else the plant
        folder's own (the declarative line's: a generic sweep of any template); None: the plant has no sweep."""
        return self.data_file(SWEEP_FILE, options) or self.data_file(SWEEP_FILE)

    def sweep_settings(self, options: dict[str, Any] | None = None) -> SweepSettings | None:
        """The root-cause sweep of this plant (with ``options``), checked against its fault catalogue; None:
        the plant has no sweep."""
        path = self.sweep_file(options)
        if path is None:
            return None
        options = dict(options or {})
        return load_sweep_settings(path, lambda variant: self.fault_catalogue({**options, **variant}))
