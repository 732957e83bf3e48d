"""The host reader stores another vendor's edge node: Eclipse Tahu's JavaScript encoder (npm ``sparkplug-payload``)
over MQTT.js publishes scalars, a template (UDT) instance and a data set by alias, the way gateways such as Ignition
do; Sparkplug 3.0 arrays, which that encoder does not write, are built here from the specification's layout."""

from __future__ import annotations

import asyncio
import json
import os
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.mqtt_support import run
from tests.node_opcua import REPO
from tests.twin.edge.sparkplug.support import EDGE_NODE, GROUP, HOST_USER, NODE_USER, SP_USERS, sparkplug_brokers
from twin.edge.historian import HistorianReader
from twin.edge.sparkplug.compound import ARRAYS, expand
from twin.edge.sparkplug.host import SparkplugHost, SparkplugStore
from twin.edge.sparkplug.payloads import add_metric, new_payload
from twin.edge.sparkplug.schema import DataType, Metric, Payload
from twin.edge.sparkplug.topics import Topic

SCRIPT = REPO / "tests" / "fixtures" / "sparkplug_vendor_node.js"
T0 = 1767225600000  # the vendor node's first timestamp (fixed in the script)
broker = pytest.fixture(scope="module", params=["amqtt", "mosquitto"])(sparkplug_brokers)


def stored(path: Path) -> dict[str, list[tuple[int, object, str]]]:
    """Element -> [(ts_ms, value, quality)] of every number and text the host stored, in time order."""
    with HistorianReader(path) as reader:
        table = reader.window().to_pylist() + reader.text_window().to_pylist()
    out: dict[str, list[tuple[int, object, str]]] = {}
    for r in sorted(table, key=lambda r: (r["tag"], r["ts_ms"])):
        out.setdefault(r["tag"], []).append((r["ts_ms"], r["value"], r["quality"]))
    return out


def test_the_host_stores_a_tahu_js_node_with_a_template_and_a_data_set(broker, tmp_path):
    async def main():
        host = SparkplugHost(broker.account(HOST_USER), GROUP, SparkplugStore(tmp_path / "host.duckdb"),
                             client_id=f"vendor-host-{broker.kind}")
        async with host:
            listening = asyncio.create_task(host.run(messages=6))  # NBIRTH, DBIRTH, 3 DDATA, NDEATH
            env = {**os.environ, "NODE_USERNAME": NODE_USER, "NODE_PASSWORD": SP_USERS[NODE_USER]}
            proc = await asyncio.create_subprocess_exec("node", str(SCRIPT), str(broker.server.port), GROUP, EDGE_NODE,
                                                        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                                        cwd=REPO)
            out, err = await asyncio.wait_for(proc.communicate(), 30)
            assert proc.returncode == 0 and out.strip() == b"DONE", err.decode()
            return await asyncio.wait_for(listening, 20)

    counts = run(main())
    assert counts.unknown == counts.unsupported == counts.bad_messages == 0 and counts.births == 2
    data = stored(tmp_path / "host.duckdb")
    good = {name: [(t - T0, v) for t, v, q in rows if q == "good"] for name, rows in data.items()}
    assert good["Force"] == [(0, 12.5), (1000, 13.5), (2000, 14.5), (3000, 15.5)]
    assert good["Count"] == [(0, -3.0), (1000, -4.0), (2000, -5.0), (3000, -6.0)]  # Int32, negative
    assert good["Recipe"] == [(0, "R-7")]
    assert good["Drive/Speed"] == [(k * 1000, 1000.0 + 10 * k) for k in range(4)]
    assert good["Drive/Running"] == [(k * 1000, float(k % 2)) for k in range(4)]
    assert [v for _, v in good["Drive/Fault"]] == ["", "", "", "overtemp"]
    tables = [json.loads(v) for _, v in good["Shift"]]
    assert [t["rows"] for t in tables] == [[["A", k], ["B", 2 * k]] for k in range(4)]
    assert tables[0]["columns"] == ["station", "count"] and tables[0]["types"] == ["STRING", "INT32"]
    # the NDEATH: every element the node had is bad from then on
    assert all(rows[-1][2] == "bad" for rows in data.values()) and "Motor" not in str(sorted(data))


