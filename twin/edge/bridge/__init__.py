"""The PLC bridge (issue 6): MQTT commands in, interlocked PLC writes with read-back, acks out.

Modules: :mod:`~twin.edge.bridge.bridge` (:class:`~twin.edge.bridge.bridge.PlcBridge`: signature,
replay, window and rollback checks, then the interlocks), :mod:`~twin.edge.bridge.journal` (its
journal, owned by one run), :mod:`~twin.edge.bridge.mqtt` (paho client with TCP_NODELAY for asyncio
code), :mod:`~twin.edge.bridge.brokers` (amqtt in-process and Mosquitto, both with accounts and one
topic ACL) and :mod:`~twin.edge.bridge.amqtt_acl` (that ACL as an amqtt plug-in).
Edge code: never imports a plant model.
"""
