"""Calibrated confidence: reliability diagrams and ECE say what was stated against what was right, and a
temperature fitted on over-confident probabilities undoes the over-confidence."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from rootcause.calibration import Reliability, fit_temperature, reliability, top_share, with_temperature
from rootcause.evaluate import Ranking, summarise_rankings


@settings(max_examples=30, deadline=None)
@given(confidence=st.lists(st.floats(0, 1), min_size=1, max_size=200), seed=st.integers(0, 10_000))
def test_bins_hold_every_case_and_the_ece_is_their_weighted_gap(confidence: list[float], seed: int) -> None:
    right = np.random.default_rng(seed).random(len(confidence)) < 0.5
    rel = reliability(confidence, right)
    assert sum(b.n for b in rel.bins) == rel.n == len(confidence)
    assert all(b.low <= b.confidence <= b.high for b in rel.bins)
    gap = sum(b.n * abs(b.confidence - b.accuracy) for b in rel.bins) / rel.n
    assert rel.ece == pytest.approx(gap, abs=1e-3) and 0 <= rel.ece <= 1


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_honest_confidence_has_a_small_error_and_overconfidence_a_large_one(seed: int) -> None:
    rng = np.random.default_rng(seed)
    stated = rng.uniform(0.1, 1.0, 20_000)
    honest = rng.random(stated.size) < stated  # right as often as it says
    assert reliability(stated, honest).ece < 0.03
    boasting = np.full(stated.size, 0.9)
    half = rng.random(stated.size) < 0.5  # says 0.9, right half the time
    assert reliability(boasting, half).ece == pytest.approx(0.4, abs=0.03)


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


@pytest.mark.parametrize("sharpness", [0.5, pytest.param(3.0, marks=pytest.mark.slow)])  # each about 5 s
def test_the_fitted_temperature_undoes_a_known_sharpening(sharpness: float) -> None:
    """Truths drawn from softmax(z); the model states softmax(sharpness * z): T should come out near sharpness."""
    rng = np.random.default_rng(11)
    probs, truths = [], []
    for _ in range(3000):
        z = rng.normal(0, 1.5, rng.integers(3, 12))
        truths.append(int(rng.choice(len(z), p=softmax(z))))
        probs.append(softmax(sharpness * z))
    temperature = fit_temperature(probs, truths)
    assert temperature == pytest.approx(sharpness, rel=0.2)
    before = reliability([top_share(p) for p in probs], [int(np.argmax(p)) == t for p, t in zip(probs, truths)])
    after = reliability([top_share(with_temperature(p, temperature)) for p in probs],
                        [int(np.argmax(p)) == t for p, t in zip(probs, truths)])
    assert after.ece < before.ece


@settings(max_examples=50, deadline=None)
@given(probs=st.lists(st.floats(0.001, 1), min_size=2, max_size=20), temperature=st.floats(0.05, 20))
@example(probs=[1.0, 0.001, 0.0010000000000000002], temperature=1.0)  # two inputs equal but for rounding
def test_a_temperature_keeps_the_order_and_sums_to_one(probs: list[float], temperature: float) -> None:
    p = np.array(probs) / sum(probs)
    scaled = with_temperature(p, temperature)
    assert scaled.sum() == pytest.approx(1.0)
    # the order is kept: a clearly larger input stays at least as large (inputs equal to rounding may swap)
    larger = p[:, None] > p[None, :] * (1 + 1e-9)
    assert np.all((scaled[:, None] >= scaled[None, :] - 1e-12)[larger])


def test_the_evaluation_reports_each_methods_calibration() -> None:
    rankings = [Ranking("m", i, "kind", "a", ("a", "b") if i % 2 else ("b", "a"), 1 if i % 2 else 2, 0.9)
                for i in range(10)]
    summary = summarise_rankings(rankings, ["m"])["m"]
    assert summary["overall"]["ac1"] == 0.5
    assert summary["calibration"]["n"] == 10 and summary["calibration"]["ece"] == pytest.approx(0.4)
    assert summary["calibration"]["bins"] == [{"low": 0.9, "high": 1.0, "n": 10, "confidence": 0.9, "accuracy": 0.5}]
    assert Reliability.from_dict(summary["calibration"]).to_dict() == summary["calibration"]  # what the picture reads


def test_bad_calibration_input_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        with_temperature(np.array([0.5, 0.5]), 0.0)
    with pytest.raises(ValueError, match="as many"):
        fit_temperature([np.array([0.5, 0.5])], [])
    with pytest.raises(ValueError, match="every confidence"):
        reliability([0.5], [True, False])


class Flat:
    """A diagnoser of ours in shape (``diagnose`` and ``settings``) that states fixed scores."""

    def __init__(self, scores: list[float], below: float = 0.5) -> None:
        from rootcause.features import EvidenceSettings

        self.scores = scores
        self.settings = EvidenceSettings(uncertain_below=below, first_s=30, evidence_s=30)

    def diagnose(self, reader: object, alarms: list, t_ms: int, answers: list[str] | None = None):
        from twin.contracts import Candidate, Diagnosis

        kinds = ["process", "sensor", "process", "process"]
        return Diagnosis(id="D", t_ms=t_ms, alarm_ids=list(answers or []), method="flat", model_version="0",
                         candidates=[Candidate(asset=f"l.c{i}", score=s, kind=kinds[i % 4])
                                     for i, s in enumerate(self.scores)])


def published(diagnoser: Flat):
    from rootcause.diagnoser import AlarmRef, DiagnosisLoop

    loop = DiagnosisLoop(diagnoser)
    for t in range(0, 40_000, 1000):
        found = loop.step(t, [AlarmRef("A1", "l.tag", 0)] if t == 0 else [], reader=lambda: None)
        if found is not None:
            return found
    raise AssertionError("no diagnosis published")


@settings(max_examples=30, deadline=None)
@given(scores=st.lists(st.floats(0.01, 10), min_size=2, max_size=8), below=st.floats(0.05, 0.95))
def test_below_the_threshold_a_diagnosis_names_its_leading_candidates_instead_of_one(scores: list[float],
                                                                                     below: float) -> None:
    scores = sorted(scores, reverse=True)
    diagnosis = published(Flat(scores, below))
    stated = top_share(scores)
    assert diagnosis.confidence == stated
    if stated < below:
        assert diagnosis.uncertain is not None and f"below {below:.2f}" in diagnosis.uncertain
        named = [f"l.c{i} (" for i in range(min(3, len(scores)))]
        assert all(n in diagnosis.uncertain for n in named) and "l.c3 (" not in diagnosis.uncertain
        assert "(process," in diagnosis.uncertain and "(sensor," in diagnosis.uncertain
    else:
        assert diagnosis.uncertain is None


def test_a_calibrated_model_states_its_tempered_probabilities(tmp_path) -> None:
    import torch

    from rootcause.diagnoser import gnn_ranker
    from rootcause.model import ModelConfig, RootCauseGNN, load_model, save_model, update_card

    torch.manual_seed(0)
    path = save_model(RootCauseGNN(ModelConfig(hidden=8, layers=1)), tmp_path / "m.pt", {"version": "t"})
    raw, _ = gnn_ranker(path)
    update_card(path, calibration={"temperature": 2.5})
    tempered, _ = gnn_ranker(path)
    assert load_model(path)[1]["calibration"] == {"temperature": 2.5}
    assert (tmp_path / "m.json").is_file()
    from tests.rootcause.test_baselines_literature import chain, plant  # a real graph and evidence

    graph, evidence = plant(), chain(0)
    before, after = raw(graph, evidence), tempered(graph, evidence)
    assert np.allclose(after, with_temperature(before, 2.5), atol=1e-6)
    assert top_share(after) < top_share(before)
