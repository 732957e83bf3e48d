"""Policy ``recommend`` in the runner: select-before-operate on the flagship, offline.

The runner gives no handle on its live control loop, so the test wraps the one function that
makes it (``open_closed_loop`` as the edge stack imports it) to keep the :class:`ClosedLoop`, and an
ordinary frame hook (``EpisodeConfig.hooks``) plays the operator. The flagship is compressed as
in ``tests/twin/edge/test_realtime.py`` (coil ageing from 30 s, 25 s warm-up), so a valve command is
proposed about 64 s in; the playbook's ``select_timeout_s`` is 120 s. About 20 s on 2 cores.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.twin.edge.test_realtime import VALVE, compressed_flagship
from twin.edge import stack
from twin.edge.control.wiring import ClosedLoop
from twin.edge.frames import Frame
from twin.edge.ledger import verify_ledger
from twin.harness.episode import EpisodeConfig, run_episode
from twin.harness.scenario import load_scenario

pytestmark = pytest.mark.slow  # two flagship episodes under recommend, about 40 s

SELECT_TIMEOUT_MS = 120_000  # plant_models/coater/playbook.yaml select_timeout_s


class Operator:
    """Watches the live loop every scan: notes the valve command, approves pending commands if told to."""

    def __init__(self, approves: bool) -> None:
        self.approves = approves
        self.closed: ClosedLoop | None = None
        self.approved: list[str] = []
        self.valve: list[tuple[int, float]] = []  # (plant ms, valve command the PLC reports)

    def capture(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Keep the runner's :class:`ClosedLoop` when it opens it (the wiring itself is unchanged)."""
        real = stack.open_closed_loop

        async def opened(*args: Any, **kwargs: Any) -> ClosedLoop:
            self.closed = await real(*args, **kwargs)
            return self.closed

        monkeypatch.setattr(stack, "open_closed_loop", opened)

    def __call__(self, frame: Frame) -> None:
        """The frame hook: runs after the loop has seen ``frame``; an approval takes effect next scan."""
        assert self.closed is not None, "the runner opened no closed loop"
        self.valve.append((frame.ts_ms, float(frame.value(VALVE))))
        if self.approves:
            for pending in self.closed.loop.pending():
                if pending["id"] not in self.approved:
                    self.closed.loop.approve(pending["id"], operator="test-operator")
                    self.approved.append(pending["id"])


def recommend_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, approves: bool,
                  duration_s: float) -> tuple[dict[str, Any], Operator]:
    """The compressed flagship under ``recommend``, offline; (report.json, the operator)."""
    operator = Operator(approves)
    operator.capture(monkeypatch)
    scenario = load_scenario(compressed_flagship(tmp_path / "scenario.yaml"))
    config = EpisodeConfig(out_dir=tmp_path / "run", mode="offline", policy="recommend",
                           duration_s=duration_s, hooks=[operator])
    report = asyncio.run(run_episode(scenario, config))
    assert verify_ledger(tmp_path / "run" / "ledger.jsonl").ok
    return report.model_dump(mode="json"), operator


def first_valve_command(report: dict[str, Any]) -> dict[str, Any]:
    """The first correction of the valve the loop proposed."""
    return next(c for c in report["commands"] if c["tag"] == VALVE and c["kind"] == "correction")


@pytest.mark.timeout(120)
def test_without_approval_a_recommended_command_expires_unapplied(tmp_path, monkeypatch) -> None:
    report, operator = recommend_run(tmp_path, monkeypatch, approves=False, duration_s=200)
    first = first_valve_command(report)
    assert first["policy"] == "recommend" and first["status"] == "expired"
    assert "select timeout" in " ".join(first["notes"])
    assert first["command"] is None and first["sends"] == 0 and first["ack"] is None
    assert first["approved_by"] is None
    assert operator.valve[-1][0] > first["t_ms"] + SELECT_TIMEOUT_MS  # the run outlived the timeout
    assert {value for _, value in operator.valve} == {operator.valve[0][1]}  # the valve never moved
    assert report["scores"]["command_delay_s"] is None


@pytest.mark.timeout(120)
def test_an_approved_recommended_command_is_applied(tmp_path, monkeypatch) -> None:
    report, operator = recommend_run(tmp_path, monkeypatch, approves=True, duration_s=100)
    first = first_valve_command(report)
    assert first["id"] in operator.approved and first["approved_by"] == "test-operator"
    assert first["status"] == "applied"
    assert first["ack"]["read_back"] == pytest.approx(first["value"], rel=1e-6)
    assert first["t_ms"] < first["sent_t_ms"] < first["t_ms"] + SELECT_TIMEOUT_MS  # sent after the approval
    # the PLC's valve command moves to the approved value after the approval, not before
    before = [v for t, v in operator.valve if t <= first["sent_t_ms"]]
    after = [v for t, v in operator.valve if t > first["applied_t_ms"]]
    assert set(before) == {first["previous"]} and after[0] == pytest.approx(first["value"], rel=1e-6)
    assert report["scores"]["command_delay_s"] is not None
