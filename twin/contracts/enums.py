"""The enums the layers share. Each is a :class:`enum.StrEnum`: a member equals its string, so a YAML
file, a CLI flag and a JSON report carry the plain value.

>>> Policy("auto") is Policy.AUTO, Policy.AUTO == "auto"
(True, True)
>>> choices(Policy)
'off, recommend or auto'
"""

from __future__ import annotations

from enum import StrEnum


class Policy(StrEnum):
    """Closed-loop control: ``off`` logs only, ``recommend`` waits for an operator, ``auto`` acts."""

    OFF = "off"
    RECOMMEND = "recommend"
    AUTO = "auto"


class Mode(StrEnum):
    """How an episode advances: lockstep over real sockets, or offline on the process image."""

    LOCKSTEP = "lockstep"
    OFFLINE = "offline"


class Backend(StrEnum):
    """Where many episodes run: in this process, a local process pool, or a Ray cluster."""

    SERIAL = "serial"
    POOL = "pool"
    RAY = "ray"


class AckStatus(StrEnum):
    """What the PLC bridge answered to a command."""

    APPLIED = "applied"
    REFUSED = "refused"
    FAILED = "failed"
    EXPIRED = "expired"


class CommandKind(StrEnum):
    """A correction the loop proposed, or the rollback of one that made things worse."""

    CORRECTION = "correction"
    ROLLBACK = "rollback"


class CandidateKind(StrEnum):
    """A diagnosis candidate: the process (an asset), or the instrument measuring it."""

    PROCESS = "process"
    SENSOR = "sensor"


class AlarmState(StrEnum):
    """ISA-18.2 alarm states."""

    NORMAL = "normal"
    UNACK_ACTIVE = "unack_active"
    ACK_ACTIVE = "ack_active"
    UNACK_RTN = "unack_rtn"
    SHELVED = "shelved"


def choices(enum: type[StrEnum]) -> str:
    """The values of ``enum`` as a phrase for error messages: ``a, b or c``."""
    values = [m.value for m in enum]
    return values[0] if len(values) == 1 else f"{', '.join(values[:-1])} or {values[-1]}"
