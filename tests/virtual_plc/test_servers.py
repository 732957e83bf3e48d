"""The virtual PLC over real Modbus TCP and OPC UA sockets on 127.0.0.1."""

from __future__ import annotations

import math
import re
import shutil
import socket
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from asyncua import ua
from asyncua.sync import Client as SyncUaClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymodbus.client import ModbusTcpClient

from tests.support import ServedPlc
from virtual_plc.codec import quantise
from virtual_plc.tagmap import Tag, TagMap

STRUCT = {"int16": "h", "uint16": "H", "int32": "i", "uint32": "I", "float32": "f", "float64": "d", "uint64": "Q"}
NOTIFICATION_TIMEOUT_S = 30.0  # guards: one OPC UA data-change notification reaching the subscriber


def decode_words(tag: Tag, words: list[int]) -> list[float]:
    """Oracle: decode a tag's registers by the Modbus spec with struct (NaN for sentinels)."""
    out = []
    for k in range(tag.elements):
        chunk = words[k * tag.width : (k + 1) * tag.width]
        if tag.word_order == "little":
            chunk = chunk[::-1]
        raw = struct.unpack(">" + STRUCT[tag.dtype], b"".join(w.to_bytes(2, "big") for w in chunk))[0]
        out.append(raw / tag.scale)
    return out


def modbus_read(port: int, tag: Tag, unit: int) -> list[int]:
    with ModbusTcpClient("127.0.0.1", port=port, timeout=5) as client:
        reader = client.read_holding_registers if tag.table == "holding" else client.read_input_registers
        response = reader(tag.address, count=tag.n_registers, device_id=unit)
        assert not response.isError(), response
        return list(response.registers)


@st.composite
def measurement_values(draw: st.DrawFn, tagmap: TagMap) -> dict[str, float | np.ndarray]:
    """An in-range value for every read-only tag (arrays element-wise)."""
    out: dict[str, float | np.ndarray] = {}
    for tag in tagmap.tags:
        if tag.access != "ro" or tag.name == tagmap.clock_tag:
            continue
        hi = min(tag.high, 2**53 / tag.scale)
        draw_one = st.floats(tag.low, hi, allow_nan=False, allow_infinity=False)
        if tag.length is None:
            out[tag.name] = draw(draw_one)
        else:
            out[tag.name] = np.array(draw(st.lists(draw_one, min_size=tag.length, max_size=tag.length)))
    return out


@pytest.fixture(scope="module")
def ua_client(served_plc: ServedPlc) -> SyncUaClient:
    client = SyncUaClient(f"opc.tcp://127.0.0.1:{served_plc.opcua_port}", timeout=10)
    client.connect()
    yield client
    client.disconnect()


def ua_node(client: SyncUaClient, tag: Tag):  # noqa: ANN201
    return client.get_node(tag.opcua_node)


class TestEveryTagRoundTrips:
    @settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(data=st.data())
    def test_modbus_and_opcua_serve_every_tag_with_its_scale_and_word_order(
        self, served_plc: ServedPlc, ua_client: SyncUaClient, data: st.DataObject
    ) -> None:
        tagmap = served_plc.plc.tagmap
        values = data.draw(measurement_values(tagmap))
        served_plc.call(served_plc.plc.scan(1000 * 60, values))  # every period divides 60 s
        for name, value in values.items():
            tag = tagmap[name]
            expected = [quantise(tag, float(v)) for v in np.atleast_1d(value)]
            over_modbus = decode_words(tag, modbus_read(served_plc.modbus_port, tag, tagmap.unit_id))
            assert over_modbus == expected, name
            for sent, got in zip(np.atleast_1d(value), over_modbus):
                tol = 0.5 / tag.scale if not tag.dtype.startswith("float") else abs(sent) * 1e-6
                assert abs(got - sent) <= tol + 1e-9, name
            over_opcua = ua_node(ua_client, tag).read_value()
            assert list(np.atleast_1d(over_opcua)) == expected, name

    def test_clock_tag_carries_plant_time(self, served_plc: ServedPlc, ua_client: SyncUaClient) -> None:
        tagmap = served_plc.plc.tagmap
        served_plc.call(served_plc.plc.scan(123_455, {}))  # no period divides 123455: only the clock
        clock = tagmap.clock
        assert decode_words(clock, modbus_read(served_plc.modbus_port, clock, tagmap.unit_id)) == [123_455]
        assert ua_node(ua_client, clock).read_value() == 123_455


