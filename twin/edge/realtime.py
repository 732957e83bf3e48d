"""``twin edge run``: the edge as its own process — collection, detection, root cause and control — in real time.

It knows only an endpoint file (and the tag map it names), exactly what it would know about
a real line: no scenario, no plant model (the import contract covers this module). Per tick
of ``scan_ms / speed`` wall seconds it polls every PLC on the edge's own time grid (started
at the PLC's clock, or at the UTC wall clock when no PLC serves one), aligns a frame, stores
it in the historian, runs detection, root cause and the control loop; commands go over MQTT to
the PLC bridge (in this process unless ``bridge=False``), which writes them through the same
drivers, reads back and acks. When the edge falls behind the wall clock it skips the ticks it
missed and counts them: a frame is stamped with the edge time it was taken at, so a slow poll
or a frozen device never compresses time (a 12 s outage is 12 s of ``bad`` samples). Every
sample also carries the UTC wall-clock time the edge received it (the historian's
``wall_utc``). Everything goes to ``out_dir``: ``historian.duckdb``, ``ledger.jsonl``,
``bridge_journal.jsonl`` and ``edge.json`` (alarms, diagnoses, commands, counts, refreshed
while it runs; no truth, so no scores).

Settings come from a YAML file with any of the blocks ``detection``, ``rootcause``,
``control`` and ``alignment`` (a scenario file will do: its other keys are ignored).

MQTT accounts (:func:`broker_account`): a broker with passwords (Mosquitto as CI runs it) needs
the edge's account and, when the bridge runs here, the bridge's. They come from the broker
address's own username and password, else from the environment — ``TWIN_MQTT_USERNAME`` /
``TWIN_MQTT_PASSWORD`` (edge), ``TWIN_MQTT_BRIDGE_USERNAME`` / ``TWIN_MQTT_BRIDGE_PASSWORD``
(bridge), kept out of the command line and so out of ``ps`` — else ``edge`` and ``bridge``
with no password. The in-process amqtt broker (no ``broker`` given) ignores them: it makes the
two accounts itself, with random passwords.

Keys (``keys``, from ``twin edge run --keys LINE.key``): the line's command secret signs every
command and its ledger key the ledger and the bridge's journal. A bridge in another process must
be given the same key file, or it refuses every command. No key file: fresh keys for this run.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from twin.contracts import RunFiles
from twin.edge.assets.openlineage import emit_edge_run
from twin.edge.bridge.brokers import BRIDGE_USER, EDGE_USER
from twin.edge.bridge.mqtt import BrokerAddress
from twin.edge.collector import Collector
from twin.edge.frames import Aligner
from twin.edge.keys import LineKeys
from twin.edge.settings import EdgeSettings, Policy
from twin.edge.sparkplug.forward import BUFFER_FILE, StoreAndForward
from twin.edge.sparkplug.node import SparkplugNode, SparkplugOptions
from twin.edge.stack import EdgeStack, Messaging
from virtual_plc.drivers import realtime_driver
from virtual_plc.endpoints import load_endpoints

SUMMARY_EVERY = 50  # ticks between refreshes of the result (and checks of ``stop``)
ACCOUNT_ENV = {  # role → (username variable, password variable, default username)
    "edge": ("TWIN_MQTT_USERNAME", "TWIN_MQTT_PASSWORD", EDGE_USER),
    "bridge": ("TWIN_MQTT_BRIDGE_USERNAME", "TWIN_MQTT_BRIDGE_PASSWORD", BRIDGE_USER),
}


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
    notes: list[str] = field(default_factory=list)
    policy: str = "off"
    plcs: list[dict[str, Any]] = field(default_factory=list)
    historian: dict[str, int] = field(default_factory=dict)  # samples collected, stored, spilled, dropped, ...
    publisher: dict[str, Any] = field(default_factory=dict)  # e.g. the Sparkplug node's counts


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
    plant_s: float | None = None,
    stop: Callable[[EdgeRunResult], bool] | None = None,
    keys: LineKeys | None = None,
    sparkplug: SparkplugOptions | None = None,
) -> EdgeRunResult:
    """Run the edge in real time until it has covered ``plant_s`` seconds of PLC time, ``duration_s`` wall
    seconds pass, or ``stop(result)`` says so (whichever comes first; none of them: until cancelled).

    ``broker`` None starts an in-process amqtt broker (only when the policy sends commands);
    ``bridge`` False leaves the PLC bridge to another process. ``edge_account`` and
    ``bridge_account`` (username, password) default to :func:`broker_account`'s. ``keys`` sign
    commands, ledger and journal (None: fresh keys for this run). ``sparkplug`` also publishes every
    frame as that Sparkplug B edge node on ``broker`` (:mod:`twin.edge.sparkplug.node`),
    buffering what the broker cannot take in ``out_dir``/``sparkplug_buffer.sqlite`` (store and forward).
    """
    if speed <= 0 or scan_ms <= 0:
        raise ValueError(f"speed and scan_ms must be positive, got {speed} and {scan_ms}")
    settings = (settings or EdgeSettings()).with_policy(policy)
    out = Path(out_dir)
    messaging = Messaging(broker, edge_account or broker_account("edge", broker),
                          (bridge_account or broker_account("bridge")) if bridge else None)
    endpoints = load_endpoints(endpoints_file)
    node = None
    if sparkplug is not None:
        if broker is None:
            raise ValueError("Sparkplug B needs an outside broker (--broker HOST:PORT)")
        user, password = messaging.edge_account
        forward = StoreAndForward(out / BUFFER_FILE, sparkplug.buffer_samples)  # replays what an earlier run left
        node = SparkplugNode(broker.as_user(user, password), sparkplug.group, sparkplug.edge_node, endpoints,
                             forward=forward, primary_host=sparkplug.primary_host)
    edge = EdgeStack(endpoints, out, settings, run_id=f"edge-{out.name}", base=settings_base,
                     source=endpoints_file, messaging=messaging, driver_factory=realtime_driver, keys=keys,
                     publisher=node)
    result = EdgeRunResult(policy=settings.control.policy)
    began, failure = time.perf_counter(), None
    try:
        async with edge, (node if node is not None else contextlib.nullcontext()):
            result.rootcause, result.notes = edge.rootcause_info, edge.notes
            t0 = await _plc_clock(edge.collectors, edge.aligner, scan_ms)
            gc.collect()
            gc.freeze()  # what start-up built stays: full collections of it paused the scan for 0.1-0.5 s
            result.start_t_ms = t0
            started = time.monotonic()
            k = 0
            while duration_s is None or time.monotonic() - started < duration_s:
                t_ms = t0 + k * scan_ms
                if plant_s is not None and t_ms - t0 >= plant_s * 1000:
                    break
                step = await edge.step(t_ms)
                result.frames, result.end_t_ms = result.frames + 1, t_ms
                if k % SUMMARY_EVERY == 0 or step.diagnosis is not None:
                    _summarise(result, edge, out)
                    if stop is not None and stop(result):
                        break
                k += 1
                wait = started + k * scan_ms / 1000 / speed - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                else:  # late: the next frame is stamped when it happens, never compressing time
                    due = int((time.monotonic() - started) * 1000 * speed // scan_ms)
                    result.late_ticks += 1 + max(0, due - k)
                    k = max(k, due)
                    await asyncio.sleep(0)  # let the bridge and the MQTT links run
    except BaseException as err:
        failure = err
        raise
    finally:
        gc.unfreeze()  # a process that runs the edge again (tests, the app) may collect this run's objects
        _summarise(result, edge, out)
        emit_edge_run(edge, f"edge.{out.name}", time.perf_counter() - began, failure)  # openlineage.jsonl
    return result


def _summarise(result: EdgeRunResult, edge: EdgeStack, out: Path | None = None) -> None:
    """Refresh the result's alarms, diagnoses and commands (JSON-ready); with ``out``, write ``edge.json``
    there, so that what the edge has done so far (its start time too) can be read while it runs."""
    records = edge.records()
    result.alarms, result.diagnoses, result.commands = records["alarms"], records["diagnoses"], records["commands"]
    result.plcs = [link.model_dump(mode="json") for link in edge.plc_links()]
    if edge.historian is not None:
        result.historian = {**asdict(edge.historian.counts), "unwritten": edge.historian.counts.unwritten()}
    if edge.publisher is not None:
        result.publisher = edge.publisher.report()
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        tmp = out / (RunFiles.EDGE_REPORT + ".tmp")
        tmp.write_text(json.dumps(result.__dict__, indent=2, default=str) + "\n", encoding="utf-8")
        tmp.replace(out / RunFiles.EDGE_REPORT)


async def _plc_clock(collectors: list[Collector], aligner: Aligner, scan_ms: int) -> int:
    """The PLCs' clock now, rounded down to the edge's scan grid (the edge's time starts there); when no
    PLC serves a clock, the UTC wall clock in ms since the epoch."""
    clocks = await asyncio.gather(*(c.poll(0) for c in collectors))
    answered = [c for c, clock in zip(collectors, clocks) if clock is not None]
    if not answered:
        why = "; ".join(f"{c.name}: {c.stats.last_error or 'no answer'}" for c in collectors)
        raise ConnectionError(f"no PLC of the endpoint file answered ({why})")
    aligner.frame(0)  # discard the probe
    seen = [clock for c, clock in zip(collectors, clocks) if clock is not None and c.has_clock]
    start = max(seen) if seen else time.time_ns() // 1_000_000
    return start // scan_ms * scan_ms
