"""Sparkplug B edge node → Mosquitto → host reader: metrics per second, and latency from frame to host store.

Reproduce (about 30 s on a 2-core machine; every case is bounded by ``--seconds``)::

    .venv/bin/python benchmarks/sparkplug.py [--seconds 2.5]

For 1,000 and 10,000 metrics (float32 tags sampled every 1 s, spread over 10 PLCs: 10 devices), with report
by exception on and off, our edge node (:class:`~twin.edge.sparkplug.node.SparkplugNode`) publishes on a
Mosquitto broker (accounts, the Sparkplug ACL, 127.0.0.1) and our host reader
(:class:`~twin.edge.sparkplug.host.SparkplugHost`, a primary host) stores into a historian file; both run in
this process, on one asyncio loop, with paho's network threads. Each frame moves 10 % of the values (a line
mostly holds steady), so report by exception sends about a tenth.

* **throughput**: frames back to back for ``--seconds``; *frames* = frames the node published per second of
  publishing, *published* = data metrics it handed to the broker per second of publishing, *received* =
  metrics the host stored per second until it had them all (birth values included). At 1 s sampling a line
  of N metrics needs N/s (less with report by exception).
* **latency**: frames paced at 10 per second for ``--seconds``; per DDATA message, the time from the frame's
  alignment (its UTC ``wall_ms``, the metric timestamps) to the host having added its samples to its store
  (the historian file is written in batches, at the end here). Median and p99, ms.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from twin.edge.bridge.brokers import MosquittoBroker  # noqa: E402
from twin.edge.collector import element_index  # noqa: E402
from twin.edge.frames import Aligner, Frame  # noqa: E402
from twin.edge.sparkplug.host import SparkplugHost, SparkplugStore  # noqa: E402
from twin.edge.sparkplug.node import SparkplugNode, now_ms  # noqa: E402
from twin.edge.sparkplug.schema import Payload  # noqa: E402
from twin.edge.sparkplug.topics import sparkplug_acl  # noqa: E402
from virtual_plc.endpoints import Endpoint, ResolvedEndpoints  # noqa: E402
from virtual_plc.tagmap import Tag, TagMap  # noqa: E402

GROUP, NODE, HOST_ID = "bench", "edge1", "scada"
USERS = {"node": "node-pw", "host": "host-pw"}
PLCS, PERIOD_MS, MOVING = 10, 1000, 0.1


def endpoints(n: int) -> ResolvedEndpoints:
    """``n`` float32 tags over :data:`PLCS` PLCs (no PLC behind them: frames are made here)."""
    tags = [Tag(name=f"b.m{k:05d}", dtype="float32", low=0, high=1e6, period_ms=PERIOD_MS) for k in range(n)]
    tagmap = TagMap(plant="b", opcua_namespace="urn:b", clock_tag=tags[0].name, tags=tags)
    per = n // PLCS
    return ResolvedEndpoints(tagmap=tagmap, assignments=[
        (Endpoint(name=f"plc{p}", protocol="modbus", port=502, tags=["*"]), tags[p * per:(p + 1) * per])
        for p in range(PLCS)])


class Frames:
    """Frames of all elements, 10 % of them moving each time."""

    def __init__(self, resolved: ResolvedEndpoints) -> None:
        self.aligner = Aligner(element_index(resolved))
        self.n = len(self.aligner.index)
        self.values = np.arange(self.n, dtype=np.float64)
        self.rng = np.random.default_rng(7)
        self.k = 0

    def next(self) -> Frame:
        moving = self.rng.random(self.n) < MOVING
        self.values[moving] += 1.0
        t = self.k * PERIOD_MS
        self.k += 1
        self.aligner.update(np.arange(self.n), self.values.copy(), t)
        return self.aligner.frame(t, wall_ms=now_ms())


class TimedHost(SparkplugHost):
    """The host reader, noting when each DDATA's samples were stored (ms, UTC) against the frame's time."""

    latencies: list[float]

    def handle(self, topic: str, raw: bytes, received_ms: int | None = None) -> None:
        """Store as usual, then note the DDATA's latency."""
        super().handle(topic, raw, received_ms)
        if "/DDATA/" in topic:
            self.latencies.append(time.time_ns() / 1e6 - Payload.FromString(raw).timestamp)


@dataclass
class Result:
    """One case's figures."""

    frames_per_s: float
    published_per_s: float
    received_per_s: float
    median_ms: float
    p99_ms: float


async def case(broker: MosquittoBroker, n: int, rbe: bool, seconds: float, folder: Path) -> Result:
    """Throughput, then latency, for ``n`` metrics with report by exception ``rbe``."""
    resolved = endpoints(n)
    host = TimedHost(broker.account("host"), GROUP, SparkplugStore(folder / f"host-{n}-{rbe}.duckdb"),
                     host_id=HOST_ID, client_id=f"host-{n}-{rbe}")
    host.latencies = []
    await host.start()
    listening = asyncio.create_task(host.run())
    node = SparkplugNode(broker.account("node"), GROUP, NODE, resolved, report_by_exception=rbe,
                         primary_host=HOST_ID, client_id=f"node-{n}-{rbe}")
    await node.start()
    if not await node.wait_ready(10):
        raise RuntimeError("the host's STATE never came")
    frames = Frames(resolved)
    node.publish(frames.next(), ())  # births
    await wait_for(lambda: host.counts.births >= 1 + PLCS, 20)

    start = time.perf_counter()
    stored_before, published_before = host.counts.samples, node.forward.counts.published
    publishing, sent = 0.0, 0
    while time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        node.publish(frames.next(), ())
        publishing += time.perf_counter() - t0
        sent += 1
        await asyncio.sleep(0)  # let the host take some in between, as it would in another process
    published = node.forward.counts.published - published_before
    await wait_for(lambda: host.counts.samples - stored_before >= published, 60)
    received_per_s = (host.counts.samples - stored_before) / (time.perf_counter() - start)

    host.latencies.clear()
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        node.publish(frames.next(), ())
        await asyncio.sleep(0.1)
    await wait_for(lambda: host.counts.samples - stored_before >= node.forward.counts.published - published_before,
                   20)
    latencies = sorted(host.latencies)
    listening.cancel()
    await node.close()
    await host.close()
    return Result(sent / publishing, published / publishing, received_per_s,
                  statistics.median(latencies), latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))])


async def wait_for(done: object, timeout_s: float) -> None:
    """Wait until ``done()`` (bounded)."""
    deadline = time.perf_counter() + timeout_s
    while not done() and time.perf_counter() < deadline:  # type: ignore[operator]
        await asyncio.sleep(0.01)


def main() -> None:
    """Run every case and print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.5, help="per case, for throughput and for latency")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="qt-spbench-") as tmp:
        folder = Path(tmp)
        acl = sparkplug_acl(GROUP, NODE, node_user="node", host_user="host", host_id=HOST_ID)
        broker = MosquittoBroker(folder / "mosquitto", USERS, acl)
        broker.start()
        try:
            print(f"{'metrics':>8} {'by exception':>12} {'frames/s':>9} {'published/s':>12} {'received/s':>11} "
                  f"{'median ms':>9} {'p99 ms':>7}")
            for n in (1_000, 10_000):
                for rbe in (True, False):
                    r = asyncio.run(case(broker, n, rbe, args.seconds, folder))
                    print(f"{n:>8} {'on' if rbe else 'off':>12} {r.frames_per_s:>9,.0f} {r.published_per_s:>12,.0f} "
                          f"{r.received_per_s:>11,.0f} {r.median_ms:>9.1f} {r.p99_ms:>7.1f}", flush=True)
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
