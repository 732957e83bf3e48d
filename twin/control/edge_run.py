"""``twin edge run``: the edge as its own process — collection, detection, root cause and control — in real time.

It knows only an endpoint file (and the tag map it names), exactly what it would know about
a real line: no scenario, no plant model (the import contract covers this module). Per tick
of ``scan_ms / speed`` wall seconds it polls every PLC on the edge's own time grid (started
at the PLC's clock), aligns a frame, stores it in the historian, runs detection, root cause
and the control loop; commands go over MQTT to the PLC bridge (in this process unless
``bridge=False``), which writes them through the same drivers, reads back and acks.
When the edge falls behind the wall clock it catches up without sleeping and counts the late
ticks. Everything goes to ``out_dir``: ``historian.duckdb``, ``ledger.jsonl``,
``bridge_journal.jsonl`` and ``edge.json`` (alarms, diagnoses, commands, counts; no truth,
so no scores).

Settings come from a YAML file with any of the blocks ``detection``, ``rootcause``,
``control`` and ``alignment`` (a scenario file will do: its other keys are ignored).

MQTT accounts (:func:`broker_account`): a broker with passwords (Mosquitto as CI runs it) needs
the edge's account and, when the bridge runs here, the bridge's. They come from the broker
address's own username and password, else from the environment — ``TWIN_MQTT_USERNAME`` /
``TWIN_MQTT_PASSWORD`` (edge), ``TWIN_MQTT_BRIDGE_USERNAME`` / ``TWIN_MQTT_BRIDGE_PASSWORD``
(bridge), kept out of the command line and so out of ``ps`` — else ``edge`` and ``bridge``
with no password (what the in-process amqtt broker takes).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from rootcause.diagnoser import AlarmRef, DiagnosisLoop
from rootcause.settings import RootCauseSettings
from twin.bridge.brokers import BRIDGE_USER, EDGE_USER
from twin.bridge.mqtt import BrokerAddress
from twin.detection.alarms import AlarmManager
from twin.detection.settings import DetectionSettings
from twin.edge.collector import Collector, build_collectors, element_index, poll_all
from twin.edge.frames import Aligner
from twin.edge.historian import Historian
from twin.plugins.choice import PluginChoices
from twin.plugins.registry import make_detector, rootcause_loop
from virtual_plc.configfile import read_yaml, validate_document
from virtual_plc.drivers import make_driver
from virtual_plc.endpoints import load_endpoints

from .loop import ControlLoop, Policy
from .wiring import open_closed_loop

EDGE_REPORT_FILE = "edge.json"
HISTORIAN_FILE = "historian.duckdb"
SUMMARY_EVERY = 50  # ticks between refreshes of the result (and checks of ``stop``)
ACCOUNT_ENV = {  # role → (username variable, password variable, default username)
    "edge": ("TWIN_MQTT_USERNAME", "TWIN_MQTT_PASSWORD", EDGE_USER),
    "bridge": ("TWIN_MQTT_BRIDGE_USERNAME", "TWIN_MQTT_BRIDGE_PASSWORD", BRIDGE_USER),
}


class _Policy(BaseModel):
    model_config = ConfigDict(extra="ignore")
    policy: Policy = "off"


class _Alignment(BaseModel):
    model_config = ConfigDict(extra="ignore")
    staleness_periods: float = Field(default=2.0, ge=1.0)


class EdgeSettings(BaseModel):
    """What the edge is told besides the endpoint file: detection, root cause, control, alignment."""

    model_config = ConfigDict(extra="ignore")

    detection: DetectionSettings = Field(default_factory=DetectionSettings)
    rootcause: RootCauseSettings = Field(default_factory=RootCauseSettings)
    control: _Policy = Field(default_factory=_Policy)
    alignment: _Alignment = Field(default_factory=_Alignment)
    plugins: PluginChoices = Field(default_factory=PluginChoices)


def load_edge_settings(path: str | Path | None) -> tuple[EdgeSettings, Path | None]:
    """Edge settings from a YAML file (errors name field and line), and the folder paths resolve from."""
    if path is None:
        return EdgeSettings(), None
    path = Path(path)
    return validate_document(EdgeSettings, read_yaml(path), path), path.resolve().parent


def broker_account(role: Literal["edge", "bridge"], broker: BrokerAddress | None = None,
                   environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The (username, password) the edge's MQTT link (``role`` edge) or its bridge's logs in with.

    First found: ``broker``'s own username and password (the edge's account only: the bridge
    has its own), then the role's environment variables (:data:`ACCOUNT_ENV`; ``environ``
    defaults to ``os.environ``), then the role's default username and no password.

    >>> broker_account("edge", environ={"TWIN_MQTT_USERNAME": "edge-7", "TWIN_MQTT_PASSWORD": "s3"})
    ('edge-7', 's3')
    >>> broker_account("edge", BrokerAddress("127.0.0.1", 1883, "plant-edge", "pw"), environ={})
    ('plant-edge', 'pw')
    >>> broker_account("bridge", BrokerAddress("127.0.0.1", 1883, "plant-edge", "pw"), environ={})
    ('bridge', '')
    """
    user_var, password_var, default_user = ACCOUNT_ENV[role]
    if role == "edge" and broker is not None and broker.username is not None:
        return broker.username, broker.password or ""
    env = os.environ if environ is None else environ
    return env.get(user_var) or default_user, env.get(password_var, "")


