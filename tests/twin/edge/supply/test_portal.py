"""The supplier portal over a real MQTT broker on 127.0.0.1: same report as in-process, nothing lost,
bad messages named and not merged, each supplier confined to its own topics (Mosquitto ACL)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.mqtt_support import Brokers, arrivals, run
from twin.edge.bridge.mqtt import MqttLink
from twin.edge.supply.portal import SCHEMA, PortalReceiver, encode, parse_topic, topic
from twin.edge.supply.semantic import Definition, SemanticLayer
from twin.harness.supply.portal import OEM_USER, InProcessPortal, MqttPortal, PortalError, portal_acl
from twin.harness.supply.report import SupplyReport
from twin.harness.supply.runner import run_episode, run_supply
from twin.harness.supply.scenario import load_supply_scenario

SCENARIOS = REPO / "scenarios"
SUPPLIERS = ["chipco", "brakeco", "ecuco"]


def portal_brokers(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Brokers]:
    """The closed-loop test brokers (tests.mqtt_support) with one account per supplier and the OEM."""
    users = {name: f"{name}-secret" for name in [OEM_USER, *SUPPLIERS]}
    brokers = Brokers(request.param, tmp_path_factory.mktemp(f"portal-{request.param}"), extra_users=users,
                      extra_acl=portal_acl(SUPPLIERS))
    yield brokers
    brokers.server.stop()


broker = pytest.fixture(scope="module", params=["amqtt", "mosquitto"])(portal_brokers)


def comparable(report: SupplyReport) -> dict:
    """A report without what differs by design between transports and runs: wall time, paths, the carrier's
    name, and the ledger's hashes and key (every ledger is signed with fresh keys, and its chain starts from them)."""
    data = report.model_dump(mode="json", exclude={"durations", "outputs"})
    for key in ("transport", "broker"):
        data["portal"].pop(key)
    for key in ("last_hash", "key_fingerprint", "anchor"):
        data["ledger"].pop(key, None)
    return data


@pytest.mark.slow
def test_mqtt_gives_the_same_report_as_inprocess(broker):
    """The benchmark runs in-process; over MQTT the same seed gives the same report, message for message."""
    spec = load_supply_scenario(SCENARIOS / "supply_brake_disc_runout.yaml")
    over_mqtt = run_supply(spec, seed=5, write=False, broker=broker)
    direct = run_supply(spec, seed=5, write=False, transport="inprocess")
    assert (over_mqtt.portal["transport"], over_mqtt.portal["broker"]) == ("mqtt", broker.kind)
    assert direct.portal["transport"] == "inprocess"
    assert comparable(over_mqtt) == comparable(direct)
    assert over_mqtt.portal["complete"] and over_mqtt.portal["published"] == over_mqtt.portal["received"]
    assert sum(over_mqtt.portal["published"].values()) > 1000


@pytest.mark.slow
def test_bad_messages_are_named_not_merged_and_none_is_lost(broker):
    """Scenario supply_mixed_lot: ECU message 41 leaves truncated, chipco sends degC from day 60
    while its declaration says degF. Both are named in the report; every message arrives."""
    spec = load_supply_scenario(SCENARIOS / "supply_mixed_lot.yaml")
    report = run_supply(spec, write=False, broker=broker)
    portal = report.portal
    assert portal["complete"] and portal["published"] == portal["received"]
    assert portal["fields_without_lot_record"] == 0
    (corrupt,) = portal["corrupted_at_source"]
    malformed = [r for r in portal["rejected"] if r["kind"] == "malformed"]
    assert [(r["topic"], r["supplier"]) for r in malformed] == [(corrupt["topic"], "ecuco")]
    assert "not JSON" in malformed[0]["detail"]
    units = [r for r in portal["rejected"] if r["kind"] == "message_unit"]
    assert units and {(r["supplier"], r["field"]) for r in units} == {("chipco", "TEMP_F")}
    assert "says unit 'degC' for TEMP_F, declared 'degF'" in units[0]["detail"]
    assert len(units) == sum(1 for lot in range(90) if lot + 1 >= 60)  # one per lot made from day 60 on
    assert ("chipco", "TEMP_F", "message_unit") in {(m["supplier"], m["field"], m["kind"])
                                                      for m in report.semantic_mismatches}
    chipco = next(s for s in report.scorecard if s["supplier"] == "chipco")
    assert chipco["data_completeness"] < 100  # the refused temperatures count as missing data


