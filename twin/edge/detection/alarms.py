"""Alarms managed the way control rooms manage them (ISA-18.2).

Detectors say *a signal is abnormal now*; the :class:`AlarmManager` turns those signals into
alarms with the ISA-18.2 state model:

======================  =========  ==============  ======================================
state                   active?    acknowledged?   reached by
======================  =========  ==============  ======================================
``normal``              no         yes             return to normal after an acknowledge
``unack_active``        yes        no              a detector signals (annunciated)
``ack_active``          yes        yes             the operator acknowledges
``unack_rtn``           no         no              the condition clears before an ack
``shelved``             (hidden)   —               the operator shelves it, until a time
======================  =========  ==============  ======================================

* **De-duplication**: one alarm per (tag, detector) while it is not back to ``normal``; a
  detector that keeps signalling re-triggers nothing.
* **Return to normal** needs the detector to stay quiet for ``off_delay_s`` (an off-delay, so
  a value hovering at its limit does not flap).
* **Chattering**: a tag whose alarm activates ``chatter_count`` times within
  ``chatter_window_s`` is held suppressed for ``chatter_hold_s``; suppressed activations are
  counted, not annunciated.
* **Rates**: alarms per 10 minutes and *flood* periods (``flood_threshold`` or more new alarms
  in a 10-minute window, EEMUA 191 / ISA-18.2's benchmark) for the report.

Everything is keyed by plant time in milliseconds, so the same episode gives the same alarms.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from twin.contracts import AlarmRecord, AlarmState

TEN_MINUTES_MS = 600_000


class AlarmSettings(BaseModel):
    """How alarms are managed; part of a scenario's ``detection`` settings."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    off_delay_s: float = Field(default=10.0, ge=0, description="quiet time before return to normal")
    chatter_count: int = Field(default=3, ge=2, description="activations within the window that make a chatterer")
    chatter_window_s: float = Field(default=60.0, gt=0)
    chatter_hold_s: float = Field(default=300.0, ge=0, description="how long a chattering tag stays suppressed")
    flood_threshold: int = Field(default=10, ge=1, description="new alarms per 10 minutes that make a flood")


@dataclass
class Alarm:
    """One alarm: what fired, where, when, and every state it went through."""

    id: str
    t_ms: int
    tag: str
    detector: str
    rule: str
    value: float
    limit: float
    state: AlarmState = "unack_active"
    history: list[dict[str, Any]] = field(default_factory=list)
    last_signal_ms: int = 0
    shelved_until_ms: int | None = None
    severity: int | None = None  # of the customer-facing effect its tag threatens (rootcause.risk)
    effect: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for ``report.json``, through the contract (:class:`twin.contracts.AlarmRecord`)."""
        return AlarmRecord(id=self.id, t_ms=self.t_ms, tag=self.tag, detector=self.detector, rule=self.rule,
                           value=_finite(self.value), limit=_finite(self.limit), state=self.state,
                           severity=self.severity, effect=self.effect,
                           history=list(self.history)).model_dump(mode="json")

    def _move(self, state: AlarmState, t_ms: int, reason: str) -> None:
        self.state = state
        self.history.append({"t_ms": t_ms, "state": state, "reason": reason})


@dataclass(frozen=True)
class Signal:
    """A detector's verdict for one tag at one time: abnormal, with the evidence."""

    tag: str
    detector: str
    rule: str
    value: float
    limit: float


