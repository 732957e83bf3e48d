"""Outside plug-ins for the tests, named by ``module:attr`` (``tests.plugin_examples:Crashing``)."""

from __future__ import annotations

import time
from typing import Any

from twin.contracts import Candidate, Diagnosis
from twin.edge.control.policy import Proposal
from twin.edge.detection.alarms import Signal

CRASH_AT_MS = 5_000


class Crashing:
    """A detector that raises once plant time reaches 5 s."""

    def __init__(self, context: Any) -> None:
        self.context = context

    def observe(self, frame: Any) -> list[Signal]:
        if frame.ts_ms >= CRASH_AT_MS:
            raise ZeroDivisionError("the team's detector divided by zero")
        return []


class Slow:
    """A detector whose call at 1 s takes longer than its timeout_s (set small by the test)."""

    def __init__(self, context: Any) -> None:
        self.sleep_s = float(context.options.get("sleep_s", 0.5))

    def observe(self, frame: Any) -> list[Signal]:
        if frame.ts_ms == 1_000:
            time.sleep(self.sleep_s)
        return []


class Malformed:
    """A detector that returns a string instead of a list of Signals."""

    def __init__(self, context: Any) -> None:
        pass

    def observe(self, frame: Any) -> Any:
        return "alarm!" if frame.ts_ms >= 2_000 else []


class Hanging:
    """A detector that never returns once plant time reaches 1 s (the suite's episode timeout stops it)."""

    def __init__(self, context: Any) -> None:
        pass

    def observe(self, frame: Any) -> list[Signal]:
        while frame.ts_ms >= 1_000:
            time.sleep(0.05)
        return []


class Blame:
    """A diagnoser: blame the asset owning the first alarmed tag (the protocol's worked example)."""

    def __init__(self, context: Any) -> None:
        self.graph, self.n = context.graph, 0

    def diagnose(self, reader: Any, alarms: Any, t_ms: int, answers: Any = None) -> Diagnosis:
        self.n += 1
        owner = self.graph.owner.get(alarms[0].tag, alarms[0].tag)
        return Diagnosis(id=f"B{self.n}", t_ms=t_ms, alarm_ids=[a.id for a in alarms],
                         candidates=[Candidate(asset=owner, score=1.0)], method="blame", model_version="blame-1")


class Overreach:
    """A control policy that asks for a blade pressure set-point far beyond its range."""

    def __init__(self, context: Any) -> None:
        self.tagmap = context.tagmap

    def propose(self, diagnosis: Diagnosis, view: Any) -> list[Proposal]:
        top = diagnosis.top
        if top is None:
            return []
        blade = top.asset.split(".")[:2]
        tag = ".".join(blade) + ".pressure_sp"
        if tag not in self.tagmap:
            return []
        return [Proposal(tag=tag, value=self.tagmap[tag].high * 10, reason="push hard")]


class Misdirected(Blame):
    """A deliberately worse diagnoser: always blames the line drive, whatever alarmed."""

    def diagnose(self, reader: Any, alarms: Any, t_ms: int, answers: Any = None) -> Diagnosis:
        diagnosis = super().diagnose(reader, alarms, t_ms, answers)
        return diagnosis.model_copy(update={"candidates": [Candidate(asset="coater.line", score=1.0)]})


class Phantom:
    """A detector that alarms on a tag the line does not have."""

    def __init__(self, context: Any) -> None:
        pass

    def observe(self, frame: Any) -> list[Signal]:
        return [Signal("coater.blade9.pressure", "phantom", "r", 1.0, 0.0)] if frame.ts_ms >= 2_000 else []
