"""The host reader fed by our edge node on real brokers: the same samples as the edge's own historian,
deaths stored as bad, a sequence gap answered with a rebirth request."""

from __future__ import annotations

import asyncio

import pytest

from tests.mqtt_support import SCAN_MS, run
from tests.twin.edge.sparkplug.support import GROUP, HOST_ID, HOST_USER, Line, node_for, sparkplug_brokers
from twin.edge.historian import HistorianReader
from twin.edge.sparkplug.host import SparkplugHost, SparkplugStore
from twin.edge.sparkplug.schema import DataType

broker = pytest.fixture(scope="module", params=["amqtt", "mosquitto"])(sparkplug_brokers)
FRAMES = 60


def rows(path, *, wall: bool) -> list[tuple]:
    """(tag, time, value, quality) of every stored sample; time = wall_utc ms (the edge's) or ts_ms (the host's)."""
    with HistorianReader(path) as reader:
        table = reader.window().to_pylist()
    return sorted((r["tag"], int(r["wall_utc"].timestamp() * 1000) if wall else r["ts_ms"], r["value"], r["quality"])
                  for r in table)


def test_host_stores_what_the_edge_historian_stores(broker, tmp_path):
    async def main():
        async with Line() as line:
            host = SparkplugHost(broker.account(HOST_USER), GROUP, SparkplugStore(tmp_path / "host.duckdb"),
                                 host_id=HOST_ID, client_id=f"host-eq-{broker.kind}")
            async with host:
                listening = asyncio.create_task(host.run(messages=FRAMES + 1))  # NBIRTH, DBIRTH, 59 DDATA
                with line.historian(tmp_path / "edge.duckdb") as historian:
                    async with node_for(broker, line, report_by_exception=False, client_id=f"eq-{broker.kind}",
                                        primary_host=HOST_ID) as node:
                        assert await node.wait_ready(10)  # the host's retained STATE says online
                        for k in range(FRAMES):
                            frame = await line.scan(k * SCAN_MS)
                            historian.append(frame)
                            node.publish(frame, line.down())
                        counts = await asyncio.wait_for(listening, 20)
            return node, counts

    node, host_counts = run(main())
    edge, host = rows(tmp_path / "edge.duckdb", wall=True), rows(tmp_path / "host.duckdb", wall=False)
    assert len(edge) == FRAMES * 6 and host == edge
    assert host_counts.seq_gaps == host_counts.rebirth_requests == host_counts.unknown == 0
    assert node.forward.counts.dropped == node.forward.pending == 0 and node.counts.metrics_published == len(edge)


def test_seq_gap_asks_a_rebirth_and_a_death_is_stored_bad(broker, tmp_path):
    async def main():
        async with Line() as line:
            host = SparkplugHost(broker.account(HOST_USER), GROUP, SparkplugStore(tmp_path / "host.duckdb"),
                                 client_id=f"host-gap-{broker.kind}")
            async with host:
                node = node_for(broker, line, client_id=f"gap-{broker.kind}")
                await node.start()
                for k in range(3):
                    node.publish(await line.scan(k * SCAN_MS), line.down())
                await host.run(messages=4)  # NBIRTH, DBIRTH, 2 DDATA
                node.seq = (node.seq + 5) % 256  # five messages lost on the way
                node.publish(await line.scan(3 * SCAN_MS), line.down())
                await host.run(messages=7)  # the DDATA after the gap; the NCMD makes NBIRTH + DBIRTH
                assert node.counts.rebirth_requests == 1
                node.link.abort()
                await host.run(messages=8)  # the NDEATH will
                return host.counts

    counts = run(main())
    assert counts.seq_gaps == 1 and counts.rebirth_requests == 1 and counts.deaths == 1
    with HistorianReader(tmp_path / "host.duckdb") as reader:
        last = reader.window().to_pylist()
        assert reader.counts_by_quality()["bad"] == 6  # each metric marked bad at the death
    assert {r["quality"] for r in last if r["ts_ms"] == max(x["ts_ms"] for x in last)} == {"bad"}


def test_a_reader_over_the_store_sees_metrics_declared_after_it_was_made(tmp_path) -> None:  # noqa: ANN001
    """The store's tag column is text (births declare names as they come) and a reader of it, which indexes the
    element names once, reads them again when a later birth declared more."""
    store = SparkplugStore(tmp_path / "host.duckdb")
    first = store.declare("line.a", "n/d", DataType.DOUBLE, "bar")
    store.add(0, first, 1.0, "good")
    store.flush()
    reader = store.historian.reader()
    assert reader.tags() == ["line.a"] and reader.tag_type() == "VARCHAR"
    later = store.declare("line.b", "n/d", DataType.DOUBLE, "bar")
    store.add(1000, later, 2.0, "good")
    store.flush()
    assert reader.tags() == ["line.a", "line.b"]
    assert reader.window(tags=["line.b"]).to_pylist()[0]["value"] == 2.0
    assert reader.resample(1000, 0, 2000, ["line.b"])["line.b"][0][1] == 2.0
    store.close()
