"""Labelled root-cause episodes: sample fault specs, run them offline, keep the alarm-window evidence.

This is scoring-side code: it reads the injected truth to label each episode. The evidence it
keeps is exactly what the edge computes at a diagnosis (:func:`rootcause.window.read_evidence`
on the run's historian and alarms, with the base run's ``rootcause.evidence`` settings), so
a model trained here sees what it will see in a run.

The plant is a parameter: its :class:`~twin.harness.rca.sweep.SweepPlant` (:func:`sweep_plant`, from
the ``sweep.yaml`` of the plant's folder) says how its episodes are drawn (splits, fault choices,
magnitudes), run (base run, scan, how long to wait for an alarm) and scored (which evaluations).
The label of an episode is the same rule for every plant (:func:`truth_label`): the measured tag
for a sensor fault, else the asset where the plant's declared causal structure says the fault
enters.

Every episode's seed comes from (split, sweep seed, index), so the same arguments give the same
dataset on any backend and with any number of processes.

A **family of lines** (:func:`family_specs`, ``twin rootcause dataset --family FILE``) draws a line
per episode (or per ``episode.per_line`` episodes) from :func:`plant_models.line.family.family_template`
and a fault on it; each episode carries its line's files, its ``variant`` is the line's index and
:attr:`Dataset.tagmaps` holds every line's tag map under it, so a sample has all it needs to be
diagnosed later. Such a dataset is labelled the same way; training and evaluating across lines
is not supported yet (:attr:`Dataset.plant_options` refuses it by name).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import pickle
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from plant_models.base import PlantShutdown
from plant_models.line.compile import compile_template
from plant_models.line.family import LineFamily, draw_fault, dump_template, family_template
from plant_models.line.knowledge import knowledge_text
from plant_models.spec import KNOWLEDGE_FILE, SWEEP_FILE
from rootcause.features import EvidenceSettings, TagEvidence
from rootcause.window import read_evidence
from twin.contracts import Backend, RunFiles
from twin.edge.historian import HistorianReader
from twin.harness.episode import EpisodeConfig, build_episode_plant, run_episode, scenario_tagmap
from twin.harness.parallel import Progress, run_parallel
from twin.harness.rca.sweep import LINE_FILE, EpisodeSpec, SweepPlant, family_sweep_text, frozen_options, sweep_plant
from twin.harness.scenario import FaultEntry, Scenario, load_scenario
from twin.harness.scores import expected_answer
from virtual_plc.tagmap import TagMap, load_tagmap

DATASET_FORMAT = 1


def fault_kind(spec: EpisodeSpec) -> str:
    """What results are broken down by: the fault kind, or what the plant's sweep says."""
    return sweep_of(spec).fault_kind(spec)


def sweep_of(spec: EpisodeSpec) -> SweepPlant:
    """The sweep an episode was drawn from."""
    return sweep_plant(spec.plant, spec.options)


def truth_label(spec: EpisodeSpec) -> str:
    """The candidate a perfect diagnosis names (:func:`twin.harness.scores.expected_answer`), e.g. ``tep.reactor``
    for IDV 4 — the same answer a run's ``report.json`` is scored against."""
    if spec.label_kind == "sensor":
        return spec.target
    plant, graph = _truth(spec.plant, frozen_options(spec.options), spec.variant)
    return expected_answer(plant, spec.fault(), graph)


@functools.cache
def _truth(plant: str, options: tuple[tuple[str, Any], ...], variant: int) -> tuple[Any, nx.DiGraph]:
    """A plant instance of this variant and its causal graph (the truth; built once per process)."""
    sweep = sweep_plant(plant, dict(options))
    model = build_episode_plant(_variant_scenario(sweep, sweep.base, variant), 0)
    return model, model.causal_graph()


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

    @property
    def is_family(self) -> bool:
        """True when the samples come from a family of lines (every episode carries its own line)."""
        return bool(self.meta.get("family")) or any(s.spec.line_files for s in self.samples)

    @property
    def plant_options(self) -> dict[str, Any]:
        """The plant options of the sweep the samples come from (a line: its template; ``ValueError`` if they mix,
        or for a family of lines, whose every line is its own plant instance)."""
        if self.is_family:
            raise ValueError(f"the dataset holds episodes of a family of lines ({len(self.tagmaps)} lines, each "
                             "episode its own line): training and evaluating across lines is not supported yet")
        found = {s.spec.plant_options for s in self.samples} or {frozen_options(self.meta.get("plant_options"))}
        if len(found) > 1:
            raise ValueError(f"the dataset mixes plant instances: {' | '.join(sorted(map(str, found)))}")
        return dict(found.pop())

    def sweep(self) -> SweepPlant:
        """The sweep the samples were drawn from (a family's: its first line's, which every line of the family
        shares but for the template: base run, evidence settings, evaluations)."""
        if not self.samples:
            return sweep_plant(self.plant, self.meta.get("plant_options"))
        return sweep_of(self.samples[0].spec)

    def lines(self) -> list[str]:
        """What the samples are of, as :func:`line_identity` names it (a family: ``family:<line prefix>``)."""
        if self.is_family:
            return [f"family:{self.meta.get('family', {}).get('line_prefix', 'lines')}"]
        return [line_identity(self.plant, self.plant_options)]

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