def test_a_supplier_cannot_publish_as_another(broker):
    """The broker's ACL (amqtt and Mosquitto alike, ``portal_acl``) keeps each supplier under its own name."""
    async def scenario() -> list[str]:
        oem = MqttLink(broker.account(OEM_USER), "acl-oem")
        rogue = MqttLink(broker.account("chipco"), "acl-chipco")
        await oem.connect()
        await oem.subscribed("quality_twin/supply/#")
        await rogue.connect()
        head = {"schema": SCHEMA, "seq": 0, "part": "x", "t_h": 1.0, "event": "maintenance"}
        rogue.publish(topic("brakeco", kind="event"), encode({**head, "supplier": "brakeco"}))
        rogue.publish(topic("chipco", kind="event"), encode({**head, "supplier": "chipco"}))
        got = await arrivals(oem, 2)  # at most the two published; a refused one never comes
        await rogue.close()
        await oem.close()
        return got

    assert run(scenario()) == [topic("chipco", kind="event")]


def test_a_message_that_never_arrives_stops_the_run_with_the_count(broker):
    """Lockstep waits for every message of a batch, bounded; a missing one is an error, not a gap."""
    receiver = PortalReceiver({"chipco": {}}, SemanticLayer({}))
    with MqttPortal(receiver, broker, ["chipco"], "lost", timeout_s=0.5) as portal:
        ok = encode({"schema": SCHEMA, "seq": 0, "supplier": "chipco", "part": "x", "t_h": 0.0, "event": "m"})
        portal.deliver([("chipco", topic("chipco", kind="event"), ok)])
        with pytest.raises(PortalError, match=r"1 of 2 messages not received within 0.5 s"):
            portal.deliver([("chipco", topic("chipco", kind="event"), ok), ("chipco", "elsewhere/chipco", ok)])
    with pytest.raises(PortalError, match=r"chipco: published 3, received 1"):
        portal.check()


