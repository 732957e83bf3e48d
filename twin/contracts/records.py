"""The rows of a run: each alarm, each command (or work order) and what happened to it, each injected fault.

They are what ``report.json`` holds in ``alarms``, ``commands`` and ``faults``, and what the
ledger records. A command record's status, over its life::

    logged                       policy off: proposed, never sent
    pending → sent | rejected | expired      recommend: waits for an operator
    sent → applied | refused | failed | expired   the bridge's ack (or no ack by expiry)
    refused                      stopped by the loop's own interlocks

A work order has status ``raised`` (``logged`` under policy off).

>>> r = CommandRecord(id="c1", kind="correction", t_ms=0, tag="t", value=1.0, previous=0.0, reason="r",
...                   diagnosis_id=None, rule="x", policy="off", status="logged")
>>> r.final, r.to_dict()["verification"]
(True, None)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from pydantic import ConfigDict, Field

from twin.contracts.enums import AlarmState
from twin.contracts.messages import Ack, Command
from twin.contracts.row import Row

FINAL = ("applied", "refused", "failed", "expired", "rejected", "logged", "raised")
T = TypeVar("T")


def by_risk(records: Iterable[T]) -> list[T]:
    """Alarms or diagnoses (records or their dicts) highest ``severity`` first, unrated last; equal ones keep
    their order (time). The ranking of reports and the app: a defect that can hurt someone before a scratch.

    >>> [r["id"] for r in by_risk([{"id": "a", "severity": 2}, {"id": "b"}, {"id": "c", "severity": 9}])]
    ['c', 'a', 'b']
    """
    def severity(record: Any) -> int:
        value = record.get("severity") if isinstance(record, dict) else getattr(record, "severity", None)
        return int(value) if value is not None else 0
    return sorted(records, key=lambda r: -severity(r))


class Verification(Row):
    """Whether a correction worked: the verified signal's deviation from its reference before and after."""

    signal: str = Field(description='the signal whose deviation tells whether the correction worked')
    window_s: float = Field(description='seconds of the signal compared before and after')
    reference: float | None = Field(default=None, description='the value the signal should return to')
    before: float | None = Field(default=None, description='deviation from the reference before the correction')
    after: float | None = Field(default=None, description='deviation after it')
    effect: float | None = Field(default=None, description='share of the deviation removed (1: all)')
    outcome: str = Field(default="watching", description="not_sent (logged or awaiting approval) | watching | worked | "
                                                          "partial | no_effect | worse | no_deviation | no_data | "
                                                          "not_applied")
    verified_t_ms: int | None = Field(default=None, description='plant time the outcome was settled')


class CommandRecord(Row):
    """One command (or work order) and everything that happened to it."""

    id: str = Field(description="the command's id (unique in the run)")
    kind: str = Field(description="correction | rollback | work_order")
    t_ms: int = Field(description='plant time the loop proposed it')
    tag: str | None = Field(description='the read-write tag to write (None for a work order)')
    value: float | None = Field(description='the value to write')
    previous: float | None = Field(description="the tag's value when the command was made")
    reason: str = Field(description='why: the diagnosis and the playbook rule, in words')
    diagnosis_id: str | None = Field(description='the diagnosis it answers')
    rule: str = Field(description='the playbook rule (or plug-in policy) that proposed it')
    policy: str = Field(description='the control policy in force: off, recommend or auto')
    status: str = Field(description='logged, pending, sent, applied, refused, failed, expired, rejected or raised')
    command: Command | None = Field(default=None, description='the Command as sent to the bridge')
    refusal: dict[str, str] | None = Field(default=None, description='why an interlock stopped it')
    ack: Ack | None = Field(default=None, description="the bridge's answer")
    approved_by: str | None = Field(default=None, description='the operator who approved it (policy recommend)')
    sent_t_ms: int | None = Field(default=None, description='plant time it was sent')
    applied_t_ms: int | None = Field(default=None, description='plant time the bridge applied it')
    verification: Verification | None = Field(default=None, description='whether it worked')
    rollback_of: str | None = Field(default=None, description='the command this one rolls back')
    rolled_back_by: str | None = Field(default=None, description='the command that rolled this one back')
    follow_up_of: str | None = Field(default=None, description='the command this one follows up')
    sends: int = Field(default=0, description='how often it was sent (resent without an ack)')
    notes: list[str] = Field(default_factory=list, description='what else happened to it, in words')

    @property
    def final(self) -> bool:
        """True once nothing more will happen to the command itself (verification may still run)."""
        return self.status in FINAL

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for ``report.json`` and the ledger)."""
        return self.model_dump(mode="json")


class AlarmRecord(Row):
    """One alarm as a report holds it: what fired, where, when, and every state it went through."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="the alarm's id (unique in the run)")
    t_ms: int = Field(description="plant time it was raised, ms")
    tag: str = Field(description='the tag element that alarmed')
    detector: str = Field(description='which detector fired (shewhart, ewma, cusum, flatline, ...)')
    rule: str = Field(description='which rule of that detector')
    value: float | None = Field(description="the value that fired it (None if not finite)")
    limit: float | None = Field(description='the limit it crossed (None if not finite)')
    state: AlarmState = Field(description='its ISA-18.2 state at the end of the run')
    severity: int | None = Field(default=None, ge=1, le=10, description="the highest severity (FMEA 1-10) of a "
                                 "customer-facing effect downstream of its tag (None: the knowledge rates none)")
    effect: str | None = Field(default=None, description="the effect that carries that severity")
    history: list[dict[str, Any]] = Field(default_factory=list, description="every state change: t_ms, state, reason")


class FaultRecord(Row):
    """One injected fault, the truth a run is scored against (plants may add keys of their own)."""

    model_config = ConfigDict(extra="allow")

    kind: str = Field(description='the fault kind, e.g. valve_coil_ageing')
    target: str = Field(description='the asset or tag it acted on')
    onset_s: float = Field(description="plant seconds the fault began")
    magnitude: float | None = Field(default=None, description="its size, in the target's unit")
    answer: str | None = Field(default=None, description="the candidate a perfect diagnosis names")
