"""The MQTT topics the Command, Ack and WorkOrder contracts (:mod:`twin.contracts.messages`) travel on.

Topic layout (one tree per plant and line; ``{tag}`` is the full dotted tag name)::

    qt/{plant}/{line}/cmd/{tag}     Command    edge → bridge   QoS 1
    qt/{plant}/{line}/ack/{tag}     Ack        bridge → edge   QoS 1
    qt/{plant}/{line}/workorder     WorkOrder  edge → maintenance systems   QoS 1

Payloads are UTF-8 JSON of those models.

**Signed commands.** Every command carries an unpredictable id (:func:`new_id`), a random
``nonce`` (:func:`new_nonce`) and a ``signature``: HMAC-SHA256 under the line's command secret
(:class:`twin.edge.keys.LineKeys`) over :func:`signing_bytes`, the canonical JSON of the command
without its signature (:func:`twin.edge.ledger.canonical_json`). The bridge refuses a command whose
signature does not verify (:func:`signature_valid`), so changing any field — value, bounds, expiry,
kind, the command a rollback undoes — needs the secret.

>>> command_topic("coater", "line1", "coater.coolant.valve.command")
'qt/coater/line1/cmd/coater.coolant.valve.command'
>>> from twin.contracts import Command
>>> from twin.edge.keys import generate_keys
>>> keys = generate_keys("line1")
>>> c = sign(Command(id=new_id("c", 1), plant="coater", line="line1", tag="coater.coolant.valve.command",
...                  value=66.0, low=0, high=100, reason="test", issued_t_ms=0, expires_t_ms=10_000,
...                  nonce=new_nonce()), keys)
>>> signature_valid(c, keys), signature_valid(c.model_copy(update={"value": 90.0}), keys)
(True, False)
>>> signature_valid(c, generate_keys("line1"))  # another line's (or a guessed) key
False
"""

from __future__ import annotations

import secrets

from twin.contracts import Command
from twin.contracts.enums import AckStatus
from twin.edge.keys import LineKeys
from twin.edge.ledger import canonical_json

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


def new_id(prefix: str, seq: int) -> str:
    """A command or work-order id: ``{prefix}{seq:04d}-{16 random hex digits}`` (readable, not guessable)."""
    return f"{prefix}{seq:04d}-{secrets.token_hex(8)}"


def new_nonce() -> str:
    """A fresh random nonce (128 bits, hex)."""
    return secrets.token_hex(16)


def signing_bytes(command: Command) -> bytes:
    """What a command's signature covers: the canonical JSON of every field but ``signature``."""
    return canonical_json(command.model_dump(mode="json", exclude={"signature"})).encode("utf-8")


def sign(command: Command, keys: LineKeys) -> Command:
    """``command`` with its ``signature`` set under ``keys``' command secret."""
    return command.model_copy(update={"signature": keys.sign_command(signing_bytes(command))})


def signature_valid(command: Command, keys: LineKeys) -> bool:
    """True when ``command`` carries a signature made with ``keys``' command secret over its other fields."""
    return bool(command.signature) and keys.verify_command(signing_bytes(command), command.signature)