def test_an_episode_started_without_a_broker_starts_its_own():
    spec = load_supply_scenario(SCENARIOS / "supply_clean.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        episode = run_episode(spec, 2, False, Path(tmp) / "ledger.jsonl")
    assert episode.portal["transport"] == "mqtt" and episode.portal["broker"] == "amqtt"
    assert episode.portal["complete"] and episode.portal["lots"] == 270


# ---- the receiver on its own (no broker) -------------------------------------------------------
CLAIMS = {"brakeco": {"RO_UM": {"canonical": "disc.runout", "unit": "micrometer",
                                "definition": "lateral runout at 10 mm from the rim"},
                      "HUM": {"canonical": "site.humidity", "unit": "percent", "definition": ""}}}
HEAD = {"schema": SCHEMA, "supplier": "brakeco", "part": "brake_disc", "lot": "brakeco-L0001", "t_h": 24.0}
GOOD = {**HEAD, "seq": 0, "field": "RO_UM", "unit": "micrometer",
        "definition": "lateral runout at 10 mm from the rim", "subgroups": [[20.0, 21.0, 19.5]]}
RO = topic("brakeco", "RO_UM", "subgroup")


def receive(*messages: tuple[str, bytes]) -> PortalReceiver:
    """A receiver for brakeco that has taken ``messages`` in-process (counts checked)."""
    layer = SemanticLayer({"disc.runout": Definition(unit="mm", definition="lateral runout at 10 mm from the rim"),
                           "site.humidity": Definition(unit="percent")})
    rx = PortalReceiver(CLAIMS, layer)
    transport = InProcessPortal(rx)
    transport.deliver([((parse_topic(name) or ("?",))[0], name, payload) for name, payload in messages])
    transport.check()
    return rx


def lot_record(fields: list[str]) -> tuple[str, bytes]:
    """brakeco's lot record closing lot L0001 with ``fields``."""
    return topic("brakeco", kind="lot"), encode({**HEAD, "seq": 9, "fields": fields})


@pytest.mark.parametrize(("name", "payload", "kind", "words"), [
    (RO, b"\xff\xfe not utf-8", "malformed", "not JSON"),
    (RO, encode(GOOD)[:40], "malformed", "not JSON"),
    (RO, json.dumps({**GOOD, "subgroups": [[1.0, float("nan")]]}).encode(), "malformed", "subgroups.0.1"),
    (RO, encode({**GOOD, "subgroups": [[1.0, 2.0], [3.0]]}), "malformed", "of one size"),
    (RO, encode({**GOOD, "colour": "red"}), "malformed", "colour: Extra inputs are not permitted"),
    (RO, encode({k: v for k, v in GOOD.items() if k != "unit"}), "malformed", "unit: Field required"),
    (RO, encode({**GOOD, "schema": "qt.supply/0"}), "malformed", "schema"),
    (topic("brakeco", "HUM", "subgroup"), encode(GOOD), "malformed", "topic names brakeco/HUM, payload says "
                                                                     "brakeco/RO_UM"),
    (topic("discco", "RO_UM", "subgroup"), encode({**GOOD, "supplier": "discco"}), "unknown_supplier", "'discco'"),
    (RO, encode({**GOOD, "unit": "mm"}), "message_unit", "says unit 'mm' for RO_UM, declared 'micrometer'"),
    (RO, encode({**GOOD, "definition": "radial runout"}), "message_definition", "declared 'lateral runout"),
    ("quality_twin/supply/brakeco/RO_UM/raw", encode(GOOD), "topic", "not a portal topic"),
])
def test_a_bad_message_is_named_and_its_values_are_not_merged(name, payload, kind, words):
    rx = receive((name, payload), lot_record(["RO_UM"]))
    (record,) = rx.flush()
    assert record["fields"] == {}
    (rejected,) = rx.rejected
    assert rejected["kind"] == kind and rejected["topic"] == name and words in rejected["detail"], rejected
    assert rx.total_received == 2


def test_a_good_message_passes_and_arrival_order_does_not_matter():
    humidity = (topic("brakeco", "HUM", "iot"), encode({**HEAD, "seq": 1, "field": "HUM", "unit": "percent",
                                                          "definition": "", "value": 61.5}))
    forward = receive((RO, encode(GOOD)), humidity, lot_record(["RO_UM", "HUM"])).flush()
    backward = receive(lot_record(["RO_UM", "HUM"]), humidity, (RO, encode(GOOD))).flush()
    assert forward == backward
    assert forward[0]["fields"] == {"RO_UM": [[20.0, 21.0, 19.5]], "HUM": 61.5}


def test_topic_layout_round_trips_and_refuses_wildcards():
    assert parse_topic(topic("brakeco", "RO_UM", "iot")) == ("brakeco", "RO_UM", "iot")
    assert parse_topic(topic("brakeco", kind="lot")) == ("brakeco", None, "lot")
    assert parse_topic("quality_twin/supply/brakeco") is None
    with pytest.raises(ValueError, match="'lot' or 'event'"):
        topic("brakeco", kind="subgroup")
    spec = load_supply_scenario(SCENARIOS / "supply_clean.yaml").model_dump()
    spec["chain"]["suppliers"][0]["publishes"]["A/B"] = {"canonical": "site.humidity", "unit": "percent"}
    from twin.harness.supply.scenario import SupplyScenario
    with pytest.raises(ValueError, match=r"published field name 'A/B' of chipco cannot be an MQTT topic level"):
        SupplyScenario.model_validate(spec)
