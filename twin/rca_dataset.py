"""Labelled root-cause episodes: sample fault specs, run them offline, keep the alarm-window evidence.

This is scoring-side code: it reads the injected truth to label each episode. The evidence it
keeps is exactly what the edge computes at a diagnosis (:func:`rootcause.window.read_evidence`
on the run's historian and alarms), so a model trained here sees what it will see in a run.

Splits (see :data:`SPLITS`) differ in seeds, fault magnitudes and onsets, fault targets and
the line variant, so ``twin rootcause evaluate`` can measure generalisation honestly:

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
import hashlib
import pickle
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rootcause.features import EvidenceSettings, TagEvidence
from rootcause.window import read_evidence
from virtual_plc.tagmap import TagMap, load_tagmap

from .edge.historian import HistorianReader
from .episode import TAGS_FILE, EpisodeConfig, build_episode_plant, run_episode, scenario_tagmap
from .parallel import Backend, Progress, run_parallel
from .scenario import FaultEntry, Scenario, load_scenario

DATASET_FORMAT = 1
BASE_SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "coater_coil_ageing.yaml"
SWEEP_SCAN_MS = 100
HELDOUT_TARGET = "coater.blade3"
SENSOR_KINDS = ("sensor_stuck", "sensor_bias", "sensor_noise_burst", "sensor_dropout")
DETECT_WITHIN_S = 90.0


@dataclass(frozen=True)
class Split:
    """How the episodes of one split are drawn."""

    blades: int
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
    blades: int
    kind: str
    target: str
    magnitude: float
    quantile: float
    onset_s: float

    @property
    def label(self) -> str:
        """The candidate a perfect diagnosis names: the asset, or the tag for a sensor fault."""
        return self.target

    @property
    def label_kind(self) -> str:
        """``sensor`` for sensor faults, else ``process``."""
        return "sensor" if self.kind.startswith("sensor_") else "process"


@dataclass
class Sample:
    """The evidence of one episode at its first diagnosis, and its label."""

    spec: EpisodeSpec
    detected: bool
    first_alarm_s: float | None
    t_ms: int
    tags: dict[str, TagEvidence] = field(default_factory=dict)
    alarms: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class Dataset:
    """Samples of one or more splits, with the tag map of each line variant."""

    samples: list[Sample]
    tagmaps: dict[int, TagMap]
    meta: dict[str, Any]

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
            h.update(repr((asdict(s.spec), s.detected, s.first_alarm_s, s.t_ms, s.alarms)).encode())
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


def sample_specs(split: str, n: int, sweep_seed: int, base: Scenario | None = None) -> list[EpisodeSpec]:
    """``n`` episode specs of ``split``: fault kind, target, magnitude and onset drawn per episode."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; splits: {', '.join(SPLITS)}")
    if n < 0:
        raise ValueError(f"number of episodes must be >= 0, got {n}")
    rule = SPLITS[split]
    base = base or load_scenario(BASE_SCENARIO)
    tagmap = _variant_tagmap(base, rule.blades)
    choices = _fault_choices(tagmap, rule.blades, rule.targets)
    specs = []
    for i in range(n):
        seed = episode_seed(split, sweep_seed, i)
        rng = np.random.default_rng(seed)
        family = "sensor" if rng.random() < 0.5 else "process"
        kind = str(rng.choice(sorted({k for k, _ in choices[family]})))
        targets = sorted(t for k, t in choices[family] if k == kind)
        target = str(targets[int(rng.integers(len(targets)))])
        lo_q, hi_q = rule.quantiles[int(rng.integers(len(rule.quantiles)))]
        q = float(rng.uniform(lo_q, hi_q))
        magnitude = _magnitude(kind, target, q, rng, tagmap)
        onset = float(np.round(rng.uniform(*rule.onset_s), 1))
        specs.append(EpisodeSpec(split, i, seed % 1_000_000, rule.blades, kind, target, magnitude, q, onset))
    return specs


def run_spec(spec: EpisodeSpec, base_path: str = str(BASE_SCENARIO),
             settings: EvidenceSettings | None = None) -> Sample:
    """Run one episode offline and keep the evidence at its first diagnosis (or a miss)."""
    settings = settings or EvidenceSettings()
    base = load_scenario(base_path)
    duration = spec.onset_s + DETECT_WITHIN_S + settings.evidence_s
    scenario = episode_scenario(base, spec, duration)
    out = Path(tempfile.mkdtemp(prefix="qt-rca-"))
    try:
        report = asyncio.run(run_episode(scenario, EpisodeConfig(out_dir=out, mode="offline", seed=spec.seed)))
        alarms = sorted((a["tag"], int(a["t_ms"])) for a in report.alarms)
        if not alarms:
            return Sample(spec, False, None, int(duration * 1000))
        first = min(t for _, t in alarms)
        t_ms = min(first + int(settings.evidence_s * 1000), int(duration * 1000))
        seen = [a for a in alarms if a[1] <= t_ms]
        tagmap_tags = load_tagmap(out / TAGS_FILE).names()  # the tag map the run itself wrote
        with HistorianReader(out / "historian.duckdb") as reader:
            evidence = read_evidence(reader, tagmap_tags, seen, t_ms, settings)
        return Sample(spec, True, first / 1000, t_ms, evidence.tags, seen)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def episode_scenario(base: Scenario, spec: EpisodeSpec, duration_s: float) -> Scenario:
    """The base scenario with this spec's plant variant, fault, seed, scan and duration."""
    fault = FaultEntry(kind=spec.kind, target=spec.target, start_s=spec.onset_s, magnitude=spec.magnitude)
    return base.model_copy(update={
        "name": f"rca_{spec.split}_{spec.index}", "faults": [fault], "seed": spec.seed,
        "scan_ms": SWEEP_SCAN_MS, "duration_s": duration_s,
        "plant_options": {**base.plant_options, "blades": spec.blades},
        # the sweep keeps evidence for training; it does not diagnose
        "rootcause": base.rootcause.model_copy(update={"enabled": False}),
    })


def generate(
    specs: Sequence[EpisodeSpec], *, processes: int | None = None, backend: Backend = "pool",
    progress: Progress | None = None,
) -> Dataset:
    """Run every spec (in parallel) and collect the samples, in spec order."""
    samples = run_parallel(run_spec, list(specs), processes=processes, backend=backend, progress=progress)
    base = load_scenario(BASE_SCENARIO)
    tagmaps = {b: _variant_tagmap(base, b) for b in sorted({s.blades for s in specs})}
    detected = sum(s.detected for s in samples)
    return Dataset(samples, tagmaps, {"episodes": len(samples), "detected": detected, "scan_ms": SWEEP_SCAN_MS,
                                      "base_scenario": BASE_SCENARIO.name})


def _variant_tagmap(base: Scenario, blades: int) -> TagMap:
    scenario = base.model_copy(update={"plant_options": {**base.plant_options, "blades": blades}, "faults": [],
                                       "scan_ms": SWEEP_SCAN_MS})
    return scenario_tagmap(scenario, build_episode_plant(scenario, 0))


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
