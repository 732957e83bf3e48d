"""The three plug-in points of the edge (ARCHITECTURE.md "Plug-in points"), as ``typing.Protocol``.

* :class:`Detector` — frames in, verdicts (:class:`~twin.edge.detection.alarms.Signal`) out; the
  runner's ISA-18.2 :class:`~twin.edge.detection.alarms.AlarmManager` turns verdicts into alarms.
  Ours: :class:`~twin.edge.detection.monitor.SubgroupMonitor` (registered as ``spc``).
* :class:`Diagnoser` — alarms + the historian + (from :class:`PluginContext`) the plant graph →
  a :class:`~twin.contracts.Diagnosis`: ranked candidates with an evidence path.
  Ours: :class:`rootcause.diagnoser.Diagnoser` (``graph``).
* :class:`~twin.edge.control.policy.ControlPolicy` — diagnosis → proposed commands, which always pass
  our interlocks. Ours: :class:`~twin.edge.control.policy.PlaybookPolicy` (``playbook``).

A plug-in is registered as a *factory*: a callable taking one :class:`PluginContext` (a class
whose ``__init__`` takes it will do) and returning the implementation.

Worked example, a detector — a z-score on every read-only tag after a 60 s warm-up::

    import numpy as np
    from twin.edge.detection.alarms import Signal

    class ZScore:
        def __init__(self, context):
            self.names = context.index.names
            self.limit = float(context.options.get("limit", 6.0))
            self.seen, self.warm = [], None

        def observe(self, frame):
            if self.warm is None:
                self.seen.append(frame.values.copy())
                if frame.ts_ms >= 60_000:
                    data = np.array(self.seen)
                    self.warm = (np.nanmean(data, 0), np.nanstd(data, 0) + 1e-9)
                return []
            z = np.abs(frame.values - self.warm[0]) / self.warm[1]
            return [Signal(self.names[i], "zscore", "z", float(frame.values[i]), self.limit)
                    for i in np.flatnonzero(z > self.limit)]

Worked example, a diagnoser — blame the asset owning the first alarmed tag::

    from twin.contracts import Candidate, Diagnosis

    class Blame:
        def __init__(self, context):
            self.graph, self.n = context.graph, 0

        def diagnose(self, reader, alarms, t_ms, answers=None):
            self.n += 1
            owner = self.graph.owner.get(alarms[0].tag, alarms[0].tag)
            return Diagnosis(id=f"B{self.n}", t_ms=t_ms, alarm_ids=[a.id for a in alarms],
                             candidates=[Candidate(asset=owner, score=1.0)], method="blame",
                             model_version="blame-1")

The control-policy example is in :mod:`twin.edge.control.policy`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from rootcause.diagnoser import AlarmRef
from rootcause.graph import PlantGraph
from rootcause.settings import RootCauseSettings
from twin.contracts import Diagnosis
from twin.edge.control.playbook import Playbook
from twin.edge.control.policy import ControlPolicy, ControlView, Proposal, VerifyRequest
from twin.edge.detection.monitor import Detector
from twin.edge.detection.settings import DetectionSettings
from twin.edge.frames import ElementIndex
from twin.edge.historian import HistorianReader
from virtual_plc.tagmap import TagMap

__all__ = ["ControlPolicy", "ControlView", "Detector", "Diagnoser", "PluginContext", "Proposal", "VerifyRequest"]


@runtime_checkable
class Diagnoser(Protocol):
    """Alarms + historian window + graph → ranked candidates with evidence: the root-cause plug-in point.

    ``answers``: the ids of the alarms this diagnosis answers (default: all of ``alarms``, which
    holds every alarm so far). The runner calls it ``first_s`` and again ``evidence_s`` seconds after a new
    alarm (the plug-in's attributes if it has them, else the scenario's ``rootcause.evidence``)."""

    def diagnose(self, reader: HistorianReader, alarms: Sequence[AlarmRef], t_ms: int,
                 answers: Sequence[str] | None = None) -> Diagnosis:
        """Rank candidate causes of ``alarms`` from the historian at plant time ``t_ms``."""
        ...


@dataclass
class PluginContext:
    """What a plug-in factory gets: what the edge knows of the line, never the plant or its truth."""

    name: str  #: the name it was chosen by (``spc``, ``byo_detector:ZScore``)
    tagmap: TagMap
    index: ElementIndex  #: the elements of every frame, in order (``frame.values[i]`` is ``index.names[i]``)
    options: dict[str, Any] = field(default_factory=dict)
    detection: DetectionSettings = field(default_factory=DetectionSettings)
    rootcause: RootCauseSettings = field(default_factory=RootCauseSettings)
    graph: PlantGraph | None = None  #: the plant graph from the knowledge file (diagnosers), if there is one
    playbook: Playbook | None = None  #: the plant's playbook (control policies)
    base: Path | None = None  #: the scenario's folder: relative paths in options resolve from here
