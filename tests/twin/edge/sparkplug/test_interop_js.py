"""Interop: Eclipse Tahu's JavaScript decoder (npm ``sparkplug-payload``) over MQTT.js, a Sparkplug client nobody
here wrote, subscribes on Mosquitto (accounts, ACL) and checks our edge node's births, aliases, datatypes,
properties, seq wrap over > 256 messages and the NDEATH will of a killed edge."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess

import pytest

from tests.mqtt_support import SCAN_MS, run
from tests.node_opcua import REPO
from tests.twin.edge.sparkplug.support import SP_USERS, SPY_USER, Line, node_for, sparkplug_brokers

SCRIPT = REPO / "tests" / "fixtures" / "sparkplug_spy.js"
FRAMES = 300
broker = pytest.fixture(scope="module", params=["mosquitto"])(sparkplug_brokers)


async def spy_process(port: int) -> asyncio.subprocess.Process:
    env = {**os.environ, "SPY_USERNAME": SPY_USER, "SPY_PASSWORD": SP_USERS[SPY_USER]}
    proc = await asyncio.create_subprocess_exec("node", str(SCRIPT), str(port), "spBv1.0/g/#", "NDEATH", env=env,
                                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 15)
    assert line.strip() == b"READY", line
    return proc


def test_tahu_js_reads_our_edge_node(broker):
    async def main():
        proc = await spy_process(broker.server.port)
        async with Line() as line:
            node = node_for(broker, line, report_by_exception=False, client_id="js-interop")
            await node.start()
            for k in range(FRAMES):
                node.publish(await line.scan(k * SCAN_MS), line.down())
            bd_seq = node.bd_seq
            await asyncio.sleep(0.2)  # let the last DDATA leave before the socket is cut
            node.link.abort()
            out, err = await asyncio.wait_for(proc.communicate(), 20)
        assert proc.returncode == 0, err.decode()
        return [json.loads(x) for x in out.decode().splitlines()], bd_seq

    messages, bd_seq = run(main())
    kinds = [m["topic"].split("/")[2] for m in messages]
    assert kinds[:2] == ["NBIRTH", "DBIRTH"] and kinds[-1] == "NDEATH" and kinds.count("DDATA") == FRAMES - 1
    nbirth, dbirth, death = messages[0], messages[1], messages[-1]
    assert {m["name"]: m["type"] for m in nbirth["metrics"]} == {
        "bdSeq": "UInt64", "Node Control/Rebirth": "Boolean", "Command/Id": "String", "Command/Metric": "String",
        "Command/Status": "String", "Command/Reason": "String"}
    assert [m["value"] for m in death["metrics"] if m["name"] == "bdSeq"] == \
        [m["value"] for m in nbirth["metrics"] if m["name"] == "bdSeq"] == [str(bd_seq)]
    born = {m["name"]: m for m in dbirth["metrics"]}
    assert born["t.coolant.flow"]["type"] == "Float"
    assert born["t.coolant.flow"]["properties"] == {"engUnit": "L/min", "engLow": 0, "engHigh": 50,
                                                    "readOnly": True, "Quality": 192}
    assert born["t.oven.power_sp"]["type"] == "Double" and born["t.oven.power_sp"]["properties"]["readOnly"] is False
    aliases = {int(m["alias"]): name for name, m in born.items()}
    assert len(aliases) == len(born) == 6
    data = [m for m in messages if "/DDATA/" in m["topic"]]
    assert all(int(x["alias"]) in aliases and x.get("name") is None for m in data for x in m["metrics"])
    seqs = [int(m["seq"]) for m in messages[:-1]]
    assert seqs == [k % 256 for k in range(len(seqs))] and len(seqs) > 256
    values = [x["value"] for m in data for x in m["metrics"] if aliases[int(x["alias"])] == "t.blade1.pressure"]
    assert values == [8.0 + k % 7 * 0.5 for k in range(1, FRAMES)]
