"""The edge against a plain pymodbus server (no code of ours serving): every register type, two unit ids
behind one gateway, coils and discrete inputs, strings, an address the server does not have, and an outage.

The server is pymodbus's own ``ModbusTcpServer`` over sequential data blocks, written here register by
register with :mod:`struct`, so what the edge decodes is checked against an encoding it did not make.
"""

from __future__ import annotations

import asyncio
import struct
from pathlib import Path

import pytest
from pymodbus.datastore import ModbusDeviceContext, ModbusSequentialDataBlock, ModbusServerContext
from pymodbus.server import ModbusTcpServer

from twin.edge.historian import HistorianReader
from twin.edge.realtime import run_edge
from twin.edge.settings import EdgeSettings
from virtual_plc.endpoints import Endpoint, EndpointFile
from virtual_plc.plc import LOOPBACK, free_port
from virtual_plc.tagmap import Tag, TagMap


def words(fmt: str, *values: object) -> list[int]:
    """Big-endian registers of ``values`` packed by ``fmt``."""
    data = struct.pack(">" + fmt, *values)
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]


# unit 1's holding registers from address 0, and what each tag there must read as
UNIT1 = [
    *words("h", -1234),                      # 0: int16 scaled by 10 -> -123.4
    *words("f", 21.5),                       # 1-2: float32 ABCD
    *words("f", -7.25)[::-1],                # 3-4: float32 CDAB (word order little)
    0x00FB,                                  # 5: int8 -5 in the low byte
    *words("q", -9_000_000_000),             # 6-9: int64
    *[int.from_bytes(b"LOT-7A"[i : i + 2], "big") for i in range(0, 6, 2)], 0,  # 10-13: string, 8 chars
    *[((w & 0xFF) << 8) | (w >> 8) for w in words("H", 4321)],  # 14: uint16, bytes swapped
]
UNIT2 = [*words("f", 3.0), *words("H", 77)]  # unit 2: float32 at 0, uint16 at 2

TAGS = [
    Tag(name="line.press.force", dtype="int16", scale=10, unit="kN", period_ms=10, address=0),
    Tag(name="line.oven.temp", dtype="float32", unit="degC", period_ms=10, address=1),
    Tag(name="line.oven.offset", dtype="float32", word_order="little", period_ms=10, address=3),
    Tag(name="line.oven.trim", dtype="int8", period_ms=10, address=5),
    Tag(name="line.counter.total", dtype="int64", period_ms=10, address=6),
    Tag(name="line.batch.lot", dtype="string", chars=8, period_ms=10, address=10),
    Tag(name="line.batch.code", dtype="uint16", byte_order="little", period_ms=10, address=14),
    Tag(name="line.drive.running", dtype="bool", table="coil", period_ms=10, address=3),
    Tag(name="line.door.closed", dtype="bool", table="discrete", period_ms=10, address=1),
    Tag(name="line.chiller.flow", dtype="float32", unit_id=2, period_ms=10, address=0),
    Tag(name="line.chiller.alarm_word", dtype="uint16", unit_id=2, period_ms=10, address=2),
    Tag(name="line.missing.value", dtype="uint16", period_ms=10, address=900),  # no such register
]
EXPECTED = {"line.press.force": -123.4, "line.oven.temp": 21.5, "line.oven.offset": -7.25, "line.oven.trim": -5.0,
            "line.counter.total": -9e9, "line.batch.code": 4321.0, "line.drive.running": 1.0,
            "line.door.closed": 0.0, "line.chiller.flow": 3.0, "line.chiller.alarm_word": 77.0}


