"""Diagnose an alarm: evidence from the historian, the plant graph, a ranker, an evidence path.

:class:`Diagnoser` is what runs at the edge. It knows the tag map, the knowledge file and a
ranker (the trained GNN, or a baseline), reads the alarm window from the historian, ranks the
candidates (on a plant of more than 200 tags, only the alarms' neighbourhood in the graph: the
candidates upstream of the alarmed signals, whose tags alone are read) and explains the top one
with a path through the graph, from the candidate down to the alarmed signal that matters most
(a quality characteristic when one alarmed), choosing links whose two signals moved together
and nodes that deviated.

:class:`DiagnosisSchedule` decides when: a first answer ``first_s`` after the first alarm of a
burst (5 s: the evidence that suffices on the coater's faults) — published once it is at least
``min_confidence`` sure, else tried again every ``first_s``; a burst opened by a data-quality
alarm (``stuck``, ``noise``, ``no_good_data``) waits for the settled evidence —, revised once more evidence has
come in, ``evidence_s`` after the alarm (30 s); and again when an alarm on a tag not yet covered arrives
(say the wrinkle alarm, minutes after the coil current's). Every diagnosis carries its
``confidence`` (the top candidate's share of the candidates' scores), and a revision names the
diagnosis it revises.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from rootcause.baselines import BASELINES, Ranker
from rootcause.calibration import top_share, with_temperature
from rootcause.features import Evidence, EvidenceSettings, link_features
from rootcause.graph import PlantGraph
from rootcause.knowledge import Knowledge, load_knowledge, perturb_links
from rootcause.risk import RiskMap
from rootcause.window import read_evidence
from twin.contracts import Candidate, Diagnosis, EvidenceStep
from twin.edge.historian import HistorianReader
from virtual_plc.tagmap import TagMap

TOP_CANDIDATES = 10
#: a plant graph of more tags than this is diagnosed over the alarms' neighbourhood (:meth:`Diagnoser.graph_for`);
#: every shipped plant and line template (15 to 65 tags) is well below it
NEIGHBOURHOOD_ABOVE_TAGS = 200
#: how far upstream of an alarmed signal a neighbourhood reaches, in links of the graph; no candidate of a
#: shipped plant is more than 13 links upstream of a tag
NEIGHBOURHOOD_DEPTH = 16


@dataclass(frozen=True)
class AlarmRef:
    """What the diagnoser needs of an alarm (``rule``: the detector's rule, e.g. ``stuck``)."""

    id: str
    tag: str
    t_ms: int
    rule: str = ""


# alarms about the data rather than the process: a burst they open waits for settled evidence, because
# the features that tell a sensor from the process (flat, noise ratio) need a stretch since the tag's onset
DATA_QUALITY_RULES = frozenset({"stuck", "no_good_data", "noise"})


def plant_names(tagmap: TagMap) -> list[str]:
    """Tag names and asset paths of a tag map: what knowledge links may name."""
    return sorted({t.name for t in tagmap.tags} | {t.asset for t in tagmap.tags})


def build_graph(tagmap: TagMap, knowledge_path: str | Path, *, drop: float = 0.0, add: float = 0.0,
                seed: int = 0) -> PlantGraph:
    """The plant graph from a tag map and a knowledge file, its links perturbed if asked."""
    knowledge = load_knowledge(knowledge_path, plant_names(tagmap))
    return graph_with_knowledge(tagmap, knowledge, drop=drop, add=add, seed=seed)


def graph_with_knowledge(tagmap: TagMap, knowledge: Knowledge, *, drop: float = 0.0, add: float = 0.0,
                         seed: int = 0) -> PlantGraph:
    """The plant graph for already-loaded knowledge (perturbed if ``drop`` or ``add``)."""
    links = knowledge.links
    if drop or add:
        nodes = PlantGraph(tagmap, knowledge).nodes
        links = perturb_links(links, nodes, drop=drop, add=add, seed=seed)
    return PlantGraph(tagmap, knowledge, links)


def gnn_ranker(model_path: str | Path) -> tuple[Ranker, str]:
    """A ranker scoring with the trained GNN at ``model_path``, and the model's version string; the candidates'
    probabilities are calibrated with the temperature in the model's card, where it has one
    (:mod:`rootcause.calibration`, ``twin rootcause calibrate``)."""
    from rootcause.model import load_model, score_candidates

    model, card = load_model(model_path)
    calibration = card.get("calibration")
    temperature = float(calibration.get("temperature", 1.0)) if isinstance(calibration, dict) else 1.0

    def rank(graph: PlantGraph, evidence: Evidence) -> np.ndarray:
        probs = score_candidates(model, [graph.arrays(evidence)])[0]
        return probs if temperature == 1.0 else with_temperature(probs, temperature)

    return rank, str(card.get("version", Path(model_path).name))


class Diagnoser:
    """Ranks candidate root causes of alarms and explains the best one."""

    def __init__(self, graph: PlantGraph, ranker: Ranker, *, method: str, model_version: str,
                 settings: EvidenceSettings | None = None,
                 neighbourhood_above: int | None = NEIGHBOURHOOD_ABOVE_TAGS,
                 neighbourhood_depth: int | None = NEIGHBOURHOOD_DEPTH) -> None:
        """``neighbourhood_above``: diagnose a graph of more tags than this over the alarms' neighbourhood only
        (None: never), reaching ``neighbourhood_depth`` links upstream (None: all the way); see :meth:`graph_for`."""
        self.graph = graph
        self.ranker = ranker
        self.method = method
        self.model_version = model_version
        self.settings = settings or EvidenceSettings()
        self.neighbourhood_above = neighbourhood_above
        self.neighbourhood_depth = neighbourhood_depth
        self._n_tags = len(graph.tags())
        self._count = 0

    @classmethod
    def with_method(cls, graph: PlantGraph, method: str, model_path: str | Path | None,
                    settings: EvidenceSettings | None = None) -> Diagnoser:
        """A diagnoser using ``method``: ``gnn`` (needs ``model_path``) or a baseline name."""
        if method == "gnn":
            if model_path is None:
                raise ValueError("method 'gnn' needs a model file")
            ranker, version = gnn_ranker(model_path)
            return cls(graph, ranker, method="gnn", model_version=version, settings=settings)
        if method not in BASELINES:
            raise ValueError(f"unknown diagnosis method {method!r}; choose gnn or one of {sorted(BASELINES)}")
        return cls(graph, BASELINES[method], method=method, model_version=f"baseline:{method}", settings=settings)

    def graph_for(self, alarmed: Sequence[str]) -> PlantGraph:
        """The graph a diagnosis of alarms on the ``alarmed`` tags reads from the historian and ranks.

        Up to ``neighbourhood_above`` tags (every shipped plant), the whole plant graph: every candidate is
        ranked, exactly as the model was trained. Above, the alarms' neighbourhood
        (:meth:`PlantGraph.around`): the candidates within ``neighbourhood_depth`` links upstream of an
        alarmed tag, which are all that can explain it, with their direct neighbours for the evidence. Only
        those tags are read, so a diagnosis costs what the neighbourhood holds, not the plant; a candidate
        outside it is not ranked (it scores ``-inf``: :meth:`PlantGraph.whole_scores`), however far its own
        signals moved. It is not exact: the onset rank compares the neighbourhood's tags only, and the
        model sees no node beyond its edge. Alarms on no tag of the graph get the whole graph.
        """
        if self.neighbourhood_above is None or self._n_tags <= self.neighbourhood_above:
            return self.graph
        core = self.graph.upstream(alarmed, self.neighbourhood_depth)
        return self.graph.around(core) if core else self.graph

    def diagnose(self, reader: HistorianReader, alarms: Sequence[AlarmRef], t_ms: int,
                 answers: Sequence[str] | None = None) -> Diagnosis:
        """Read the window of ``alarms``, rank, explain; ``answers``: the alarm ids it answers (default all).

        Only the tags of :meth:`graph_for` (the alarms' neighbourhood on a large plant) are read."""
        started = time.perf_counter()
        graph = self.graph_for([a.tag for a in alarms])
        evidence = read_evidence(reader, graph.tags(), [(a.tag, a.t_ms) for a in alarms], t_ms, self.settings)
        ids = [a.id for a in alarms] if answers is None else list(answers)
        diagnosis = self.diagnose_evidence(evidence, ids, t_ms, graph)
        diagnosis.wall_ms = round((time.perf_counter() - started) * 1000, 3)
        return diagnosis

    def diagnose_evidence(self, evidence: Evidence, alarm_ids: Sequence[str], t_ms: int,
                          graph: PlantGraph | None = None) -> Diagnosis:
        """Rank and explain from already-read evidence, over ``graph`` (default: the whole plant graph)."""
        graph = self.graph if graph is None else graph
        scores = np.asarray(self.ranker(graph, evidence), dtype=float)
        order = np.argsort(-scores, kind="stable")[:TOP_CANDIDATES]
        candidates = [
            Candidate(asset=graph.candidates[i].node, score=round(float(scores[i]), 6), kind=graph.candidates[i].kind,
                      signal=self._strongest_signal(graph, graph.candidates[i].node, evidence))
            for i in order
        ]
        self._count += 1
        path = evidence_path(graph, evidence, candidates[0].asset) if candidates else []
        candidates, uncertain = self._lone_signal(graph, candidates, evidence, scores)
        return Diagnosis(id=f"D{self._count:04d}", t_ms=t_ms, alarm_ids=list(alarm_ids), candidates=candidates,
                         evidence_path=path, method=self.method, model_version=self.model_version,
                         uncertain=uncertain, confidence=top_share(scores))

    def _lone_signal(self, graph: PlantGraph, candidates: list[Candidate], evidence: Evidence,
                     scores: np.ndarray) -> tuple[list[Candidate], str | None]:
        """When a process candidate leads but only one measured signal deviates clearly (it alarmed, or went
        twice the deviation threshold: a chance crossing of a quiet tag does not count), its sensor is as
        likely: say so.

        A bias on one instrument and a change of the process it measures look the same until a second
        signal moves; the ranker may still prefer the process. The diagnosis keeps its order, marks
        itself uncertain, and lists that signal's sensor second if it was lower or absent.
        """
        nodes = graph.graph.nodes
        strong = float(np.log1p(2 * self.settings.deviation_z))  # z_max is log1p(max |z|)
        deviated = [tag for tag, ev in evidence.tags.items()
                    if ev.onset_s is not None and tag in nodes and nodes[tag]["measured"]
                    and (evidence.feature(tag, "alarmed") or evidence.feature(tag, "z_max") >= strong)]
        if not candidates or candidates[0].kind != "process" or len(deviated) != 1:
            return candidates, None
        signal = deviated[0]
        sensor = next((i for i, c in enumerate(graph.candidates) if c.node == signal and c.kind == "sensor"), None)
        if sensor is None:
            return candidates, None
        rest = [c for c in candidates[1:] if c.asset != signal]
        second = Candidate(asset=signal, score=round(float(scores[sensor]), 6), kind="sensor", signal=signal)
        reason = (f"only {signal} deviates: a fault of its sensor and a change of {candidates[0].asset} look alike "
                  "until another signal moves")
        return [candidates[0], second, *rest][:TOP_CANDIDATES], reason

    @staticmethod
    def _strongest_signal(graph: PlantGraph, node: str, evidence: Evidence) -> str | None:
        if node in evidence.tags:
            return node
        tags = [t for t in graph.signals_of(node) if t in evidence.tags]
        return max(tags, key=lambda t: evidence.feature(t, "z_max"), default=None)


def evidence_path(graph: PlantGraph, evidence: Evidence, source: str) -> list[EvidenceStep]:
    """The best-supported path from ``source`` to the most telling alarmed signal.

    The destination is the alarmed quality characteristic if there is one, else the latest
    alarmed signal reachable from ``source``. Each link costs ``1 - |correlation|`` plus one for
    entering a signal that did not deviate, so the path follows the signals that moved together.
    """
    g = graph.graph
    if source not in g:
        return []
    alarmed = [t for t in evidence.tags if evidence.feature(t, "alarmed")]
    reachable = nx.descendants(g, source)
    targets = [t for t in alarmed if t in reachable]
    if not targets:
        return []
    quality = [t for t in targets if g.nodes[t]["kind"] == "quality"]
    pool = quality or targets
    target = max(pool, key=lambda t: (evidence.feature(t, "alarm_rel"), t))

    def cost(a: str, b: str, _: dict) -> float:
        corr = abs(float(link_features(evidence, a, b)[0]))
        quiet = 0.0 if b not in evidence.tags or evidence.tags[b].onset_s is not None else 1.0
        return 1.0 - 0.9 * corr + quiet

    try:
        nodes = nx.dijkstra_path(g, source, target, weight=cost)
    except nx.NetworkXNoPath:
        return []
    steps = []
    for a, b in zip(nodes, nodes[1:]):
        feats = link_features(evidence, a, b)
        signal = b if b in evidence.tags else a
        lag = float(feats[1]) * 10 if feats[4] else None
        steps.append(EvidenceStep(cause=a, effect=b, signal=signal, score=round(float(feats[0]), 4), lag_s=lag))
    return steps


@dataclass
class DiagnosisSchedule:
    """When to diagnose: early after the first alarm of a burst, then once more with the evidence settled.

    A burst's first diagnosis is due ``first_ms`` after its first alarm and answers the alarms so
    far; its revision is due ``evidence_ms`` after that alarm and answers those that came since.
    With ``first_ms`` at or above ``evidence_ms`` there is one diagnosis per burst, at ``evidence_ms``.
    """

    evidence_ms: int
    first_ms: int | None = None
    covered: set[str] = field(default_factory=set)
    pending: list[AlarmRef] = field(default_factory=list)
    due_ms: int | None = None
    settle_ms: int | None = None  # the burst's revision, once its first diagnosis is made

    def add(self, alarm: AlarmRef) -> None:
        """Note a newly raised alarm."""
        if alarm.tag in self.covered or any(a.tag == alarm.tag for a in self.pending):
            return
        self.pending.append(alarm)
        if self.due_ms is None and self.settle_ms is None:
            early = self.first_ms if self.first_ms is not None and self.first_ms < self.evidence_ms else None
            if alarm.rule in DATA_QUALITY_RULES:
                early = None
            self.due_ms = alarm.t_ms + (self.evidence_ms if early is None else early)
            self.settle_ms = None if early is None else alarm.t_ms + self.evidence_ms

    def retry(self, batch: list[AlarmRef], at_ms: int | None) -> None:
        """Put an early diagnosis's alarms back, to be diagnosed again at ``at_ms`` (None: by the revision)."""
        self.pending = batch + self.pending
        self.covered.difference_update(a.tag for a in batch)
        self.due_ms = at_ms

    def take_due(self, t_ms: int) -> tuple[list[AlarmRef], bool] | None:
        """The alarms to diagnose now and whether this revises the burst's first diagnosis, or None."""
        if self.due_ms is not None and t_ms >= self.due_ms:
            batch, self.pending, self.due_ms = self.pending, [], None
            self.covered.update(a.tag for a in batch)
            return batch, False
        if self.settle_ms is not None and t_ms >= self.settle_ms:
            batch, self.pending, self.settle_ms = self.pending, [], None
            self.covered.update(a.tag for a in batch)
            return batch, True
        return None


class DiagnosisLoop:
    """The runner's view of root cause: feed it new alarms each scan; it diagnoses when due."""

    def __init__(self, diagnoser: Diagnoser | Any, evidence_ms: int | None = None, first_ms: int | None = None,
                 risk: RiskMap | None = None) -> None:
        """``diagnoser``: ours or anything with ours' ``diagnose``; it is called ``first_ms`` after a new alarm
        and again ``evidence_ms`` after it (defaults: ``diagnoser.settings.first_s`` and ``evidence_s``;
        ``first_ms`` None with an explicit ``evidence_ms``: once, at ``evidence_ms``). ``risk`` rates each
        diagnosis by the highest severity its alarms threaten (:mod:`rootcause.risk`)."""
        self.diagnoser = diagnoser
        self.risk = risk
        if evidence_ms is None:
            evidence_ms = int(diagnoser.settings.evidence_s * 1000)
            first_ms = int(diagnoser.settings.first_s * 1000) if first_ms is None else first_ms
        self.schedule = DiagnosisSchedule(evidence_ms, first_ms)
        settings = getattr(diagnoser, "settings", None)  # a plug-in diagnoser may have none
        self.min_confidence = float(getattr(settings, "min_confidence", 0.0))
        self.uncertain_below = float(getattr(settings, "uncertain_below", 0.0))
        self._burst_first: Diagnosis | None = None  # the burst's first diagnosis, which a revision names
        self.alarms: list[AlarmRef] = []
        self.diagnoses: list[Diagnosis] = []

    def step(
        self, t_ms: int, new_alarms: Sequence[AlarmRef], reader: Callable[[], HistorianReader]
    ) -> Diagnosis | None:
        """Note ``new_alarms``; if a diagnosis is due at ``t_ms``, make it (reading via ``reader()``)."""
        for alarm in new_alarms:
            self.alarms.append(alarm)
            self.schedule.add(alarm)
        due = self.schedule.take_due(t_ms)
        if due is None:
            return None
        batch, revision = due
        diagnosis = self.diagnoser.diagnose(reader(), self.alarms, t_ms, answers=[a.id for a in batch])
        update = rated(diagnosis, self.alarms, self.risk, self.uncertain_below)
        settle_ms, first_ms = self.schedule.settle_ms, self.schedule.first_ms or 0
        if not revision and settle_ms is not None and update["confidence"] < self.min_confidence:
            # not sure yet: look again with more evidence, or leave it to the revision
            self.schedule.retry(batch, t_ms + first_ms if t_ms + first_ms < settle_ms else None)
            return None
        if revision and self._burst_first is not None:
            update["revises"] = self._burst_first.id
        update["id"] = f"D{len(self.diagnoses) + 1:04d}"  # the run's published diagnoses, numbered in order
        diagnosis = diagnosis.model_copy(update=update)
        self._burst_first = None if revision else diagnosis
        self.diagnoses.append(diagnosis)
        return diagnosis


def rated(diagnosis: Diagnosis, alarms: Sequence[AlarmRef], risk: RiskMap | None,
          uncertain_below: float) -> dict[str, Any]:
    """What a diagnosis says when it is published, besides its ranking: its ``confidence`` (what the diagnoser
    stated, else :func:`confidence` of its candidates), ``uncertain`` with the leading candidates when that is
    below ``uncertain_below`` (:func:`leading`; a reason the diagnoser gave stands), and the ``severity`` and
    ``effect`` of the worst customer-facing effect its alarms (among ``alarms``) threaten (``risk``)."""
    update: dict[str, Any] = {"confidence": diagnosis.confidence or confidence(diagnosis.candidates)}
    if update["confidence"] < uncertain_below and diagnosis.uncertain is None:
        update["uncertain"] = leading(diagnosis.candidates, update["confidence"], uncertain_below)
    if risk:
        answered = set(diagnosis.alarm_ids)
        threat = risk.highest(a.tag for a in alarms if a.id in answered)
        if threat is not None:
            update.update({"severity": threat.severity, "effect": threat.effect})
    return update


def confidence(candidates: Sequence[Candidate]) -> float:
    """The top candidate's share of the (non-negative) scores of these candidates: 1 when it stands alone
    (:func:`rootcause.calibration.top_share`; a diagnoser of ours states it over every candidate it ranked).

    >>> from twin.contracts import Candidate
    >>> confidence([Candidate(asset="a.b", score=0.9), Candidate(asset="a.c", score=0.1)])
    0.9
    """
    return top_share([c.score for c in candidates]) if candidates else 0.0


def leading(candidates: Sequence[Candidate], stated: float, below: float, count: int = 3) -> str:
    """What an uncertain diagnosis says instead of one answer: its confidence, the threshold, and the ``count``
    leading candidates with their shares of the listed candidates' scores and whether each is a process or an
    instrument.

    >>> from twin.contracts import Candidate
    >>> leading([Candidate(asset="a.b", score=0.4), Candidate(asset="a.c", score=0.35, kind="sensor")], 0.4, 0.5)
    'confidence 0.40 is below 0.50: the leading candidates are a.b (process, 0.53), a.c (sensor, 0.47)'
    """
    total = sum(max(0.0, c.score) for c in candidates) or 1.0
    named = ", ".join(f"{c.asset} ({c.kind}, {max(0.0, c.score) / total:.2f})" for c in candidates[:count])
    return f"confidence {stated:.2f} is below {below:.2f}: the leading candidates are {named}"
