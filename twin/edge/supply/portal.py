"""The OEM side of the supplier portal: topics, payloads, and the receiver in front of the semantic layer.

Suppliers publish over MQTT (or any carrier of ``(topic, payload)`` pairs), one message per
field and lot, in their own names and units, and close each lot with a lot record:

========================================================  =============================================
topic                                                      payload (JSON, ``schema: qt.supply/1``)
========================================================  =============================================
``quality_twin/supply/<supplier>/<field>/subgroup``        SPC subgroups of one lot: ``subgroups`` (m x n)
``quality_twin/supply/<supplier>/<field>/iot``             key-process / site data of one lot: ``value``
``quality_twin/supply/<supplier>/lot``                     the lot record: ``fields`` published for it
``quality_twin/supply/<supplier>/event``                   maintenance and other events: ``event``
========================================================  =============================================

Every payload carries ``schema``, ``seq`` (the supplier's message counter), ``supplier``, ``part``
and ``t_h`` (hours); field messages add ``lot``, ``field``, ``unit`` and ``definition`` as the
supplier says them. ``<field>`` is the supplier's own name (``RUNOUT_UM``), never the canonical one:
mapping names and units is the semantic layer's job (:mod:`twin.edge.supply.semantic`).

:class:`PortalReceiver` takes every ``(topic, payload)`` (counting it), and on :meth:`flush`
decodes them in a fixed order (so arrival order over a broker cannot change a run), rejects and
names what it cannot trust — a **malformed** payload (not JSON, missing or extra keys, non-finite
numbers, ragged subgroups, a topic that disagrees with its payload), a message from an unknown
supplier, and a message whose unit or definition deviates from the field's declared contract
(``message_unit`` / ``message_definition``; also reported to the semantic layer) — and releases
one record per lot whose lot record has arrived, with the fields that passed.

>>> from twin.edge.supply.semantic import Definition, SemanticLayer
>>> layer = SemanticLayer({"disc.runout": Definition(unit="mm")})
>>> claims = {"brakeco": {"RO_UM": {"canonical": "disc.runout", "unit": "micrometer", "definition": ""}}}
>>> rx = PortalReceiver(claims, layer)
>>> head = {"schema": SCHEMA, "supplier": "brakeco", "part": "disc", "lot": "L1", "t_h": 24.0}
>>> rx.accept(topic("brakeco", "RO_UM", "subgroup"), encode({**head, "seq": 0, "field": "RO_UM",
...     "unit": "micrometer", "definition": "", "subgroups": [[20.0, 21.0]]}))
>>> rx.accept(topic("brakeco", "RO_UM", "subgroup"), b'{"schema": "qt.supply/1", "seq": 1, "supp')
>>> rx.accept(topic("brakeco", kind="lot"), encode({**head, "seq": 2, "fields": ["RO_UM"]}))
>>> [(r["lot"], r["fields"]) for r in rx.flush()]
[('L1', {'RO_UM': [[20.0, 21.0]]})]
>>> [(r["field"], r["kind"]) for r in rx.rejected], dict(rx.received)
([('RO_UM', 'malformed')], {'brakeco': 3})
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from twin.edge.supply.semantic import SemanticLayer
from twin.edge.supply.sparkplug import SupplierSparkplug, births_first, supplier_of

PREFIX = "quality_twin/supply"
SCHEMA = "qt.supply/1"
FIELD_KINDS = ("subgroup", "iot")
SUBSCRIPTION = f"{PREFIX}/#"

Finite = Annotated[float, Field(allow_inf_nan=False)]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_: Literal["qt.supply/1"] = Field(alias="schema")
    seq: int = Field(ge=0)
    supplier: str
    part: str
    t_h: Finite


class EventMessage(_Message):
    """``.../event``: a supplier event (maintenance)."""

    event: str


class LotMessage(_Message):
    """``.../lot``: closes a lot; names the fields published for it."""

    lot: str
    fields: list[str]


class _FieldMessage(_Message):
    lot: str
    field: str
    unit: str
    definition: str = ""


class SubgroupMessage(_FieldMessage):
    """``.../<field>/subgroup``: a lot's SPC subgroups in the supplier's unit."""

    subgroups: list[list[Finite]] = Field(min_length=1)

    @field_validator("subgroups")
    @classmethod
    def _rectangular(cls, groups: list[list[float]]) -> list[list[float]]:
        sizes = {len(g) for g in groups}
        if len(sizes) != 1 or 0 in sizes:
            raise ValueError(f"subgroups must be non-empty and of one size, got sizes {sorted(sizes)}")
        return groups


class IotMessage(_FieldMessage):
    """``.../<field>/iot``: one key-process or site value for a lot, in the supplier's unit."""

    value: Finite


