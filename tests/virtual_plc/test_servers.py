"""The virtual PLC over real Modbus TCP and OPC UA sockets on 127.0.0.1.

The shared PLC's OPC UA server is the default one (anonymous sessions read, their writes are
refused); ``lab_server`` is a second OPC UA server on the same process image started with
``anonymous_writes=True``, for the tests of what a permitted write gets.
"""

from __future__ import annotations

import logging
import math
import re
import shutil
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from asyncua import Client, ua
from asyncua.client.ua_client import UaClient
from asyncua.sync import Client as SyncUaClient
from asyncua.sync import sync_uaclient_method
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymodbus.client import ModbusTcpClient

from tests.support import ServedPlc
from virtual_plc.codec import quantise
from virtual_plc.opcua_server import OpcUaPlcServer
from virtual_plc.plc import LOOPBACK, free_port
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


def connected(port: int) -> Iterator[SyncUaClient]:
    """An anonymous OPC UA client of the server on ``port``, disconnected afterwards."""
    client = SyncUaClient(f"opc.tcp://127.0.0.1:{port}", timeout=10)
    client.connect()
    yield client
    client.disconnect()


@pytest.fixture(scope="module")
def ua_client(served_plc: ServedPlc) -> Iterator[SyncUaClient]:
    yield from connected(served_plc.opcua_port)


@pytest.fixture(scope="module")
def lab_server(served_plc: ServedPlc) -> Iterator[OpcUaPlcServer]:
    """A second OPC UA server on the shared PLC's image that takes anonymous writes (a lab simulator)."""
    server = OpcUaPlcServer(served_plc.plc.image, host=LOOPBACK, port=free_port(), anonymous_writes=True)
    served_plc.call(server.start())
    yield server
    served_plc.call(server.stop())


@pytest.fixture(scope="module")
def lab_client(lab_server: OpcUaPlcServer) -> Iterator[SyncUaClient]:
    yield from connected(lab_server.port)


def ua_node(client: SyncUaClient, tag: Tag):  # noqa: ANN201
    return client.get_node(tag.opcua_node)


def ua_write(client: SyncUaClient, node: str, value: ua.DataValue, *,
             attribute: ua.AttributeIds = ua.AttributeIds.Value, index_range: str | None = None) -> str:
    """The status name the server answers one write with."""
    write = sync_uaclient_method(UaClient.write)(client)
    item = ua.WriteValue(NodeId=ua.NodeId.from_string(node), AttributeId=attribute, IndexRange=index_range,
                         Value=value)
    (status,) = write(ua.WriteParameters(NodesToWrite=[item]))
    return status.name