class PlainServer:
    """pymodbus's own TCP server with two units on one port; stop and start it again on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self._server: ModbusTcpServer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        def block(values: list[int]) -> ModbusSequentialDataBlock:
            return ModbusSequentialDataBlock(1, values)  # pymodbus counts block addresses from 1

        unit1 = ModbusDeviceContext(hr=block(UNIT1), ir=block([0] * 4), co=block([0, 0, 0, 1, 0, 0, 0, 0]),
                                    di=block([1, 0, 1, 0, 0, 0, 0, 0]))
        unit2 = ModbusDeviceContext(hr=block(UNIT2), ir=block([0] * 4), co=block([0] * 8), di=block([0] * 8))
        self._server = ModbusTcpServer(ModbusServerContext(devices={1: unit1, 2: unit2}, single=False),
                                       address=(LOOPBACK, self.port))
        self._task = asyncio.create_task(self._server.serve_forever())
        for _ in range(200):  # until it accepts connections (bounded)
            try:
                _, writer = await asyncio.open_connection(LOOPBACK, self.port)
                writer.close()
                return
            except OSError:
                await asyncio.sleep(0.02)
        raise RuntimeError("the pymodbus server did not start")

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.shutdown()
            self._server = None
        if self._task is not None:
            self._task.cancel()
            self._task = None


def line_files(folder: Path, port: int) -> Path:
    TagMap(plant="line", tags=TAGS).to_yaml(folder / "tags.yaml")
    endpoint = Endpoint(name="gateway", protocol="modbus", port=port, clock="none",
                        reconnect_min_s=0.1, reconnect_max_s=0.4)
    EndpointFile(tag_map="tags.yaml", plcs=[endpoint]).save(folder / "endpoints.yaml")
    return folder / "endpoints.yaml"


def test_every_type_two_units_coils_and_strings_read_right_and_an_unknown_address_is_named(tmp_path: Path) -> None:
    async def main() -> dict:
        server = PlainServer()
        await server.start()
        try:
            result = await run_edge(line_files(tmp_path, server.port), tmp_path / "edge",
                                    settings=EdgeSettings(), scan_ms=20, plant_s=0.4)
        finally:
            await server.stop()
        return result.__dict__

    result = asyncio.run(main())
    with HistorianReader(tmp_path / "edge" / "historian.duckdb") as reader:
        rows = reader.window().to_pylist()
        text = reader.text_window().to_pylist()
    last = {r["tag"]: r for r in rows}
    for tag, value in EXPECTED.items():
        assert last[tag]["quality"] == "good" and last[tag]["value"] == pytest.approx(value, rel=1e-6), tag
    assert last["line.missing.value"]["quality"] == "bad"
    assert {r["value"] for r in text} == {"LOT-7A"} and {r["tag"] for r in text} == {"line.batch.lot"}
    (link,) = result["plcs"]
    assert "line.missing.value" in link["unknown"] and "exception 02" in link["unknown"]["line.missing.value"]
    assert set(link["unknown"]) == {"line.missing.value"}  # its neighbours on the same unit read fine
    assert link["sessions_opened"] == 1
    assert any("does not serve 1 tag" in note for note in result["notes"])


@pytest.mark.slow
def test_an_outage_is_stored_as_bad_for_as_long_as_it_lasted_with_one_comm_alarm_and_backoff(tmp_path: Path) -> None:
    """Stop the server for a while, then start it again on the same port: the bad samples span the outage
    (never compressed), the link raises one comm_lost alarm, and reconnects back off instead of hammering."""
    outage: dict[str, int] = {}

    async def main() -> dict:
        server = PlainServer()
        await server.start()
        endpoints = line_files(tmp_path, server.port)

        async def interrupt() -> None:
            loop = asyncio.get_running_loop()
            await asyncio.sleep(0.6)
            await server.stop()
            outage["start"] = int(loop.time() * 1000)
            await asyncio.sleep(1.5)
            await server.start()
            outage["end"] = int(loop.time() * 1000)

        outage_task = asyncio.create_task(interrupt())
        try:
            result = await run_edge(endpoints, tmp_path / "edge", settings=EdgeSettings(), scan_ms=20, duration_s=4.0)
            await outage_task
        finally:
            await server.stop()
        return result.__dict__

    result = asyncio.run(main())
    with HistorianReader(tmp_path / "edge" / "historian.duckdb") as reader:
        rows = [r for r in reader.window(tags=["line.oven.temp"]).to_pylist()]
    bad = [r["ts_ms"] for r in rows if r["quality"] == "bad"]
    assert bad, "the outage left no bad samples"
    bad_span = bad[-1] - bad[0]
    measured = outage["end"] - outage["start"]
    assert bad_span >= 0.8 * measured  # edge time keeps running through the outage: no compression
    assert bad_span <= measured + 1_000  # and it recovers within the capped backoff (0.4 s) plus slack
    assert rows[-1]["quality"] == "good"
    comm = [a for a in result["alarms"] if a["detector"] == "comm"]
    assert len(comm) == 1 and comm[0]["tag"] == "gateway"
    (link,) = result["plcs"]
    assert link["reconnects"] == 1 and link["sessions_opened"] == 2
    # one per backoff step (waits of at least 50, 100, then 200 ms with this endpoint's jitter), however long
    # the outage took on a busy machine; one per 20 ms poll would be ten times as many
    assert link["connect_attempts"] <= 4 + measured / 200 < measured / 20
