"""Store and forward on real brokers: the broker restarts mid-run; the edge node buffers to disk, replays in
order as historical data after the primary host is back, and the host stores every sample the edge's own
historian stores."""

from __future__ import annotations

import asyncio

import pytest

from tests.mqtt_support import SCAN_MS, run
from tests.twin.edge.sparkplug.support import GROUP, HOST_ID, HOST_USER, Line, node_for, sparkplug_brokers
from twin.edge.historian import HistorianReader
from twin.edge.sparkplug.forward import StoreAndForward
from twin.edge.sparkplug.host import SparkplugHost, SparkplugStore

broker = pytest.fixture(scope="module", params=["amqtt", "mosquitto"])(sparkplug_brokers)
BEFORE, OUTAGE, METRICS = 20, 20, 6
COMMAND_METRICS = 4  # the NBIRTH's Command/* text metrics, stored too


async def until(done, timeout_s: float = 20.0) -> None:
    """Wait (bounded) until ``done()``."""
    async def wait() -> None:
        while not done():
            await asyncio.sleep(0.02)
    await asyncio.wait_for(wait(), timeout_s)


def stored(path, *, wall: bool) -> list[tuple]:
    """(tag, time, value, quality) of every sample in arrival order; time = wall_utc (edge) or ts_ms (host)."""
    with HistorianReader(path) as reader:
        rows = reader.con.sql("SELECT tag, ts_ms, value, quality::VARCHAR, wall_utc FROM samples").fetchall()
    return [(tag, int(w.timestamp() * 1000) if wall else ts, value, q) for tag, ts, value, q, w in rows]


def test_broker_restart_loses_nothing_and_keeps_order(broker, tmp_path):
    async def main():
        async with Line() as line:
            host = SparkplugHost(broker.account(HOST_USER), GROUP, SparkplugStore(tmp_path / "host.duckdb"),
                                 host_id=HOST_ID, client_id=f"host-sf-{broker.kind}")
            await host.start()
            listening = asyncio.create_task(host.run())
            forward = StoreAndForward(tmp_path / "buffer.sqlite", max_samples=10_000)
            node = node_for(broker, line, report_by_exception=False, primary_host=HOST_ID, forward=forward,
                            client_id=f"sf-{broker.kind}", replay_batch=5)
            historian = line.historian(tmp_path / "edge.duckdb")
            await node.start()
            assert await node.wait_ready(10)
            k = 0

            async def scan() -> None:
                nonlocal k
                frame = await line.scan(k * SCAN_MS)
                historian.append(frame)
                node.publish(frame, line.down())
                k += 1

            for _ in range(BEFORE):
                await scan()
            def received(frames: int) -> bool:  # NBIRTH + one DBIRTH per session
                return host.counts.samples == frames * METRICS + COMMAND_METRICS * node.counts.births // 2

            await until(lambda: received(BEFORE))  # nothing in flight
            broker.server.stop()
            for _ in range(OUTAGE):  # the first may still go to the dead socket: taken back at the reconnect
                await scan()
            outage_births = node.counts.births
            broker.server.start()
            for _ in range(400):  # reconnect (paho waits 1-2 s), wait for the host's STATE, replay
                await scan()
                await asyncio.sleep(0.02)
                if node.ready and not forward.pending and node.counts.births > outage_births:
                    break
            for _ in range(5):
                await scan()
            await until(lambda: received(k))
            listening.cancel()
            historian.close()
            await node.close()
            await host.close()
            return node, host.counts, k

    node, host_counts, frames = run(main(), 90)
    edge, host = stored(tmp_path / "edge.duckdb", wall=True), stored(tmp_path / "host.duckdb", wall=False)
    deaths = [r for r in host if r not in edge]  # a broker that sends the node's will as it stops: marked bad
    assert all(value is None and quality == "bad" for _, _, value, quality in deaths)
    assert len(deaths) == METRICS * host_counts.deaths
    assert sorted(r for r in host if r in edge) == sorted(edge) and len(edge) == frames * METRICS  # nothing lost
    counts = node.forward.counts
    assert counts.collected == counts.published + counts.dropped and counts.dropped == 0 and node.forward.pending == 0
    assert counts.buffered >= (OUTAGE - 1) * METRICS and counts.replayed == counts.buffered
    assert host_counts.historical == counts.replayed and host_counts.unknown == 0
    for tag in {t for t, *_ in edge}:  # in arrival order: one step back at the reconnect's birth, then in order
        times = [t for name, t, _, quality in host if name == tag and quality != "bad"]
        assert sum(b < a for a, b in zip(times, times[1:])) <= 1
