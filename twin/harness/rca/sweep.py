"""A plant's root-cause sweep: how its labelled episodes are drawn, run and scored.

The settings are data in the plant's folder (``sweep.yaml``, :class:`plant_models.spec.SweepSettings`,
read through :meth:`plant_models.spec.PlantSpec.sweep_settings`; a declarative line's beside its
template, else the generic one of ``plant_models/line/``). :func:`sweep_plant` turns them into a
:class:`SweepPlant`: the settings, the base run as a :class:`~twin.harness.scenario.Scenario`, and
the draw, the same code for every plant, from the plant's fault catalogue. An :class:`EpisodeSpec`
is one drawn episode; :mod:`twin.harness.rca.dataset` runs them.

A **family of lines** (:class:`plant_models.line.family.LineFamily`, ``twin rootcause dataset --family``)
has no plant folder: every episode runs on a line of its own. Such an episode carries its line's
files (:attr:`EpisodeSpec.line_files`: the template and a sweep file made from the family's
``episode`` settings, :func:`family_sweep_text`), written once into a folder named by their
content (:func:`line_folder`) wherever the episode runs, so the usual sweep machinery reads them
as a line template with a ``sweep.yaml`` beside it.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError
from ruamel.yaml import YAML

from plant_models.base import FaultSpec
from plant_models.line.family import LineFamily, load_family
from plant_models.registry import known_plants, plant_spec
from plant_models.spec import FaultRange, SweepSettings, SweepSplit
from qtconfig import ConfigError, describe_validation_error, read_yaml, resolve_path
from rootcause.features import EvidenceSettings
from twin.harness.scenario import Scenario, load_scenario
from virtual_plc.tagmap import TagMap

Draw = tuple[str, str, float, float]  # kind, target, magnitude, magnitude quantile
LINE_FILE = "line.yaml"  # a family line's template, in its folder
LineFiles = tuple[tuple[str, str], ...]  # (file name, text) of a family line's folder


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
    # the plant options that pick the sweep's plant instance (a line: its template), as sorted pairs
    plant_options: tuple[tuple[str, Any], ...] = ()
    # a family's episode: its own line's files, (name, text) of line.yaml and sweep.yaml (see the module docstring)
    line_files: LineFiles = ()

    @property
    def label_kind(self) -> str:
        """``sensor`` for sensor faults, else ``process``."""
        return "sensor" if self.kind.startswith("sensor_") else "process"

    @property
    def options(self) -> dict[str, Any]:
        """The plant options of the sweep (without the variant's); a family's episode: its line's template,
        written into its folder first (:func:`line_folder`)."""
        if self.line_files:
            return {"template": str(line_folder(self.line_files) / LINE_FILE)}
        return dict(self.plant_options)

    def fault(self) -> FaultSpec:
        """The plant-level fault this episode injects."""
        return FaultSpec(kind=self.kind, target=self.target, start_s=self.onset_s, magnitude=self.magnitude)  # type: ignore[arg-type]

    def digest_record(self) -> dict[str, Any]:
        """The spec as :meth:`Dataset.digest` hashes it: a coater spec keeps the field names of the
        first dataset format (``blades``, no plant), so digests published in model cards stay valid;
        plant options and a family line's files count only when there are some."""
        record = {("blades" if k == "variant" else k): v for k, v in asdict(self).items()}
        for optional in ("plant_options", "line_files"):
            if not record[optional]:
                del record[optional]
        if record["plant"] == "coater":
            del record["plant"]
        return record


def frozen_options(options: Mapping[str, Any] | None) -> tuple[tuple[str, Any], ...]:
    """Plant options as sorted pairs (hashable: how an :class:`EpisodeSpec` and the sweep cache keep them)."""
    return tuple(sorted((options or {}).items()))


@dataclass(frozen=True)
class SweepPlant:
    """One plant's sweep: its settings (:class:`~plant_models.spec.SweepSettings`), the base run its
    episodes perturb, and the draw.

    The evidence settings are the base run's ``rootcause.evidence``, so a run with those settings
    diagnoses with what the model saw.
    """

    name: str
    options: tuple[tuple[str, Any], ...]
    settings: SweepSettings
    base: Scenario

    @property
    def splits(self) -> dict[str, SweepSplit]:
        """The splits by name."""
        return self.settings.splits

    @property
    def evaluations(self) -> dict[str, tuple[str, float]]:
        """Evaluation name -> (split, share of knowledge links dropped)."""
        return {name: (e.split, e.knowledge_drop) for name, e in self.settings.evaluations.items()}

    @property
    def scan_ms(self) -> int:
        """The episodes' PLC scan (the settings', else the base run's)."""
        return self.base.scan_ms

    def variant_options(self, variant: int) -> dict[str, Any]:
        """The plant options of a split's variant (the coater: ``{"blades": variant}``)."""
        return self.settings.variant_options(variant)

    def fault_kind(self, spec: EpisodeSpec) -> str:
        """What results are broken down by: the fault kind, or (TEP) the target."""
        return spec.kind if self.settings.breakdown == "kind" else spec.target

    def evidence(self) -> EvidenceSettings:
        """The evidence settings of the base run (what runs of this plant diagnose with)."""
        return self.base.rootcause.evidence

    @property
    def runs_dir(self) -> Path:
        """Where ``twin rootcause`` writes datasets and evaluations by default (relative to the working directory):
        the settings' ``runs_dir``, else ``runs/rootcause/PLANT`` (a line: ``/FOLDER`` of its template added)."""
        if self.settings.runs_dir:
            return Path(self.settings.runs_dir)
        folder = Path("runs/rootcause") / self.name
        return folder / plant_spec(self.name).folder(dict(self.options)).name if self.options else folder

    def catalogue(self, variant: int) -> tuple[FaultRange, ...]:
        """The plant's fault catalogue for a split's variant."""
        return plant_spec(self.name).fault_catalogue({**dict(self.options), **self.variant_options(variant)})

    def drawer(self, rule: SweepSplit, tagmap: TagMap) -> Callable[[np.random.Generator, int], Draw]:
        """``draw(rng, index)`` for the episodes of split ``rule`` on the variant whose tag map is ``tagmap``."""
        catalogue = self.catalogue(rule.variant)
        pool = fault_pool(catalogue, tagmap, self.settings, rule.targets)
        if not pool:
            raise ValueError(f"{self.name}: a split with targets {rule.targets!r} has no fault to draw")
        pick = _in_turn if self.settings.draw == "in_turn" else _by_family

        def draw(rng: np.random.Generator, index: int) -> Draw:
            kind, target = pick(pool, rng, index)
            lo_q, hi_q = rule.quantiles[int(rng.integers(len(rule.quantiles)))]
            q = float(rng.uniform(lo_q, hi_q))
            return kind, target, magnitude(catalogue, kind, target, q, rng, tagmap), q

        return draw


def fault_pool(catalogue: tuple[FaultRange, ...], tagmap: TagMap, settings: SweepSettings,
               which: str) -> list[tuple[str, str]]:
    """The (kind, target) pairs a split draws from, in catalogue order: a ``*`` target is every measured tag;
    only the settings' ``targets`` (when given); held-out targets by ``which`` (``all``, ``not_heldout``,
    ``only_heldout``)."""
    measured = [t.name for t in tagmap.tags if t.access == "ro" and t.name != tagmap.clock_tag]
    allowed = None if settings.targets is None else set(settings.targets)

    def keep(target: str) -> bool:
        if allowed is not None and target not in allowed:
            return False
        return {"all": True, "not_heldout": not settings.held_out(target),
                "only_heldout": settings.held_out(target)}[which]

    pairs = [(r.kind, t) for r in catalogue for t in (measured if r.target == "*" else [r.target])]
    return [(k, t) for k, t in pairs if keep(t)]


def _by_family(pool: list[tuple[str, str]], rng: np.random.Generator, index: int) -> tuple[str, str]:
    """A family (sensor or process) at even odds (the other when a family has nothing), then a kind, then a target."""
    families = {"sensor": [c for c in pool if c[0].startswith("sensor_")],
                "process": [c for c in pool if not c[0].startswith("sensor_")]}
    family = "sensor" if rng.random() < 0.5 else "process"
    choices = families[family] or families["process" if family == "sensor" else "sensor"]
    kind = str(rng.choice(sorted({k for k, _ in choices})))
    targets = sorted(t for k, t in choices if k == kind)
    return kind, str(targets[int(rng.integers(len(targets)))])


def _in_turn(pool: list[tuple[str, str]], rng: np.random.Generator, index: int) -> tuple[str, str]:
    """Episode ``index`` takes the next (kind, target) in turn, so every one gets its share."""
    return pool[index % len(pool)]


def magnitude(catalogue: tuple[FaultRange, ...], kind: str, target: str, q: float, rng: np.random.Generator,
              tagmap: TagMap) -> float:
    """The magnitude at quantile ``q`` of the catalogue's range for ``kind`` on ``target`` (negated half the
    time when the range is signed; a fraction of the tag's range when relative)."""
    ranges = {(r.kind, r.target): r for r in catalogue}
    entry = ranges.get((kind, target)) or ranges[(kind, "*")]
    scale = (tagmap[target].high - tagmap[target].low) if entry.relative else 1.0
    value = (entry.low + q * (entry.high - entry.low)) * scale
    if entry.signed and rng.random() < 0.5:
        value = -value
    return float(np.round(value, 6))


def sweep_plants() -> list[str]:
    """The plants with a root-cause sweep (a ``sweep.yaml`` in their folder)."""
    return [name for name in known_plants() if plant_spec(name).sweep_file() is not None]


def sweep_plant(name: str, options: Mapping[str, Any] | None = None) -> SweepPlant:
    """The sweep of plant ``name`` with ``options`` (a line: ``{"template": PATH}``); ``ValueError`` naming the
    plants there are, a :class:`~qtconfig.ConfigError` naming file, field and line for a bad sweep file."""
    return _sweep_plant(name, frozen_options(options))


@functools.cache
def _sweep_plant(name: str, options: tuple[tuple[str, Any], ...]) -> SweepPlant:
    settings = plant_spec(name).sweep_settings(dict(options)) if name in known_plants() else None
    if settings is None:
        raise ValueError(f"no root-cause sweep for plant {name!r}; plants: {', '.join(sweep_plants())}")
    return SweepPlant(name, options, settings, base_run(name, dict(options), settings))


class _SweepBase(BaseModel):
    """A sweep file seen as its base run (what a bad ``base:`` is reported against)."""

    model_config = ConfigDict(extra="ignore")
    base: Scenario


def base_run(plant: str, options: dict[str, Any], settings: SweepSettings) -> Scenario:
    """The run every episode of the sweep perturbs: the settings' ``base`` (scenario fields, or a scenario
    file beside the sweep file) on this plant with these options, no faults, at the sweep's scan."""
    where = settings.source or Path(f"<{plant} sweep>")
    if isinstance(settings.base, str):
        scenario = load_scenario(resolve_path(settings.base, where.parent if settings.source else None))
        if scenario.plant != plant:
            raise ConfigError(where, [f"field base: {settings.base} runs plant {scenario.plant}, not {plant}"])
    else:
        # name, seed and duration are placeholders: every episode sets its own
        document = {"base": {"name": f"{plant}_sweep", "plant": plant, "seed": 0, "duration_s": 1.0, **settings.base}}
        try:
            scenario = _SweepBase.model_validate(document).base
        except ValidationError as err:
            located = read_yaml(where) if settings.source else None
            raise ConfigError(where, describe_validation_error(err, located, _SweepBase)) from None
    return scenario.model_copy(update={"plant_options": {**scenario.plant_options, **options}, "faults": [],
                                       "scan_ms": settings.scan_ms or scenario.scan_ms,
                                       "source": scenario.source or settings.source})


# --------------------------------------------------------------------------- a family of lines


def lines_root() -> Path:
    """Where family lines are written (one folder per line, named by its content), in the temporary folder."""
    user = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"quality-twin-lines-{user}"


def line_folder(files: LineFiles) -> Path:
    """The folder holding a family line's ``files``, written on first use (atomically: parallel episodes may
    ask at once); its name is a digest of the files, so the same line always gets the same folder."""
    digest = hashlib.sha256(repr(files).encode()).hexdigest()[:20]
    folder = lines_root() / digest
    for name, text in files:
        path = folder / name
        if not path.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            scratch = path.with_name(f".{name}.{os.getpid()}.tmp")
            scratch.write_text(text, encoding="utf-8")
            os.replace(scratch, path)
    return folder


def family_sweep_text(family: LineFamily, split: str) -> str:
    """The ``sweep.yaml`` of every line of ``family`` in ``split``: the family's scan, detection window, onsets
    and base run; the family draws the faults itself (:func:`plant_models.line.family.draw_fault`)."""
    e = family.episode
    document = {
        "description": f"a line of the family {family.line_prefix} ({family.description or 'random lines'})",
        "scan_ms": e.scan_ms, "detect_within_s": e.detect_within_s,
        "splits": {split: {"quantiles": [[0.0, 1.0]], "onset_s": list(e.onset_s)}},
        "evaluations": {split: {"split": split}}, "base": e.base}
    stream = io.StringIO()
    YAML(typ="safe", pure=True).dump(document, stream)
    return stream.getvalue()


class _FamilyEpisodeBase(BaseModel):
    model_config = ConfigDict(extra="ignore")
    base: Scenario


class _FamilyBase(BaseModel):
    """A family file seen as its base run (what a bad ``episode.base`` is reported against)."""

    model_config = ConfigDict(extra="ignore")
    episode: _FamilyEpisodeBase


def load_family_file(path: str | Path) -> LineFamily:
    """A family file, its ``episode.base`` checked as scenario fields too; a :class:`~qtconfig.ConfigError`
    names the file, the field and its line."""
    family = load_family(path)
    base = {"name": "family", "plant": "line", "seed": 0, "duration_s": 1.0, **family.episode.base}
    try:
        _FamilyBase.model_validate({"episode": {"base": base}})
    except ValidationError as err:
        raise ConfigError(path, describe_validation_error(err, read_yaml(path), _FamilyBase)) from None
    return family


def family_runs_dir(path: str | Path) -> Path:
    """Where ``twin rootcause dataset --family FILE`` writes by default: ``runs/rootcause/family/<file stem>``."""
    return Path("runs/rootcause/family") / Path(path).stem

