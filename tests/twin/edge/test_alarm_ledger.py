"""An operator's acknowledgements and shelvings of alarms land in the run's hash-chained ledger."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.conftest import REPO
from twin.edge.frames import Frame
from twin.edge.ledger import verify_ledger
from twin.harness.episode import EpisodeConfig, Wiring, run_episode
from twin.harness.scenario import load_scenario

FAST = {"faults": [{"kind": "blade_pressure_drift", "target": "coater.blade3", "start_s": 125, "magnitude": 0.6,
                    "rate": 0.05}]}


@pytest.mark.slow
def test_acknowledge_and_shelve_are_ledgered(tmp_path: Path) -> None:
    scenario = load_scenario(REPO / "scenarios" / "coater_blade_drift.yaml", FAST)
    wired: list[Wiring] = []
    done: list[str] = []

    def operator(frame: Frame) -> None:
        alarms = wired[0].edge.alarms
        for alarm in alarms.alarms:
            if alarm.state == "unack_active" and not done:
                alarms.acknowledge(alarm.id, frame.ts_ms, by="anna")
                done.append(alarm.id)
            elif alarm.id in done and alarm.state == "ack_active" and len(done) == 1:
                alarms.shelve(alarm.id, frame.ts_ms, 30, by="ben", reason="blade 3 transmitter under repair")
                done.append("shelved")

    config = EpisodeConfig(out_dir=tmp_path, mode="offline", duration_s=170, hooks=[operator], on_wired=wired.append)
    asyncio.run(run_episode(scenario, config))
    assert len(done) == 2, "the drift raised an alarm to act on"
    entries = [json.loads(line) for line in (tmp_path / "ledger.jsonl").read_text().splitlines()]
    ops = [(e["kind"], e["payload"]["alarm_id"], e["payload"]["by"]) for e in entries if e["kind"].startswith("alarm_")]
    assert ops == [("alarm_ack", done[0], "anna"), ("alarm_shelve", done[0], "ben")]
    shelve = next(e for e in entries if e["kind"] == "alarm_shelve")
    assert shelve["payload"]["duration_s"] == 30 and shelve["payload"]["state"] == "shelved"
    assert shelve["payload"]["reason"] == "blade 3 transmitter under repair"  # why, as ISA-18.2 asks
    assert verify_ledger(tmp_path / "ledger.jsonl").ok
