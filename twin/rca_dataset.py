"""Labelled root-cause episodes: sample fault specs, run them offline, keep the alarm-window evidence.

This is scoring-side code: it reads the injected truth to label each episode. The evidence it
keeps is exactly what the edge computes at a diagnosis (:func:`rootcause.window.read_evidence`
on the run's historian and alarms, with the base scenario's ``rootcause.evidence`` settings), so
a model trained here sees what it will see in a run.

The plant is a parameter: a :class:`SweepPlant` says how one plant's episodes are drawn (splits,
fault choices, magnitudes), run (base scenario, scan, how long to wait for an alarm) and scored
(which evaluations). :data:`COATER` is defined here; the Tennessee Eastman sweep is
:data:`twin.rca_tep.TEP`. The label of an episode is the same rule for every plant
(:func:`truth_label`): the measured tag for a sensor fault, else the asset where the plant's
declared causal structure says the fault enters.

The coater's splits (see :data:`SPLITS`) differ in seeds, fault magnitudes and onsets, fault
targets and the line variant, so ``twin rootcause evaluate`` can measure generalisation honestly:

=====================  ========  ===================  ==========  ==========================
split                  blades    magnitude quantile   onset (s)   targets
=====================  ========  ===================  ==========  ==========================
``train``              4         0.2 .. 0.8           130 .. 190  all but ``coater.blade3*``
``heldout_seeds``      4         0.2 .. 0.8           130 .. 190  all but ``coater.blade3*``
``heldout_magnitude``  4         0 .. 0.2, 0.8 .. 1   190 .. 240  all but ``coater.blade3*``
``heldout_target``     4         0.2 .. 0.8           130 .. 190  only ``coater.blade3*``
``line_variant``       6         0.2 .. 0.8           130 .. 190  all
=====================  ========  ===================  ==========  ==========================

Every episode's seed comes from (split, sweep seed, index), so the same arguments give the same
dataset on any backend and with any number of processes.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import pickle
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from plant_models.base import FaultSpec, PlantShutdown
from rootcause.features import EvidenceSettings, TagEvidence
from rootcause.window import read_evidence
from virtual_plc.tagmap import TagMap, load_tagmap

from .edge.historian import HistorianReader
from .episode import TAGS_FILE, EpisodeConfig, build_episode_plant, run_episode, scenario_tagmap
from .parallel import Backend, Progress, run_parallel
from .scenario import FaultEntry, Scenario, load_scenario
from .scores import expected_answer

DATASET_FORMAT = 1
SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
BASE_SCENARIO = SCENARIOS / "coater_coil_ageing.yaml"
SWEEP_SCAN_MS = 100
HELDOUT_TARGET = "coater.blade3"
SENSOR_KINDS = ("sensor_stuck", "sensor_bias", "sensor_noise_burst", "sensor_dropout")
DETECT_WITHIN_S = 90.0
PLANTS = ("coater", "tennessee_eastman")


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


SPLITS: dict[str, Split] = {
    "train": Split(4, ((0.2, 0.8),), (130.0, 190.0), "not_heldout"),
    "heldout_seeds": Split(4, ((0.2, 0.8),), (130.0, 190.0), "not_heldout"),
    "heldout_magnitude": Split(4, ((0.0, 0.2), (0.8, 1.0)), (190.0, 240.0), "not_heldout"),
    "heldout_target": Split(4, ((0.2, 0.8),), (130.0, 190.0), "only_heldout"),
    "line_variant": Split(6, ((0.2, 0.8),), (130.0, 190.0), "all"),
}

# process fault kinds: (target family prefix or exact target) -> (|magnitude| low, high, may be negative)
PROCESS_MAGNITUDES: dict[tuple[str, str], tuple[float, float, bool]] = {
    ("valve_coil_ageing", "coater.coolant.valve"): (2.0, 10.0, False),
    ("blade_pressure_drift", "blade"): (0.1, 0.6, True),
    ("step", "blade"): (0.2, 1.0, True),
    ("step", "zone"): (3.0, 12.0, True),
    ("step", "coater.slurry"): (300.0, 1500.0, True),
    ("step", "coater.coolant"): (1.0, 5.0, True),
    ("step", "coater.line"): (2.0, 8.0, True),
    ("thermal_shock", "zone"): (10.0, 40.0, False),
    ("thermal_shock", "coater.head"): (5.0, 20.0, False),
}
# sensor fault magnitude as a fraction of the tag's engineering range
SENSOR_MAGNITUDES: dict[str, tuple[float, float, bool]] = {
    "sensor_bias": (0.01, 0.04, True),
    "sensor_noise_burst": (0.005, 0.02, False),
    "sensor_stuck": (0.0, 0.0, False),
    "sensor_dropout": (0.0, 0.0, False),
}


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
    def label(self) -> str:
        """The candidate a perfect diagnosis names (see :func:`truth_label`)."""
        return truth_label(self)

    @property
    def label_kind(self) -> str:
        """``sensor`` for sensor faults, else ``process``."""
        return "sensor" if self.kind.startswith("sensor_") else "process"

    @property
    def fault_kind(self) -> str:
        """What results are broken down by: the fault kind, or what the plant's sweep says."""
        return sweep_plant(self.plant).fault_kind(self)

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


