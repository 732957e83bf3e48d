"""Supplier IoT data as Sparkplug B: each supplier an edge node of group ``supply``, each part a device.

A supplier whose gateway speaks Sparkplug B (Ignition, a Cirrus Link module, any Tahu client) publishes its
key-process and site values — the portal's ``.../<field>/iot`` messages — as Sparkplug instead of JSON:

=================================================  ===============================================================
topic                                              payload (Sparkplug B protobuf)
=================================================  ===============================================================
``spBv1.0/supply/NBIRTH/<supplier>``               ``bdSeq``: a new session (the supplier's births start again)
``spBv1.0/supply/DBIRTH/<supplier>/<part>``        one metric per IoT field the supplier publishes for the part:
                                                   its own name, an alias, its datatype, properties ``engUnit``
                                                   (the unit it sends) and ``definition``
``spBv1.0/supply/DDATA/<supplier>/<part>``         one or more lots' values, each metric by alias (or name), with
                                                   properties ``lot`` (String), ``t_h`` (Double, hours) and
                                                   ``seq`` (UInt64, the supplier's message counter); ``engUnit``
                                                   when a value is sent in another unit than the birth says
=================================================  ===============================================================

:class:`SupplierSparkplug` (inside :class:`~twin.edge.supply.portal.PortalReceiver`) follows the births and
turns each DDATA metric into exactly the JSON message the supplier would have sent on the portal's own topic,
so the same checks apply from there on — schema, supplier, the declared unit and definition (the contract),
the semantic layer's mapping to canonical names and units. A metric without ``lot``, ``t_h`` or ``seq`` comes
out without them and the portal names what is missing; a payload that is not Sparkplug B, or a metric whose
alias no birth declared, is rejected as ``malformed`` with the topic. Lot records (which close a lot) and SPC
subgroups stay documents on the JSON topics: Sparkplug carries telemetry.

>>> births = birth_messages("brakeco", "disc", {"SPINDLE_C": ("degC", "spindle temperature")}, t_ms=0)
>>> wire = data_message("brakeco", "disc", [(1, 41.5, {"lot": "L1", "t_h": 24.0, "seq": 7})], t_ms=0, seq=2)
>>> decoder = SupplierSparkplug()
>>> for name, raw in births:
...     _ = decoder.translate(name, raw)
>>> [(m["field"], m["lot"], m["value"], m["unit"]) for m in decoder.translate(*wire)[0]]
[('SPINDLE_C', 'L1', 41.5, 'degC')]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import DecodeError

from twin.edge.sparkplug.payloads import BD_SEQ, add_metric, new_payload
from twin.edge.sparkplug.schema import DataType, Payload
from twin.edge.sparkplug.topics import NAMESPACE, Topic
from twin.edge.sparkplug.values import UNIT, get_value, properties_of

SUPPLY_GROUP = "supply"
SUBSCRIPTION = f"{NAMESPACE}/{SUPPLY_GROUP}/#"
LOT, T_H, SEQ, DEFINITION = "lot", "t_h", "seq", "definition"
BIRTHS = ("NBIRTH", "DBIRTH")


def supplier_of(name: str) -> str | None:
    """The supplier (edge node id) of a Sparkplug topic of the supply group, None for any other topic."""
    try:
        where = Topic.parse(name)
    except ValueError:
        return None
    return where.edge_node if where.group == SUPPLY_GROUP else None


def birth_messages(supplier: str, part: str, fields: dict[str, tuple[str, str]], *, t_ms: int,
                   bd_seq: int = 0) -> list[tuple[str, bytes]]:
    """A supplier's ``NBIRTH`` and the ``DBIRTH`` of ``part`` declaring ``fields`` (name -> (unit, definition)),
    aliases 1, 2, ... in that order."""
    node = new_payload(t_ms, 0)
    add_metric(node, name=BD_SEQ, datatype=DataType.UINT64, value=bd_seq)
    device = new_payload(t_ms, 1)
    for alias, (name, (unit, definition)) in enumerate(fields.items(), 1):
        add_metric(device, name=name, alias=alias, datatype=DataType.DOUBLE, value=None, timestamp=t_ms,
                   properties={UNIT: (DataType.STRING, unit), DEFINITION: (DataType.STRING, definition)})
    return [(str(Topic(SUPPLY_GROUP, "NBIRTH", supplier)), node.SerializeToString()),
            (str(Topic(SUPPLY_GROUP, "DBIRTH", supplier, part)), device.SerializeToString())]


def data_message(supplier: str, part: str, values: list[tuple[int, float, dict[str, Any]]], *, t_ms: int,
                 seq: int) -> tuple[str, bytes]:
    """A ``DDATA`` of ``part``: (alias, value, properties) per metric; properties ``lot``, ``t_h``, ``seq`` and,
    optionally, ``engUnit``."""
    kinds = {LOT: DataType.STRING, T_H: DataType.DOUBLE, SEQ: DataType.UINT64, UNIT: DataType.STRING}
    payload = new_payload(t_ms, seq % 256)
    for alias, value, props in values:
        add_metric(payload, alias=alias, datatype=DataType.DOUBLE, value=value, timestamp=t_ms,
                   properties={k: (kinds[k], v) for k, v in props.items()})
    return str(Topic(SUPPLY_GROUP, "DDATA", supplier, part)), payload.SerializeToString()


@dataclass(frozen=True)
class BornMetric:
    """One metric as a ``DBIRTH`` declared it."""

    name: str
    datatype: DataType
    unit: str
    definition: str


@dataclass
class SupplierSparkplug:
    """Follows the suppliers' births; turns their ``DDATA`` into the portal's JSON ``iot`` messages."""

    group: str = SUPPLY_GROUP
    births: dict[tuple[str, str], dict[int | str, BornMetric]] = field(default_factory=dict)  # (supplier, part)

    def translate(self, name: str, raw: bytes) -> tuple[list[dict[str, Any]], list[str]]:
        """The portal ``iot`` messages (JSON-ready, without ``schema``) a Sparkplug message stands for, and what
        was wrong with it (one line each). Births and deaths stand for none: they update what it knows."""
        where = Topic.parse(name)
        try:
            payload = Payload.FromString(raw)
        except DecodeError as err:
            return [], [f"not a Sparkplug B payload ({err})"]
        supplier, part = where.edge_node, where.device or ""
        if where.kind == "NBIRTH":
            for key in [k for k in self.births if k[0] == supplier]:
                del self.births[key]
        elif where.kind == "DBIRTH":
            self.births[(supplier, part)] = self._declared(payload)
        elif where.kind == "DDATA":
            return self._data(supplier, part, payload)
        return [], []

    @staticmethod
    def _declared(payload: Any) -> dict[int | str, BornMetric]:
        declared: dict[int | str, BornMetric] = {}
        for metric in payload.metrics:
            props = properties_of(metric)
            born = BornMetric(metric.name, DataType(metric.datatype), str(props.get(UNIT) or ""),
                              str(props.get(DEFINITION) or ""))
            declared[metric.name] = born
            if metric.HasField("alias"):
                declared[int(metric.alias)] = born
        return declared

    def _data(self, supplier: str, part: str, payload: Any) -> tuple[list[dict[str, Any]], list[str]]:
        born = self.births.get((supplier, part))
        if born is None:
            return [], [f"DDATA of {supplier}/{part} before its DBIRTH: nothing says what its metrics are"]
        out, problems = [], []
        for metric in payload.metrics:
            key: int | str = metric.name if metric.name else int(metric.alias)
            declared = born.get(key)
            if declared is None:
                problems.append(f"metric {key!r} of {supplier}/{part} is not in its DBIRTH")
                continue
            props = properties_of(metric)
            message: dict[str, Any] = {"supplier": supplier, "part": part}  # the JSON topics' key order
            if props.get(T_H) is not None:
                message["t_h"] = props[T_H]
            if props.get(SEQ) is not None:
                message["seq"] = int(props[SEQ])  # type: ignore[arg-type]
            if props.get(LOT) is not None:
                message["lot"] = props[LOT]
            message.update({"field": declared.name, "unit": str(props.get(UNIT) or declared.unit),
                            "definition": declared.definition, "value": get_value(metric, declared.datatype)})
            out.append(message)
        return out, problems


def births_first(messages: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """Sparkplug messages in the order a decoder needs them: NBIRTHs, DBIRTHs, then the rest (each group in the
    given order)."""
    def rank(item: tuple[str, bytes]) -> int:
        kind = item[0].split("/")[2] if item[0].count("/") >= 3 else ""
        return BIRTHS.index(kind) if kind in BIRTHS else len(BIRTHS)
    return sorted(messages, key=rank)
