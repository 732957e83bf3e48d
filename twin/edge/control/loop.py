"""The control loop: diagnosis → playbook → interlocks → command → ack → verified effect (or rollback).

The runner drives it, in plant time taken from frames:

* :meth:`ControlLoop.on_alarm` for every new alarm (ledger; the alarm time anchors
  ``pre_alarm`` references);
* :meth:`ControlLoop.on_diagnosis` for every diagnosis: the control policy proposes commands
  (or a work order) (by default :class:`~twin.edge.control.policy.PlaybookPolicy`, the first
  playbook rule that fits the top candidate; any :class:`~twin.edge.control.policy.ControlPolicy`
  plug-in goes the same way); each passes the interlocks, then the policy mode decides —
  ``off`` logs it, ``recommend`` holds it for an operator
  (:meth:`approve` / :meth:`reject`, select-before-operate with ``select_timeout_s``),
  ``auto`` sends it;
* :meth:`ControlLoop.on_frame` every scan: take acks, act on operator decisions, expire or
  re-send unanswered commands, watch verification windows, roll back a correction that
  made things worse (once the tag's cool-down allows), repeat a ``restore`` that helped but
  left a deviation. With ``wait_for_acks`` (lockstep) it waits for the bridge's ack of a
  just-sent command before returning, so the write lands before the next scan and a seed gives
  the same run (the same commands; their ids, nonces and signatures are random).

Every command goes out signed with the line's command secret (``keys``), with an unpredictable
id and a fresh nonce (:mod:`twin.edge.control.messages`); a rollback names the command it undoes
(``rollback_of``) and returns that command's ``previous`` value. An ack counts only when it
answers the command as the loop signed it (``command_signature``), so the bridge's refusal of a
forged command that borrowed a real id does not touch the real one.

Everything — alarms, diagnoses, commands, acks, operator decisions, verifications, work
orders — is appended to the ledger. :meth:`records` gives the ``report.json`` ``commands``.
"""

from __future__ import annotations

import math
import queue
import time
from collections.abc import Mapping
from typing import Any

from twin.contracts import Command, CommandKind, CommandRecord, Diagnosis, Policy, Verification, WorkOrder, choices
from twin.edge.control.channel import CommandChannel
from twin.edge.control.history import SignalHistory, effect_size
from twin.edge.control.interlocks import Interlocks, Refusal
from twin.edge.control.messages import new_id, new_nonce, sign
from twin.edge.control.playbook import Action, Playbook, Reference, watched_signals
from twin.edge.control.policy import ControlPolicy, PlaybookPolicy, Proposal, watched_by
from twin.edge.frames import Frame, Quality
from twin.edge.keys import LineKeys
from twin.edge.ledger import Ledger
from virtual_plc.tagmap import TagMap

RECENT_S = 5.0  # the "now" of a signal: mean over the last seconds
ACTIVE = ("pending", "sent")


