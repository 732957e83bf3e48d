"""An MQTT link for Sparkplug: :class:`~twin.edge.bridge.mqtt.MqttLink` with a will that changes per session,
retained publishes, a count of sessions, and an abrupt end for tests.

Sparkplug ties each MQTT session to a birth/death sequence number (``bdSeq``): the edge node's will is
the ``NDEATH`` of *this* session, so before every (re)connect the link asks its ``will`` callable for
the will to register (the node bumps ``bdSeq`` there), and after every connect it counts a session,
which tells the node to be born again. A primary host's will is its retained ``STATE`` offline, and after a
reconnect it says online again (``announce``), as Sparkplug 3.0 asks of a host in every session.

With ``reclaim``, QoS 1 messages the broker had not acknowledged when the connection dropped are taken off
the MQTT client as it reconnects (:meth:`SparkplugLink.take_unacked`) instead of being re-sent by it: an edge
node's data from the last session must not arrive before its births in the new one, and the node replays
them itself as historical data (:mod:`twin.edge.sparkplug.forward`).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho

from twin.edge.bridge.mqtt import QOS, BrokerAddress, MqttLink

Will = Callable[[], tuple[str, bytes, bool]]  # () -> (topic, payload, retain), asked before each connect
Announce = Callable[[], tuple[str, bytes]]  # () -> (topic, payload) published retained after each reconnect


class SparkplugLink(MqttLink):
    """One clean-session MQTT connection whose will ``will()`` gives anew before each (re)connect."""

    def __init__(self, address: BrokerAddress, client_id: str, *, will: Will | None = None,
                 announce: Announce | None = None, reclaim: bool = False, keepalive_s: int = 10) -> None:
        super().__init__(address, client_id, persistent=False, keepalive_s=keepalive_s)
        self._will = will
        self._announce = announce
        self._reclaim = reclaim
        self._unacked: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self.sessions = 0  # connects so far: a node is born again in each
        self._set_will()

    def _set_will(self) -> None:
        if self._will is not None:
            topic, payload, retain = self._will()
            self._client.will_set(topic, payload, qos=QOS, retain=retain)

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if self._reclaim and not reason.is_failure:  # before paho re-sends them, after this callback
            dropped = client.drop_out_messages()
            with self._lock:
                self._unacked += [(m.topic, bytes(m.payload)) for m in dropped]  # in publish order
        super()._on_connect(client, userdata, flags, reason, props)
        if not reason.is_failure:
            self.sessions += 1
            if self._announce is not None and self.sessions > 1:  # the first time, the owner says it
                topic, payload = self._announce()
                client.publish(topic, payload, qos=QOS, retain=True)

    def take_unacked(self) -> list[tuple[str, bytes]]:
        """(topic, payload) of the messages taken back at the last reconnects, oldest first (then forgotten)."""
        with self._lock:
            taken, self._unacked = self._unacked, []
        return taken

    def _on_disconnect(self, *args: Any) -> None:
        super()._on_disconnect(*args)
        self._set_will()  # paho reconnects with the will set now: the next session's death certificate

    def publish_retained(self, topic: str, payload: bytes) -> None:
        """Queue a retained QoS 1 publish (a host's STATE)."""
        self._client.publish(topic, payload, qos=QOS, retain=True)

    def abort(self) -> None:
        """Drop the connection without DISCONNECT, as a crash or a pulled cable would: the broker publishes
        the will. The link is dead afterwards (tests only)."""
        self._client.loop_stop()
        sock = self._client.socket()
        if isinstance(sock, socket.socket):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        self._connected.clear()
