"""Risk: the severity of the customer-facing effect an alarm or a diagnosis threatens, for ranking them.

A knowledge file may rate effects on the FMEA's 1–10 severity scale: a node's ``severity`` (a quality
characteristic whose failure hurts someone: 9–10; a cosmetic one: 2–3), or a link's (the severity of its
effect through that failure chain, as ``twin knowledge from-fmea`` drafts it). Every node then threatens the
highest severity declared on itself or anywhere downstream of it in the plant graph; :class:`RiskMap` says
which, and through which effect. An alarm carries the risk of its tag, a diagnosis the highest risk among
the alarms it answers, so a weld defect that can hurt someone outranks a scratch raised earlier.

>>> import networkx as nx
>>> g = nx.DiGraph([("valve", "flow"), ("flow", "weld.strength"), ("paint", "gloss")])
>>> risk = RiskMap(g, {"weld.strength": 9, "gloss": 2})
>>> risk.of("valve"), risk.of("gloss[2]"), risk.of("nowhere")
(Risk(severity=9, effect='weld.strength'), Risk(severity=2, effect='gloss'), None)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import networkx as nx


@dataclass(frozen=True)
class Risk:
    """The highest severity (1–10) a node threatens, and the effect that carries it."""

    severity: int
    effect: str


class RiskMap:
    """Each node of ``graph`` -> the :class:`Risk` it threatens, from ``severities`` (effect -> 1..10)."""

    def __init__(self, graph: nx.DiGraph, severities: Mapping[str, int]) -> None:
        self._risk: dict[str, Risk] = {}
        for effect, severity in sorted(severities.items(), key=lambda item: (-item[1], item[0])):
            if effect not in graph:
                continue
            for node in sorted({effect} | nx.ancestors(graph, effect)):
                self._risk.setdefault(node, Risk(int(severity), effect))  # the highest severity comes first

    def __bool__(self) -> bool:
        return bool(self._risk)

    def of(self, name: str) -> Risk | None:
        """The risk of a node, a tag or a tag element (``tag[3]``); None when no rated effect is downstream."""
        return self._risk.get(name) or self._risk.get(name.split("[", 1)[0])

    def highest(self, names: Iterable[str]) -> Risk | None:
        """The highest risk among ``names`` (None when none has one)."""
        risks = [r for r in map(self.of, names) if r is not None]
        return max(risks, key=lambda r: (r.severity, r.effect), default=None)

