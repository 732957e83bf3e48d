"""A lone deviating signal: a bias of its sensor and a change of the process look alike, and the
diagnosis says so (issue 25: small sensor biases told apart from process faults, or "uncertain")."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from rootcause.diagnoser import Diagnoser
from rootcause.features import EvidenceSettings, evidence_from_series
from rootcause.graph import PlantGraph
from tests.rootcause.test_knowledge_graph import GRAPH

GRID_MS = 100
BASE, AFTER = 600, 300  # grid points of in-control history, then of the alarm window


def evidence(shifted: dict[str, float], seed: int):
    """Every tag of the coater graph flat with noise; the ``shifted`` ones step by that many sigmas."""
    rng = np.random.default_rng(seed)
    series = {}
    for tag in GRAPH.tags():
        values = rng.standard_normal(BASE + AFTER)
        values[BASE:] += shifted.get(tag, 0.0)
        series[tag] = (values, np.zeros(BASE + AFTER, np.uint8))
    end = (BASE + AFTER) * GRID_MS
    alarms = [(tag, BASE * GRID_MS + 2000) for tag in shifted]
    return evidence_from_series(series, alarms, end, (0, BASE * GRID_MS, end), EvidenceSettings())


def ranker_preferring(node: str):
    """A ranker that puts ``node`` first (a process asset, say) and the rest by name."""
    def rank(graph: PlantGraph, _evidence) -> np.ndarray:
        return np.array([1.0 if c.node == node else 0.1 / (1 + i) for i, c in enumerate(graph.candidates)])
    return rank


SIGNALS = ["coater.blade1.temperature", "coater.coolant.flow", "coater.blade3.pressure"]


@settings(max_examples=12, deadline=None)
@given(signal=st.sampled_from(SIGNALS), z=st.floats(6.0, 30.0), seed=st.integers(0, 2**16))
def test_a_process_answer_resting_on_one_signal_is_marked_uncertain_with_its_sensor_second(
        signal: str, z: float, seed: int) -> None:
    owner = GRAPH.owner[signal]
    diagnoser = Diagnoser(GRAPH, ranker_preferring(owner), method="test", model_version="t")
    d = diagnoser.diagnose_evidence(evidence({signal: z}, seed), ["A1"], (BASE + AFTER) * GRID_MS)
    assert d.top is not None and d.top.asset == owner and d.top.kind == "process"
    assert d.uncertain is not None and signal in d.uncertain
    assert (d.candidates[1].asset, d.candidates[1].kind) == (signal, "sensor")
    assert len({c.asset for c in d.candidates}) == len(d.candidates)


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_two_signals_moving_together_are_not_uncertain(seed: int) -> None:
    shifted = {"coater.coolant.flow": 10.0, "coater.coolant.valve.coil_current": -10.0}
    diagnoser = Diagnoser(GRAPH, ranker_preferring("coater.coolant.valve"), method="test", model_version="t")
    d = diagnoser.diagnose_evidence(evidence(shifted, seed), ["A1"], (BASE + AFTER) * GRID_MS)
    assert d.uncertain is None


def test_a_sensor_answer_on_one_signal_is_not_uncertain() -> None:
    signal = "coater.blade1.temperature"
    diagnoser = Diagnoser(GRAPH, ranker_preferring(signal), method="test", model_version="t")
    d = diagnoser.diagnose_evidence(evidence({signal: 12.0}, 1), ["A1"], (BASE + AFTER) * GRID_MS)
    assert d.top is not None and d.top.kind == "sensor" and d.uncertain is None


def test_a_second_signal_that_alarmed_counts_even_when_it_moved_less() -> None:
    """The flagship's first answer: the coil current far off, the flow only just off but alarmed."""
    shifted = {"coater.coolant.valve.coil_current": -20.0, "coater.coolant.flow": -1.5}
    e = evidence(shifted, 2)
    flow = e.tags["coater.coolant.flow"]
    assert flow.onset_s is not None and e.feature("coater.coolant.flow", "alarmed")
    assert np.expm1(e.feature("coater.coolant.flow", "z_max")) < 2 * EvidenceSettings().deviation_z  # moved little
    diagnoser = Diagnoser(GRAPH, ranker_preferring("coater.coolant.valve"), method="test", model_version="t")
    assert diagnoser.diagnose_evidence(e, ["A1"], (BASE + AFTER) * GRID_MS).uncertain is None
