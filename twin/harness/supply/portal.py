"""The supplier portal on the wire: suppliers publish over MQTT (or in-process), the OEM receives.

The suppliers' side (:class:`SupplierPublisher`) turns what a supplier publishes
(``supply_chain_sim.flow`` portal messages) into the topics and JSON payloads of
:mod:`twin.edge.supply.portal`, numbering each supplier's messages and truncating the ones
its scenario marks corrupt (``Supplier.corrupt_messages``). A transport carries the pairs to the
OEM's :class:`~twin.edge.supply.portal.PortalReceiver`:

- :class:`MqttPortal`: one paho-mqtt client per supplier and one for the OEM (``twin.edge.bridge.mqtt``,
  QoS 1) on a real broker — the in-process amqtt broker started for the run by default, or Mosquitto,
  either with one account per supplier (random passwords) and an ACL that lets each write only its
  own topics (:func:`portal_acl`) — or a broker the caller started. The run stays in lockstep: after each
  batch the chain waits (bounded by ``timeout_s``) until the OEM client has every message, so
  the OEM acts at the same simulated moment as in-process and a seed gives one episode.
- :class:`InProcessPortal`: the same bytes handed over directly (the benchmark's fast path).

With ``portal.iot: sparkplug`` the suppliers send their IoT values as Sparkplug B instead (each supplier an
edge node of group ``supply``, its part a device: births once, then a ``DDATA`` per field and lot;
:mod:`twin.edge.supply.sparkplug`); the OEM's receiver turns them back into the same messages, so a seed
gives the same lots, checks and report either way.

Nothing is lost silently: the publisher counts what each supplier sent, the receiver what it got;
:meth:`Transport.check` raises :class:`PortalError` naming the suppliers whose counts differ.
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from supply_chain_sim.spec import Chain
from twin.edge.bridge.brokers import EmbeddedBroker, MosquittoBroker, TopicAcl
from twin.edge.bridge.mqtt import BrokerAddress, MqttLink
from twin.edge.sparkplug.topics import sparkplug_acl
from twin.edge.supply import sparkplug
from twin.edge.supply.portal import PREFIX, SCHEMA, SUBSCRIPTION, PortalReceiver, encode, topic

OEM_USER = "oem"
Wire = tuple[str, str, bytes]  # supplier, topic, payload


class PortalSettings(BaseModel):
    """How supplier data reach the OEM (scenario ``portal:``)."""

    model_config = ConfigDict(extra="forbid")

    transport: Literal["mqtt", "inprocess"] = Field(default="mqtt", description="mqtt: over a real broker on "
                                                    "127.0.0.1; inprocess: the same payloads handed over directly")
    broker: Literal["embedded", "mosquitto"] = Field(default="embedded", description="the broker a run starts when "
                                                     "none is given: amqtt in-process, or a mosquitto child process")
    timeout_s: float = Field(default=10.0, gt=0, description="longest wait for one batch of messages to arrive")
    iot: Literal["json", "sparkplug"] = Field(default="json", description="how suppliers send IoT values: json on "
                                              "the portal's topics, or sparkplug (Sparkplug B, group supply)")


class PortalError(RuntimeError):
    """Supplier messages went missing or the broker failed; the message names who and how many."""


class Accounts(Protocol):
    """A running broker seen by its clients: the address under one account."""

    def account(self, user: str) -> BrokerAddress:
        """The broker's address with ``user``'s credentials."""
        ...


class SupplierPublisher:
    """Encodes each supplier's portal messages as topics and payloads, counting them.

    ``seq`` numbers each supplier's portal messages (fields, lot records, events) the same way whatever
    carries them; ``published`` counts wire messages (with ``iot`` sparkplug, the births too)."""

    def __init__(self, chain: Chain, iot: str = "json") -> None:
        self.suppliers = {s.name: s for s in chain.suppliers}
        self.iot = iot
        self.published: Counter[str] = Counter()
        self.seq: Counter[str] = Counter()
        self.corrupted: list[dict[str, Any]] = []
        self._aliases: dict[str, dict[str, int]] = {}  # supplier -> IoT field -> Sparkplug alias, once born
        self._sparkplug_seq: Counter[str] = Counter()  # each supplier's Sparkplug messages (births: 0 and 1)

    def encode(self, message: dict[str, Any]) -> list[Wire]:
        """The wire messages of one ``SupplyChain.on_publish`` message (a lot: one per field, then the lot)."""
        name = message["supplier"]
        supplier = self.suppliers[name]
        head = {"schema": SCHEMA, "supplier": name, "part": message["part"], "t_h": message["t_h"]}
        out: list[tuple[str, dict[str, Any]]] = []
        if message["kind"] == "lot_data":
            for field, value in message["fields"].items():
                claim = supplier.publishes[field]
                subgroup = claim.canonical == supplier.characteristic.name
                body = {"lot": message["lot"], "field": field, "unit": message["units"][field],
                        "definition": claim.definition, **({"subgroups": value} if subgroup else {"value": value})}
                out.append((topic(name, field, "subgroup" if subgroup else "iot"), body))
            out.append((topic(name, kind="lot"), {"lot": message["lot"], "fields": list(message["fields"])}))
        else:
            out.append((topic(name, kind="event"), {"event": message.get("event", message["kind"])}))
        wire: list[Wire] = []
        for name_, body in out:
            seq = self.seq[name]
            self.seq[name] += 1
            if self.iot == "sparkplug" and "value" in body:
                wire += self._sparkplug(supplier, message, seq, body)
                continue
            payload = encode({**head, "seq": seq, **body})
            wire.append(self._sent(name, seq, name_, payload))
        return wire

    def _sparkplug(self, supplier: Any, message: dict[str, Any], seq: int, body: dict[str, Any]) -> list[Wire]:
        """One IoT value as a Sparkplug ``DDATA`` (after the supplier's births, the first time)."""
        name, part, t_ms = supplier.name, supplier.part, round(message["t_h"] * 3_600_000)  # plant time as ms
        wire = []
        if name not in self._aliases:
            iot = {f: (c.unit, c.definition) for f, c in supplier.publishes.items()
                   if c.canonical != supplier.characteristic.name}
            self._aliases[name] = {f: k for k, f in enumerate(iot, 1)}
            for birth_topic, raw in sparkplug.birth_messages(name, part, iot, t_ms=t_ms):
                self.published[name] += 1
                self._sparkplug_seq[name] += 1
                wire.append((name, birth_topic, raw))
        props = {sparkplug.LOT: body["lot"], sparkplug.T_H: message["t_h"], sparkplug.SEQ: seq}
        if body["unit"] != supplier.publishes[body["field"]].unit:
            props[sparkplug.UNIT] = body["unit"]  # sent in another unit than the birth declares
        data_topic, raw = sparkplug.data_message(name, part, [(self._aliases[name][body["field"]], body["value"],
                                                               props)], t_ms=t_ms, seq=self._sparkplug_seq[name])
        self._sparkplug_seq[name] += 1
        return [*wire, self._sent(name, seq, data_topic, raw)]

    def _sent(self, supplier: str, seq: int, name: str, payload: bytes) -> Wire:
        """Count one wire message; truncate it when the scenario marks its ``seq`` corrupt."""
        if seq in self.suppliers[supplier].corrupt_messages:
            payload = payload[: len(payload) // 2]
            self.corrupted.append({"supplier": supplier, "seq": seq, "topic": name})
        self.published[supplier] += 1
        return supplier, name, payload


class Transport:
    """Carries wire messages from the suppliers to one receiver; checks that none went missing."""

    kind = "inprocess"
    broker_kind: str | None = None

    def __init__(self, receiver: PortalReceiver) -> None:
        self.receiver = receiver
        self.sent: Counter[str] = Counter()

    def deliver(self, batch: list[Wire]) -> None:
        """Send a batch; return once the receiver has taken every message of it."""
        raise NotImplementedError

    def check(self) -> None:
        """Raise :class:`PortalError` unless every message sent was received, per supplier."""
        got = self.receiver.received
        short = {s: (n, got.get(s, 0)) for s, n in self.sent.items() if got.get(s, 0) != n}
        extra = {s: n for s, n in got.items() if s not in self.sent}
        if short or extra:
            lines = [f"{s}: published {a}, received {b}" for s, (a, b) in sorted(short.items())]
            lines += [f"{s}: received {n}, published none" for s, n in sorted(extra.items())]
            raise PortalError(f"supplier portal over {self.kind}: " + "; ".join(lines))

    def summary(self) -> dict[str, Any]:
        """Transport, broker, counts per supplier (published and received) for the report."""
        return {"transport": self.kind, "broker": self.broker_kind, "published": dict(sorted(self.sent.items())),
                "complete": dict(self.sent) == dict(self.receiver.received)}


class InProcessPortal(Transport):
    """The same bytes handed to the receiver directly."""

    def deliver(self, batch: list[Wire]) -> None:
        """Hand every message of ``batch`` to the receiver."""
        for supplier, name, payload in batch:
            self.sent[supplier] += 1
            self.receiver.accept(name, payload)


class MqttPortal(Transport):
    """Suppliers' and OEM's MQTT clients on one broker, driven in lockstep from synchronous code.

    The clients live on an asyncio loop on a thread of their own (``MqttLink`` needs a running
    loop); :meth:`deliver` publishes from the caller's thread and waits on that loop for the
    OEM's client to receive the batch. Use as a context manager.
    """

    kind = "mqtt"

    def __init__(self, receiver: PortalReceiver, broker: Accounts, suppliers: list[str], client_id: str,
                 timeout_s: float = 10.0, broker_kind: str | None = None) -> None:
        super().__init__(receiver)
        self.broker, self.suppliers, self.client_id, self.timeout_s = broker, suppliers, client_id, timeout_s
        self.broker_kind = broker_kind
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._links: dict[str, MqttLink] = {}
        self._oem: MqttLink | None = None

    def __enter__(self) -> MqttPortal:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"portal:{self.client_id}", daemon=True)
        self._thread.start()
        try:
            self._run(self._connect(), self.timeout_s * 2)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._loop is not None and self._thread is not None:
            links = [*self._links.values(), *([self._oem] if self._oem else [])]
            try:
                self._run(_close_all(links), 10.0)
            finally:
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join(10)
                self._loop.close()
        self._loop = self._thread = self._oem = None
        self._links = {}

    async def _connect(self) -> None:
        self._oem = MqttLink(self.broker.account(OEM_USER), f"{self.client_id}-oem")
        await self._oem.connect(self.timeout_s)
        await self._oem.subscribed(SUBSCRIPTION, self.timeout_s)
        await self._oem.subscribed(sparkplug.SUBSCRIPTION, self.timeout_s)
        for name in self.suppliers:
            link = MqttLink(self.broker.account(name), f"{self.client_id}-{name}")
            await link.connect(self.timeout_s)
            self._links[name] = link

    def deliver(self, batch: list[Wire]) -> None:
        """Publish ``batch`` (each message under its supplier's client) and wait until the OEM has it all."""
        if self._oem is None:
            raise PortalError("MqttPortal is not open (use it as a context manager)")
        for supplier, name, payload in batch:
            self._links[supplier].publish(name, payload)
            self.sent[supplier] += 1
        for name, payload in self._run(self._collect(len(batch)), self.timeout_s + 5.0):
            self.receiver.accept(name, payload)

    async def _collect(self, count: int) -> list[tuple[str, bytes]]:
        assert self._oem is not None and self._loop is not None
        deadline = self._loop.time() + self.timeout_s
        items: list[tuple[str, bytes]] = []
        for _ in range(count):  # bounded: one message per expected item, each within the deadline
            remaining = deadline - self._loop.time()
            try:
                items.append(await asyncio.wait_for(self._oem.messages.get(), max(remaining, 0.0)))
            except TimeoutError:
                raise PortalError(f"supplier portal over MQTT ({self._oem.address.host}:{self._oem.address.port}): "
                                  f"{count - len(items)} of {count} messages not received within "
                                  f"{self.timeout_s:g} s (published so far: {dict(self.sent)})") from None
        return items

    def _run(self, coro: Any, timeout_s: float) -> Any:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout_s)


