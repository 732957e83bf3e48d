"""What the loop records about each command: the row of ``report.json`` ``commands``.

Status of a record, over its life::

    logged                       policy off: proposed, never sent
    pending → sent | rejected | expired      recommend: waits for an operator
    sent → applied | refused | failed | expired   the bridge's ack (or no ack by expiry)
    refused                      stopped by the loop's own interlocks

A work order has status ``raised`` (``logged`` under policy off).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from twin.edge.control.messages import Ack, Command

FINAL = ("applied", "refused", "failed", "expired", "rejected", "logged", "raised")


@dataclass
class Verification:
    """Whether a correction worked: the verified signal's deviation from its reference before and after."""

    signal: str
    window_s: float
    reference: float | None = None
    before: float | None = None
    after: float | None = None
    effect: float | None = None
    outcome: str = "watching"  # watching | worked | partial | no_effect | worse | no_deviation | no_data | not_applied
    verified_t_ms: int | None = None


@dataclass
class CommandRecord:
    """One command (or work order) and everything that happened to it."""

    id: str
    kind: str  # correction | rollback | work_order
    t_ms: int
    tag: str | None
    value: float | None
    previous: float | None
    reason: str
    diagnosis_id: str | None
    rule: str
    policy: str
    status: str
    command: Command | None = None
    refusal: dict[str, str] | None = None
    ack: Ack | None = None
    approved_by: str | None = None
    sent_t_ms: int | None = None
    applied_t_ms: int | None = None
    verification: Verification | None = None
    rollback_of: str | None = None
    rolled_back_by: str | None = None
    follow_up_of: str | None = None
    sends: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def final(self) -> bool:
        """True once nothing more will happen to the command itself (verification may still run)."""
        return self.status in FINAL

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for ``report.json`` and the ledger)."""
        out = {k: v for k, v in asdict(self).items() if k not in ("command", "ack", "verification")}
        out["command"] = self.command.model_dump(mode="json") if self.command else None
        out["ack"] = self.ack.model_dump(mode="json") if self.ack else None
        out["verification"] = asdict(self.verification) if self.verification else None
        return out
