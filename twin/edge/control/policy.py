"""Control policies: diagnosis → proposed commands. The loop does the rest, and the interlocks always.

A :class:`ControlPolicy` is the plug-in point of control (ARCHITECTURE.md "Plug-in points"):
it only *proposes*. :class:`~twin.edge.control.loop.ControlLoop` takes each :class:`Proposal` through
the same path whoever made it — busy check, the loop's interlocks, policy ``off`` / ``recommend``
(select-before-operate) / ``auto``, MQTT, the bridge's own interlocks, ack, expiry, ledger — so a
policy can never write past the safety bounds. A proposal may ask to be verified (``verify``):
the loop then watches that signal, judges the effect and rolls back a correction that made
things worse; a policy with a ``follow_up`` method is asked again after each verification.

Ours is :class:`PlaybookPolicy`: the plant's YAML playbook (:mod:`twin.edge.control.playbook`).

A worked example — a policy that lowers a blade's pressure set-point by 0.2 N whenever a
blade is the top candidate (``twin.edge.plugins`` registers it by entry point or ``module:attr``)::

    class NudgeBlade:
        def propose(self, diagnosis, view):
            top = diagnosis.top
            if top is None or ".blade" not in top.asset:
                return []
            tag = f"{top.asset}.pressure_sp"
            return [Proposal(tag=tag, value=view.value(tag) - 0.2, reason=f"nudge {top.asset}")]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from twin.contracts import Candidate, Diagnosis
from twin.edge.control.playbook import Action, Playbook, Reference, Rule, expand
from twin.edge.frames import Frame


@dataclass(frozen=True)
class VerifyRequest:
    """Watch ``signal`` for ``window_s`` after the command is applied; judge against ``reference``.

    ``reference`` None: the signal's mean over the 60 s before the diagnosis's first alarm.
    ``before``: the level the effect is measured from (None: the signal's recent mean when the
    command is made); a restore that leads a ramp gives where the signal was heading by the end of
    the window, so a fault that keeps going is not taken for a move that made things worse."""

    signal: str
    window_s: float = 60.0
    reference: float | None = None
    min_effect: float = 0.5
    worse_margin: float = 0.1
    before: float | None = None


RATE_WINDOW_S = 10.0  # a restore with lead_s reads the signal's rate over this many recent seconds


@dataclass(frozen=True)
class Proposal:
    """One thing a policy wants done: a write of ``value`` to ``tag``, or (``tag`` None) a work order.

    ``refusal`` (code, message): the policy meant to act but could not compute a value; the loop
    records the refusal. ``origin`` is the policy's own bookkeeping, handed back to ``follow_up``."""

    tag: str | None
    value: float | None
    reason: str
    rule: str = "policy"
    asset: str | None = None
    verify: VerifyRequest | None = None
    refusal: tuple[str, str] | None = None
    origin: Any = field(default=None, compare=False)


class ControlView(Protocol):
    """What a policy may read: the current frame and the recent history of signals."""

    @property
    def frame(self) -> Frame:
        """The frame the diagnosis arrived with."""
        ...

    def value(self, tag: str) -> float:
        """The tag's value in the current frame (NaN when it is not collected)."""
        ...

    def recent_mean(self, signal: str, seconds: float = 5.0) -> float | None:
        """Mean of the signal's good samples over the last ``seconds`` (None without history)."""
        ...

    def recent_slope(self, signal: str, seconds: float) -> float | None:
        """Least-squares rate of the signal (units per second) over the last ``seconds`` (None without history)."""
        ...

    def start_mean(self, signal: str, seconds: float) -> float | None:
        """Mean over the first ``seconds`` of the run (None without history)."""
        ...

    def pre_alarm_mean(self, signal: str, seconds: float, diagnosis: Diagnosis) -> float | None:
        """Mean over the ``seconds`` before the diagnosis's first alarm (None without history)."""
        ...


@runtime_checkable
class ControlPolicy(Protocol):
    """Diagnosis → proposed commands: the control plug-in point."""

    def propose(self, diagnosis: Diagnosis, view: ControlView) -> Sequence[Proposal]:
        """What to do about ``diagnosis`` (empty: nothing)."""
        ...


def watched_by(policy: object) -> dict[str, float]:
    """Signals the loop must keep history of for ``policy`` → start-of-run seconds it needs (may be empty)."""
    watched = getattr(policy, "watched_signals", None)
    return dict(watched()) if callable(watched) else {}