def truth_label(spec: EpisodeSpec) -> str:
    """The candidate a perfect diagnosis names (:func:`twin.scores.expected_answer`), e.g. ``tep.reactor``
    for IDV 4 — the same answer a run's ``report.json`` is scored against."""
    if spec.label_kind == "sensor":
        return spec.target
    plant, graph = _truth(spec.plant, spec.variant)
    return expected_answer(plant, spec.fault(), graph)


@functools.cache
def _truth(plant: str, variant: int) -> tuple[Any, nx.DiGraph]:
    """A plant instance of this variant and its causal graph (the truth; built once per process)."""
    sweep = sweep_plant(plant)
    scenario = _variant_scenario(sweep, _base(sweep.base_scenario), variant)
    model = build_episode_plant(scenario, 0)
    return model, model.causal_graph()


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


def sweep_plant(name: str) -> SweepPlant:
    """The sweep definition of plant ``name`` (``ValueError`` naming the plants there are)."""
    if name == "coater":
        return COATER
    if name == "tennessee_eastman":
        from .rca_tep import TEP  # defined there, on this module's types

        return TEP
    raise ValueError(f"no root-cause sweep for plant {name!r}; plants: {', '.join(PLANTS)}")


@dataclass
class Sample:
    """The evidence of one episode at its first diagnosis, and its label."""

    spec: EpisodeSpec
    detected: bool
    first_alarm_s: float | None
    t_ms: int
    tags: dict[str, TagEvidence] = field(default_factory=dict)
    alarms: list[tuple[str, int]] = field(default_factory=list)
    step_s: float = 1.0  # seconds per z-series element (the evidence settings' mean_s)


@dataclass
class Dataset:
    """Samples of one or more splits, with the tag map of each line variant."""

    samples: list[Sample]
    tagmaps: dict[int, TagMap]
    meta: dict[str, Any]

    @property
    def plant(self) -> str:
        """The plant the samples come from (``ValueError`` if they mix plants)."""
        plants = {s.spec.plant for s in self.samples} or {str(self.meta.get("plant", "coater"))}
        if len(plants) > 1:
            raise ValueError(f"the dataset mixes plants: {', '.join(sorted(plants))}")
        return plants.pop()

    def split(self, name: str) -> list[Sample]:
        """The detected samples of one split."""
        return [s for s in self.samples if s.spec.split == name and s.detected]

    def save(self, path: str | Path) -> Path:
        """Write the dataset (a pickle of plain data: specs, arrays, tag maps)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            pickle.dump({"format": DATASET_FORMAT, "samples": self.samples, "tagmaps": self.tagmaps,
                         "meta": self.meta}, fh, protocol=pickle.HIGHEST_PROTOCOL)
        return path

    def digest(self) -> str:
        """SHA-256 over every sample's spec and evidence: equal datasets, equal digests."""
        h = hashlib.sha256()
        for s in self.samples:
            h.update(repr((s.spec.digest_record(), s.detected, s.first_alarm_s, s.t_ms, s.alarms)).encode())
            for tag in sorted(s.tags):
                ev = s.tags[tag]
                h.update(tag.encode() + ev.z.tobytes() + ev.features.tobytes() + repr(ev.onset_s).encode())
        return h.hexdigest()