@dataclass
class EdgeRunResult:
    """What one edge run did (also written to ``edge.json``)."""

    frames: int = 0
    late_ticks: int = 0
    start_t_ms: int = 0
    end_t_ms: int = 0
    alarms: list[dict[str, Any]] = field(default_factory=list)
    diagnoses: list[dict[str, Any]] = field(default_factory=list)
    commands: list[dict[str, Any]] = field(default_factory=list)
    rootcause: dict[str, object] = field(default_factory=dict)
    policy: str = "off"


async def run_edge(
    endpoints_file: str | Path,
    out_dir: str | Path,
    *,
    settings: EdgeSettings | None = None,
    settings_base: Path | None = None,
    policy: Policy | None = None,
    broker: BrokerAddress | None = None,
    bridge: bool = True,
    edge_account: tuple[str, str] | None = None,
    bridge_account: tuple[str, str] | None = None,
    scan_ms: int = 10,
    speed: float = 1.0,
    duration_s: float | None = None,
    stop: Callable[[EdgeRunResult], bool] | None = None,
) -> EdgeRunResult:
    """Run the edge in real time until ``duration_s`` wall seconds pass or ``stop(result)`` says so.

    ``broker`` None starts an in-process amqtt broker (only when the policy sends commands);
    ``bridge`` False leaves the PLC bridge to another process. ``edge_account`` and
    ``bridge_account`` (username, password) default to :func:`broker_account`'s.
    """
    if speed <= 0 or scan_ms <= 0:
        raise ValueError(f"speed and scan_ms must be positive, got {speed} and {scan_ms}")
    settings = settings or EdgeSettings()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    endpoints = load_endpoints(endpoints_file)
    index = element_index(endpoints)
    aligner = Aligner(index, staleness_periods=settings.alignment.staleness_periods)
    collectors = build_collectors(endpoints, aligner, make_driver)
    historian = Historian(out / HISTORIAN_FILE, index)
    plugins = settings.plugins
    detector = make_detector(plugins.detector, settings.detection, endpoints.tagmap, index, settings_base)
    alarms = AlarmManager(settings.detection.alarms)
    diagnosis, info = rootcause_loop(settings.rootcause, endpoints.tagmap, settings_base, endpoints_file,
                                     choice=plugins.diagnoser, index=index)
    result = EdgeRunResult(rootcause=info, policy=policy or settings.control.policy)
    closed = None
    try:
        closed = await open_closed_loop(
            endpoints, out, policy=result.policy, run_id=f"edge-{out.name}", broker=broker,  # type: ignore[arg-type]
            edge_account=edge_account or broker_account("edge", broker),
            bridge_account=(bridge_account or broker_account("bridge")) if bridge else None,
            policy_plugin=plugins.control_policy, base=settings_base)
        alarms.on_operator_action = closed.ledger.append
        t0 = await _plc_clock(collectors, aligner, scan_ms)
        result.start_t_ms = t0
        started = time.monotonic()
        k = 0
        while duration_s is None or time.monotonic() - started < duration_s:
            t_ms = t0 + k * scan_ms
            frame = await poll_all(collectors, aligner, t_ms)
            historian.append(frame)
            new = alarms.process(t_ms, detector.observe(frame)) if detector is not None else []
            made = diagnosis.step(t_ms, [AlarmRef(a.id, a.tag, a.t_ms) for a in new],
                                  historian.reader) if diagnosis is not None else None
            for alarm in new:
                closed.loop.on_alarm(alarm)
            await closed.loop.on_frame(frame)
            if made is not None:
                await closed.loop.on_diagnosis(made, frame)
            result.frames, result.end_t_ms = result.frames + 1, t_ms
            if k % SUMMARY_EVERY == 0 or made is not None:
                _summarise(result, alarms, diagnosis, closed.loop)
                if stop is not None and stop(result):
                    break
            k += 1
            wait = started + k * scan_ms / 1000 / speed - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            else:
                result.late_ticks += 1
                await asyncio.sleep(0)  # let the bridge and the MQTT links run
    finally:
        if closed is not None:
            _summarise(result, alarms, diagnosis, closed.loop)
            await closed.close()
        for collector in collectors:
            await collector.close()
        historian.close()
        (out / EDGE_REPORT_FILE).write_text(json.dumps(result.__dict__, indent=2, default=str) + "\n",
                                            encoding="utf-8")
    return result


def _summarise(result: EdgeRunResult, alarms: AlarmManager, diagnosis: DiagnosisLoop | None,
               loop: ControlLoop) -> None:
    """Refresh the result's alarms, diagnoses and commands (JSON-ready)."""
    result.alarms = [a.to_dict() for a in alarms.alarms]
    result.diagnoses = [d.model_dump(mode="json") for d in diagnosis.diagnoses] if diagnosis else []
    result.commands = loop.records()


async def _plc_clock(collectors: list[Collector], aligner: Aligner, scan_ms: int) -> int:
    """The PLCs' clock now, rounded down to the edge's scan grid (the edge's time starts there)."""
    clocks = await asyncio.gather(*(c.poll(0) for c in collectors))
    seen = [c for c in clocks if c is not None]
    if not seen:
        raise ConnectionError("no PLC of the endpoint file answered")
    aligner.frame(0)  # discard the probe
    return max(seen) // scan_ms * scan_ms
