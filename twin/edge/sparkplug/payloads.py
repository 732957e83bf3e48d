"""Building Sparkplug B payloads: metrics with values and properties, the rebirth command, a host's STATE.

>>> p = Payload.FromString(rebirth_command(1000))
>>> p.metrics[0].name, p.metrics[0].boolean_value
('Node Control/Rebirth', True)
>>> state_payload(True, 5)
b'{"online": true, "timestamp": 5}'
"""

from __future__ import annotations

import json
from typing import Any

from twin.edge.sparkplug.schema import DataType, Payload
from twin.edge.sparkplug.values import set_properties, set_value

REBIRTH = "Node Control/Rebirth"
BD_SEQ = "bdSeq"


def add_metric(payload: Any, *, datatype: DataType, value: Any, name: str | None = None, alias: int | None = None,
               timestamp: int | None = None, with_datatype: bool = True,
               properties: dict[str, tuple[DataType, Any]] | None = None) -> Any:
    """Append one metric to ``payload`` and return it. Births name every metric and give its datatype; data
    messages may send the alias alone (``name`` None, ``with_datatype`` False)."""
    metric = payload.metrics.add()
    if name is not None:
        metric.name = name
    if alias is not None:
        metric.alias = alias
    if timestamp is not None:
        metric.timestamp = timestamp
    if with_datatype:
        metric.datatype = int(datatype)
    set_value(metric, datatype, value)
    if properties:
        set_properties(metric, properties)
    return metric


def new_payload(timestamp: int, seq: int | None = None) -> Any:
    """An empty payload at ``timestamp`` (ms since the epoch, UTC), with ``seq`` unless None (NDEATH, commands)."""
    payload = Payload(timestamp=timestamp)
    if seq is not None:
        payload.seq = seq
    return payload


def rebirth_command(timestamp: int) -> bytes:
    """An ``NCMD`` asking an edge node to publish its births again."""
    payload = new_payload(timestamp)
    add_metric(payload, name=REBIRTH, datatype=DataType.BOOLEAN, value=True)
    return payload.SerializeToString()


def death_certificate(timestamp: int, bd_seq: int) -> bytes:
    """An ``NDEATH`` payload carrying ``bdSeq`` (it must match the NBIRTH of the same session)."""
    payload = new_payload(timestamp)
    add_metric(payload, name=BD_SEQ, datatype=DataType.UINT64, value=bd_seq)
    return payload.SerializeToString()


def state_payload(online: bool, timestamp: int) -> bytes:
    """A primary host application's STATE (Sparkplug 3.0: JSON ``{"online": ..., "timestamp": ...}``)."""
    return json.dumps({"online": online, "timestamp": timestamp}).encode()


def parse_state(raw: bytes) -> bool | None:
    """``online`` of a STATE payload; None when it is not one (not JSON, no boolean ``online``).

    >>> parse_state(b'{"online": false, "timestamp": 1}'), parse_state(b"ONLINE")
    (False, None)
    """
    try:
        doc = json.loads(raw)
    except ValueError:
        return None
    online = doc.get("online") if isinstance(doc, dict) else None
    return online if isinstance(online, bool) else None