class TestWrites:
    def _rw(self, served_plc: ServedPlc, dtype: str = "float32", order: str = "big") -> Tag:
        return served_plc.plc.tagmap[f"t.{dtype}.{order}_sp"]

    def test_in_range_writes_apply_over_both_protocols(self, served_plc: ServedPlc, ua_client: SyncUaClient) -> None:
        tagmap = served_plc.plc.tagmap
        served_plc.plc.take_setpoint_changes()
        for tag in [t for t in tagmap.tags if t.access == "rw"]:
            target = quantise(tag, tag.low + (tag.high - tag.low) * 0.37)
            words = [int(w) for w in _words(tag, target)]
            with ModbusTcpClient("127.0.0.1", port=served_plc.modbus_port) as client:
                assert not client.write_registers(tag.address, words, device_id=tagmap.unit_id).isError()
            assert decode_words(tag, modbus_read(served_plc.modbus_port, tag, tagmap.unit_id)) == [target]
            assert ua_node(ua_client, tag).read_value() == target
            ua_target = quantise(tag, tag.low + (tag.high - tag.low) * 0.61)
            ua_node(ua_client, tag).write_value(ua.DataValue(ua.Variant(ua_target, ua.VariantType.Double)))
            assert decode_words(tag, modbus_read(served_plc.modbus_port, tag, tagmap.unit_id)) == [ua_target]
            assert served_plc.plc.take_setpoint_changes()[tag.name] == ua_target

    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(excess=st.floats(1e-3, 1e5), above=st.booleans(), dtype=st.sampled_from(["int32", "float32", "float64"]))
    def test_out_of_range_writes_are_refused_and_change_nothing(
        self, served_plc: ServedPlc, ua_client: SyncUaClient, excess: float, above: bool, dtype: str
    ) -> None:
        tag = self._rw(served_plc, dtype)
        span = tag.high - tag.low
        bad = tag.high + excess * span if above else tag.low - excess * span
        before = served_plc.plc.image.value(tag.name)
        served_plc.plc.take_setpoint_changes()
        with ModbusTcpClient("127.0.0.1", port=served_plc.modbus_port) as client:
            words = [int(w) for w in _words(tag, bad)]
            response = client.write_registers(tag.address, words, device_id=served_plc.plc.tagmap.unit_id)
        assert response.isError() and response.exception_code == 3  # ILLEGAL DATA VALUE
        with pytest.raises(ua.UaStatusCodeError) as err:
            ua_node(ua_client, tag).write_value(ua.DataValue(ua.Variant(float(bad), ua.VariantType.Double)))
        assert err.value.code == ua.StatusCodes.BadOutOfRange
        assert served_plc.plc.image.value(tag.name) == before
        assert served_plc.plc.take_setpoint_changes() == {}

    def test_read_only_and_partial_writes_are_refused(self, served_plc: ServedPlc, ua_client: SyncUaClient) -> None:
        tagmap = served_plc.plc.tagmap
        ro = next(t for t in tagmap.tags if t.access == "ro" and t.table == "holding")
        before = served_plc.plc.image.value(ro.name)
        with ModbusTcpClient("127.0.0.1", port=served_plc.modbus_port) as client:
            words = [int(w) for w in _words(ro, 1.0)] * ro.elements
            assert client.write_registers(ro.address, words, device_id=tagmap.unit_id).exception_code == 2
            half = self._rw(served_plc)  # float32: two registers; write only the first
            assert client.write_registers(half.address, [0x4120], device_id=tagmap.unit_id).exception_code == 2
            assert client.write_registers(60000, [1], device_id=tagmap.unit_id).isError()
        with pytest.raises(ua.UaStatusCodeError) as err:
            ua_node(ua_client, tagmap["t.float32.big"]).write_value(
                ua.DataValue(ua.Variant(1.0, ua.VariantType.Double))
            )
        assert err.value.code == ua.StatusCodes.BadNotWritable
        assert np.array_equal(np.atleast_1d(served_plc.plc.image.value(ro.name)), np.atleast_1d(before), equal_nan=True)


def _words(tag: Tag, value: float) -> list[int]:
    from virtual_plc.codec import to_words

    return list(to_words(tag.dtype, np.array([value * tag.scale]), little=tag.word_order == "little")[0])


