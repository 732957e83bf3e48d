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


class PortalError(RuntimeError):
    """Supplier messages went missing or the broker failed; the message names who and how many."""


class Accounts(Protocol):
    """A running broker seen by its clients: the address under one account."""

    def account(self, user: str) -> BrokerAddress:
        """The broker's address with ``user``'s credentials."""
        ...


class SupplierPublisher:
    """Encodes each supplier's portal messages as topics and payloads, counting them."""

    def __init__(self, chain: Chain) -> None:
        self.suppliers = {s.name: s for s in chain.suppliers}
        self.published: Counter[str] = Counter()
        self.corrupted: list[dict[str, Any]] = []

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
        wire = []
        for name_, body in out:
            seq = self.published[name]
            payload = encode({**head, "seq": seq, **body})
            if seq in supplier.corrupt_messages:
                payload = payload[: len(payload) // 2]
                self.corrupted.append({"supplier": name, "seq": seq, "topic": name_})
            self.published[name] += 1
            wire.append((name, name_, payload))
        return wire


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
    acl = TopicAcl.grant(OEM_USER, read=(SUBSCRIPTION,))
    for name in suppliers:
        acl = acl | TopicAcl.grant(name, write=(f"{PREFIX}/{name}/#",))
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
