"""No client call stops the virtual PLC: a seeded, bounded fuzz over the OPC UA services a client can call.

Browse, Read, Write, Call, AddNodes, DeleteNodes, TranslateBrowsePaths, CreateSubscription,
CreateMonitoredItems, ModifyMonitoredItems, SetMonitoringMode and DeleteSubscriptions, on odd node
ids, attributes, index ranges, variants, filters and parameters, from several anonymous sessions,
with PLC scans in between (they notify whatever items the fuzz managed to create); then many sessions
at once, half of them dropped without a goodbye, and raw garbage on the port. Afterwards the PLC
still scans, OPC UA still answers a read, Modbus still answers, and no anonymous call changed a
setpoint or the address space.
"""

from __future__ import annotations

import asyncio
import math
import random
import string
import struct
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import suppress

import numpy as np
import pytest
from asyncua import Client, ua
from pymodbus.client import AsyncModbusTcpClient

from virtual_plc.plc import LOOPBACK, VirtualPlc
from virtual_plc.tagmap import Tag, TagMap

TAGMAP = TagMap(plant="f", opcua_namespace="urn:f", clock_tag="f.plc.clock", tags=[
    Tag(name="f.plc.clock", dtype="uint64", low=0, high=2**53, period_ms=10, table="input"),
    Tag(name="f.oven.temp", low=0, high=300, period_ms=10, table="input"),
    Tag(name="f.xray.profile", length=4, low=0, high=500, period_ms=10, table="input"),
    Tag(name="f.oven.setpoint", access="rw", low=0, high=300, period_ms=10),
]).allocated()
SETPOINT = 120.0
CASES = 400  # fuzzed calls per seed
SCAN_EVERY = 8  # a PLC scan after this many calls
SESSIONS = 4  # sessions the calls are spread over
CROWD = 12  # sessions opened at once at the end
CALL_TIMEOUT_S = 15.0  # guards: one call (or one connect) answered, however busy the machine
OUR_NODES = [t.opcua_node for t in TAGMAP.tags] + ["ns=2;s=f", "ns=2;s=f.oven"]
STANDARD_NODES = ["i=0", "i=84", "i=85", "i=2253", "i=2256", "i=2255", "i=11492", "i=11715", "i=45", "i=35"]

Service = Callable[["Fuzzer", Client], Awaitable[object]]