class ControlLoop:
    """Closes the loop for one plant line; see the module docstring for the call sequence."""

    def __init__(
        self,
        playbook: Playbook,
        tagmap: TagMap,
        channel: CommandChannel | None,
        *,
        policy: Policy = "auto",
        ledger: Ledger | None = None,
        run_id: str = "run",
        wait_for_acks: bool = True,
        ack_timeout_s: float = 2.0,
        resend_after_s: float = 0.5,
        proposer: ControlPolicy | None = None,
        keys: LineKeys | None = None,
    ) -> None:
        if policy not in set(Policy):
            raise ValueError(f"policy must be {choices(Policy)}, not {policy!r}")
        if policy != "off" and (channel is None or keys is None):
            raise ValueError(f"policy {policy!r} sends commands: give a channel to the bridge and the line's keys")
        if playbook.plant != tagmap.plant:
            raise ValueError(f"playbook is for plant {playbook.plant!r}, the tag map for {tagmap.plant!r}")
        self.playbook = playbook
        self.tagmap = tagmap
        self.channel = channel
        self.policy: Policy = policy
        self.ledger = ledger
        self.run_id = run_id
        self.keys = keys
        self.wait_for_acks = wait_for_acks
        self.ack_timeout_s = ack_timeout_s
        self.resend_after_s = resend_after_s
        self.interlocks = Interlocks(playbook.interlocks, tagmap)
        self.proposer: ControlPolicy = proposer or PlaybookPolicy(playbook, watched_signals(playbook, tagmap))
        self._records: dict[str, CommandRecord] = {}
        self._proposals: dict[str, tuple[Proposal, Diagnosis]] = {}
        self._deadline: dict[str, int] = {}
        self._last_send_wall: dict[str, float] = {}
        self._waited: set[str] = set()
        self._rollbacks_due: dict[str, int] = {}  # command id -> plant ms its rollback may go out (cool-down)
        self._alarm_t: dict[str, int] = {}
        self._decisions: queue.SimpleQueue[tuple[str, bool, str, str]] = queue.SimpleQueue()
        self._seq = 0
        self._frame: Frame | None = None  # the frame being handled: what the policy's view reads
        watched = {**watched_signals(playbook, tagmap), **watched_by(self.proposer)}
        longest = max([r.seconds for r in _references(playbook)] + [a.verify.window_s for a in _actions(playbook)
                                                                      if a.verify is not None] + [60.0])
        self._history = {s: SignalHistory(start_s, 2 * longest + 600) for s, start_s in watched.items()}

    # ------------------------------------------------------------------ inputs
    def on_alarm(self, alarm: Mapping[str, Any] | Any) -> None:
        """Record a new alarm (a dict or an object with ``to_dict()``; needs ``id`` and ``t_ms``)."""
        payload = dict(alarm) if isinstance(alarm, Mapping) else alarm.to_dict()
        self._alarm_t.setdefault(str(payload["id"]), int(payload["t_ms"]))
        self._log("alarm", payload, int(payload["t_ms"]))

    async def on_diagnosis(self, diagnosis: Diagnosis, frame: Frame) -> list[CommandRecord]:
        """Answer a diagnosis with the control policy's proposals; returns the records it created (maybe none)."""
        self._log("diagnosis", _json_safe(diagnosis.model_dump(mode="json")), frame.ts_ms)
        self._frame = frame
        proposals = list(self.proposer.propose(diagnosis, self))
        if not proposals:
            self._log("note", {"diagnosis_id": diagnosis.id, "note": "the policy proposed nothing for the top "
                               "candidate"}, frame.ts_ms)
            return []
        made = []
        for proposal in proposals:
            record = self._admit(proposal, diagnosis, frame)
            if record is not None:
                made.append(record)
        await self._settle(frame)
        return made

    async def on_frame(self, frame: Frame) -> None:
        """One scan: acks, operator decisions, expiry and re-sends, verification; waits for acks if lockstep."""
        self._frame = frame
        self._observe(frame)
        self._take_acks(frame)
        self._take_decisions(frame)
        self._expire_and_resend(frame)
        self._verify(frame)
        self._due_rollbacks(frame)
        await self._settle(frame)

    # ------------------------------------------------------------ operator API
    def approve(self, command_id: str, operator: str = "operator") -> None:
        """Confirm a pending command (thread-safe; it is sent at the next frame, after re-checking)."""
        self._decide(command_id, True, operator, "")

    def reject(self, command_id: str, operator: str = "operator", reason: str = "") -> None:
        """Reject a pending command (thread-safe; takes effect at the next frame)."""
        self._decide(command_id, False, operator, reason)

    def pending(self) -> list[dict[str, Any]]:
        """Commands waiting for an operator, with their select deadline (plant ms)."""
        return [{**r.to_dict(), "select_deadline_t_ms": self._deadline.get(r.id)}
                for r in list(self._records.values()) if r.status == "pending"]

    def records(self) -> list[dict[str, Any]]:
        """Every command and work order so far, JSON-ready, in the order they were made."""
        return [r.to_dict() for r in self._records.values()]

    def _decide(self, command_id: str, approve: bool, operator: str, reason: str) -> None:
        record = self._records.get(command_id)
        if record is None:
            raise KeyError(f"no command {command_id!r}")
        if record.status != "pending":
            raise ValueError(f"command {command_id} is {record.status}, not pending")
        self._decisions.put((command_id, approve, operator, reason))

    # ------------------------------------------------------------- proposing
    def _next_id(self, prefix: str) -> str:
        self._seq += 1
        return new_id(prefix, self._seq)

    def _record(self, record: CommandRecord, kind: str = "command") -> CommandRecord:
        self._records[record.id] = record
        self._log(kind, record.to_dict(), record.t_ms)
        return record

    # ------------------------------------------------ the policy's view (ControlView)
    @property
    def frame(self) -> Frame:
        """The frame being handled."""
        if self._frame is None:
            raise RuntimeError("the control loop has not seen a frame yet")
        return self._frame

    def value(self, tag: str) -> float:
        """``tag``'s value in the current frame (NaN when the frame lacks it)."""
        return _read(self.frame, tag)[0]

    def recent_mean(self, signal: str, seconds: float = RECENT_S) -> float | None:
        """Mean of ``signal``'s good samples over the last ``seconds`` (None when it is not watched)."""
        history = self._history.get(signal)
        t = self.frame.ts_ms
        return None if history is None else history.mean_between(t - int(seconds * 1000), t + 1)

    def recent_slope(self, signal: str, seconds: float) -> float | None:
        """Least-squares rate of ``signal`` (units per second) over the last ``seconds`` (None when not watched)."""
        history = self._history.get(signal)
        t = self.frame.ts_ms
        return None if history is None else history.slope_between(t - int(seconds * 1000), t + 1)

    def start_mean(self, signal: str, seconds: float) -> float | None:
        """Mean over the first ``seconds`` of the run (None when it is not watched)."""
        history = self._history.get(signal)
        return None if history is None else history.mean_start(seconds)

    def pre_alarm_mean(self, signal: str, seconds: float, diagnosis: Diagnosis) -> float | None:
        """Mean over the ``seconds`` before the diagnosis's first alarm (None when it is not watched)."""
        history = self._history.get(signal)
        if history is None:
            return None
        alarm_t = min((self._alarm_t[a] for a in diagnosis.alarm_ids if a in self._alarm_t), default=diagnosis.t_ms)
        return history.mean_between(alarm_t - int(seconds * 1000), alarm_t)

    # ------------------------------------------------------------- proposing
    def _work_order(self, proposal: Proposal, diagnosis: Diagnosis, frame: Frame) -> CommandRecord:
        order = WorkOrder(id=self._next_id("w"), plant=self.playbook.plant, line=self.playbook.line,
                          asset=proposal.asset or (diagnosis.top.asset if diagnosis.top else ""),
                          reason=proposal.reason, diagnosis_id=diagnosis.id, t_ms=frame.ts_ms)
        status = "logged" if self.policy == "off" else "raised"
        if status == "raised" and self.channel is not None:
            self.channel.send_work_order(order)
        record = CommandRecord(id=order.id, kind="work_order", t_ms=frame.ts_ms, tag=None, value=None, previous=None,
                               reason=order.reason, diagnosis_id=diagnosis.id, rule=proposal.rule, policy=self.policy,
                               status=status)
        return self._record(record, "work_order")

    def _busy(self, tag: str) -> CommandRecord | None:
        return next((r for r in self._records.values() if r.tag == tag and (
            r.status in ACTIVE or r.id in self._rollbacks_due or (
                r.verification is not None and r.verification.outcome == "watching" and r.status == "applied"))),
            None)

    def request(self, proposal: Proposal, origin: Diagnosis, frame: Frame) -> CommandRecord | None:
        """A write asked for from outside the policy (a Sparkplug DCMD, an operator's console), admitted exactly
        as the policy's proposals are: busy check, interlocks, policy mode, signed command, ledger. ``origin``
        stands for the diagnosis a playbook command answers (its id names the request). None when the tag is
        busy with another command."""
        return self._admit(proposal, origin, frame)

    def _admit(self, proposal: Proposal, diagnosis: Diagnosis, frame: Frame,
               follow_up_of: str | None = None) -> CommandRecord | None:
        """One proposal through busy check, interlocks and the policy mode (off / recommend / auto)."""
        if proposal.tag is None:
            return self._work_order(proposal, diagnosis, frame)
        tag, t = proposal.tag, frame.ts_ms
        busy = self._busy(tag)
        if busy is not None and busy.id != follow_up_of:
            self._log("note", {"diagnosis_id": diagnosis.id, "note": f"{tag} busy with {busy.id}"}, t)
            return None
        current, quality = _read(frame, tag)
        record = CommandRecord(
            id=self._next_id("c"), kind="correction", t_ms=t, tag=tag, value=_finite(proposal.value),
            previous=_finite(current), reason=proposal.reason, diagnosis_id=diagnosis.id, rule=proposal.rule,
            policy=self.policy, status="refused", follow_up_of=follow_up_of)
        refusal = Refusal(*proposal.refusal) if proposal.refusal is not None else None
        if refusal is None and proposal.value is not None:
            refusal = self.interlocks.check(tag, proposal.value, current=current, quality=quality, t_ms=t)
        if refusal is not None or proposal.value is None:
            refusal = refusal or Refusal("no_value", "the policy proposed no value")
            record.refusal = {"code": refusal.code, "message": refusal.message}
            return self._record(record)
        self._proposals[record.id] = (proposal, diagnosis)
        if proposal.verify is not None:
            verify = proposal.verify
            ref = verify.reference
            if ref is None:
                ref = self.pre_alarm_mean(verify.signal, 60.0, diagnosis)
            record.verification = Verification(signal=verify.signal, window_s=verify.window_s, reference=ref,
                                               before=verify.before if verify.before is not None
                                               else self.recent_mean(verify.signal), outcome="not_sent")
        if self.policy == "off":
            record.status = "logged"
            return self._record(record)
        if self.policy == "recommend":
            record.status = "pending"
            self._deadline[record.id] = t + int(self.playbook.select_timeout_s * 1000)
            return self._record(record)
        return self._send(record, frame)

    # --------------------------------------------------------------- sending
    def _send(self, record: CommandRecord, frame: Frame, kind: CommandKind = "correction") -> CommandRecord:
        assert record.tag is not None and record.value is not None and self.channel is not None
        assert self.keys is not None
        t = frame.ts_ms
        current, quality = _read(frame, record.tag)
        rollback = kind == "rollback"
        refusal = self.interlocks.check(record.tag, record.value, current=current, quality=quality, t_ms=t,
                                        rollback=rollback)
        if refusal is not None:
            record.status, record.refusal = "refused", {"code": refusal.code, "message": refusal.message}
            return self._record(record)
        spec, step = self.tagmap[record.tag], self.interlocks.limits(record.tag).max_step
        low, high = spec.low, spec.high
        if step is not None:
            low, high = max(low, current - step), min(high, current + step)
        record.command = sign(Command(
            id=record.id, plant=self.playbook.plant, line=self.playbook.line, tag=record.tag, value=record.value,
            previous=_finite(current), low=min(low, record.value), high=max(high, record.value), reason=record.reason,
            diagnosis_id=record.diagnosis_id, kind=kind, rollback_of=record.rollback_of, issued_t_ms=t,
            expires_t_ms=t + int(self.playbook.command_expiry_s * 1000), nonce=new_nonce()), self.keys)
        self.interlocks.commit(record.tag, record.value, t, rollback=rollback)
        record.status, record.sent_t_ms = "sent", t
        if record.verification is not None and record.verification.outcome == "not_sent":
            record.verification.outcome = "watching"  # only a command that went out is watched
        self._transmit(record)
        return self._record(record)

    def _transmit(self, record: CommandRecord) -> None:
        assert self.channel is not None and record.command is not None
        self.channel.send_command(record.command)
        record.sends += 1
        self._last_send_wall[record.id] = time.monotonic()

    async def _settle(self, frame: Frame) -> None:
        """Lockstep: wait (bounded) for the acks of commands sent and not yet waited for."""
        if not self.wait_for_acks or self.channel is None:
            return
        deadline = time.monotonic() + self.ack_timeout_s
        while True:
            waiting = [r for r in self._records.values() if r.status == "sent" and r.id not in self._waited]
            remaining = deadline - time.monotonic()
            if not waiting:
                return
            if remaining <= 0 or not await self.channel.wait_ack(remaining):
                self._waited.update(r.id for r in waiting)  # late: stop blocking scans on them
                return
            self._take_acks(frame)

    # ------------------------------------------------------------ per frame
    def _observe(self, frame: Frame) -> None:
        for signal, history in self._history.items():
            sl = frame.index.slices.get(signal)
            if sl is not None and frame.fresh[sl.start] and frame.quality[sl.start] == Quality.GOOD:
                history.add(frame.ts_ms, float(frame.values[sl.start]))

    def _take_acks(self, frame: Frame) -> None:
        if self.channel is None:
            return
        for ack in self.channel.take_acks():
            self._log("ack", ack.model_dump(mode="json"), frame.ts_ms)
            record = self._records.get(ack.command_id)
            if record is None:
                self._log("note", {"note": f"ack for unknown command {ack.command_id}"}, frame.ts_ms)
                continue
            if record.command is None or ack.command_signature != record.command.signature:
                self._log("note", {"note": f"ignored an ack for {ack.command_id} that answers another command "
                                   f"than the one the loop signed ({ack.status}: {ack.reason})"}, frame.ts_ms)
                continue
            self._waited.add(record.id)
            if record.status != "sent":
                if record.ack is not None and record.ack.status == ack.status:
                    continue  # a duplicate answer to a re-send
                record.notes.append(f"late ack {ack.status} after the loop had recorded {record.status}")
            record.ack, record.status = ack, ack.status
            if ack.status == "applied":
                record.applied_t_ms = ack.plc_t_ms if ack.plc_t_ms is not None else frame.ts_ms
            elif record.verification is not None:
                record.verification.outcome = "not_applied"

    def _take_decisions(self, frame: Frame) -> None:
        while not self._decisions.empty():
            command_id, approve, operator, reason = self._decisions.get_nowait()
            record = self._records[command_id]
            if record.status != "pending":
                continue
            self._log("approval", {"command_id": command_id, "approved": approve, "operator": operator,
                                   "reason": reason}, frame.ts_ms)
            record.approved_by = operator if approve else None
            if approve:
                self._send(record, frame)
            else:
                record.status = "rejected"
                record.notes.append(f"rejected by {operator}: {reason}".rstrip(": "))
                self._record(record)

    def _expire_and_resend(self, frame: Frame) -> None:
        t, now = frame.ts_ms, time.monotonic()
        for record in list(self._records.values()):
            if record.status == "pending" and t > self._deadline[record.id]:
                record.status = "expired"
                record.notes.append("no operator decision within the select timeout")
                self._record(record)
            elif record.status == "sent" and record.command is not None:
                if t > record.command.expires_t_ms:
                    record.status = "expired"
                    record.notes.append("no ack from the bridge by expiry; the bridge refuses it after expiry")
                    self._record(record)
                elif now - self._last_send_wall[record.id] >= self.resend_after_s:
                    self._transmit(record)

    def _verify(self, frame: Frame) -> None:
        t = frame.ts_ms
        for record in list(self._records.values()):
            check = record.verification
            if check is None or check.outcome != "watching" or record.applied_t_ms is None:
                continue
            end = record.applied_t_ms + int(check.window_s * 1000)
            if t < end:
                continue
            history = self._history.get(check.signal)
            tail = end - int(check.window_s * 1000 / 3)
            check.after = None if history is None else history.mean_between(tail, t + 1)
            check.verified_t_ms = t
            self._judge(record, check, frame)

    def _judge(self, record: CommandRecord, check: Verification, frame: Frame) -> None:
        proposal, diagnosis = self._proposals.get(record.id, (None, None))
        verify = proposal.verify if proposal is not None else None
        if check.reference is None or check.before is None or check.after is None:
            check.outcome = "no_data"
        else:
            check.effect = effect_size(check.reference, check.before, check.after)
            min_effect = verify.min_effect if verify else 0.5
            margin = verify.worse_margin if verify else 0.1
            if check.effect is None:
                check.outcome = "no_deviation"
            elif check.effect >= min_effect:
                check.outcome = "worked"
            elif check.effect < -margin:
                check.outcome = "worse"
            else:
                check.outcome = "partial" if check.effect > 0 else "no_effect"
        self._log("verification", {"command_id": record.id, **check.__dict__}, frame.ts_ms)
        if check.outcome == "worse":
            self._rollback(record, frame)
            return
        follow_up = getattr(self.proposer, "follow_up", None)
        if proposal is not None and diagnosis is not None and callable(follow_up):
            follow = follow_up(proposal, check.outcome, self)
            if follow is not None:
                self._admit(follow, diagnosis, frame, follow_up_of=record.id)

    def _rollback(self, record: CommandRecord, frame: Frame) -> None:
        """Undo ``record`` (back to the value it was applied from) now, or once the tag's cool-down ends."""
        if record.command is None or record.command.previous is None or record.tag is None or self.channel is None:
            return
        ready = self.interlocks.cooldown_ends(record.tag)
        if ready is not None and frame.ts_ms < ready:
            self._rollbacks_due[record.id] = ready
            record.notes.append(f"rollback waits for the cool-down of {record.tag} (until {ready} ms)")
            return
        undo = CommandRecord(
            id=self._next_id("c"), kind="rollback", t_ms=frame.ts_ms, tag=record.tag, value=record.command.previous,
            previous=_finite(_read(frame, record.tag)[0]), reason=f"roll back {record.id}: it made things worse",
            diagnosis_id=record.diagnosis_id, rule=record.rule, policy=self.policy, status="sent",
            rollback_of=record.id)
        record.rolled_back_by = undo.id
        self._send(undo, frame, kind="rollback")

    def _due_rollbacks(self, frame: Frame) -> None:
        for command_id, ready in list(self._rollbacks_due.items()):
            if frame.ts_ms >= ready:
                del self._rollbacks_due[command_id]
                self._rollback(self._records[command_id], frame)

    def _log(self, kind: str, payload: dict[str, Any], t_ms: int) -> None:
        if self.ledger is not None:
            self.ledger.append(kind, payload, t_ms)


def _read(frame: Frame, tag: str) -> tuple[float, Quality]:
    """A scalar tag's value and quality in a frame (NaN and MISSING when the frame lacks it)."""
    if tag not in frame.index.slices:
        return math.nan, Quality.MISSING
    return float(frame.value(tag)), frame.quality_of(tag)


def _json_safe(obj: Any) -> Any:
    """``obj`` with non-finite floats (a baseline's −inf score) as None: the ledger is strict JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_json_safe(v) for v in obj]
    return obj


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _actions(playbook: Playbook) -> list[Action]:
    return [a for rule in playbook.rules for a in rule.actions]


def _references(playbook: Playbook) -> list[Reference]:
    refs = [a.reference for a in _actions(playbook) if a.kind == "restore"]
    return refs + [a.verify.reference for a in _actions(playbook) if a.verify is not None]

