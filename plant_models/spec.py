"""What a plant exports: one :class:`PlantSpec` per plant folder.

A plant folder (``plant_models/coater/``, ``plant_models/tennessee_eastman/``) holds the model
and, beside it, the plant's default data files: the knowledge file an engineer would write
about the line, the playbook of corrections, and the trained root-cause model. They are found
through :mod:`importlib.resources`, so they work from an installed wheel as from a checkout.
A scenario or the edge's settings may name any other file instead.

>>> from plant_models.registry import plant_spec
>>> spec = plant_spec("coater")
>>> spec.knowledge_file().name, spec.playbook_file().name, spec.model_file().name
('knowledge.yaml', 'playbook.yaml', 'rootcause.pt')
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np

from plant_models.base import PlantModel

KNOWLEDGE_FILE = "knowledge.yaml"
PLAYBOOK_FILE = "playbook.yaml"
MODEL_FILE = "rootcause.pt"


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
