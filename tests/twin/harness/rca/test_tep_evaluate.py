"""Root cause on the Tennessee Eastman plant: truth, splits, evidence settings and the same harness.

A small TEP sweep (a handful of offline episodes) runs through dataset -> train -> evaluate, on
the library functions and through ``twin rootcause evaluate --plant tennessee_eastman``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from plant_models.tennessee_eastman.signals import DISTURBANCES
from rootcause.baselines import BASELINES
from rootcause.features import EDGE_FEATURES, EvidenceSettings, evidence_from_series, link_features
from rootcause.model import ModelConfig, save_model
from tests.conftest import REPO
from tests.support import flat
from twin.cli import app
from twin.harness.rca.bench import cases_from, evaluate_dataset, train_on
from twin.harness.rca.dataset import (
    Dataset,
    EpisodeSpec,
    fault_kind,
    generate,
    load_dataset,
    sample_specs,
    sweep_plant,
    truth_label,
)
from twin.harness.scenario import load_scenario

pytestmark = pytest.mark.slow  # a small TEP sweep through dataset, train and evaluate

PLANT = "tennessee_eastman"
BY_IDV = {d.idv: d.name for d in DISTURBANCES}
TEP = sweep_plant(PLANT)
COATER = sweep_plant("coater")
IDVS = tuple(d.idv for d in DISTURBANCES if d.name in TEP.settings.targets)  # the swept disturbances
HELDOUT_IDVS = tuple(d.idv for d in DISTURBANCES if d.name in TEP.settings.heldout_targets)
METHODS = {"gnn", *BASELINES}
TINY = ModelConfig(hidden=16, layers=2, epochs=10, batch_size=4, seed=3)
runner = CliRunner()



def spec(idv: int, split: str = "heldout_seeds", index: int = 0, magnitude: float = 0.8) -> EpisodeSpec:
    """A TEP episode of disturbance ``idv``, seeded as the sweep seeds its episodes."""
    drawn = sample_specs(split, index + 1, 21, plant=PLANT)[index]
    return dataclasses.replace(drawn, target=BY_IDV[idv], magnitude=magnitude)


@pytest.fixture(scope="module")
def small() -> Dataset:
    """Two training and four held-out-seed episodes: IDV 4, 6, 11 and 14 are the held-out ones."""
    specs = [spec(1, "train", 0), spec(7, "train", 1)]
    specs += [spec(idv, "heldout_seeds", i) for i, idv in enumerate((4, 6, 11, 14))]
    return generate(specs, processes=2, backend="pool")


@pytest.mark.parametrize(("idv", "entry"), [(4, "tep.reactor"), (6, "tep.feed_a"), (11, "tep.reactor"),
                                            (14, "tep.reactor"), (5, "tep.condenser"), (16, "tep.stripper"),
                                            (1, "tep.feed_ac"), (24, "tep.feed_d")])
def test_the_truth_is_the_entry_unit_of_the_plants_causal_structure(idv: int, entry: str) -> None:
    s = spec(idv)
    assert truth_label(s) == entry and s.label_kind == "process"
    assert fault_kind(s) == BY_IDV[idv]  # TEP results are broken down by disturbance


def test_every_swept_disturbance_is_labelled_with_a_process_candidate_of_the_tep_graph() -> None:
    from rootcause.diagnoser import build_graph
    from twin.harness.rca.bench import knowledge_file
    from twin.harness.rca.dataset import variant_tagmap

    graph = build_graph(variant_tagmap(TEP, 0), knowledge_file(PLANT))
    process = {c.node for c in graph.candidates if c.kind == "process"}
    assert {"tep.reactor", "tep.feed_a", "tep.condenser"} <= process
    labels = {idv: truth_label(spec(idv)) for idv in IDVS}
    assert set(labels.values()) <= process
    assert labels[4] == labels[11] == labels[14] != labels[6]


def test_tep_splits_hold_out_seeds_magnitudes_and_disturbances() -> None:
    train = sample_specs("train", 28, 0, plant=PLANT)
    assert train == sample_specs("train", 28, 0, plant=PLANT) and train != sample_specs("train", 28, 1, plant=PLANT)
    assert {s.plant for s in train} == {PLANT} and {s.kind for s in train} == {"step"}
    swept = {BY_IDV[i] for i in IDVS if i not in HELDOUT_IDVS}
    assert {s.target for s in train} == swept  # every disturbance gets its turn, the held-out ones never
    held = sample_specs("heldout_target", 6, 1, plant=PLANT)
    assert {s.target for s in held} == {BY_IDV[i] for i in HELDOUT_IDVS}
    small = sample_specs("heldout_magnitude", 14, 1, plant=PLANT)
    assert max(s.magnitude for s in small) <= 0.5 < min(s.magnitude for s in train)
    assert min(s.onset_s for s in small) >= max(s.onset_s for s in train) - 1  # later onsets, after 9 h
    assert {s.seed for s in train}.isdisjoint(s.seed for s in sample_specs("heldout_seeds", 28, 1, plant=PLANT))
    with pytest.raises(ValueError, match="unknown split 'line_variant' for tennessee_eastman"):
        sample_specs("line_variant", 1, 0, plant=PLANT)
    with pytest.raises(ValueError, match="no root-cause sweep for plant 'tep'"):
        sweep_plant("tep")


def test_every_tep_scenario_diagnoses_with_the_evidence_settings_of_the_sweep() -> None:
    settings = TEP.evidence()
    assert settings.mean_s == 180 and settings != COATER.evidence() == EvidenceSettings()
    for path in sorted((REPO / "scenarios").glob("tep_*.yaml")):
        assert load_scenario(path).rootcause.evidence == settings, path.name


def test_time_features_are_counted_in_steps_so_a_slow_plant_reads_like_the_coater() -> None:
    """The same shapes on 1 s means (coater) and on 3-min means (TEP) give the same features."""
    rng = np.random.default_rng(4)
    n = 180
    cause = np.concatenate([rng.normal(0, 1, 100), 30 + rng.normal(0, 1, n - 100)])
    effect = np.concatenate([rng.normal(0, 1, 104), 20 + rng.normal(0, 1, n - 104)])
    series = {"a": (cause, np.zeros(n, dtype=np.uint8)), "b": (effect, np.zeros(n, dtype=np.uint8))}
    out = []
    for step_ms in (1000, 180_000):
        settings = EvidenceSettings(grid_ms=step_ms, mean_s=step_ms / 1000, lookback_s=120 * step_ms / 1000,
                                    baseline_s=60 * step_ms / 1000, evidence_s=60 * step_ms / 1000)
        first_alarm = 120 * step_ms  # the window runs from 0: 60 steps of baseline, 60 more, 60 after the alarm
        window = settings.window_ms(first_alarm, n * step_ms)
        assert window == (0, 60 * step_ms, n * step_ms)
        out.append(evidence_from_series(series, [("b", first_alarm)], n * step_ms, window, settings))
    coater, tep = out
    for tag in ("a", "b"):
        np.testing.assert_allclose(coater.tags[tag].features, tep.tags[tag].features, atol=1e-6)
        assert tep.tags[tag].onset_s == pytest.approx(180 * coater.tags[tag].onset_s)
    np.testing.assert_allclose(link_features(coater, "a", "b"), link_features(tep, "a", "b"), atol=1e-6)
    assert link_features(tep, "a", "b")[EDGE_FEATURES.index("onset_lead")] > 0  # the cause moved first


def test_a_bad_grid_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="whole number of grid steps"):
        EvidenceSettings(grid_ms=70_000, mean_s=180)


def test_coater_digests_keep_the_first_format() -> None:
    """Digests in published model cards stay valid: a coater spec hashes as it always did."""
    s = sample_specs("train", 1, 0)[0]
    assert list(s.digest_record()) == ["split", "index", "seed", "blades", "kind", "target", "magnitude",
                                       "quantile", "onset_s"]
    assert s.digest_record()["blades"] == s.variant == 4
    assert spec(4).digest_record()["plant"] == PLANT


def test_one_dataset_holds_one_plant() -> None:
    with pytest.raises(ValueError, match="one dataset per plant"):
        generate([sample_specs("train", 1, 0)[0], spec(4)], backend="serial")


def test_the_small_sweep_detects_and_its_evidence_points_at_the_entry_unit(small: Dataset) -> None:
    assert small.plant == PLANT and small.meta["evidence"] == TEP.evidence().model_dump()
    held = small.split("heldout_seeds")
    assert len(held) >= 3, [(s.spec.target, s.detected) for s in small.samples]
    for s in held:
        assert 0 <= s.first_alarm_s - s.spec.onset_s <= TEP.settings.detect_within_s
        assert s.step_s == 180
    for case in cases_from(held, small.tagmaps):
        assert case.graph.candidates[case.label_index()].kind == "process"
        deviated = sorted((ev.onset_s, tag) for tag, ev in case.evidence.tags.items() if ev.onset_s is not None)
        assert deviated, case.fault_kind
        first_units = {case.graph.owner[tag] for onset, tag in deviated if onset == deviated[0][0]}
        if case.fault_kind in (BY_IDV[4], BY_IDV[6]):  # steps that hit their own unit's signals at once
            assert case.label in first_units, (case.fault_kind, deviated[:4])


def test_the_small_sweep_scores_every_method_in_the_coaters_harness(small: Dataset, tmp_path: Path) -> None:
    model, losses = train_on(small, TINY)
    assert losses[-1] < losses[0]
    model_path = save_model(model, tmp_path / "tiny.pt", {"version": "tiny-tep"})
    results = evaluate_dataset(small, model_path)
    assert set(results) == {"heldout_seeds", "knowledge_drop_20"}  # the splits this dataset has
    for result in results.values():
        assert set(result["methods"]) == METHODS
        for scores in result["methods"].values():
            o = scores["overall"]
            assert o["n"] == result["detected"] == len(small.split("heldout_seeds"))
            assert 0.0 <= o["ac1"] <= o["ac3"] <= 1.0
            assert set(scores["per_kind"]) <= {BY_IDV[i] for i in (4, 6, 11, 14)}
            assert sum(k["n"] for k in scores["per_kind"].values()) == o["n"]


def test_twin_rootcause_evaluate_plant_tennessee_eastman(small: Dataset, tmp_path: Path) -> None:
    data = small.save(tmp_path / "small.pkl")
    assert load_dataset(data).digest() == small.digest()
    trained = runner.invoke(app, ["rootcause", "train", "--dataset", str(data), "--out", str(tmp_path / "m.pt"),
                                  "--epochs", "3", "--hidden", "8"])
    assert trained.exit_code == 0, trained.output
    card = json.loads((tmp_path / "m.json").read_text())
    assert card["plant"] == PLANT and card["evidence"] == TEP.evidence().model_dump()
    assert set(card["data"]["by_fault_kind"]) == {BY_IDV[1], BY_IDV[7]}
    out = tmp_path / "evaluation.json"
    result = runner.invoke(app, ["rootcause", "evaluate", "--plant", PLANT, "--dataset", str(data),
                                 "--model", str(tmp_path / "m.pt"), "--out", str(out), "--per-kind"])
    assert result.exit_code == 0, result.output
    assert "AC@1" in result.output and "AC@3" in result.output and "idv04" in result.output
    payload = json.loads(out.read_text())
    assert payload["plant"] == PLANT and set(payload["evaluations"]) == {"heldout_seeds", "knowledge_drop_20"}
    scores = payload["evaluations"]["heldout_seeds"]["methods"]
    assert set(scores) == METHODS and {"ac1", "ac3", "avg5", "n"} <= set(scores["gnn"]["overall"])
    # a coater dataset is not a TEP dataset
    wrong = runner.invoke(app, ["rootcause", "evaluate", "--dataset", str(data), "--model", "none",
                                "--out", str(tmp_path / "x.json")])
    assert wrong.exit_code != 0 and "holds tennessee_eastman episodes, not coater" in flat(wrong.output)
    unknown = runner.invoke(app, ["rootcause", "dataset", "--plant", "tep", "--episodes", "1"])
    assert unknown.exit_code != 0 and "plants: coater, line, tennessee_eastman" in flat(unknown.output)
