"""Sparkplug B topics: ``spBv1.0/<group>/<type>/<edge node>[/<device>]`` and ``spBv1.0/STATE/<host id>``.

>>> t = Topic.parse("spBv1.0/line1/DDATA/edge7/plc-a")
>>> t.group, t.kind, t.edge_node, t.device
('line1', 'DDATA', 'edge7', 'plc-a')
>>> str(Topic("line1", "NBIRTH", "edge7"))
'spBv1.0/line1/NBIRTH/edge7'
>>> Topic.parse("spBv1.0/line1/XDATA/edge7")
Traceback (most recent call last):
...
ValueError: Sparkplug topic 'spBv1.0/line1/XDATA/edge7': unknown message type 'XDATA'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from twin.edge.bridge.brokers import TopicAcl

NAMESPACE = "spBv1.0"
NODE_KINDS = frozenset({"NBIRTH", "NDEATH", "NDATA", "NCMD"})
DEVICE_KINDS = frozenset({"DBIRTH", "DDEATH", "DDATA", "DCMD"})
_ID = re.compile(r"^[^/+#]+$")  # group, edge node, device and host ids: no level separator, no wildcard


def check_id(value: str, what: str) -> str:
    """``value`` if a valid Sparkplug id (non-empty, no ``/``, ``+``, ``#``); else ValueError naming ``what``."""
    if not _ID.match(value):
        raise ValueError(f"{what} {value!r} must be non-empty without '/', '+' or '#'")
    return value


@dataclass(frozen=True)
class Topic:
    """One Sparkplug B topic of an edge node (``device`` None) or one of its devices."""

    group: str
    kind: str
    edge_node: str
    device: str | None = None

    def __str__(self) -> str:
        tail = f"/{self.device}" if self.device is not None else ""
        return f"{NAMESPACE}/{self.group}/{self.kind}/{self.edge_node}{tail}"

    @classmethod
    def parse(cls, text: str) -> Topic:
        """The topic ``text`` names; ValueError naming the topic when it is not a Sparkplug B edge topic."""
        parts = text.split("/")
        if len(parts) not in (4, 5) or parts[0] != NAMESPACE:
            raise ValueError(f"Sparkplug topic {text!r}: expected {NAMESPACE}/GROUP/TYPE/EDGE_NODE[/DEVICE]")
        kind = parts[2]
        if kind not in NODE_KINDS | DEVICE_KINDS:
            raise ValueError(f"Sparkplug topic {text!r}: unknown message type {kind!r}")
        if (len(parts) == 5) != (kind in DEVICE_KINDS):
            raise ValueError(f"Sparkplug topic {text!r}: {kind} " + ("needs" if kind in DEVICE_KINDS else "takes no")
                             + " device id")
        return cls(parts[1], kind, parts[3], parts[4] if len(parts) == 5 else None)


def state_topic(host_id: str) -> str:
    """The topic of a primary host application's STATE (Sparkplug 3.0)."""
    return f"{NAMESPACE}/STATE/{check_id(host_id, 'host id')}"


def parse_node_id(text: str) -> tuple[str, str]:
    """``GROUP/EDGE_NODE`` as (group, edge node); ValueError naming the text when malformed.

    >>> parse_node_id("line1/edge7")
    ('line1', 'edge7')
    """
    group, sep, node = text.partition("/")
    if not sep:
        raise ValueError(f"Sparkplug node {text!r} must be GROUP/EDGE_NODE")
    return check_id(group, "Sparkplug group id"), check_id(node, "Sparkplug edge node id")


def sparkplug_acl(group: str, edge_node: str, *, node_user: str, host_user: str | None = None,
                  host_id: str | None = None) -> TopicAcl:
    """Broker grants for one edge node's account (its own topics; commands to it; hosts' STATE) and, with
    ``host_user``, a host reading the group, commanding its nodes and publishing its own STATE.

    >>> print(sparkplug_acl("g", "e", node_user="n").mosquitto().splitlines()[1])
    topic read spBv1.0/g/NCMD/e
    """
    base = f"{NAMESPACE}/{group}"
    acl = TopicAcl.grant(node_user,
                         read=(f"{base}/NCMD/{edge_node}", f"{base}/DCMD/{edge_node}/+", f"{NAMESPACE}/STATE/+"),
                         write=tuple(f"{base}/{k}/{edge_node}" for k in ("NBIRTH", "NDEATH", "NDATA"))
                         + tuple(f"{base}/{k}/{edge_node}/+" for k in ("DBIRTH", "DDEATH", "DDATA")))
    if host_user is not None:
        acl = acl | TopicAcl.grant(host_user, read=(f"{base}/#", f"{NAMESPACE}/STATE/+"),
                                   write=(f"{base}/NCMD/+", f"{base}/DCMD/+/+")
                                   + ((state_topic(host_id),) if host_id is not None else ()))
    return acl
