"""Train and evaluate root-cause models on labelled datasets (scoring side: it reads the labels).

``twin rootcause train`` and ``twin rootcause evaluate`` call these, for any plant with a sweep
(:func:`twin.harness.rca.sweep.sweep_plant`): the plant (and a line's template) comes from the dataset.

One model across lines: :data:`GENERAL_MODEL` is trained on a family of generated lines (``twin
rootcause train --dataset FAMILY.pkl``) and used on lines it never saw (``evaluate --zero-shot``), or
fine-tuned first on a few labelled episodes of the target line (``evaluate --fine-tune N``:
:func:`train_on` with ``initial``). Its features are the same per node and per link on every line (relative onsets,
z-scored deviations, data-quality evidence, graph position through message passing, the knowledge
links as edges), so nothing in it is tied to a line's size or names.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from plant_models.registry import plant_spec
from plant_models.spec import KNOWLEDGE_FILE, MODEL_FILE
from rootcause.baselines import BASELINES, Ranker
from rootcause.diagnoser import graph_with_knowledge, plant_names
from rootcause.evaluate import Case, rank_cases, summarise_rankings
from rootcause.features import Evidence
from rootcause.graph import PlantGraph
from rootcause.knowledge import load_knowledge
from rootcause.rcaeval import write_rcaeval
from twin.harness.rca.dataset import Dataset, Sample, fault_kind, truth_label
from virtual_plc.tagmap import TagMap

#: the model trained across lines: a family of generated lines (the declarative line's own folder)
GENERAL_MODEL = plant_spec("line").folder() / MODEL_FILE


def default_model(plant: str = "coater", options: dict[str, Any] | None = None) -> Path:
    """The model file shipped for ``plant`` (what a run of it uses by default; a line's: beside its template)."""
    return plant_spec(plant).folder(options) / MODEL_FILE


def knowledge_file(plant: str, options: dict[str, Any] | None = None) -> Path:
    """The knowledge file shipped for ``plant`` (a line's: beside its template)."""
    return plant_spec(plant).folder(options) / KNOWLEDGE_FILE


def cases_from(samples: Sequence[Sample], tagmaps: dict[int, TagMap], *, drop: float = 0.0, add: float = 0.0,
               knowledge_seed: int = 0) -> list[Case]:
    """Evaluation cases: each sample's evidence on its plant variant's graph (knowledge perturbed if asked).

    The label is the truth (:func:`twin.harness.rca.dataset.truth_label`); the fault kind is what the
    plant's sweep breaks results down by (the coater's fault kinds, TEP's disturbance ids).
    """
    graphs: dict[int, PlantGraph] = {}
    cases = []
    for s in samples:
        if s.spec.variant not in graphs:
            tagmap = tagmaps[s.spec.variant]
            knowledge = load_knowledge(knowledge_file(s.spec.plant, s.spec.options), plant_names(tagmap))
            graphs[s.spec.variant] = graph_with_knowledge(tagmap, knowledge, drop=drop, add=add, seed=knowledge_seed)
        evidence = Evidence(s.t_ms, int((s.first_alarm_s or 0) * 1000), dict(s.tags), step_s=s.step_s)
        cases.append(Case(graphs[s.spec.variant], evidence, truth_label(s.spec), fault_kind(s.spec)))
    return cases


def train_on(
    datasets: Dataset | Sequence[Dataset], config: Any, progress: Callable[[int, int, float], None] | None = None,
    *, initial: Any = None, limit: int | None = None,
) -> tuple[Any, list[float]]:
    """Train the GNN on the ``train`` split of one or more datasets (several: e.g. a family of lines and the
    coater); ``initial``: fine-tune that trained model instead of starting afresh; ``limit``: only the first
    ``limit`` train episodes (by index; missed ones count)."""
    from rootcause.model import train_model

    cases: list[Case] = []
    for dataset in [datasets] if isinstance(datasets, Dataset) else datasets:
        train = sorted((s for s in dataset.samples if s.spec.split == "train"), key=lambda s: s.spec.index)
        chosen = [s for s in train[:limit] if s.detected]
        cases += cases_from(chosen, dataset.tagmaps)
    if not cases:
        raise ValueError("the dataset has no detected episodes in its train split")
    arrays = [c.graph.arrays(c.evidence) for c in cases]
    labels = [c.label_index() for c in cases]
    return train_model(arrays, labels, config, progress, initial=initial)


def calibrate(dataset: Dataset, model_path: Path, split: str | None = None) -> dict[str, Any]:
    """Fit the GNN's temperature (:func:`rootcause.calibration.fit_temperature`) on the dataset's episodes (its
    ``split`` only, if given) and write it into the model's card (``calibration``: temperature, split, cases, ECE
    before and after); returns that record. The episodes must be ones the model neither trained on nor is
    evaluated on, or the evaluation's calibration figures stop being held out."""
    from rootcause.calibration import fit_temperature, reliability, top_share, with_temperature
    from rootcause.model import load_model, score_candidates, update_card

    cases = cases_from(dataset.split(split) if split else [s for s in dataset.samples if s.detected],
                       dataset.tagmaps)
    if not cases:
        raise ValueError(f"the dataset has no detected episodes{f' in its {split!r} split' if split else ''} "
                         "to calibrate on")
    model, _ = load_model(model_path)
    probs = score_candidates(model, [c.graph.arrays(c.evidence) for c in cases])
    truths = [c.label_index() for c in cases]
    temperature = fit_temperature(probs, truths)
    right = [int(np.argmax(p)) == t for p, t in zip(probs, truths)]

    def ece(t: float) -> float:
        return reliability([top_share(with_temperature(p, t)) for p in probs], right).ece

    record = {"temperature": temperature, "split": split, "cases": len(cases), "ece_before": ece(1.0),
              "ece_after": ece(temperature)}
    update_card(model_path, calibration=record)
    return record


def methods_for(model_path: Path | None) -> dict[str, Ranker]:
    """The GNN (if a model is given) and every baseline (:data:`rootcause.baselines.BASELINES`)."""
    methods: dict[str, Ranker] = {}
    if model_path is not None:
        from rootcause.diagnoser import gnn_ranker

        methods["gnn"], _ = gnn_ranker(model_path)
    methods.update(BASELINES)
    return methods


def evaluate_dataset(dataset: Dataset, model_path: Path | None, *, knowledge_seed: int = 0,
                     progress: Callable[[str, int, int], None] | None = None,
                     rcaeval_dir: Path | None = None) -> dict[str, Any]:
    """Every evaluation of the dataset's plant (:attr:`~twin.harness.rca.sweep.SweepPlant.evaluations`) the
    dataset has samples for, every method; with ``rcaeval_dir``, each evaluation's rankings also go to
    ``rcaeval_dir/<evaluation>/`` in RCAEval's layout (:func:`rootcause.rcaeval.write_rcaeval`)."""
    methods = methods_for(model_path)
    results: dict[str, Any] = {}
    for name, (split, drop) in dataset.sweep().evaluations.items():
        samples = dataset.split(split)
        if not samples:
            continue
        cases = cases_from(samples, dataset.tagmaps, drop=drop, knowledge_seed=knowledge_seed)
        total = sum(1 for s in dataset.samples if s.spec.split == split)
        rankings = rank_cases(cases, methods, (lambda d, t, n=name: progress(n, d, t)) if progress else None)
        results[name] = {
            "episodes": total, "detected": len(samples), "knowledge_links_dropped": drop,
            "methods": summarise_rankings(rankings, methods),
        }
        if rcaeval_dir is not None:
            write_rcaeval(rcaeval_dir / name, rankings)
    return results