async def _close_all(links: list[MqttLink]) -> None:
    for link in links:
        await link.close()


def portal_acl(suppliers: list[str]) -> TopicAcl:
    """The portal's broker ACL (both brokers): each supplier writes only under its own name; the OEM reads
    the whole portal."""
    acl = TopicAcl.grant(OEM_USER, read=(SUBSCRIPTION, sparkplug.SUBSCRIPTION))
    for name in suppliers:
        acl = acl | TopicAcl.grant(name, write=(f"{PREFIX}/{name}/#",))
        acl = acl | sparkplug_acl(sparkplug.SUPPLY_GROUP, name, node_user=name)  # as edge node supply/<name>
    return acl


@contextmanager
def run_broker(kind: str, suppliers: list[str]) -> Iterator[tuple[Accounts, str]]:
    """Start a broker for one run on 127.0.0.1 and a free port (amqtt, or mosquitto): one account per
    supplier and the OEM, random passwords, the supplier ACL (:func:`portal_acl`)."""
    if OEM_USER in suppliers:
        raise PortalError(f"a supplier may not be called {OEM_USER!r}: that is the OEM's broker account")
    acl = portal_acl(suppliers)
    with tempfile.TemporaryDirectory(prefix="qt-portal-") as workdir:
        broker = EmbeddedBroker(acl) if kind == "embedded" else MosquittoBroker(Path(workdir), None, acl)
        broker.start()
        try:
            yield broker, broker.kind
        finally:
            broker.stop()
