"""Supplier IoT data as Sparkplug B (``portal.iot: sparkplug``): the same lots, checks and report as JSON, each
supplier confined to its own edge node by the broker, and what is wrong with a Sparkplug message named."""

from __future__ import annotations

import pytest

from tests.conftest import REPO
from tests.mqtt_support import Brokers, arrivals, run
from tests.twin.edge.supply.test_portal import comparable, portal_brokers
from twin.edge.bridge.mqtt import MqttLink
from twin.edge.sparkplug.payloads import add_metric, new_payload
from twin.edge.sparkplug.schema import DataType
from twin.edge.sparkplug.topics import Topic
from twin.edge.supply import sparkplug
from twin.edge.supply.portal import SCHEMA, PortalReceiver, encode, topic
from twin.edge.supply.semantic import Definition, SemanticLayer
from twin.harness.supply.portal import OEM_USER
from twin.harness.supply.runner import run_supply
from twin.harness.supply.scenario import SupplyScenario, load_supply_scenario

SCENARIOS = REPO / "scenarios"
broker = pytest.fixture(scope="module", params=["amqtt", "mosquitto"])(portal_brokers)


def with_iot(spec: SupplyScenario, iot: str) -> SupplyScenario:
    return spec.model_copy(update={"portal": spec.portal.model_copy(update={"iot": iot})})


def without_portal(report: dict) -> dict:
    return {k: v for k, v in report.items() if k not in ("portal", "scenario")}


@pytest.mark.parametrize("scenario", ["supply_clean", "supply_mixed_lot"])
def test_sparkplug_iot_gives_the_report_json_gives(scenario: str) -> None:
    """Same seed, IoT values as Sparkplug B instead of JSON: every lot, score, scorecard and mismatch the same;
    the wire carries two births more per supplier; a corrupt message is still named, now by its Sparkplug topic."""
    spec = load_supply_scenario(SCENARIOS / f"{scenario}.yaml")
    as_json = comparable(run_supply(with_iot(spec, "json"), seed=5, write=False, transport="inprocess"))
    as_sparkplug = comparable(run_supply(with_iot(spec, "sparkplug"), seed=5, write=False, transport="inprocess"))
    assert without_portal(as_sparkplug) == without_portal(as_json)
    json_portal, sp_portal = as_json["portal"], as_sparkplug["portal"]
    assert sp_portal["complete"] and sp_portal["lots"] == json_portal["lots"] > 0
    assert {s: n + 2 for s, n in json_portal["published"].items()} == sp_portal["published"]
    assert sp_portal["fields_without_lot_record"] == json_portal["fields_without_lot_record"] == 0

    def kinds(portal: dict) -> list[tuple[str, str]]:
        return sorted((r["supplier"], r["kind"]) for r in portal["rejected"])
    assert kinds(sp_portal) == kinds(json_portal)
    for corrupt in sp_portal["corrupted_at_source"]:
        assert corrupt["topic"].startswith("spBv1.0/supply/DDATA/")  # the corrupt messages are IoT values here
        named = [r for r in sp_portal["rejected"] if r["topic"] == corrupt["topic"] and r["kind"] == "malformed"]
        assert named and "not a Sparkplug B payload" in named[0]["detail"]


CLAIMS = {"ovenco": {"OVEN_C": {"canonical": "oven.temp", "unit": "degC", "definition": "zone 2 air"},
                     "RH": {"canonical": "site.rh", "unit": "percent", "definition": ""}}}
LAYER = {"oven.temp": Definition(unit="degC"), "site.rh": Definition(unit="percent")}
BIRTHS = sparkplug.birth_messages("ovenco", "frame", {"OVEN_C": ("degC", "zone 2 air"), "RH": ("percent", "")},
                                  t_ms=0)


def lot_record(lot: str, fields: list[str], seq: int) -> tuple[str, bytes]:
    return topic("ovenco", kind="lot"), encode({"schema": SCHEMA, "seq": seq, "supplier": "ovenco", "part": "frame",
                                                "t_h": 1.0, "lot": lot, "fields": fields})


def receive(*messages: tuple[str, bytes]) -> PortalReceiver:
    receiver = PortalReceiver(CLAIMS, SemanticLayer(LAYER))
    for name, payload in messages:
        receiver.accept(name, payload)
    return receiver


