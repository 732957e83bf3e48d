"""An MQTT link for Sparkplug: :class:`~twin.edge.bridge.mqtt.MqttLink` with a will that changes per session,
retained publishes, a count of sessions, and an abrupt end for tests.

Sparkplug ties each MQTT session to a birth/death sequence number (``bdSeq``): the edge node's will is
the ``NDEATH`` of *this* session, so before every (re)connect the link asks its ``will`` callable for
the will to register (the node bumps ``bdSeq`` there), and after every connect it counts a session,
which tells the node to be born again. A primary host's will is its retained ``STATE`` offline.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho

from twin.edge.bridge.mqtt import QOS, BrokerAddress, MqttLink

Will = Callable[[], tuple[str, bytes, bool]]  # () -> (topic, payload, retain), asked before each connect


class SparkplugLink(MqttLink):
    """One clean-session MQTT connection whose will ``will()`` gives anew before each (re)connect."""

    def __init__(self, address: BrokerAddress, client_id: str, *, will: Will | None = None,
                 keepalive_s: int = 10) -> None:
        super().__init__(address, client_id, persistent=False, keepalive_s=keepalive_s)
        self._will = will
        self.sessions = 0  # connects so far: a node is born again in each
        self._set_will()

    def _set_will(self) -> None:
        if self._will is not None:
            topic, payload, retain = self._will()
            self._client.will_set(topic, payload, qos=QOS, retain=retain)

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        super()._on_connect(client, userdata, flags, reason, props)
        if not reason.is_failure:
            self.sessions += 1

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