def topic(supplier: str, field: str | None = None, kind: str = "subgroup") -> str:
    """The topic of a supplier's message: a field's ``subgroup``/``iot`` topic, or ``lot``/``event``."""
    if field is None:
        if kind not in ("lot", "event"):
            raise ValueError(f"a topic without a field is 'lot' or 'event', not {kind!r}")
        return f"{PREFIX}/{supplier}/{kind}"
    if kind not in FIELD_KINDS:
        raise ValueError(f"a field topic ends in one of {FIELD_KINDS}, not {kind!r}")
    return f"{PREFIX}/{supplier}/{field}/{kind}"


def parse_topic(name: str) -> tuple[str, str | None, str] | None:
    """``(supplier, field or None, kind)`` of a portal topic, None when it is not one."""
    if not name.startswith(PREFIX + "/"):
        return None
    parts = name[len(PREFIX) + 1:].split("/")
    if len(parts) == 2 and parts[0] and parts[1] in ("lot", "event"):
        return parts[0], None, parts[1]
    if len(parts) == 3 and parts[0] and parts[1] and parts[2] in FIELD_KINDS:
        return parts[0], parts[1], parts[2]
    return None


def encode(payload: dict[str, Any]) -> bytes:
    """A payload as the portal sends it: compact UTF-8 JSON (floats round-trip exactly)."""
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()


MODELS: dict[str, type[_Message]] = {"subgroup": SubgroupMessage, "iot": IotMessage, "lot": LotMessage,
                                     "event": EventMessage}