def test_another_gateways_ddata_by_name_with_several_lots_is_merged_in_any_arrival_order() -> None:
    """A gateway that sends metrics by name and bundles two lots in one DDATA: each lot gets its values, whatever
    order the broker delivered births, data and lot records in."""
    payload = new_payload(5, 2)
    for lot, value, seq in (("L1", 180.5, 0), ("L2", 181.25, 2)):
        add_metric(payload, name="OVEN_C", datatype=DataType.DOUBLE, value=value, properties={
            "lot": (DataType.STRING, lot), "t_h": (DataType.DOUBLE, 1.0), "seq": (DataType.UINT64, seq)})
    data = (str(Topic("supply", "DDATA", "ovenco", "frame")), payload.SerializeToString())
    messages = [*BIRTHS, data, lot_record("L1", ["OVEN_C"], 1), lot_record("L2", ["OVEN_C"], 3)]
    for order in (messages, messages[::-1]):
        receiver = receive(*order)
        records = receiver.flush()
        assert [(r["lot"], r["fields"]) for r in records] == [("L1", {"OVEN_C": 180.5}), ("L2", {"OVEN_C": 181.25})]
        assert receiver.rejected == [] and receiver.received == {"ovenco": 5}


@pytest.mark.parametrize(("metrics", "words"), [
    ([(9, 1.0, {"lot": "L1", "t_h": 1.0, "seq": 0})], "metric 9 of ovenco/frame is not in its DBIRTH"),
    ([(1, 1.0, {"t_h": 1.0, "seq": 0})], "lot: Field required"),
    ([(1, 1.0, {"lot": "L1", "t_h": 1.0, "seq": 0, "engUnit": "degF"})],
     "says unit 'degF' for OVEN_C, declared 'degC'"),
])
def test_what_is_wrong_with_a_sparkplug_value_is_named_and_not_merged(metrics: list, words: str) -> None:
    data = sparkplug.data_message("ovenco", "frame", metrics, t_ms=5, seq=2)
    receiver = receive(*BIRTHS, data, lot_record("L1", ["OVEN_C"], 1))
    records = receiver.flush()
    assert records == [] or records[0]["fields"] == {}
    assert any(words in r["detail"] for r in receiver.rejected), receiver.rejected


def test_data_before_any_birth_is_rejected_naming_the_device() -> None:
    data = sparkplug.data_message("ovenco", "frame", [(1, 1.0, {"lot": "L1", "t_h": 1.0, "seq": 0})], t_ms=5, seq=2)
    receiver = receive(data)
    receiver.flush()
    assert [(r["kind"], r["supplier"]) for r in receiver.rejected] == [("malformed", "ovenco")]
    assert "DDATA of ovenco/frame before its DBIRTH" in receiver.rejected[0]["detail"]


def test_a_supplier_cannot_publish_sparkplug_as_another(broker: Brokers) -> None:
    """The portal's ACL makes each supplier Sparkplug edge node supply/<itself> and nothing else."""
    async def scenario() -> list[str]:
        oem = MqttLink(broker.account(OEM_USER), "spacl-oem")
        rogue = MqttLink(broker.account("chipco"), "spacl-chipco")
        await oem.connect()
        await oem.subscribed(sparkplug.SUBSCRIPTION)
        await rogue.connect()
        data = sparkplug.data_message("brakeco", "disc", [(1, 1.0, {"lot": "L1", "t_h": 1.0, "seq": 0})], t_ms=0,
                                      seq=0)
        own = sparkplug.data_message("chipco", "chip", [(1, 1.0, {"lot": "L1", "t_h": 1.0, "seq": 0})], t_ms=0, seq=0)
        rogue.publish(*data)
        rogue.publish(*own)
        got = await arrivals(oem, 2)
        await rogue.close()
        await oem.close()
        return got

    assert run(scenario()) == ["spBv1.0/supply/DDATA/chipco/chip"]


@pytest.mark.slow
def test_sparkplug_over_a_broker_gives_the_report_inprocess_gives(broker: Brokers) -> None:
    spec = with_iot(load_supply_scenario(SCENARIOS / "supply_mixed_lot.yaml"), "sparkplug")
    over_mqtt = comparable(run_supply(spec, seed=5, write=False, broker=broker))
    direct = comparable(run_supply(spec, seed=5, write=False, transport="inprocess"))
    assert over_mqtt == direct and over_mqtt["portal"]["complete"]
