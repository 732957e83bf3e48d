"""MQTT command round trip: command published → bridge writes the PLC and reads back → ack received.

Reproduce (about 30 s on a 2-core machine; bounded by ``--count`` and ``--max-seconds``)::

    .venv/bin/python benchmarks/mqtt_roundtrip.py [--count 200]

For each broker (amqtt in-process on its own thread, Mosquitto as a child process) and with
TCP_NODELAY on and off (on every paho client socket, and Mosquitto's ``set_tcp_nodelay``;
amqtt's accepted sockets always have it, asyncio sets it), one edge client sends ``count``
valve commands, one at a time, to a :class:`~twin.edge.bridge.bridge.PlcBridge` that writes them
over Modbus TCP to a :class:`~virtual_plc.plc.VirtualPlc` and reads them back, all on
127.0.0.1. Both brokers log the clients in and apply the closed loop's ACL; each command is
signed (made before the clock starts). The time is from ``publish`` to the ack arriving in the
edge's asyncio loop, so it includes two broker hops, the bridge's signature check, its clock
read, interlocks, the Modbus write and read-back, and paho's network threads. Printed: median
and p99 in ms, and the ratio "Nagle on / off" of the medians per broker.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.mqtt_support import KEYS, PASSWORDS, toy_tagmap  # noqa: E402
from twin.contracts import Ack, Command  # noqa: E402
from twin.edge.bridge.bridge import PlcBridge  # noqa: E402
from twin.edge.bridge.brokers import BRIDGE_USER, EDGE_USER, EmbeddedBroker, MosquittoBroker, closed_loop_acl  # noqa: E402
from twin.edge.bridge.mqtt import MqttLink  # noqa: E402
from twin.edge.control.interlocks import Interlocks, InterlockSettings  # noqa: E402
from twin.edge.control.messages import ack_filter, command_topic, new_nonce, sign  # noqa: E402
from virtual_plc.endpoints import Endpoint, EndpointFile, resolve  # noqa: E402
from virtual_plc.modbus_server import ModbusPlcServer  # noqa: E402
from virtual_plc.plc import LOOPBACK, VirtualPlc, free_port  # noqa: E402

TAG = "t.coolant.valve.command"


def start_broker(kind: str, nodelay: bool, workdir: Path) -> EmbeddedBroker | MosquittoBroker:
    broker: EmbeddedBroker | MosquittoBroker
    if kind == "amqtt":
        broker = EmbeddedBroker(closed_loop_acl("t"), PASSWORDS)
    else:
        broker = MosquittoBroker(workdir, PASSWORDS, closed_loop_acl("t"), nodelay=nodelay)
    broker.start()
    return broker


async def round_trips(broker: EmbeddedBroker | MosquittoBroker, nodelay: bool, count: int, max_s: float) -> list[float]:
    tagmap = toy_tagmap()
    plc = VirtualPlc(tagmap)
    plc.initialise_setpoints({TAG: 60.0})
    plc.modbus = ModbusPlcServer(plc.image, host=LOOPBACK, port=free_port())
    await plc.modbus.start()
    endpoints = resolve(EndpointFile(tag_map="toy", plcs=[Endpoint(name="toy", protocol="modbus",
                                                                   port=plc.modbus.port)]), tagmap)
    bridge_link = MqttLink(broker.account(BRIDGE_USER), f"bench-bridge-{nodelay}", nodelay=nodelay)
    edge = MqttLink(broker.account(EDGE_USER), f"bench-edge-{nodelay}", nodelay=nodelay)
    await bridge_link.connect()
    await edge.connect()
    bridge = PlcBridge(bridge_link, endpoints, Interlocks(InterlockSettings(move_budget=10**9), tagmap), keys=KEYS,
                       run_id=f"bench-{nodelay}", line="l1")
    await bridge.start()
    await edge.subscribed(ack_filter("t", "l1"))
    times: list[float] = []
    deadline = time.perf_counter() + max_s
    try:
        for i in range(count):
            if time.perf_counter() > deadline:
                break
            cmd = sign(Command(id=f"b{nodelay}-{i}", plant="t", line="l1", tag=TAG, value=60.0 + i % 2, low=0,
                               high=100, reason="benchmark", issued_t_ms=0, expires_t_ms=10**12, nonce=new_nonce()),
                       KEYS)
            started = time.perf_counter()
            edge.publish(command_topic("t", "l1", TAG), cmd.to_json())
            _, payload = await asyncio.wait_for(edge.messages.get(), 10)
            times.append((time.perf_counter() - started) * 1000)
            assert Ack.model_validate_json(payload).status == "applied"
    finally:
        await bridge.stop()
        await edge.close()
        await bridge_link.close()
        await plc.stop()
    return times[min(10, len(times) // 10):]  # drop warm-up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="commands per configuration")
    parser.add_argument("--max-seconds", type=float, default=20.0, help="time limit per configuration")
    args = parser.parse_args()
    print(f"{'broker':<10} {'TCP_NODELAY':<12} {'n':>5} {'median ms':>10} {'p99 ms':>8}")
    medians: dict[tuple[str, bool], float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("amqtt", "mosquitto"):
            for nodelay in (True, False):
                broker = start_broker(kind, nodelay, Path(tmp) / f"{kind}-{nodelay}")
                try:
                    times = asyncio.run(round_trips(broker, nodelay, args.count, args.max_seconds))
                finally:
                    broker.stop()
                times.sort()
                median = statistics.median(times)
                p99 = times[min(len(times) - 1, int(0.99 * len(times)))]
                medians[(kind, nodelay)] = median
                print(f"{kind:<10} {'on' if nodelay else 'off':<12} {len(times):>5} {median:>10.2f} {p99:>8.2f}")
    for kind in ("amqtt", "mosquitto"):
        ratio = medians[(kind, False)] / medians[(kind, True)]
        print(f"{kind}: median with Nagle on is {ratio:.1f}x the median with TCP_NODELAY")


if __name__ == "__main__":
    main()