class Fuzzer:
    """Seeded odd inputs: node ids, attributes, index ranges, variants, filters, numbers."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.subscriptions: list[int] = [0, 1, 2**32 - 1]
        self.monitored: list[int] = [0, 1, 112, 2**32 - 1]

    def pick(self, *options: object) -> object:
        """One of ``options``."""
        return self.rng.choice(options)

    def node(self) -> ua.NodeId:
        """Ours, a standard one, or a numeric, string, GUID or opaque id in an odd namespace."""
        rng = self.rng
        kind = rng.randrange(7)
        if kind < 2:
            return ua.NodeId.from_string(rng.choice(OUR_NODES))
        if kind == 2:
            return ua.NodeId.from_string(rng.choice(STANDARD_NODES))
        namespace = rng.choice([0, 1, 2, 3, 255, 65535])
        if kind == 3:
            return ua.NodeId(rng.choice([0, 1, 2**31, 2**32 - 1, rng.randrange(2**32)]), namespace)
        if kind == 4:
            text = rng.choice(["", " ", "f.oven.temp ", "ä;s=x", "\x00", "f." * 300,
                               "".join(rng.choice(string.printable) for _ in range(rng.randrange(40)))])
            return ua.NodeId(text, namespace, ua.NodeIdType.String)
        if kind == 5:
            return ua.NodeId(uuid.UUID(int=rng.getrandbits(128)), namespace, ua.NodeIdType.Guid)
        return ua.NodeId(rng.randbytes(rng.randrange(20)), namespace, ua.NodeIdType.ByteString)

    def attribute(self) -> int:
        """An attribute id: mostly real, Value often, sometimes past the last."""
        return self.rng.choice([*range(0, 28), 13, 13, 13, 2**31, 2**32 - 1])

    def index_range(self) -> str | None:
        """None, or an index range, valid or not."""
        return self.rng.choice([None, None, "", "0", "1:2", "2:1", "0:0", "a", "0,0", "-1", "99999999999"])

    def number(self) -> float:
        """A double: ordinary, huge, tiny, NaN or infinite."""
        return self.rng.choice([0.0, -1.0, 1.0, 120.0, 1e300, -1e-300, math.nan, math.inf, -math.inf,
                                self.rng.uniform(-1e6, 1e6)])

    def variant(self) -> ua.Variant:
        """A variant of any of a dozen types, arrays and structures included."""
        rng, x = self.rng, self.number()
        return rng.choice([
            lambda: ua.Variant(x, ua.VariantType.Double),
            lambda: ua.Variant(x, ua.VariantType.Float),
            lambda: ua.Variant(rng.randrange(-2**31, 2**31), ua.VariantType.Int32),
            lambda: ua.Variant(rng.getrandbits(64), ua.VariantType.UInt64),
            lambda: ua.Variant(rng.random() < 0.5, ua.VariantType.Boolean),
            lambda: ua.Variant("".join(rng.choice(string.printable) for _ in range(rng.randrange(50)))),
            lambda: ua.Variant(rng.randbytes(rng.randrange(50)), ua.VariantType.ByteString),
            lambda: ua.Variant(),
            lambda: ua.Variant([self.number() for _ in range(rng.randrange(6))], ua.VariantType.Double),
            lambda: ua.Variant([["a"], ["b"]], ua.VariantType.String),
            lambda: ua.Variant(ua.LocalizedText("x", "en")),
            lambda: ua.Variant(self.node(), ua.VariantType.NodeId),
            lambda: ua.Variant(ua.Argument(Name="a"), ua.VariantType.ExtensionObject),
        ])()

    def data_value(self) -> ua.DataValue:
        """A variant with, sometimes, a Bad, Uncertain or undefined status."""
        status = self.rng.choice([None, None, ua.StatusCodes.BadSensorFailure, ua.StatusCodes.UncertainInitialValue,
                                  0xFFFFFFFF])
        return ua.DataValue(self.variant(), StatusCode=None if status is None else ua.StatusCode(status))

    def monitoring_filter(self) -> object:
        """No filter, a data-change filter with any deadband, or a filter for something else."""
        rng = self.rng
        return rng.choice([
            lambda: None,
            lambda: ua.DataChangeFilter(Trigger=rng.choice(list(ua.DataChangeTrigger)),
                                        DeadbandType=rng.randrange(4), DeadbandValue=self.number()),
            lambda: ua.EventFilter(),
            lambda: ua.AggregateFilter(),
        ])()

    def monitored_item(self) -> ua.MonitoredItemCreateRequest:
        """A request to monitor an odd node and attribute with odd parameters."""
        rng = self.rng
        return ua.MonitoredItemCreateRequest(
            ItemToMonitor=ua.ReadValueId(NodeId=self.node(), AttributeId=rng.choice([13, 13, 12, self.attribute()]),
                                         IndexRange=self.index_range()),
            MonitoringMode=rng.choice(list(ua.MonitoringMode)),
            RequestedParameters=ua.MonitoringParameters(
                ClientHandle=rng.getrandbits(32), SamplingInterval=self.number(), Filter=self.monitoring_filter(),
                QueueSize=rng.choice([0, 1, 2, 2**32 - 1]), DiscardOldest=rng.random() < 0.5))


async def browse(f: Fuzzer, client: Client) -> object:
    """Browse a few odd nodes."""
    rng = f.rng
    return await client.uaclient.browse(ua.BrowseParameters(
        RequestedMaxReferencesPerNode=rng.choice([0, 1, 2**32 - 1]),
        NodesToBrowse=[ua.BrowseDescription(NodeId=f.node(), BrowseDirection=rng.choice(list(ua.BrowseDirection)),
                                            ReferenceTypeId=f.pick(ua.NodeId(), f.node()),
                                            IncludeSubtypes=rng.random() < 0.5, NodeClassMask=rng.getrandbits(32),
                                            ResultMask=rng.getrandbits(32)) for _ in range(rng.randrange(1, 4))]))


async def read(f: Fuzzer, client: Client) -> object:
    """Read odd attributes of odd nodes."""
    return await client.uaclient.read(ua.ReadParameters(
        MaxAge=f.number(), TimestampsToReturn=f.pick(*ua.TimestampsToReturn),
        NodesToRead=[ua.ReadValueId(NodeId=f.node(), AttributeId=f.attribute(), IndexRange=f.index_range())
                     for _ in range(f.rng.randrange(1, 6))]))


async def write(f: Fuzzer, client: Client) -> object:
    """Write odd values, mostly to Value attributes."""
    return await client.uaclient.write(ua.WriteParameters(NodesToWrite=[
        ua.WriteValue(NodeId=f.node(), AttributeId=f.pick(13, 13, f.attribute()), IndexRange=f.index_range(),
                      Value=f.data_value()) for _ in range(f.rng.randrange(1, 4))]))


async def call(f: Fuzzer, client: Client) -> object:
    """Call a method, real or not, with odd arguments."""
    return await client.uaclient.call([ua.CallMethodRequest(
        ObjectId=f.pick(ua.NodeId.from_string("i=2253"), f.node()),
        MethodId=f.pick(ua.NodeId.from_string("i=11492"), ua.NodeId.from_string("i=12873"), f.node()),
        InputArguments=[f.variant() for _ in range(f.rng.randrange(3))])])


async def add_nodes(f: Fuzzer, client: Client) -> object:
    """Add a node of any class anywhere."""
    node_class = f.pick(*ua.NodeClass)
    attributes = f.pick(ua.ObjectAttributes(), ua.VariableAttributes(), ua.MethodAttributes(), None)
    return await client.uaclient.add_nodes([ua.AddNodesItem(
        ParentNodeId=f.node(), ReferenceTypeId=f.pick(ua.NodeId.from_string("i=35"), f.node()),
        RequestedNewNodeId=f.node(), BrowseName=ua.QualifiedName("fuzz", f.rng.randrange(4)), NodeClass=node_class,
        NodeAttributes=attributes, TypeDefinition=f.node())])


async def delete_nodes(f: Fuzzer, client: Client) -> object:
    """Delete a node, ours among them."""
    return await client.uaclient.delete_nodes(ua.DeleteNodesParameters(NodesToDelete=[
        ua.DeleteNodesItem(NodeId=f.node(), DeleteTargetReferences=f.rng.random() < 0.5)]))


async def translate(f: Fuzzer, client: Client) -> object:
    """Translate an odd browse path."""
    elements = [ua.RelativePathElement(ReferenceTypeId=f.node(), IsInverse=f.rng.random() < 0.5,
                                       TargetName=ua.QualifiedName(f.pick("oven", "temp", "", "*"), f.rng.randrange(4)))
                for _ in range(f.rng.randrange(4))]
    return await client.uaclient.translate_browsepaths_to_nodeids([ua.BrowsePath(
        StartingNode=f.node(), RelativePath=ua.RelativePath(Elements=elements))])


async def create_subscription(f: Fuzzer, client: Client) -> object:
    """Create a subscription with odd intervals and counts."""
    rng = f.rng
    subscription = await client.create_subscription(ua.CreateSubscriptionParameters(
        RequestedPublishingInterval=f.pick(0.0, -1.0, 10.0, f.number()),
        RequestedLifetimeCount=rng.choice([0, 1, 3, 10_000, 2**32 - 1]),
        RequestedMaxKeepAliveCount=rng.choice([0, 1, 2**32 - 1]),
        MaxNotificationsPerPublish=rng.choice([0, 1, 2**32 - 1]), PublishingEnabled=rng.random() < 0.8,
        Priority=rng.randrange(256)), _Quiet())
    f.subscriptions.append(subscription.subscription_id)
    return subscription


async def create_monitored_items(f: Fuzzer, client: Client) -> object:
    """Monitor odd items in some subscription, this session's or not."""
    results = await client.uaclient.create_monitored_items(ua.CreateMonitoredItemsParameters(
        SubscriptionId=f.pick(*f.subscriptions), TimestampsToReturn=f.pick(*ua.TimestampsToReturn),
        ItemsToCreate=[f.monitored_item() for _ in range(f.rng.randrange(1, 4))]))
    f.monitored.extend(r.MonitoredItemId for r in results)
    return results


