"""An MQTT client for asyncio code: paho-mqtt 2 on its own network thread, TCP_NODELAY set.

Why paho: it is the reference Python client, speaks to any broker (amqtt, Mosquitto, a plant's
own), reconnects by itself, re-sends unacknowledged QoS 1 messages after a reconnect, and
exposes its socket, so Nagle's algorithm can be switched off on every connection
(``on_socket_open``). With Nagle on — paho's default — a sub-millisecond command round trip
turns into tens of milliseconds (a small PUBLISH waits for the delayed ACK of the previous
segment); ``benchmarks/mqtt_roundtrip.py`` measures it.

Messages arrive on paho's thread and are handed to the asyncio loop that created the link,
in order, through :attr:`MqttLink.messages`. Subscriptions are renewed on every (re)connect,
so a broker restart loses no subscription.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

QOS = 1


@dataclass(frozen=True)
class BrokerAddress:
    """Where a broker listens and which account to use."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None

    def as_user(self, username: str, password: str) -> BrokerAddress:
        """The same broker under another account."""
        return BrokerAddress(self.host, self.port, username, password)


class MqttUnavailable(ConnectionError):
    """The broker could not be reached or refused the connection; names the broker."""


class MqttLink:
    """One MQTT connection (QoS 1) delivering incoming messages into an asyncio queue."""

    def __init__(
        self,
        address: BrokerAddress,
        client_id: str,
        *,
        nodelay: bool = True,
        persistent: bool = False,
        keepalive_s: int = 10,
    ) -> None:
        self.address = address
        self.client_id = client_id
        self.nodelay = nodelay
        self.messages: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        self._topics: list[str] = []
        self._connected = threading.Event()
        self._refused: str | None = None
        self._keepalive_s = keepalive_s
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=not persistent)
        if address.username is not None:
            client.username_pw_set(address.username, address.password)
        client.reconnect_delay_set(min_delay=1, max_delay=2)
        client.max_queued_messages_set(10_000)
        client.on_socket_open = self._on_socket_open
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self._client = client

    # ------------------------------------------------------------ paho thread
    def _on_socket_open(self, _client: paho.Client, _userdata: Any, sock: Any) -> None:
        if isinstance(sock, socket.socket):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1 if self.nodelay else 0)

    def _on_connect(self, client: paho.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            self._refused = str(reason)
            return
        for topic in self._topics:
            client.subscribe(topic, qos=QOS)
        self._connected.set()

    def _on_disconnect(self, *_args: Any) -> None:
        self._connected.clear()

    def _on_message(self, _client: paho.Client, _userdata: Any, message: paho.MQTTMessage) -> None:
        item = (message.topic, bytes(message.payload))
        try:
            self._loop.call_soon_threadsafe(self.messages.put_nowait, item)
        except RuntimeError:  # the loop closed: nobody is listening any more
            pass

    # ------------------------------------------------------------ asyncio side
    @property
    def connected(self) -> bool:
        """True while the broker connection is up."""
        return self._connected.is_set()

    @property
    def socket_nodelay(self) -> bool | None:
        """TCP_NODELAY of the current socket (None when not connected)."""
        sock = self._client.socket()
        if not isinstance(sock, socket.socket):
            return None
        return bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    async def connect(self, timeout_s: float = 5.0) -> None:
        """Connect and start the network thread; raises :class:`MqttUnavailable` on failure."""
        where = f"MQTT broker {self.address.host}:{self.address.port} (client {self.client_id})"
        try:
            self._client.connect(self.address.host, self.address.port, keepalive=self._keepalive_s)
        except OSError as err:
            raise MqttUnavailable(f"{where}: {err}") from err
        self._client.loop_start()
        if not await self.wait_connected(timeout_s):
            self._client.loop_stop()
            raise MqttUnavailable(f"{where}: " + (f"refused: {self._refused}" if self._refused else "no CONNACK"))

    async def wait_connected(self, timeout_s: float) -> bool:
        """Wait until connected (or refused, or ``timeout_s``); True when connected."""
        deadline = self._loop.time() + timeout_s
        while not self._connected.is_set() and self._refused is None and self._loop.time() < deadline:
            await asyncio.sleep(0.005)
        return self._connected.is_set()

    def subscribe(self, topic: str) -> None:
        """Subscribe now (if connected) and after every reconnect."""
        self._topics.append(topic)
        if self.connected:
            self._client.subscribe(topic, qos=QOS)

    async def subscribed(self, topic: str, timeout_s: float = 5.0) -> None:
        """Subscribe and wait for the broker's SUBACK."""
        done = asyncio.Event()

        def on_subscribe(*_args: Any) -> None:
            self._loop.call_soon_threadsafe(done.set)

        self._client.on_subscribe = on_subscribe
        try:
            self.subscribe(topic)
            await asyncio.wait_for(done.wait(), timeout_s)
        finally:
            self._client.on_subscribe = None

    def publish(self, topic: str, payload: str | bytes) -> None:
        """Queue a QoS 1 publish; paho sends it now or after the next reconnect."""
        info = self._client.publish(topic, payload, qos=QOS)
        if info.rc == paho.MQTT_ERR_QUEUE_SIZE:
            raise MqttUnavailable(f"client {self.client_id}: outgoing queue full ({topic})")

    async def close(self) -> None:
        """Disconnect and stop the network thread (safe to call twice)."""
        self._client.disconnect()
        await asyncio.to_thread(self._client.loop_stop)
        self._connected.clear()
