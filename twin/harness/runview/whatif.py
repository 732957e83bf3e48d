"""What-if runs: a scenario with its knobs turned, run by the same runner as ``twin run``.

Knobs that ``twin run`` has flags for (seed, duration, policy, offline) go into the
:class:`~twin.harness.episode.EpisodeConfig` exactly as the CLI puts them, so the app and the CLI give
the same report for the same choices; the others (fault kind, target, magnitude and onset,
scan period, detection warm-up, and the knowledge-file perturbation and diagnosis method of the
scenario's ``rootcause`` block) make a new, validated :class:`~twin.harness.scenario.Scenario`.

Live runs: a finished run is a record; its alarms can no longer be acknowledged, nor its pending
commands approved. :class:`LiveRun` runs the same episode as :func:`~twin.harness.runview.whatif.run_whatif` on a
thread of its own and, through :attr:`~twin.harness.episode.EpisodeConfig.on_wired`, holds the run's
:class:`~twin.edge.detection.alarms.AlarmManager` and :class:`~twin.edge.control.loop.ControlLoop`:

* :meth:`LiveRun.approve` / :meth:`LiveRun.reject` call the loop's operator API (thread-safe;
  the loop acts on the decision at the next scan);
* :meth:`LiveRun.acknowledge` / :meth:`LiveRun.shelve` are queued and applied by a frame hook on
  the episode's own thread, at the plant time of the next scan: the alarm manager is not
  thread-safe, and its state model is keyed by plant time.

Plant time runs much faster than an operator reads, so between scans the hook can *hold* the
plant while a command waits for a decision (``hold_s``, wall seconds; the command's select
deadline is in plant time, so holding does not expire it) and *pace* the plant to ``speed``
times real time, so that alarms stay on the screen long enough to be acknowledged.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import queue
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from plant_models.registry import build_plant
from qtconfig import ConfigError
from rootcause.settings import Method
from twin.contracts import Mode, Policy, RunReport
from twin.edge.control.loop import ControlLoop
from twin.edge.detection.alarms import AlarmManager
from twin.edge.frames import Frame
from twin.harness.episode import EpisodeConfig, Progress, Wiring, run_episode
from twin.harness.scenario import Scenario, check_faults

METHODS: tuple[str, ...] = get_args(Method)
OPEN_STATES = ("unack_active", "ack_active", "unack_rtn", "shelved")
FINISHED_NOTE = ("This run is finished: its alarms can no longer be acknowledged or shelved, nor pending "
                 "commands approved. Tick “live run” on the Run page to act on a run while it runs.")
SNAPSHOT_EVERY_S = 0.2  # wall seconds between copies of the alarm list for the console


@dataclass(frozen=True)
class FaultKnob:
    """The fault to inject instead of the scenario's first one."""

    kind: str
    target: str
    magnitude: float
    start_s: float


@dataclass(frozen=True)
class Knobs:
    """An engineer's what-if choices; None keeps the scenario's own value."""

    seed: int | None = None
    duration_s: float | None = None
    policy: Policy | None = None
    mode: Mode = "lockstep"
    scan_ms: int | None = None
    fault: FaultKnob | None = None
    clean: bool = False
    warmup_s: float | None = None
    knowledge_drop: float | None = None  # share (0..1) of the knowledge file's links dropped
    knowledge_add: float | None = None  # spurious links added, as a share of the links
    knowledge_seed: int | None = None  # seed of that perturbation
    method: str | None = None  # diagnosis method: gnn or a baseline (rootcause.settings.Method)
    detector: str | None = None  # plug-ins (twin.edge.plugins): a registered name or module:attr
    diagnoser: str | None = None
    control_policy: str | None = None

    def digest(self) -> str:
        """A short, stable name for these choices (same knobs, same run directory)."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:8]


def fault_targets(scenario: Scenario) -> dict[str, list[str]]:
    """Fault kind -> the targets the scenario's plant accepts for it."""
    plant = build_plant(scenario.plant, scenario.seed, scenario.plant_options)
    return {kind: list(targets) for kind, targets in plant.fault_targets().items() if targets}