def line_identity(plant: str, options: dict[str, Any] | None = None) -> str:
    """A plant, or a declarative line by its line name (``line:pack`` for the leak-test template, wherever its
    file lives): what a model card lists as trained on and ``evaluate --zero-shot`` checks against."""
    template = (options or {}).get("template")
    if plant != "line" or not template:
        return plant
    from plant_models.line.template import load_template

    return f"line:{load_template(template).line}"


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
                 plant: str = "coater", options: dict[str, Any] | None = None) -> list[EpisodeSpec]:
    """``n`` episode specs of ``split`` of ``plant`` (with ``options``: a line's template): fault kind, target,
    magnitude and onset drawn per episode, by the plant's sweep settings. Nothing runs."""
    sweep = sweep_plant(plant, options)
    if split not in sweep.splits:
        raise ValueError(f"unknown split {split!r} for {plant}; splits: {', '.join(sweep.splits)}")
    if n < 0:
        raise ValueError(f"number of episodes must be >= 0, got {n}")
    rule = sweep.splits[split]
    draw = sweep.drawer(rule, variant_tagmap(sweep, rule.variant, base))
    specs = []
    for i in range(n):
        seed = episode_seed(split, sweep_seed, i)
        rng = np.random.default_rng(seed)
        kind, target, magnitude, q = draw(rng, i)
        onset = float(np.round(rng.uniform(*rule.onset_s), 1))
        specs.append(EpisodeSpec(split, i, seed % 1_000_000, rule.variant, kind, target, magnitude, q, onset, plant,
                                 sweep.options))
    return specs


def family_specs(family: LineFamily, split: str, n: int, sweep_seed: int, *,
                 progress: Progress | None = None) -> list[EpisodeSpec]:
    """``n`` episode specs of ``split`` from a family of lines. Episode ``i`` runs on line ``i // per_line``
    (:func:`~plant_models.line.family.family_template` of the family for ``sweep_seed``: the same seed, the
    same lines in every split) with a fault and onset drawn from the episode's seed (split, sweep seed, ``i``);
    its ``variant`` is the line's index and it carries the line's files. Nothing runs; ``progress(done, n)``
    is called per episode."""
    if n < 0:
        raise ValueError(f"number of episodes must be >= 0, got {n}")
    sweep_file = family_sweep_text(family, split)
    specs: list[EpisodeSpec] = []
    line: tuple[int, Any, tuple[tuple[str, str], ...]] | None = None
    for i in range(n):
        index = i // family.episode.per_line
        if line is None or line[0] != index:
            template = family_template(family, index, sweep_seed)
            compiled = compile_template(template)
            line = (index, compiled, ((LINE_FILE, dump_template(template)), (SWEEP_FILE, sweep_file),
                                      (KNOWLEDGE_FILE, knowledge_text(compiled))))
        _, compiled, files = line
        seed = episode_seed(split, sweep_seed, i)
        rng = np.random.default_rng(seed)
        fault = draw_fault(family, compiled, rng)
        onset = float(np.round(rng.uniform(*family.episode.onset_s), 1))
        specs.append(EpisodeSpec(split, i, seed % 1_000_000, index, fault.kind, fault.target, fault.magnitude,
                                 fault.quantile, onset, "line", (), files))
        if progress:
            progress(i + 1, n)
    return specs


