"""The MQTT topics the Command, Ack and WorkOrder contracts (:mod:`twin.contracts.messages`) travel on.

Topic layout (one tree per plant and line; ``{tag}`` is the full dotted tag name)::

    qt/{plant}/{line}/cmd/{tag}     Command    edge → bridge   QoS 1
    qt/{plant}/{line}/ack/{tag}     Ack        bridge → edge   QoS 1
    qt/{plant}/{line}/workorder     WorkOrder  edge → maintenance systems   QoS 1

Payloads are UTF-8 JSON of those models.

>>> command_topic("coater", "line1", "coater.coolant.valve.command")
'qt/coater/line1/cmd/coater.coolant.valve.command'
"""

from __future__ import annotations

from twin.contracts.enums import AckStatus

TOPIC_ROOT = "qt"
ACK_STATUSES: tuple[str, ...] = tuple(AckStatus)


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
