"""The Command and Ack contracts (ARCHITECTURE.md), and the MQTT topics they travel on.

Topic layout (one tree per plant and line; ``{tag}`` is the full dotted tag name)::

    qt/{plant}/{line}/cmd/{tag}     Command    edge → bridge   QoS 1
    qt/{plant}/{line}/ack/{tag}     Ack        bridge → edge   QoS 1
    qt/{plant}/{line}/workorder     WorkOrder  edge → maintenance systems   QoS 1

Payloads are UTF-8 JSON, validated on both ends with the models below (unknown fields are
an error). Times are plant milliseconds: the loop stamps ``issued_t_ms`` from its frame and
the bridge compares ``expires_t_ms`` with the PLC's own clock tag, so expiry means the same
in lockstep, in real time and on a real PLC.

>>> c = Command(id="run1:c0001", plant="coater", line="line1", tag="coater.coolant.valve.command",
...             value=66.0, previous=60.0, low=0.0, high=100.0, reason="restore coolant flow",
...             diagnosis_id="d1", issued_t_ms=180_000, expires_t_ms=190_000)
>>> command_topic(c.plant, c.line, c.tag)
'qt/coater/line1/cmd/coater.coolant.valve.command'
>>> Command.model_validate_json(c.to_json()) == c
True
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field, model_validator

from twin.contracts import AckStatus, CommandKind

TOPIC_ROOT = "qt"
ACK_STATUSES: tuple[str, ...] = tuple(AckStatus)


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def to_json(self) -> str:
        """The wire form (compact JSON)."""
        return self.model_dump_json()


class Command(_Message):
    """One bounded write the control loop asks the PLC bridge to make."""

    id: str = Field(min_length=1, description="unique per command; the bridge answers each id once")
    plant: str
    line: str
    tag: str = Field(description="read-write tag to write")
    value: float = Field(description="engineering value to write")
    previous: float | None = Field(default=None, description="the tag's value when the command was made")
    low: float = Field(description="lowest value the sender allows (never wider than the tag map's range)")
    high: float
    reason: str
    diagnosis_id: str | None = None
    kind: CommandKind = "correction"
    issued_t_ms: int = Field(ge=0, description="plant time the command was issued")
    expires_t_ms: int = Field(ge=0, description="plant time after which the bridge must not apply it")

    @model_validator(mode="after")
    def _check(self) -> Command:
        if not math.isfinite(self.value):
            raise ValueError(f"command {self.id}: value must be finite, got {self.value}")
        if not self.low <= self.high:
            raise ValueError(f"command {self.id}: low ({self.low}) must not exceed high ({self.high})")
        if self.expires_t_ms < self.issued_t_ms:
            raise ValueError(f"command {self.id}: expires_t_ms ({self.expires_t_ms}) is before issued_t_ms")
        return self


class Ack(_Message):
    """The bridge's answer to one command: what happened and what the PLC reads back."""

    command_id: str
    tag: str
    status: AckStatus
    value: float | None = Field(description="the value the command asked for (None if unreadable)")
    read_back: float | None = Field(default=None, description="the tag's value read from the PLC after the write")
    reason: str = ""
    plc_t_ms: int | None = Field(default=None, description="the PLC clock when the bridge handled the command")
    bridge: str = Field(default="", description="which bridge answered")


class WorkOrder(_Message):
    """A maintenance request raised instead of a process action (e.g. a suspect sensor)."""

    id: str
    plant: str
    line: str
    asset: str
    reason: str
    diagnosis_id: str | None = None
    t_ms: int


def command_topic(plant: str, line: str, tag: str) -> str:
    """``qt/{plant}/{line}/cmd/{tag}``."""
    return f"{TOPIC_ROOT}/{plant}/{line}/cmd/{tag}"


def ack_topic(plant: str, line: str, tag: str) -> str:
    """``qt/{plant}/{line}/ack/{tag}``."""
    return f"{TOPIC_ROOT}/{plant}/{line}/ack/{tag}"


def workorder_topic(plant: str, line: str) -> str:
    """``qt/{plant}/{line}/workorder``."""
    return f"{TOPIC_ROOT}/{plant}/{line}/workorder"


def command_filter(plant: str, line: str = "+") -> str:
    """Subscription filter for every command of a plant's line (all lines by default)."""
    return f"{TOPIC_ROOT}/{plant}/{line}/cmd/#"


def ack_filter(plant: str, line: str = "+") -> str:
    """Subscription filter for every ack of a plant's line (all lines by default)."""
    return f"{TOPIC_ROOT}/{plant}/{line}/ack/#"