def load_dataset(path: str | Path) -> Dataset:
    """Read a dataset written by :meth:`Dataset.save`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no dataset at {path}; make one with `twin rootcause dataset`")
    with path.open("rb") as fh:
        blob = pickle.load(fh)  # noqa: S301 - our own file format
    if blob.get("format") != DATASET_FORMAT:
        raise ValueError(f"{path}: dataset format {blob.get('format')!r}, this version reads {DATASET_FORMAT}")
    return Dataset(blob["samples"], blob["tagmaps"], blob["meta"])


def episode_seed(split: str, sweep_seed: int, index: int) -> int:
    """The seed of episode ``index`` of ``split`` in the sweep seeded ``sweep_seed``."""
    digest = hashlib.sha256(f"{split}:{sweep_seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def sample_specs(split: str, n: int, sweep_seed: int, base: Scenario | None = None, *,
                 plant: str = "coater") -> list[EpisodeSpec]:
    """``n`` episode specs of ``split`` of ``plant``: fault kind, target, magnitude and onset drawn per episode."""
    sweep = sweep_plant(plant)
    if split not in sweep.splits:
        raise ValueError(f"unknown split {split!r} for {plant}; splits: {', '.join(sweep.splits)}")
    if n < 0:
        raise ValueError(f"number of episodes must be >= 0, got {n}")
    rule = sweep.splits[split]
    tagmap = variant_tagmap(sweep, rule.variant, base)
    specs = []
    for i in range(n):
        seed = episode_seed(split, sweep_seed, i)
        rng = np.random.default_rng(seed)
        kind, target, magnitude, q = sweep.draw(rule, rng, tagmap, i)
        onset = float(np.round(rng.uniform(*rule.onset_s), 1))
        specs.append(EpisodeSpec(split, i, seed % 1_000_000, rule.variant, kind, target, magnitude, q, onset, plant))
    return specs


def run_spec(spec: EpisodeSpec, base_path: str | None = None, settings: EvidenceSettings | None = None) -> Sample:
    """Run one episode offline and keep the evidence at its first diagnosis (or a miss).

    Defaults: the plant's base scenario and its evidence settings. A plant trip (TEP) ends the
    episode; what was collected until then still counts.
    """
    sweep = sweep_plant(spec.plant)
    base = load_scenario(base_path or sweep.base_scenario)
    settings = settings or base.rootcause.evidence
    duration = spec.onset_s + sweep.detect_within_s + settings.evidence_s
    scenario = episode_scenario(base, spec, duration)
    out = Path(tempfile.mkdtemp(prefix="qt-rca-"))
    try:
        try:
            report = asyncio.run(run_episode(scenario, EpisodeConfig(out_dir=out, mode="offline", seed=spec.seed)))
            raw_alarms = report.alarms
        except PlantShutdown:
            raw_alarms = json.loads((out / "report.json").read_text())["alarms"]
        alarms = sorted((a["tag"], int(a["t_ms"])) for a in raw_alarms)
        if not alarms:
            return Sample(spec, False, None, int(duration * 1000), step_s=settings.mean_s)
        first = min(t for _, t in alarms)
        t_ms = min(first + int(settings.evidence_s * 1000), int(duration * 1000))
        seen = [a for a in alarms if a[1] <= t_ms]
        tagmap_tags = load_tagmap(out / TAGS_FILE).names()  # the tag map the run itself wrote
        with HistorianReader(out / "historian.duckdb") as reader:
            evidence = read_evidence(reader, tagmap_tags, seen, t_ms, settings)
        return Sample(spec, True, first / 1000, t_ms, evidence.tags, seen, step_s=settings.mean_s)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def episode_scenario(base: Scenario, spec: EpisodeSpec, duration_s: float) -> Scenario:
    """The base scenario with this spec's plant variant, fault, seed, scan and duration."""
    fault = FaultEntry(kind=spec.kind, target=spec.target, start_s=spec.onset_s, magnitude=spec.magnitude)
    scenario = _variant_scenario(sweep_plant(spec.plant), base, spec.variant)
    return scenario.model_copy(update={
        "name": f"rca_{spec.split}_{spec.index}", "faults": [fault], "seed": spec.seed, "duration_s": duration_s,
        # the sweep keeps evidence for training; it does not diagnose
        "rootcause": base.rootcause.model_copy(update={"enabled": False}),
    })


def generate(
    specs: Sequence[EpisodeSpec], *, processes: int | None = None, backend: Backend = "pool",
    progress: Progress | None = None,
) -> Dataset:
    """Run every spec (in parallel) and collect the samples, in spec order (all specs of one plant)."""
    plants = {s.plant for s in specs} or {"coater"}
    if len(plants) > 1:
        raise ValueError(f"one dataset per plant; the specs mix {', '.join(sorted(plants))}")
    sweep = sweep_plant(plants.pop())
    samples = run_parallel(run_spec, list(specs), processes=processes, backend=backend, progress=progress)
    tagmaps = {v: variant_tagmap(sweep, v) for v in sorted({s.variant for s in specs})}
    detected = sum(s.detected for s in samples)
    return Dataset(samples, tagmaps, {
        "episodes": len(samples), "detected": detected, "plant": sweep.name, "base_scenario": sweep.base_scenario.name,
        "scan_ms": sweep.scan_ms or _base(sweep.base_scenario).scan_ms, "evidence": sweep.evidence().model_dump()})