async def modify_monitored_items(f: Fuzzer, client: Client) -> object:
    """Give some monitored item odd parameters."""
    item = f.monitored_item()
    return await client.uaclient.modify_monitored_items(ua.ModifyMonitoredItemsParameters(
        SubscriptionId=f.pick(*f.subscriptions), TimestampsToReturn=f.pick(*ua.TimestampsToReturn),
        ItemsToModify=[ua.MonitoredItemModifyRequest(MonitoredItemId=f.pick(*f.monitored),
                                                     RequestedParameters=item.RequestedParameters)]))


async def set_monitoring_mode(f: Fuzzer, client: Client) -> object:
    """Switch some monitored items' mode."""
    return await client.uaclient.set_monitoring_mode(ua.SetMonitoringModeParameters(
        SubscriptionId=f.pick(*f.subscriptions), MonitoringMode=f.pick(*ua.MonitoringMode),
        MonitoredItemIds=[f.pick(*f.monitored) for _ in range(f.rng.randrange(3))]))


async def delete_subscriptions(f: Fuzzer, client: Client) -> object:
    """Delete some subscription."""
    return await client.uaclient.delete_subscriptions([f.pick(*f.subscriptions)])


SERVICES: list[Service] = [browse, read, read, write, write, call, add_nodes, delete_nodes, translate,
                           create_subscription, create_monitored_items, create_monitored_items,
                           modify_monitored_items, set_monitoring_mode, delete_subscriptions]