class PortalReceiver:
    """Counts, decodes and checks portal messages; releases lot records for the OEM stack."""

    def __init__(self, claims: dict[str, dict[str, dict[str, Any]]], semantic: SemanticLayer) -> None:
        self.claims = claims
        self.semantic = semantic
        self.received: Counter[str] = Counter()
        self.rejected: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.lots_released = 0
        self._raw: list[tuple[str, bytes]] = []
        self.sparkplug = SupplierSparkplug()  # supplier IoT data as Sparkplug B (twin.edge.supply.sparkplug)
        self._fields: dict[tuple[str, str], dict[str, Any]] = {}
        self._lots: list[LotMessage] = []

    def accept(self, name: str, payload: bytes) -> None:
        """Take one message off the wire (counted at once, decoded at the next :meth:`flush`)."""
        where = parse_topic(name)
        self.received[where[0] if where else (supplier_of(name) or "?")] += 1
        self._raw.append((name, bytes(payload)))

    @property
    def total_received(self) -> int:
        """Messages taken so far, every topic."""
        return sum(self.received.values())

    def flush(self) -> list[dict[str, Any]]:
        """Decode what arrived since the last flush; the lot records now complete, oldest first."""
        raw, self._raw = sorted(self._raw), []
        documents = [(n, p) for n, p in raw if supplier_of(n) is None]
        for name, payload in births_first([(n, p) for n, p in raw if supplier_of(n) is not None]):
            documents += self._from_sparkplug(name, payload)
        for name, payload in sorted(documents):
            self._decode(name, payload)
        ready, self._lots = sorted(self._lots, key=lambda m: (m.t_h, m.supplier, m.seq)), []
        records = []
        for lot in ready:
            fields = {}
            for name in lot.fields:
                value = self._fields.pop((lot.supplier, f"{lot.lot}/{name}"), None)
                if value is not None:
                    fields[name] = value
            records.append({"supplier": lot.supplier, "part": lot.part, "kind": "lot_data", "lot": lot.lot,
                            "t_h": lot.t_h, "seq": lot.seq, "fields": fields})
        self.lots_released += len(records)
        return records

    def summary(self) -> dict[str, Any]:
        """What the report shows: counts per supplier, rejected messages, released lots."""
        return {"received": dict(sorted(self.received.items())), "lots": self.lots_released,
                "events": len(self.events), "fields_without_lot_record": len(self._fields),
                "rejected": list(self.rejected)}

    # ---- decoding ----------------------------------------------------------------------
    def _from_sparkplug(self, name: str, payload: bytes) -> list[tuple[str, bytes]]:
        """The JSON ``iot`` messages a supplier's Sparkplug message stands for; what is wrong, rejected."""
        messages, problems = self.sparkplug.translate(name, payload)
        supplier = supplier_of(name) or "?"
        for problem in problems:
            self._reject(name, supplier, None, None, "malformed", problem)
        return [(topic(supplier, m["field"], "iot"), encode({"schema": SCHEMA, **m})) for m in messages]

    def _decode(self, name: str, payload: bytes) -> None:
        where = parse_topic(name)
        if where is None:
            self._reject(name, "?", None, None, "topic", f"not a portal topic (expected {PREFIX}/<supplier>/...)")
            return
        supplier, field, kind = where
        try:
            document = json.loads(payload.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            self._reject(name, supplier, field, None, "malformed", f"payload is not JSON ({err})")
            return
        seq = document.get("seq") if isinstance(document, dict) else None
        seq = seq if isinstance(seq, int) else None
        try:
            message = MODELS[kind].model_validate(document)
        except ValidationError as err:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'payload'}: {e['msg']}" for e in err.errors())
            self._reject(name, supplier, field, seq, "malformed", problems)
            return
        if message.supplier != supplier or (field is not None and getattr(message, "field", None) != field):
            said = f"{message.supplier}/{getattr(message, 'field', '')}".rstrip("/")
            self._reject(name, supplier, field, seq, "malformed", f"topic names {supplier}/{field or ''}".rstrip("/")
                         + f", payload says {said}")
            return
        if supplier not in self.claims:
            self._reject(name, supplier, field, seq, "unknown_supplier",
                         f"{supplier!r} is not a supplier of this OEM; known: {sorted(self.claims)}")
            return
        if isinstance(message, EventMessage):
            self.events.append(message.model_dump(by_alias=True))
        elif isinstance(message, LotMessage):
            self._lots.append(message)
        elif self._honours_contract(name, message):
            value = message.subgroups if isinstance(message, SubgroupMessage) else message.value  # type: ignore[union-attr]
            self._fields[(supplier, f"{message.lot}/{message.field}")] = value  # type: ignore[union-attr]

    def _honours_contract(self, name: str, message: Any) -> bool:
        """A field message must say the unit and definition its supplier declared for the field."""
        claim = self.claims[message.supplier].get(message.field)
        if claim is None:  # never declared: the semantic layer names it when the record is mapped
            return True
        checks = (("message_unit", message.unit.strip(), str(claim["unit"]).strip()),
                  ("message_definition", _words(message.definition), _words(claim.get("definition", ""))))
        for kind, said, declared in checks:
            if said != declared:
                detail = (f"message {message.seq} of {message.supplier} says {kind.split('_')[1]} {said!r} for "
                          f"{message.field}, declared {declared!r}; not merged")
                self._reject(name, message.supplier, message.field, message.seq, kind, detail)
                self.semantic.report(message.supplier, message.field, claim["canonical"], kind, detail)
                return False
        return True

    def _reject(self, name: str, supplier: str, field: str | None, seq: int | None, kind: str, detail: str) -> None:
        self.rejected.append({"topic": name, "supplier": supplier, "field": field, "seq": seq, "kind": kind,
                              "detail": detail})


def _words(text: Any) -> str:
    return " ".join(str(text or "").lower().split())