def apply_knobs(scenario: Scenario, knobs: Knobs) -> Scenario:
    """The scenario with the knobs that live in it turned; validated like a scenario file."""
    data: dict[str, Any] = scenario.model_dump(mode="json")
    if knobs.scan_ms is not None:
        data["scan_ms"] = knobs.scan_ms
    if knobs.warmup_s is not None:
        data["detection"]["warmup_s"] = knobs.warmup_s
    rootcause = {"knowledge_drop": knobs.knowledge_drop, "knowledge_add": knobs.knowledge_add,
                 "knowledge_seed": knobs.knowledge_seed, "method": knobs.method}
    data["rootcause"].update({key: value for key, value in rootcause.items() if value is not None})
    data["plugins"] = scenario.plugins.with_names(knobs.detector, knobs.diagnoser,
                                                  knobs.control_policy).model_dump(mode="json")
    if knobs.clean:
        data["faults"] = []
    elif knobs.fault is not None:
        first = data["faults"][0] if data["faults"] else {}
        keep = first if first.get("kind") == knobs.fault.kind else {}
        data["faults"] = [{**keep, **asdict(knobs.fault)}] + data["faults"][1:]
    try:
        turned = Scenario.model_validate(data)
    except ValueError as err:
        raise ValueError(f"the knobs make an invalid scenario: {err}") from None
    turned.source = scenario.source
    try:
        check_faults(turned, path=scenario.source or "<what-if>")
    except ConfigError as err:
        raise ValueError(str(err)) from None
    end_s = knobs.duration_s or turned.duration_s
    late = [f for f in turned.faults if f.start_s >= end_s]
    if late:
        raise ValueError(f"{late[0].kind} on {late[0].target} starts at {late[0].start_s:g} s, at or after the "
                         f"end of the run ({end_s:g} s): lower its onset or lengthen the run")
    return turned


def episode_config(knobs: Knobs, out_dir: Path, progress: Progress | None = None) -> EpisodeConfig:
    """The runner's configuration for these knobs, built as ``twin run`` builds it from its flags."""
    return EpisodeConfig(seed=knobs.seed, out_dir=out_dir, mode=knobs.mode, policy=knobs.policy,
                         duration_s=knobs.duration_s, progress=progress)


def whatif_dir(root: str | Path, scenario: Scenario, knobs: Knobs) -> Path:
    """Where a what-if run lands, named so a person can tell runs apart:
    ``ROOT/app/<scenario>-<fault kind, clean or as-scenario>-<policy>-seed<seed>-<knobs digest>`` (the digest keeps
    two runs of different knobs apart; the same knobs land in the same folder)."""
    seed = scenario.seed if knobs.seed is None else knobs.seed
    fault = "clean" if knobs.clean else (knobs.fault.kind if knobs.fault else "as-scenario")
    policy = knobs.policy or scenario.control.policy
    return Path(root) / "app" / f"{scenario.name}-{fault}-{policy}-seed{seed}-{knobs.digest()}"


def run_whatif(scenario: Scenario, knobs: Knobs, out_dir: Path, progress: Progress | None = None) -> RunReport:
    """Turn the knobs and run the episode (blocking); writes the usual run directory."""
    turned = apply_knobs(scenario, knobs)
    return asyncio.run(run_episode(turned, episode_config(knobs, out_dir, progress)))


class StopRequested(Exception):
    """Raised between scans when the operator stops a live run (the report says it stopped early)."""


@dataclass(frozen=True)
class AlarmAction:
    """An operator's action on an alarm, queued for the episode's thread."""

    kind: Literal["acknowledge", "shelve"]
    alarm_id: str
    operator: str
    duration_s: float = 0.0
    reason: str = ""