class AlarmManager:
    """ISA-18.2 alarm handling over detector signals (see module docstring)."""

    def __init__(self, settings: AlarmSettings | None = None) -> None:
        self.settings = settings or AlarmSettings()
        self.alarms: list[Alarm] = []
        self._open: dict[tuple[str, str], Alarm] = {}
        self._activations: dict[str, deque[int]] = {}
        self._suppressed_until: dict[str, int] = {}
        self.suppressed = 0
        #: told of every operator action (``kind``, payload, plant ms), e.g. a run's ``Ledger.append``
        self.on_operator_action: Callable[[str, dict[str, Any], int], Any] | None = None
        #: the risk of a tag (``rootcause.risk.RiskMap.of``): each new alarm carries its severity and effect
        self.risk: Callable[[str], Any] | None = None

    # --------------------------------------------------------------- detection
    def process(self, t_ms: int, signals: list[Signal]) -> list[Alarm]:
        """Take the signals of one detection step; returns the alarms newly annunciated."""
        new: list[Alarm] = []
        signalled = set()
        for sig in signals:
            key = (sig.tag, sig.detector)
            signalled.add(key)
            alarm = self._open.get(key)
            if alarm is not None:
                alarm.last_signal_ms = t_ms
                if alarm.state == "unack_rtn":
                    alarm._move("unack_active", t_ms, "condition returned before acknowledgement")
                continue
            if self._chattering(sig.tag, t_ms):
                self.suppressed += 1
                continue
            alarm = Alarm(
                id=f"A{len(self.alarms) + 1:05d}", t_ms=t_ms, tag=sig.tag, detector=sig.detector, rule=sig.rule,
                value=sig.value, limit=sig.limit, last_signal_ms=t_ms,
            )
            threat = self.risk(sig.tag) if self.risk is not None else None
            if threat is not None:
                alarm.severity, alarm.effect = threat.severity, threat.effect
            alarm.history.append({"t_ms": t_ms, "state": "unack_active", "reason": f"{sig.detector} {sig.rule}"})
            self.alarms.append(alarm)
            self._open[key] = alarm
            new.append(alarm)
        self._clear_quiet(t_ms, signalled)
        self._unshelve(t_ms)
        return new

    def _chattering(self, tag: str, t_ms: int) -> bool:
        """Record an activation of ``tag``; True while the tag is suppressed as a chatterer."""
        s = self.settings
        if t_ms < self._suppressed_until.get(tag, -1):
            return True
        window = self._activations.setdefault(tag, deque())
        window.append(t_ms)
        while window and window[0] <= t_ms - s.chatter_window_s * 1000:
            window.popleft()
        if len(window) > s.chatter_count:
            self._suppressed_until[tag] = t_ms + int(s.chatter_hold_s * 1000)
            window.clear()
            return True
        return False

    def _clear_quiet(self, t_ms: int, signalled: set[tuple[str, str]]) -> None:
        off_delay = self.settings.off_delay_s * 1000
        for key, alarm in list(self._open.items()):
            if key in signalled or t_ms - alarm.last_signal_ms < off_delay:
                continue
            if alarm.state == "unack_active":
                alarm._move("unack_rtn", t_ms, "returned to normal")
            elif alarm.state == "ack_active":
                alarm._move("normal", t_ms, "returned to normal")
                del self._open[key]

    def _unshelve(self, t_ms: int) -> None:
        """Shelving over: back to unacknowledged if the condition is still there, else to normal."""
        for key, alarm in list(self._open.items()):
            if alarm.state == "shelved" and alarm.shelved_until_ms is not None and t_ms >= alarm.shelved_until_ms:
                alarm.shelved_until_ms = None
                if t_ms - alarm.last_signal_ms < self.settings.off_delay_s * 1000:
                    alarm._move("unack_active", t_ms, "shelving expired")
                else:
                    alarm._move("normal", t_ms, "shelving expired; the condition had cleared")
                    del self._open[key]

    # ---------------------------------------------------------------- operator
    def acknowledge(self, alarm_id: str, t_ms: int, by: str = "operator") -> Alarm:
        """Acknowledge an alarm: ``unack_active`` -> ``ack_active``, ``unack_rtn`` -> ``normal``."""
        alarm = self._find(alarm_id)
        if alarm.state == "unack_active":
            alarm._move("ack_active", t_ms, f"acknowledged by {by}")
        elif alarm.state == "unack_rtn":
            alarm._move("normal", t_ms, f"acknowledged by {by}")
            self._open.pop((alarm.tag, alarm.detector), None)
        else:
            raise ValueError(f"alarm {alarm_id} is {alarm.state}; only unacknowledged alarms can be acknowledged")
        self._tell("alarm_ack", alarm, t_ms, by=by)
        return alarm

    def shelve(self, alarm_id: str, t_ms: int, duration_s: float, by: str = "operator", reason: str = "") -> Alarm:
        """Hide an open alarm for ``duration_s``; it comes back unacknowledged if still active. ``reason`` (why
        the operator shelves it, as ISA-18.2 asks) goes into its history and the ledger."""
        if duration_s <= 0:
            raise ValueError(f"duration_s must be positive, got {duration_s}")
        alarm = self._find(alarm_id)
        if alarm.state == "normal":
            raise ValueError(f"alarm {alarm_id} is back to normal; there is nothing to shelve")
        alarm.shelved_until_ms = t_ms + int(duration_s * 1000)
        why = f": {reason.strip()}" if reason.strip() else ""
        alarm._move("shelved", t_ms, f"shelved by {by} for {duration_s:g} s{why}")
        self._tell("alarm_shelve", alarm, t_ms, by=by, duration_s=duration_s, reason=reason.strip())
        return alarm

    def _tell(self, kind: str, alarm: Alarm, t_ms: int, **details: Any) -> None:
        if self.on_operator_action is not None:
            self.on_operator_action(kind, {"alarm_id": alarm.id, "tag": alarm.tag, "state": alarm.state, **details},
                                    t_ms)

    def _find(self, alarm_id: str) -> Alarm:
        for alarm in self.alarms:
            if alarm.id == alarm_id:
                return alarm
        raise KeyError(f"no alarm {alarm_id!r}")

    # ------------------------------------------------------------------ report
    def rates(self, duration_ms: int) -> dict[str, Any]:
        """Alarm-rate figures: per 10 minutes (mean, max over sliding windows) and flood periods."""
        starts = sorted(a.t_ms for a in self.alarms)
        windows = max(duration_ms / TEN_MINUTES_MS, 1e-9)
        counts = _sliding_counts(starts, TEN_MINUTES_MS)
        floods = _flood_periods(starts, TEN_MINUTES_MS, self.settings.flood_threshold)
        return {
            "alarms": len(starts),
            "per_10_min_mean": round(len(starts) / windows, 3) if duration_ms > 0 else 0.0,
            "per_10_min_max": max(counts, default=0),
            "flood_threshold_per_10_min": self.settings.flood_threshold,
            "flood_periods": floods,
            "suppressed_chattering": self.suppressed,
        }


def _sliding_counts(starts: list[int], window_ms: int) -> list[int]:
    """For each alarm, how many alarms started in the window ending at it."""
    counts, first = [], 0
    for i, t in enumerate(starts):
        while starts[first] <= t - window_ms:
            first += 1
        counts.append(i - first + 1)
    return counts


def _flood_periods(starts: list[int], window_ms: int, threshold: int) -> list[dict[str, int]]:
    """Merged intervals during which a window held ``threshold`` or more new alarms."""
    periods: list[dict[str, int]] = []
    period_first = -1  # index of the first alarm of the open period
    first = 0
    for i, t in enumerate(starts):
        while starts[first] <= t - window_ms:
            first += 1
        if i - first + 1 < threshold:
            continue
        if periods and starts[first] <= periods[-1]["end_ms"]:
            periods[-1]["end_ms"] = t
        else:
            period_first = first
            periods.append({"start_ms": starts[first], "end_ms": t})
        periods[-1]["alarms"] = i - period_first + 1
    return periods


def _finite(x: float) -> float | None:
    return float(x) if x == x and abs(x) != float("inf") else None