class _Quiet:
    """A subscription handler that takes whatever arrives."""

    def datachange_notification(self, node: object, value: object, data: object) -> None:
        """Ignore a data change."""

    def event_notification(self, event: object) -> None:
        """Ignore an event."""

    def status_change_notification(self, status: object) -> None:
        """Ignore a status change."""


def measurements(f: Fuzzer) -> dict[str, float | np.ndarray]:
    """A scan's values: sometimes a NaN (BadSensorFailure), the array changing every time."""
    temp = f.pick(math.nan, f.rng.uniform(0, 300), 25.0)
    return {"f.oven.temp": temp, "f.xray.profile": np.array([f.rng.uniform(0, 500) for _ in range(4)])}


async def session(plc: VirtualPlc) -> Client:
    """A connected anonymous session on the PLC's OPC UA server."""
    assert plc.opcua is not None
    client = Client(plc.opcua.url, timeout=CALL_TIMEOUT_S)
    await asyncio.wait_for(client.connect(), CALL_TIMEOUT_S)
    return client


async def fuzz(plc: VirtualPlc, seed: int) -> Counter[str]:
    """Run the seeded calls from ``SESSIONS`` sessions, a scan every ``SCAN_EVERY``; what the clients got."""
    f = Fuzzer(seed)
    outcomes: Counter[str] = Counter()
    clients = [await session(plc) for _ in range(SESSIONS)]
    try:
        for case in range(CASES):
            slot = f.rng.randrange(SESSIONS)
            service = f.rng.choice(SERVICES)
            try:
                await asyncio.wait_for(service(f, clients[slot]), CALL_TIMEOUT_S)
                outcomes[f"{service.__name__}: answered"] += 1
            except (TimeoutError, ConnectionError, ua.UaError, ValueError, TypeError, OverflowError,
                    struct.error) as err:  # a refusal, or a value the client cannot even encode: carry on
                outcomes[f"{service.__name__}: {type(err).__name__}"] += 1
                if not clients[slot].uaclient.protocol or isinstance(err, (ConnectionError, TimeoutError)):
                    with suppress(Exception):
                        await clients[slot].disconnect()
                    clients[slot] = await session(plc)
            if case % SCAN_EVERY == 0:
                await plc.scan(10 * (case + 1), measurements(f))  # notifies every item created so far: never raises
    finally:
        for client in clients:
            with suppress(Exception):
                await client.disconnect()
    return outcomes


