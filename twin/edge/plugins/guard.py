"""Guards around plug-ins: a plug-in that raises, overruns its time budget or returns malformed
output stops its own episode with a :class:`PluginError` that says which plug-in, what it did and
when — the runner writes what it collected, the suite runner marks that episode failed and goes
on. The guard times each call on the wall clock and judges it when it returns; a plug-in that
never returns is stopped by the suite runner's per-episode timeout (``twin check``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from pydantic import ValidationError

from rootcause.diagnoser import AlarmRef
from twin.contracts import Diagnosis
from twin.edge.control.policy import ControlView, Proposal, check_proposal, watched_by
from twin.edge.detection.alarms import Signal
from twin.edge.frames import Frame
from twin.edge.historian import HistorianReader

T = TypeVar("T")


class PluginError(RuntimeError):
    """A plug-in failed: raised, timed out or returned malformed output. Fails the episode, not the runner."""

    def __init__(self, kind: str, name: str, message: str) -> None:
        super().__init__(f"{kind} plug-in {name!r}: {message}")
        self.kind, self.name, self.detail = kind, name, message


class _Guard:
    """Times and catches calls into one plug-in."""

    kind = "plug-in"

    def __init__(self, inner: Any, name: str, timeout_s: float) -> None:
        self.inner, self.name, self.timeout_s = inner, name, timeout_s
        self.calls = 0
        self.wall_s = 0.0

    def _call(self, what: str, t_ms: int, fn: Callable[..., T], *args: Any) -> T:
        started = time.perf_counter()
        try:
            result = fn(*args)
        except PluginError:
            raise
        except Exception as err:  # noqa: BLE001 - any failure of outside code is reported, not propagated raw
            raise PluginError(self.kind, self.name, f"{what} raised {type(err).__name__}: {err} "
                              f"(plant time {t_ms} ms)") from err
        elapsed = time.perf_counter() - started
        self.calls += 1
        self.wall_s += elapsed
        if elapsed > self.timeout_s:
            raise PluginError(self.kind, self.name, f"{what} took {elapsed:.2f} s, over its timeout_s of "
                              f"{self.timeout_s:g} s (plant time {t_ms} ms)")
        return result

    def _malformed(self, what: str, t_ms: int, problem: str) -> PluginError:
        return PluginError(self.kind, self.name, f"{what} returned malformed output at plant time {t_ms} ms: "
                           f"{problem}")

    def __getattr__(self, attribute: str) -> Any:
        """Other attributes (``summary``, ``evidence_s``, ``describe``) are the plug-in's own."""
        if attribute == "inner":
            raise AttributeError(attribute)
        return getattr(self.inner, attribute)


class GuardedDetector(_Guard):
    """A :class:`~twin.edge.plugins.protocols.Detector` behind a guard; output must be a list of Signals."""

    kind = "detector"

    def observe(self, frame: Frame) -> list[Signal]:
        """The plug-in's verdicts for ``frame``, checked."""
        out = self._call("observe()", frame.ts_ms, self.inner.observe, frame)
        if not isinstance(out, (list, tuple)):
            raise self._malformed("observe()", frame.ts_ms, f"expected a list of Signal, got {type(out).__name__}")
        for item in out:
            if not isinstance(item, Signal):
                raise self._malformed("observe()", frame.ts_ms, f"expected Signal items, got {type(item).__name__}")
            if item.tag not in frame.index.slices and item.tag not in frame.index.position:
                raise self._malformed("observe()", frame.ts_ms, f"Signal for unknown tag {item.tag!r} (neither a "
                                      "collected tag nor one of its elements)")
        return list(out)


class GuardedDiagnoser(_Guard):
    """A :class:`~twin.edge.plugins.protocols.Diagnoser` behind a guard; output must be a Diagnosis (or its dict)."""

    kind = "diagnoser"

    def diagnose(self, reader: HistorianReader, alarms: Sequence[AlarmRef], t_ms: int,
                 answers: Sequence[str] | None = None) -> Diagnosis:
        """The plug-in's diagnosis, validated against the Diagnosis contract."""
        out = self._call("diagnose()", t_ms, self.inner.diagnose, reader, alarms, t_ms, answers)
        if isinstance(out, dict):
            try:
                out = Diagnosis.model_validate(out)
            except ValidationError as err:
                raise self._malformed("diagnose()", t_ms, f"not a Diagnosis: {err}") from None
        if not isinstance(out, Diagnosis):
            raise self._malformed("diagnose()", t_ms, f"expected a Diagnosis, got {type(out).__name__}")
        bad = [c.score for c in out.candidates if not math.isfinite(c.score) and c.score != -math.inf]
        if bad:
            raise self._malformed("diagnose()", t_ms, f"candidate scores must be numbers, got {bad}")
        return out


class GuardedPolicy(_Guard):
    """A :class:`~twin.edge.control.policy.ControlPolicy` behind a guard; output must be Proposals."""

    kind = "control policy"

    def propose(self, diagnosis: Diagnosis, view: ControlView) -> list[Proposal]:
        """The plug-in's proposals, each checked by :func:`~twin.edge.control.policy.check_proposal`."""
        t_ms = view.frame.ts_ms
        out = self._call("propose()", t_ms, self.inner.propose, diagnosis, view)
        return self._proposals("propose()", t_ms, out)

    def follow_up(self, proposal: Proposal, outcome: str, view: ControlView) -> Proposal | None:
        """The plug-in's follow-up after a verification, if it has ``follow_up``."""
        follow = getattr(self.inner, "follow_up", None)
        if not callable(follow):
            return None
        t_ms = view.frame.ts_ms
        out = self._call("follow_up()", t_ms, follow, proposal, outcome, view)
        return None if out is None else self._proposals("follow_up()", t_ms, [out])[0]

    def watched_signals(self) -> dict[str, float]:
        """Signals the plug-in wants history of (none unless it says)."""
        return watched_by(self.inner)

    def _proposals(self, what: str, t_ms: int, out: Any) -> list[Proposal]:
        if out is None:
            return []
        if not isinstance(out, (list, tuple)):
            raise self._malformed(what, t_ms, f"expected a list of Proposal, got {type(out).__name__}")
        for item in out:
            problem = check_proposal(item)
            if problem is not None:
                raise self._malformed(what, t_ms, problem)
        return list(out)