def run_spec(spec: EpisodeSpec, base_path: str | None = None, settings: EvidenceSettings | None = None) -> Sample:
    """Run one episode offline and keep the evidence at its first diagnosis (or a miss).

    Defaults: the sweep's base run and its evidence settings. A plant trip (TEP) ends the
    episode; what was collected until then still counts.
    """
    sweep = sweep_of(spec)
    base = load_scenario(base_path) if base_path else sweep.base
    settings = settings or base.rootcause.evidence
    duration = spec.onset_s + sweep.settings.detect_within_s + settings.evidence_s
    scenario = episode_scenario(base, spec, duration)
    out = Path(tempfile.mkdtemp(prefix="qt-rca-"))
    try:
        try:
            report = asyncio.run(run_episode(scenario, EpisodeConfig(out_dir=out, mode="offline", seed=spec.seed,
                                                                     lineage=False)))
            raw_alarms = report.alarms
        except PlantShutdown:
            raw_alarms = json.loads((out / "report.json").read_text())["alarms"]
        alarms = sorted((a["tag"], int(a["t_ms"])) for a in raw_alarms)
        if not alarms:
            return Sample(spec, False, None, int(duration * 1000), step_s=settings.mean_s)
        first = min(t for _, t in alarms)
        t_ms = min(first + int(settings.evidence_s * 1000), int(duration * 1000))
        seen = [a for a in alarms if a[1] <= t_ms]
        tagmap_tags = load_tagmap(out / RunFiles.TAGS).names()  # the tag map the run itself wrote
        with HistorianReader(out / "historian.duckdb") as reader:
            evidence = read_evidence(reader, tagmap_tags, seen, t_ms, settings)
        return Sample(spec, True, first / 1000, t_ms, evidence.tags, seen, step_s=settings.mean_s)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def episode_scenario(base: Scenario, spec: EpisodeSpec, duration_s: float) -> Scenario:
    """The base scenario with this spec's plant variant, fault, seed, scan and duration."""
    fault = FaultEntry(kind=spec.kind, target=spec.target, start_s=spec.onset_s, magnitude=spec.magnitude)
    scenario = _variant_scenario(sweep_of(spec), base, spec.variant)
    return scenario.model_copy(update={
        "name": f"rca_{spec.split}_{spec.index}", "faults": [fault], "seed": spec.seed, "duration_s": duration_s,
        # the sweep keeps evidence for training; it does not diagnose
        "rootcause": base.rootcause.model_copy(update={"enabled": False}),
    })


def generate(
    specs: Sequence[EpisodeSpec], *, processes: int | None = None, backend: Backend = "pool",
    progress: Progress | None = None,
) -> Dataset:
    """Run every spec (in parallel) and collect the samples, in spec order (all specs of one plant, or all of one
    family of lines: then every line's tag map is kept under its index)."""
    families = {bool(s.line_files) for s in specs}
    if len(families) > 1:
        raise ValueError("one dataset per plant; the specs mix a family of lines with a plant")
    if families == {True}:
        return _generate_family(specs, processes, backend, progress)
    plants = {(s.plant, s.plant_options) for s in specs} or {("coater", ())}
    if len(plants) > 1:
        raise ValueError(f"one dataset per plant; the specs mix {', '.join(sorted({p for p, _ in plants}))}"
                         + (" (or one plant's instances)" if len({p for p, _ in plants}) == 1 else ""))
    name, options = plants.pop()
    sweep = sweep_plant(name, dict(options))
    samples = run_parallel(run_spec, list(specs), processes=processes, backend=backend, progress=progress)
    tagmaps = {v: variant_tagmap(sweep, v) for v in sorted({s.variant for s in specs})}
    detected = sum(s.detected for s in samples)
    return Dataset(samples, tagmaps, {
        "episodes": len(samples), "detected": detected, "plant": sweep.name, "plant_options": dict(sweep.options),
        "sweep": str(sweep.settings.source), "scan_ms": sweep.scan_ms, "evidence": sweep.evidence().model_dump()})


def _generate_family(specs: Sequence[EpisodeSpec], processes: int | None, backend: Backend,
                     progress: Progress | None) -> Dataset:
    """:func:`generate` for the episodes of a family of lines: one tag map per line, under the line's index."""
    lines: dict[int, EpisodeSpec] = {}
    for s in specs:
        first = lines.setdefault(s.variant, s)
        if first.line_files != s.line_files:
            raise ValueError(f"episodes {first.index} and {s.index} of split {s.split} have line {s.variant} "
                             "but different lines: one dataset per family and seed")
    samples = run_parallel(run_spec, list(specs), processes=processes, backend=backend, progress=progress)
    tagmaps = {v: variant_tagmap(sweep_of(lines[v]), v) for v in sorted(lines)}
    sweep = sweep_of(specs[0])
    return Dataset(samples, tagmaps, {
        "episodes": len(samples), "detected": sum(s.detected for s in samples), "plant": "line",
        "plant_options": {}, "lines": len(tagmaps), "sweep": sweep.settings.description, "scan_ms": sweep.scan_ms,
        "evidence": sweep.evidence().model_dump()})


def variant_tagmap(sweep: SweepPlant, variant: int, base: Scenario | None = None) -> TagMap:
    """The tag map of one plant variant (what the edge of that line would see)."""
    scenario = _variant_scenario(sweep, base or sweep.base, variant)
    return scenario_tagmap(scenario, build_episode_plant(scenario, 0))


def _variant_scenario(sweep: SweepPlant, base: Scenario, variant: int) -> Scenario:
    """The base run as the sweep runs it: this variant's plant options, the sweep's scan, no faults."""
    return base.model_copy(update={"plant_options": {**base.plant_options, **sweep.variant_options(variant)},
                                   "faults": [], "scan_ms": sweep.settings.scan_ms or base.scan_ms})