def packed(datatype: DataType, values: list) -> bytes:
    """Sparkplug 3.0's array layout, from the specification (not from our decoder)."""
    if datatype == DataType.BOOLEAN_ARRAY:
        bits = bytearray((len(values) + 7) // 8)
        for k, v in enumerate(values):
            bits[k // 8] |= int(v) << (7 - k % 8)
        return struct.pack("<I", len(values)) + bytes(bits)
    if datatype == DataType.STRING_ARRAY:
        return b"".join(v.encode() + b"\0" for v in values)
    code = ARRAYS[datatype][0]
    return struct.pack(f"<{len(values)}{code}", *values)


def numbers(code: str) -> st.SearchStrategy:
    if code in "fd":
        return st.floats(allow_nan=False, width=32 if code == "f" else 64)
    bits = struct.calcsize(code) * 8
    low, high = (0, 2**bits - 1) if code.isupper() else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    return st.integers(low, high)


ARRAY_VALUES = st.one_of(
    *[st.tuples(st.just(dt), st.lists(numbers(code), max_size=20)) for dt, (code, _) in ARRAYS.items()
      if dt != DataType.DATETIME_ARRAY],
    st.tuples(st.just(DataType.BOOLEAN_ARRAY), st.lists(st.booleans(), max_size=40)),
    st.tuples(st.just(DataType.STRING_ARRAY), st.lists(st.text(alphabet=st.characters(blacklist_characters="\0",
                                                                                          blacklist_categories=["Cs"])),
                                                       max_size=8)))


@given(ARRAY_VALUES)
def test_every_array_datatype_unpacks_to_its_elements(case) -> None:
    datatype, values = case
    metric = Metric(datatype=datatype, bytes_value=packed(datatype, values))
    elements = expand(metric, datatype)
    assert [name for name, _, _ in elements] == [f"[{k}]" for k in range(len(values))]
    expected = values if datatype == DataType.STRING_ARRAY else [float(v) for v in values]
    assert [v for _, _, v in elements] == expected


def test_the_host_stores_array_elements_and_counts_a_malformed_array(tmp_path):
    """Arrays by alias through a host (no broker: its message handler directly), and a DoubleArray of 7 bytes."""
    host = SparkplugHost(None, GROUP, SparkplugStore(tmp_path / "host.duckdb"))  # type: ignore[arg-type]
    birth = new_payload(T0, 0)
    add_metric(birth, name="bdSeq", datatype=DataType.UINT64, value=0)
    host.handle(str(Topic(GROUP, "NBIRTH", "vendor")), birth.SerializeToString(), T0)
    device = new_payload(T0, 1)
    for alias, (name, datatype, values) in enumerate([("profile", DataType.FLOAT_ARRAY, [1.5, 2.5, 3.5]),
                                                      ("flags", DataType.BOOLEAN_ARRAY, [True, False, True]),
                                                      ("ids", DataType.STRING_ARRAY, ["a", "b"])], 1):
        metric = device.metrics.add(name=name, alias=alias, datatype=datatype, timestamp=T0)
        metric.bytes_value = packed(datatype, values)
    host.handle(str(Topic(GROUP, "DBIRTH", "vendor", "gauge")), device.SerializeToString(), T0)
    data = Payload(timestamp=T0 + 1000, seq=2)
    data.metrics.add(alias=1, timestamp=T0 + 1000, bytes_value=packed(DataType.FLOAT_ARRAY, [4.5, 5.5, 6.5, 7.5]))
    data.metrics.add(alias=2, timestamp=T0 + 1000, bytes_value=b"\x01\x02\x03\x04\x05\x06\x07")  # not a BooleanArray
    host.handle(str(Topic(GROUP, "DDATA", "vendor", "gauge")), data.SerializeToString(), T0 + 1000)
    host.store.close()
    data = stored(tmp_path / "host.duckdb")
    good = {name: [(t - T0, v) for t, v, q in rows if q == "good"] for name, rows in data.items()}
    assert good["profile[0]"] == [(0, 1.5), (1000, 4.5)] and good["profile[3]"] == [(1000, 7.5)]
    assert good["flags[0]"] == [(0, 1.0)] and good["flags[1]"] == [(0, 0.0)]
    assert good["ids[1]"] == [(0, "b")]
    assert host.counts.bad_messages == 1  # the 7-byte BooleanArray, named in the log, nothing stored for it

