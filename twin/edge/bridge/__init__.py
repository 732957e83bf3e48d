"""The PLC bridge (issue 6): MQTT commands in, interlocked PLC writes with read-back, acks out.

Modules: :mod:`~twin.edge.bridge.bridge` (:class:`~twin.edge.bridge.bridge.PlcBridge`),
:mod:`~twin.edge.bridge.mqtt` (paho client with TCP_NODELAY for asyncio code) and
:mod:`~twin.edge.bridge.brokers` (amqtt in-process, Mosquitto with accounts and ACL).
Edge code: never imports a plant model.
"""