class PlaybookPolicy:
    """Our policy: the first playbook rule that fits the top candidate supplies the response."""

    def __init__(self, playbook: Playbook, watched: dict[str, float] | None = None) -> None:
        self.playbook = playbook
        self._watched = watched or {}

    def watched_signals(self) -> dict[str, float]:
        """The signals the playbook's actions and verifications read (from :func:`~.playbook.watched_signals`)."""
        return self._watched

    def propose(self, diagnosis: Diagnosis, view: ControlView) -> list[Proposal]:
        """A work order and/or one proposal per action of the first fitting rule."""
        candidate = diagnosis.top
        rule = self.playbook.rule_for(candidate)
        if rule is None or candidate is None:
            return []
        made: list[Proposal] = []
        if rule.work_order is not None:
            made.append(Proposal(tag=None, value=None, reason=expand(rule.work_order, candidate), rule=rule.name,
                                 asset=candidate.asset))
        for action in rule.actions:
            proposal = self._action(rule, action, candidate, diagnosis, view, repeat=0)
            if proposal is not None:
                made.append(proposal)
        return made

    def follow_up(self, proposal: Proposal, outcome: str, view: ControlView) -> Proposal | None:
        """A ``restore`` that helped but left a deviation is repeated, up to ``max_repeats`` times."""
        origin = proposal.origin
        if not isinstance(origin, _Origin) or outcome not in ("worked", "partial"):
            return None
        if origin.action.kind != "restore" or origin.repeat >= origin.action.max_repeats:
            return None
        return self._action(origin.rule, origin.action, origin.candidate, origin.diagnosis, view, origin.repeat + 1)

    def _action(self, rule: Rule, action: Action, candidate: Candidate, diagnosis: Diagnosis, view: ControlView,
                repeat: int) -> Proposal | None:
        tag = expand(action.tag, candidate)
        origin = _Origin(rule, action, candidate, diagnosis, repeat)
        reason = f"{rule.name} (diagnosis {diagnosis.id}: {candidate.asset}, {candidate.kind})"
        current = view.value(tag)
        target: float | None
        reference: float | None = None
        if action.kind != "set" and not math.isfinite(current):  # a step or restore moves from the reading
            return Proposal(tag=tag, value=None, reason=reason, rule=rule.name, origin=origin,
                            refusal=("quality", f"no good reading of {tag} to move it from (value {current})"))
        if action.kind == "set":
            target = action.value
        elif action.kind == "step":
            target = current + (action.by or 0.0)
        else:
            assert action.signal is not None and action.gain is not None and action.max_move is not None
            signal = expand(action.signal, candidate)
            reference = _reference(view, signal, action.reference, diagnosis)
            now = _projected(view, signal, action.lead_s)
            if reference is None or now is None:
                return Proposal(tag=tag, value=None, reason=reason, rule=rule.name, origin=origin,
                                refusal=("no_reference", f"no good history of {signal} to restore it from"))
            if abs(reference - now) <= action.tolerance:
                return None  # within tolerance: nothing to do
            move = max(-action.max_move, min(action.max_move, action.gain * (reference - now)))
            target = round(current + move, 6)
        verify = None
        if action.verify is not None:
            signal = expand(action.verify.signal, candidate)
            ref = reference if action.kind == "restore" else _reference(view, signal, action.verify.reference,
                                                                         diagnosis)
            heading = (_projected(view, signal, action.verify.window_s)
                       if action.kind == "restore" and action.lead_s > 0 else None)
            verify = VerifyRequest(signal, action.verify.window_s, ref, action.verify.min_effect,
                                   action.verify.worse_margin, before=heading)
        return Proposal(tag=tag, value=target, reason=reason, rule=rule.name, verify=verify, origin=origin)


@dataclass
class _Origin:
    """Why a playbook correction was made, kept to repeat it."""

    rule: Rule
    action: Action
    candidate: Candidate
    diagnosis: Diagnosis
    repeat: int = 0


def _projected(view: ControlView, signal: str, lead_s: float) -> float | None:
    """Where ``signal`` is (its recent mean), or, with ``lead_s``, where it will be ``lead_s`` from now at the
    rate of its last :data:`RATE_WINDOW_S` seconds: a fault that keeps ramping is led rather than chased."""
    now = view.recent_mean(signal)
    if now is None or lead_s <= 0:
        return now
    rate = view.recent_slope(signal, RATE_WINDOW_S)
    return now if rate is None else now + rate * lead_s


def _reference(view: ControlView, signal: str, reference: Reference, diagnosis: Diagnosis) -> float | None:
    if reference.window == "start":
        return view.start_mean(signal, reference.seconds)
    return view.pre_alarm_mean(signal, reference.seconds, diagnosis)


def check_proposal(item: object) -> str | None:
    """What is malformed about a policy's output item (None when it is a usable :class:`Proposal`)."""
    if not isinstance(item, Proposal):
        return f"expected a Proposal, got {type(item).__name__}"
    if item.tag is not None and not isinstance(item.tag, str):
        return f"Proposal.tag must be a tag name, got {item.tag!r}"
    if item.tag is not None and item.refusal is None:
        if isinstance(item.value, bool) or not isinstance(item.value, (int, float)) or not math.isfinite(item.value):
            return f"Proposal for {item.tag} needs a finite number as value, got {item.value!r}"
    return None
