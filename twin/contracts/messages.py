"""The Command, Ack and WorkOrder contracts: what the control loop, the PLC bridge and maintenance exchange.

Payloads are UTF-8 JSON, validated on both ends with these models (unknown fields are an error).
Times are plant milliseconds: the loop stamps ``issued_t_ms`` from its frame and the bridge
compares ``issued_t_ms`` and ``expires_t_ms`` with the PLC's own clock tag, so expiry means the
same in lockstep, in real time and on a real PLC. The MQTT topics they travel on, and how a
command is signed (``nonce``, ``signature``), are :mod:`twin.edge.control.messages`.

>>> c = Command(id="c0001-3f1c9a7e52d04b86", plant="coater", line="line1", tag="coater.coolant.valve.command",
...             value=66.0, previous=60.0, low=0.0, high=100.0, reason="restore coolant flow",
...             diagnosis_id="d1", issued_t_ms=180_000, expires_t_ms=190_000, nonce="9b2e5d0c4a7f1e38")
>>> Command.model_validate_json(c.to_json()) == c
True
>>> Command.model_validate({**c.model_dump(), "kind": "rollback"})
Traceback (most recent call last):
  ...
pydantic_core._pydantic_core.ValidationError: 1 validation error for Command
  Value error, command c0001-3f1c9a7e52d04b86: a rollback must name the command it undoes (rollback_of) ...
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field, model_validator

from twin.contracts.enums import AckStatus, CommandKind


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def to_json(self) -> str:
        """The wire form (compact JSON)."""
        return self.model_dump_json()


class Command(_Message):
    """One bounded write the control loop asks the PLC bridge to make."""

    id: str = Field(min_length=1, description="unique per command and unpredictable (random); the bridge answers "
                    "each id once")
    plant: str = Field(description='the plant the tag belongs to')
    line: str = Field(description='the line (MQTT topic segment)')
    tag: str = Field(description="read-write tag to write")
    value: float = Field(description="engineering value to write")
    previous: float | None = Field(default=None, description="the tag's value when the command was made")
    low: float = Field(description="lowest value the sender allows (never wider than the tag map's range)")
    high: float = Field(description='highest value the sender allows')
    reason: str = Field(description='why, in words')
    diagnosis_id: str | None = Field(default=None, description='the diagnosis it answers')
    kind: CommandKind = Field(default=CommandKind.CORRECTION, description='correction, or rollback of an earlier one')
    rollback_of: str | None = Field(default=None, description="for a rollback, the id of the applied command it "
                                    "undoes (its value must be that command's previous value)")
    issued_t_ms: int = Field(ge=0, description="plant time the command was issued")
    expires_t_ms: int = Field(ge=0, description="plant time after which the bridge must not apply it")
    nonce: str = Field(default="", description="random, never used twice: the bridge refuses a second command "
                       "with a nonce it has seen")
    signature: str = Field(default="", description="HMAC-SHA256 (hex) under the line's command secret over the "
                           "canonical JSON of every other field; the bridge refuses a command without a valid one")

    @model_validator(mode="after")
    def _check(self) -> Command:
        if not math.isfinite(self.value):
            raise ValueError(f"command {self.id}: value must be finite, got {self.value}")
        if not self.low <= self.high:
            raise ValueError(f"command {self.id}: low ({self.low}) must not exceed high ({self.high})")
        if self.expires_t_ms < self.issued_t_ms:
            raise ValueError(f"command {self.id}: expires_t_ms ({self.expires_t_ms}) is before issued_t_ms")
        if (self.kind == CommandKind.ROLLBACK) != (self.rollback_of is not None):
            raise ValueError(f"command {self.id}: a rollback must name the command it undoes (rollback_of) "
                             "and only a rollback may")
        return self


class Ack(_Message):
    """The bridge's answer to one command: what happened and what the PLC reads back."""

    command_id: str = Field(description='the command answered')
    tag: str = Field(description='the tag written')
    status: AckStatus = Field(description='applied, refused, failed or expired')
    value: float | None = Field(description="the value the command asked for (None if unreadable)")
    read_back: float | None = Field(default=None, description="the tag's value read from the PLC after the write")
    reason: str = Field(default="", description='why, when not applied')
    plc_t_ms: int | None = Field(default=None, description="the PLC clock when the bridge handled the command")
    bridge: str = Field(default="", description="which bridge answered")
    command_signature: str = Field(default="", description="the signature of the command answered, so the sender "
                                   "can tell the answer to its own command from the answer to a forged one")


class WorkOrder(_Message):
    """A maintenance request raised instead of a process action (e.g. a suspect sensor)."""

    id: str
    plant: str
    line: str
    asset: str
    reason: str
    diagnosis_id: str | None = None
    t_ms: int