def variant_tagmap(sweep: SweepPlant, variant: int, base: Scenario | None = None) -> TagMap:
    """The tag map of one plant variant (what the edge of that line would see)."""
    scenario = _variant_scenario(sweep, base or load_scenario(sweep.base_scenario), variant)
    return scenario_tagmap(scenario, build_episode_plant(scenario, 0))


def _variant_scenario(sweep: SweepPlant, base: Scenario, variant: int) -> Scenario:
    """The base scenario as the sweep runs it: this variant's plant options, the sweep's scan, no faults."""
    return base.model_copy(update={"plant_options": {**base.plant_options, **sweep.variant_options(variant)},
                                   "faults": [], "scan_ms": sweep.scan_ms or base.scan_ms})


def _coater_draw(rule: Split, rng: np.random.Generator, tagmap: TagMap, index: int) -> tuple[str, str, float, float]:
    """A coater fault: sensor or process family, then kind, target, magnitude quantile and magnitude."""
    choices = _fault_choices(tagmap, rule.variant, rule.targets)
    family = "sensor" if rng.random() < 0.5 else "process"
    kind = str(rng.choice(sorted({k for k, _ in choices[family]})))
    targets = sorted(t for k, t in choices[family] if k == kind)
    target = str(targets[int(rng.integers(len(targets)))])
    lo_q, hi_q = rule.quantiles[int(rng.integers(len(rule.quantiles)))]
    q = float(rng.uniform(lo_q, hi_q))
    return kind, target, _magnitude(kind, target, q, rng, tagmap), q


def _fault_choices(tagmap: TagMap, blades: int, which: str) -> dict[str, list[tuple[str, str]]]:
    blade_assets = [f"coater.blade{i}" for i in range(1, blades + 1)]
    zones = [f"coater.oven.zone{j}" for j in range(1, 4)]
    process = [("valve_coil_ageing", "coater.coolant.valve")]
    process += [("blade_pressure_drift", b) for b in blade_assets]
    process += [("step", t) for t in [*blade_assets, *zones, "coater.slurry", "coater.coolant", "coater.line"]]
    process += [("thermal_shock", t) for t in [*zones, "coater.head"]]
    measured = [t.name for t in tagmap.tags if t.access == "ro" and t.name != tagmap.clock_tag]
    sensor = [(k, t) for k in SENSOR_KINDS for t in measured]

    def keep(target: str) -> bool:
        held = target == HELDOUT_TARGET or target.startswith(HELDOUT_TARGET + ".")
        return {"all": True, "not_heldout": not held, "only_heldout": held}[which]

    return {"process": [c for c in process if keep(c[1])], "sensor": [c for c in sensor if keep(c[1])]}


def _magnitude(kind: str, target: str, q: float, rng: np.random.Generator, tagmap: TagMap) -> float:
    if kind in SENSOR_MAGNITUDES:
        lo, hi, signed = SENSOR_MAGNITUDES[kind]
        tag = tagmap[target]
        scale = tag.high - tag.low
    else:
        family = "blade" if target.startswith("coater.blade") else "zone" if target.startswith("coater.oven.zone") \
            else target
        lo, hi, signed = PROCESS_MAGNITUDES[(kind, family)]
        scale = 1.0
    value = (lo + q * (hi - lo)) * scale
    if signed and rng.random() < 0.5:
        value = -value
    return float(np.round(value, 6))


COATER = SweepPlant(
    name="coater",
    base_scenario=BASE_SCENARIO,
    splits=SPLITS,
    evaluations={
        "heldout_seeds": ("heldout_seeds", 0.0),
        "heldout_magnitude_onset": ("heldout_magnitude", 0.0),
        "heldout_target": ("heldout_target", 0.0),
        "knowledge_drop_20": ("heldout_seeds", 0.2),
        "line_variant_6_blades": ("line_variant", 0.0),
    },
    draw=_coater_draw,
    fault_kind=lambda spec: spec.kind,
    variant_options=lambda blades: {"blades": blades},
    scan_ms=SWEEP_SCAN_MS,
    detect_within_s=DETECT_WITHIN_S,
    eval_episodes=150,
    description="twin rootcause dataset (offline episodes, scan 100 ms, 4-blade coater, blade 3 held out)",
)