class LiveRun:
    """One what-if run on a background thread, with the operator API of its alarms and control loop.

    Parameters
    ----------
    scenario, knobs, out_dir
        As for :func:`~twin.harness.runview.whatif.run_whatif`.
    speed
        Plant seconds per wall second; None runs as fast as the machine can.
    hold_s
        Longest wall time to hold the plant while commands wait for a decision; 0 never holds.
    """

    def __init__(self, scenario: Scenario, knobs: Knobs, out_dir: Path, *, speed: float | None = None,
                 hold_s: float = 120.0) -> None:
        if speed is not None and speed <= 0:
            raise ValueError(f"speed must be positive (plant seconds per wall second), got {speed}")
        if hold_s < 0:
            raise ValueError(f"hold_s must be zero or positive, got {hold_s}")
        self.scenario = apply_knobs(scenario, knobs)
        self.knobs = knobs
        self.out_dir = Path(out_dir)
        self.speed = speed
        self.hold_s = hold_s
        self._hold_until: float | None = None  # while the plant is held for a decision: until when (monotonic)
        self.done = 0
        self.total = 0
        self.t_ms = 0
        self.report: RunReport | None = None
        self.error: str | None = None
        self.notes: list[str] = []  # operator actions the run could not apply, and why
        self._wiring: Wiring | None = None
        self._alarm_actions: queue.SimpleQueue[AlarmAction] = queue.SimpleQueue()
        self._decided: set[str] = set()  # commands the operator approved or rejected
        self._held: set[str] = set()  # commands the plant was held for
        self._alarms: list[dict[str, Any]] = []
        self._snapshot_at = 0.0
        self._paced_from: tuple[float, int] | None = None  # (wall, plant ms) pacing counts from
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name=f"live-{self.scenario.name}", daemon=True)

    # ------------------------------------------------------------------ driving
    def start(self) -> LiveRun:
        """Start the episode on its thread; returns self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the run to stop after the current scan (it writes its report, marked stopped early)."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the run to end; True when it has."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def running(self) -> bool:
        """True while the episode thread is alive."""
        return self._thread.is_alive()

    @property
    def wired(self) -> bool:
        """True once the run is wired (its alarm manager and control loop exist)."""
        return self._wiring is not None

    def _main(self) -> None:
        config = episode_config(self.knobs, self.out_dir, self._progress)
        config.hooks.append(self._between_scans)
        config.on_wired = self._on_wired
        try:
            self.report = asyncio.run(run_episode(self.scenario, config))
        except StopRequested:
            self.error = "stopped by the operator"
        except Exception as err:  # noqa: BLE001 - shown to the operator; the report says where it stopped
            self.error = f"{type(err).__name__}: {err}"

    def _on_wired(self, wiring: Wiring) -> None:
        self._wiring = wiring

    def _progress(self, done: int, total: int) -> None:
        self.done, self.total = done, total

    # ------------------------------------------------------- the episode's side
    async def _between_scans(self, frame: Frame) -> None:
        """Frame hook: apply queued alarm actions, copy the alarm list, hold for decisions, pace."""
        self.t_ms = frame.ts_ms
        alarms = self._manager()
        changed = self._apply_alarm_actions(alarms, frame.ts_ms)
        if changed or time.monotonic() - self._snapshot_at >= SNAPSHOT_EVERY_S:
            self._snapshot(alarms)
        if self._stop.is_set():
            raise StopRequested("stopped by the operator")
        await self._hold()
        await self._pace(frame.ts_ms)

    def _manager(self) -> AlarmManager:
        assert self._wiring is not None, "on_wired runs before the first scan"
        return self._wiring.edge.alarms

    def _apply_alarm_actions(self, alarms: AlarmManager, t_ms: int) -> bool:
        applied = False
        while not self._alarm_actions.empty():
            action = self._alarm_actions.get_nowait()
            try:
                if action.kind == "acknowledge":
                    alarms.acknowledge(action.alarm_id, t_ms, by=action.operator)
                else:
                    alarms.shelve(action.alarm_id, t_ms, action.duration_s, by=action.operator, reason=action.reason)
                applied = True
            except (KeyError, ValueError) as err:
                self.notes.append(f"{action.kind} {action.alarm_id} at {t_ms / 1000:g} s: {err}")
        return applied

    def _snapshot(self, alarms: AlarmManager) -> None:
        self._alarms = [a.to_dict() for a in alarms.alarms if a.state in OPEN_STATES]
        self._snapshot_at = time.monotonic()

    async def _hold(self) -> None:
        """While new commands wait for a decision, keep the plant where it is (up to ``hold_s`` once per
        command: undecided after that, a command runs into its select deadline in plant time)."""
        waiting = {c["id"] for c in self.pending()} - self._decided - self._held
        if not waiting or self.hold_s <= 0:
            return
        self._held |= waiting
        started = time.monotonic()
        self._hold_until = started + self.hold_s
        try:
            while (not self._stop.is_set() and time.monotonic() - started < self.hold_s
                   and waiting - self._decided):
                await asyncio.sleep(0.05)
        finally:
            self._hold_until = None

    @property
    def hold_left_s(self) -> float | None:
        """Wall seconds the plant stays held for a decision (None while it runs)."""
        until = self._hold_until
        return max(0.0, until - time.monotonic()) if until is not None else None

    async def _pace(self, t_ms: int) -> None:
        if self.speed is None:
            return
        if self._paced_from is None:
            self._paced_from = (time.monotonic(), t_ms)
        wall0, t0 = self._paced_from
        ahead = (t_ms - t0) / 1000 / self.speed - (time.monotonic() - wall0)
        if ahead > 0:
            await asyncio.sleep(ahead)

    # ------------------------------------------------------- the operator's side
    def alarms(self) -> list[dict[str, Any]]:
        """Alarms not back to normal (as of the last copy), JSON-ready, oldest first."""
        return list(self._alarms)

    def pending(self) -> list[dict[str, Any]]:
        """Commands waiting for an operator (recommend policy); empty with no control loop."""
        loop = self._loop()
        return loop.pending() if loop is not None else []

    def approve(self, command_id: str, operator: str = "operator") -> None:
        """Approve a pending command: the loop re-checks its interlocks and sends it at the next scan."""
        self._require_loop().approve(command_id, operator)
        self._decided.add(command_id)

    def reject(self, command_id: str, operator: str = "operator", reason: str = "") -> None:
        """Reject a pending command; the loop records it at the next scan."""
        self._require_loop().reject(command_id, operator, reason)
        self._decided.add(command_id)

    def acknowledge(self, alarm_id: str, operator: str = "operator") -> None:
        """Acknowledge an alarm at the next scan's plant time."""
        self._queue(AlarmAction("acknowledge", alarm_id, operator))

    def shelve(self, alarm_id: str, duration_s: float, operator: str = "operator", reason: str = "") -> None:
        """Shelve an alarm for ``duration_s`` plant seconds from the next scan, saying why (``reason``)."""
        if duration_s <= 0:
            raise ValueError(f"shelve for a positive time, not {duration_s} s")
        self._queue(AlarmAction("shelve", alarm_id, operator, duration_s, reason))

    def _queue(self, action: AlarmAction) -> None:
        if not self.running:
            raise RuntimeError(FINISHED_NOTE)
        self._alarm_actions.put(action)

    def _loop(self) -> ControlLoop | None:
        control = self._wiring.edge.control if self._wiring is not None else None
        return control.loop if control is not None else None

    def _require_loop(self) -> ControlLoop:
        if not self.running:
            raise RuntimeError(FINISHED_NOTE)
        loop = self._loop()
        if loop is None:
            raise RuntimeError("this run has no control loop (the plant has no playbook)")
        return loop