def double(value: float) -> ua.DataValue:
    """A scalar Double value, the one variant a setpoint takes."""
    return ua.DataValue(ua.Variant(value, ua.VariantType.Double))


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

    def test_in_range_writes_apply_over_both_protocols(self, served_plc: ServedPlc, ua_client: SyncUaClient,
                                                       lab_client: SyncUaClient) -> None:
        """Modbus writes; over OPC UA an anonymous write is refused by default and applied on a lab server."""
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
            assert ua_write(ua_client, tag.opcua_node, double(ua_target)) == "BadUserAccessDenied"
            assert served_plc.plc.take_setpoint_changes() == {tag.name: target}  # the Modbus write only
            ua_node(lab_client, tag).write_value(double(ua_target))
            assert decode_words(tag, modbus_read(served_plc.modbus_port, tag, tagmap.unit_id)) == [ua_target]
            assert ua_node(ua_client, tag).read_value() == ua_target
            assert served_plc.plc.take_setpoint_changes() == {tag.name: ua_target}

    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(excess=st.floats(1e-3, 1e5), above=st.booleans(), dtype=st.sampled_from(["int32", "float32", "float64"]))
    def test_out_of_range_writes_are_refused_and_change_nothing(
        self, served_plc: ServedPlc, lab_client: SyncUaClient, excess: float, above: bool, dtype: str
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
        assert ua_write(lab_client, tag.opcua_node, double(float(bad))) == "BadOutOfRange"
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


SETPOINT = "ns=2;s=t.float64.big_sp"
READ_ONLY = "ns=2;s=t.float64.big"


class TestOpcUaWriteAnswers:
    """Each refused write gets the status OPC UA Part 4 gives it, and leaves every setpoint as it was."""

    @pytest.mark.parametrize(("node", "value", "attribute", "index_range", "status"), [
        ("ns=2;s=no.such.tag", double(1.0), ua.AttributeIds.Value, None, "BadNodeIdUnknown"),
        ("ns=7;i=4711", double(1.0), ua.AttributeIds.Value, None, "BadNodeIdUnknown"),
        (SETPOINT, double(1.0), ua.AttributeIds.EventNotifier, None, "BadAttributeIdInvalid"),
        (SETPOINT, ua.DataValue(ua.Variant(ua.LocalizedText("x"))), ua.AttributeIds.DisplayName, None,
         "BadNotWritable"),
        (READ_ONLY, double(1.0), ua.AttributeIds.Value, None, "BadNotWritable"),
        ("i=2256", double(1.0), ua.AttributeIds.Value, None, "BadNotWritable"),  # Server_ServerStatus
        (SETPOINT, double(1.0), ua.AttributeIds.Value, "0", "BadIndexRangeInvalid"),
        (SETPOINT, ua.DataValue(ua.Variant(1.0, ua.VariantType.Double),
                                StatusCode=ua.StatusCode(ua.StatusCodes.UncertainLastUsableValue)),
         ua.AttributeIds.Value, None, "BadWriteNotSupported"),
        (SETPOINT, ua.DataValue(ua.Variant(1.0, ua.VariantType.Float)), ua.AttributeIds.Value, None,
         "BadTypeMismatch"),
        (SETPOINT, ua.DataValue(ua.Variant(1, ua.VariantType.Int32)), ua.AttributeIds.Value, None, "BadTypeMismatch"),
        (SETPOINT, ua.DataValue(ua.Variant("1.0", ua.VariantType.String)), ua.AttributeIds.Value, None,
         "BadTypeMismatch"),
        (SETPOINT, ua.DataValue(ua.Variant(True, ua.VariantType.Boolean)), ua.AttributeIds.Value, None,
         "BadTypeMismatch"),
        (SETPOINT, ua.DataValue(ua.Variant([1.0], ua.VariantType.Double)), ua.AttributeIds.Value, None,
         "BadTypeMismatch"),
        (SETPOINT, double(math.nan), ua.AttributeIds.Value, None, "BadOutOfRange"),
        (SETPOINT, double(math.inf), ua.AttributeIds.Value, None, "BadOutOfRange"),
    ])
    def test_a_refused_write_gets_its_status(self, served_plc: ServedPlc, lab_client: SyncUaClient, node: str,
                                             value: ua.DataValue, attribute: ua.AttributeIds,
                                             index_range: str | None, status: str) -> None:
        before = served_plc.plc.image.value("t.float64.big_sp")
        served_plc.plc.take_setpoint_changes()
        assert ua_write(lab_client, node, value, attribute=attribute, index_range=index_range) == status
        assert served_plc.plc.image.value("t.float64.big_sp") == before
        assert served_plc.plc.take_setpoint_changes() == {}

    def test_by_default_an_anonymous_session_reads_but_may_not_write(self, served_plc: ServedPlc,
                                                                     ua_client: SyncUaClient,
                                                                     lab_client: SyncUaClient) -> None:
        """The check order: an unknown node or a read-only tag is said so, whoever asks; then the user."""
        served_plc.plc.take_setpoint_changes()
        assert ua_write(ua_client, SETPOINT, double(1.0)) == "BadUserAccessDenied"
        assert ua_write(ua_client, SETPOINT, ua.DataValue(ua.Variant("x"))) == "BadUserAccessDenied"
        assert ua_write(ua_client, "ns=2;s=no.such.tag", double(1.0)) == "BadNodeIdUnknown"
        assert ua_write(ua_client, READ_ONLY, double(1.0)) == "BadNotWritable"
        assert served_plc.plc.take_setpoint_changes() == {}
        assert ua_client.get_node(SETPOINT).read_value() == served_plc.plc.image.value("t.float64.big_sp")
        default, lab = ua_client.get_node(SETPOINT), lab_client.get_node(SETPOINT)
        assert ua.AccessLevel.CurrentWrite in default.get_access_level()  # the tag is a setpoint...
        assert ua.AccessLevel.CurrentWrite not in default.get_user_access_level()  # ...this user may not write
        assert ua.AccessLevel.CurrentWrite in lab.get_user_access_level()


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

    def test_an_odd_monitored_item_is_dropped_and_the_scan_and_other_subscribers_carry_on(
            self, served_plc: ServedPlc, caplog: pytest.LogCaptureFixture) -> None:
        """Items asyncua cannot notify (a deadband on an array, an event filter on a value) once crashed the scan."""
        import asyncio

        tagmap = served_plc.plc.tagmap
        normal, profile, odd = tagmap["t.float32.little"], tagmap["t.xray.profile"], tagmap["t.float64.little"]
        values = {n: _mid(t) for n, t in _measured(tagmap)}
        sent = (12.5, 15.0, 17.5)  # none of them the value an earlier test left
        caplog.set_level(logging.WARNING, logger="virtual_plc.opcua_server")

        async def main() -> list[float]:
            seen: asyncio.Queue[float] = asyncio.Queue()

            class Handler:
                def datachange_notification(self, node, value, data) -> None:  # noqa: ANN001
                    if node.nodeid.to_string() == normal.opcua_node:
                        seen.put_nowait(value)

            async with Client(f"opc.tcp://127.0.0.1:{served_plc.opcua_port}", timeout=10) as client:
                subscription = await client.create_subscription(20, Handler())
                await subscription.deadband_monitor(client.get_node(profile.opcua_node), 0.5)
                with pytest.raises(ua.UaStatusCodeError):  # asyncua fails on it at once, but keeps the item
                    await client.uaclient.create_monitored_items(ua.CreateMonitoredItemsParameters(
                        SubscriptionId=subscription.subscription_id, TimestampsToReturn=ua.TimestampsToReturn.Both,
                        ItemsToCreate=[monitor(odd.opcua_node, ua.EventFilter())]))
                await subscription.subscribe_data_change(client.get_node(normal.opcua_node))
                got = []
                for k, value in enumerate(sent):
                    scan = {**values, normal.name: value, profile.name: np.full(profile.length, 100.0 + 50 * k)}
                    await served_plc.plc.scan(300_000 + 60_000 * k, scan)
                    while value not in got:
                        got.append(await asyncio.wait_for(seen.get(), NOTIFICATION_TIMEOUT_S))
                await subscription.delete()
            return got

        got = served_plc.call(main(), timeout=4 * NOTIFICATION_TIMEOUT_S)
        assert [v for v in got if v in sent] == list(sent)
        dropped = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
        assert any(profile.name in m and "TypeError" in m for m in dropped), dropped
        assert any(odd.name in m and "AttributeError" in m for m in dropped), dropped


def monitor(node: str, monitoring_filter: object) -> ua.MonitoredItemCreateRequest:
    """A request to monitor ``node``'s Value with ``monitoring_filter``."""
    return ua.MonitoredItemCreateRequest(
        ItemToMonitor=ua.ReadValueId(NodeId=ua.NodeId.from_string(node), AttributeId=ua.AttributeIds.Value),
        MonitoringMode=ua.MonitoringMode.Reporting,
        RequestedParameters=ua.MonitoringParameters(ClientHandle=999, SamplingInterval=0, QueueSize=1,
                                                    DiscardOldest=True, Filter=monitoring_filter))


def test_a_modbus_port_another_program_holds_is_an_os_error_naming_the_address() -> None:
    """pymodbus says RuntimeError; the CLI and the harness catch OSError and print one line."""
    import asyncio

    from plant_models.registry import build_plant
    from twin.harness.binding import plant_tagmap
    from virtual_plc.image import ProcessImage
    from virtual_plc.modbus_server import ModbusPlcServer

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind((LOOPBACK, 0))
        held.listen()
        port = held.getsockname()[1]
        server = ModbusPlcServer(ProcessImage(plant_tagmap(build_plant("coater", 1, {}), 10)), port=port)
        with pytest.raises(OSError, match=rf"cannot listen on 127\.0\.0\.1:{port}"):
            asyncio.run(server.start())