class TestMalformedFrames:
    @pytest.mark.parametrize(
        "garbage",
        [
            b"\x00\x01\x12\x34\x00\x06\x01\x03\x00\x00\x00\x01",  # protocol id 0x1234
            b"\x00\x01\x00\x00\x00\x00\x01\x03",  # length 0
            b"\x00\x01\x00\x00\xff\xff" + b"\x00" * 20,  # length 65535
        ],
    )
    def test_malformed_frame_closes_only_that_connection(self, served_plc: ServedPlc, garbage: bytes) -> None:
        tagmap = served_plc.plc.tagmap
        with ModbusTcpClient("127.0.0.1", port=served_plc.modbus_port) as bystander:
            assert not bystander.read_input_registers(0, count=4, device_id=tagmap.unit_id).isError()
            with socket.create_connection(("127.0.0.1", served_plc.modbus_port), timeout=5) as sock:
                sock.sendall(garbage)
                assert sock.recv(256) == b""  # the server closed this connection
            # the server and the other client carry on
            assert not bystander.read_input_registers(0, count=4, device_id=tagmap.unit_id).isError()
        with ModbusTcpClient("127.0.0.1", port=served_plc.modbus_port) as newcomer:
            assert not newcomer.read_input_registers(0, count=4, device_id=tagmap.unit_id).isError()


class TestStockClients:
    def test_mbpoll_reads_a_float_at_the_exported_address(self, served_plc: ServedPlc, tmp_path: Path) -> None:
        mbpoll = shutil.which("mbpoll")
        assert mbpoll, "mbpoll is installed by .ci/run (Debian package mbpoll)"
        tagmap = served_plc.plc.tagmap
        tagmap.to_csv(tmp_path / "tags.csv")
        row = next(
            line for line in (tmp_path / "tags.csv").read_text().splitlines() if line.startswith("t.float32.big,")
        )
        address = int(row.split(",")[9])
        served_plc.call(served_plc.plc.scan(60_000, {n: _mid(t) for n, t in _measured(tagmap)}))
        out = subprocess.run(
            [
                mbpoll,
                "-m",
                "tcp",
                "-p",
                str(served_plc.modbus_port),
                "-a",
                str(tagmap.unit_id),
                "-0",
                "-r",
                str(address),
                "-t",
                "3:float",
                "-B",
                "-1",
                "-c",
                "1",
                "127.0.0.1",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert out.returncode == 0, out.stderr
        reference, reported = re.search(r"^\[(\d+)\]:\s+(\S+)", out.stdout, re.M).groups()
        assert int(reference) == address
        assert math.isclose(float(reported), served_plc.plc.image.value("t.float32.big"), rel_tol=1e-5)

    def test_uaread_reads_a_node_at_the_exported_node_id(self, served_plc: ServedPlc) -> None:
        uaread = Path(sys.executable).with_name("uaread")
        tag = served_plc.plc.tagmap["t.float64.little"]
        served_plc.call(served_plc.plc.scan(120_000, {n: _mid(t) for n, t in _measured(served_plc.plc.tagmap)}))
        out = subprocess.run(
            [str(uaread), "-u", f"opc.tcp://127.0.0.1:{served_plc.opcua_port}", "-n", tag.opcua_node],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        assert float(out.stdout.strip().splitlines()[-1]) == served_plc.plc.image.value(tag.name)


def _measured(tagmap: TagMap) -> list[tuple[str, Tag]]:
    return [(t.name, t) for t in tagmap.tags if t.access == "ro" and t.name != tagmap.clock_tag]


def _mid(tag: Tag) -> float | np.ndarray:
    mid = tag.low + 0.4321 * (min(tag.high, 1e6) - tag.low)
    return mid if tag.length is None else np.full(tag.length, mid)


class TestSubscriptions:
    def test_a_subscribed_client_is_notified_of_each_refresh(self, served_plc: ServedPlc) -> None:
        """Nodes are served on read, but a monitored node still notifies on every scan that refreshes it."""
        import threading

        tag = served_plc.plc.tagmap["t.float32.little"]
        seen: list[float] = []
        arrived = threading.Event()
        changed = threading.Condition()

        class Handler:
            def datachange_notification(self, node, value, data) -> None:  # noqa: ANN001
                with changed:
                    seen.append(value)
                    changed.notify_all()
                if 7.5 in seen:
                    arrived.set()

        client = SyncUaClient(f"opc.tcp://127.0.0.1:{served_plc.opcua_port}", timeout=10)
        client.connect()
        try:
            subscription = client.create_subscription(20, Handler())
            subscription.subscribe_data_change(client.get_node(tag.opcua_node))
            values = {n: _mid(t) for n, t in _measured(served_plc.plc.tagmap)}
            for k, value in enumerate((2.5, 5.0, 7.5)):
                served_plc.call(served_plc.plc.scan(180_000 + 60_000 * k, {**values, tag.name: value}))
                with changed:  # the next value only once this one was published, however busy the machine
                    changed.wait_for(lambda v=value: v in seen, timeout=NOTIFICATION_TIMEOUT_S)
            assert arrived.wait(NOTIFICATION_TIMEOUT_S), seen
            subscription.delete()
        finally:
            client.disconnect()
        assert [v for v in seen if v in (2.5, 5.0, 7.5)] == [2.5, 5.0, 7.5]