async def crowd(plc: VirtualPlc) -> None:
    """Many sessions at once; half leave properly, half drop their connection without a goodbye."""
    clients = await asyncio.gather(*(session(plc) for _ in range(CROWD)))
    for k, client in enumerate(clients):
        if k % 2:
            await client.disconnect()
        else:
            client.uaclient.protocol.transport.abort()  # type: ignore[union-attr]


async def garbage(plc: VirtualPlc, seed: int) -> None:
    """Raw bytes on the OPC UA port: a Hello asking for 4 GB buffers, a truncated one, random blobs."""
    assert plc.opcua is not None
    rng = random.Random(seed)
    hello = struct.pack("<3scIIIIII", b"HEL", b"F", 32, 0, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF)
    for blob in [hello, hello[:11], b"MSGF" + bytes(4), *(rng.randbytes(rng.randrange(1, 200)) for _ in range(16))]:
        _, writer = await asyncio.open_connection(LOOPBACK, plc.opcua.port)
        writer.write(blob)
        await writer.drain()
        writer.close()
        with suppress(ConnectionError):
            await writer.wait_closed()


async def still_serving(plc: VirtualPlc) -> tuple[float, float, list[int]]:
    """A fresh session's read of the setpoint and the temperature, and a Modbus read of the setpoint."""
    await plc.scan(1_000_000, {"f.oven.temp": 42.5, "f.xray.profile": np.arange(4.0)})
    client = await session(plc)
    try:
        setpoint = await client.get_node(TAGMAP["f.oven.setpoint"].opcua_node).read_value()
        temp = await client.get_node(TAGMAP["f.oven.temp"].opcua_node).read_value()
    finally:
        await client.disconnect()
    assert plc.modbus is not None
    async with AsyncModbusTcpClient(LOOPBACK, port=plc.modbus.port, timeout=CALL_TIMEOUT_S) as modbus:
        response = await modbus.read_holding_registers(TAGMAP["f.oven.setpoint"].address, count=2,
                                                       device_id=TAGMAP.unit_id)
    assert not response.isError(), response
    return setpoint, temp, list(response.registers)


@pytest.mark.parametrize("seed", [18, 4840])
def test_no_client_call_stops_the_plc(seed: int) -> None:
    async def main() -> tuple[Counter[str], int, int, tuple[float, float, list[int]], dict[str, float]]:
        plc = VirtualPlc(TAGMAP)
        plc.initialise_setpoints({"f.oven.setpoint": SETPOINT})
        await plc.start(host=LOOPBACK)
        assert plc.opcua is not None
        try:
            nodes_before = len(list(plc.opcua.server.iserver.aspace.keys()))
            outcomes = await fuzz(plc, seed)
            await crowd(plc)
            await garbage(plc, seed)
            nodes_after = len(list(plc.opcua.server.iserver.aspace.keys()))
            return outcomes, nodes_before, nodes_after, await still_serving(plc), plc.take_setpoint_changes()
        finally:
            await plc.stop()

    outcomes, nodes_before, nodes_after, (setpoint, temp, registers), changes = asyncio.run(main())
    assert sum(outcomes.values()) == CASES
    assert sum(n for k, n in outcomes.items() if k.endswith("answered")) > CASES // 2, outcomes  # not all bounced
    assert (setpoint, temp) == (SETPOINT, 42.5)
    assert registers == [0x42F0, 0x0000]  # 120.0 as a big-endian float32
    assert changes == {}  # no anonymous write got through
    assert nodes_after == nodes_before  # nobody added or deleted a node
