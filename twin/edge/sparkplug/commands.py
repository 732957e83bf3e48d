"""Sparkplug ``DCMD`` writes through the closed loop: the playbook's own path to the PLC, and the outcome back.

A ``DCMD`` names metrics of one device (a PLC) by name or alias, each with a value. The node turns each into
a :class:`WriteRequest` and hands it to a :class:`CommandGate`; the edge stack calls
:meth:`CommandGate.step` once per scan, after the control loop's own scan, and the gate:

1. refuses, without the loop, a metric the device does not publish (``unknown_metric``), an array element or
   a text tag (``not_scalar``) and a value that is not a number (``not_numeric``);
2. hands every other request to the control loop as an operator request (:func:`admit`): from there on it is
   a command like the playbook's — the busy check (a tag with a command in flight is left alone), the
   interlocks (a read-only tag is refused as ``not_writable``, a value out of range as ``out_of_range``, a
   step, rate, cool-down or move budget as theirs), the policy (``off`` logs it, ``recommend`` holds it for an
   operator's approval — select-before-operate — and ``auto`` sends it), a command signed with the line's
   keys, the PLC bridge's own checks, the write, the read-back, the ack, the ledger;
3. reports each request's :class:`Outcome` once its command is final (applied, refused, failed, expired,
   rejected or logged); the node publishes it (:mod:`twin.edge.sparkplug.node`).

Every request is ledgered as a ``sparkplug_dcmd`` entry (device, metric, value, and the command it became or
why it was refused); the command, its ack and any operator decision follow as the loop ledgers them. Without a
closed loop every request is refused (``no_closed_loop``) and, with a ledger, ledgered all the same.

Who may send a ``DCMD`` at all is the broker's business: the Sparkplug ACL
(:func:`~twin.edge.sparkplug.topics.sparkplug_acl`) lets only the host account publish on ``DCMD`` topics.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from itertools import count

from twin.contracts import CommandRecord, Diagnosis
from twin.edge.control.loop import ControlLoop
from twin.edge.control.policy import Proposal
from twin.edge.frames import Frame
from twin.edge.ledger import Ledger

log = logging.getLogger(__name__)

RULE = "sparkplug_dcmd"  # the rule name of a DCMD's command record, and the kind of its ledger entry
_REQUESTS = count(1)


@dataclass
class WriteRequest:
    """One metric of a ``DCMD``: write ``value`` to ``tag`` of ``device``.

    ``metric`` is the name the request was resolved to (or how it came: ``alias 7``); ``tag`` the scalar tag
    behind it, None when the device publishes no such metric; ``refusal`` (code, message) when the node
    already knows it cannot be written (an array element, a text tag, a value that is not a number).
    """

    device: str
    metric: str
    value: float | str | None
    tag: str | None = None
    refusal: tuple[str, str] | None = None
    id: str = field(default_factory=lambda: f"dcmd{next(_REQUESTS):04d}")


@dataclass(frozen=True)
class Outcome:
    """What became of a request: its command's final ``status`` and why, and the tag's value read back."""

    request: WriteRequest
    status: str
    reason: str = ""
    command_id: str | None = None
    read_back: float | None = None


class CommandGate:
    """Hands ``DCMD`` write requests to ``loop`` (None: refuses them all) and tracks them to their outcome.

    ``ledger`` receives a ``sparkplug_dcmd`` entry per request (default: the loop's ledger, if any).
    """

    def __init__(self, loop: ControlLoop | None, ledger: Ledger | None = None) -> None:
        self.loop = loop
        self.ledger = ledger if ledger is not None else getattr(loop, "ledger", None)
        self.received = 0
        self._queue: list[WriteRequest] = []
        self._open: list[tuple[WriteRequest, CommandRecord]] = []

    def submit(self, request: WriteRequest) -> None:
        """Queue ``request`` for the next scan (from the node's message handler, on the event loop)."""
        self.received += 1
        self._queue.append(request)

    @property
    def busy(self) -> bool:
        """True while a request waits for the next scan or for its command to be final."""
        return bool(self._queue or self._open)

    def step(self, frame: Frame) -> list[Outcome]:
        """Admit the queued requests at ``frame`` (plant time, current values) and return the outcomes that are
        final now, in the order the requests came."""
        queued, self._queue = self._queue, []
        done: list[Outcome] = []
        for request in queued:
            outcome = self._admit(request, frame)
            if outcome is not None:
                done.append(outcome)
        still_open = []
        for request, record in self._open:
            if record.final:
                done.append(_outcome(request, record))
            else:
                still_open.append((request, record))
        self._open = still_open
        return done

    def _admit(self, request: WriteRequest, frame: Frame) -> Outcome | None:
        """A refusal's outcome now, or None once the loop holds the request's command."""
        refusal = request.refusal
        if refusal is None and request.tag is None:
            refusal = ("unknown_metric", f"device {request.device} publishes no metric {request.metric}")
        if refusal is None and self.loop is None:
            refusal = ("no_closed_loop", "the edge runs no closed loop (no playbook): nothing is written")
        if refusal is not None:
            self._ledger(request, frame, status="refused", refusal=refusal)
            log.warning("sparkplug DCMD %s/%s refused: %s", request.device, request.metric, refusal[1])
            return Outcome(request, "refused", f"{refusal[0]}: {refusal[1]}")
        assert self.loop is not None and request.tag is not None
        record = admit(self.loop, request, frame)
        if record is None:
            reason = f"busy: {request.tag} has a command in flight"
            self._ledger(request, frame, status="refused", refusal=("busy", reason))
            return Outcome(request, "refused", reason)
        self._ledger(request, frame, status="admitted", command_id=record.id)
        self._open.append((request, record))
        return None

    def _ledger(self, request: WriteRequest, frame: Frame, *, status: str, refusal: tuple[str, str] | None = None,
                command_id: str | None = None) -> None:
        if self.ledger is None:
            return
        value = request.value if not isinstance(request.value, float) or math.isfinite(request.value) else None
        self.ledger.append(RULE, {"request": request.id, "device": request.device, "metric": request.metric,
                                  "tag": request.tag, "value": value, "status": status, "command_id": command_id,
                                  "refusal": {"code": refusal[0], "message": refusal[1]} if refusal else None},
                           frame.ts_ms)


def admit(loop: ControlLoop, request: WriteRequest, frame: Frame) -> CommandRecord | None:
    """Hand ``request`` to ``loop`` as a proposal the way it admits its policy's (busy check, interlocks,
    policy, signed command, ledger); returns the loop's record of it, None when the tag is busy.

    It goes through :meth:`ControlLoop.request` with a request-shaped :class:`~twin.contracts.Diagnosis`
    (id ``sparkplug:<request>``, no alarms, no candidates) standing for the diagnosis a playbook command
    answers: the record's ``diagnosis_id`` names the Sparkplug request.
    """
    assert request.tag is not None
    value = request.value if isinstance(request.value, float) else None
    origin = Diagnosis(id=f"sparkplug:{request.id}", t_ms=frame.ts_ms, alarm_ids=[], candidates=[], method=RULE,
                       model_version="")
    proposal = Proposal(tag=request.tag, value=value, rule=RULE,
                        reason=f"Sparkplug DCMD to {request.device}/{request.metric}",
                        refusal=None if value is not None else ("not_numeric", f"{request.value!r} is not a number"))
    return loop.request(proposal, origin, frame)


def _outcome(request: WriteRequest, record: CommandRecord) -> Outcome:
    """The outcome of a final command record: its status, the refusal or the ack's reason, the read-back."""
    ack = record.ack
    if record.refusal is not None:
        reason = f"{record.refusal['code']}: {record.refusal['message']}"
    elif ack is not None and ack.reason:
        reason = ack.reason
    else:
        reason = record.notes[-1] if record.notes else ""
    if record.status == "logged":
        reason = reason or f"policy {record.policy}: logged, not sent"
    read_back = ack.read_back if ack is not None else None
    return Outcome(request, record.status, reason, record.id, read_back)
