"""The episode runner: wire one run of a scenario and drive it scan by scan.

Modes (ARCHITECTURE.md "Time"):

* ``lockstep`` — advance the plant one PLC scan, let the virtual PLC refresh its image
  and servers, let the edge collectors poll over real Modbus TCP / OPC UA sockets on
  127.0.0.1, align a frame, store it, run the frame hooks; then the next scan.
  Deterministic for a seed.
* ``offline`` — the same, but the collectors read the process image in-process (no
  sockets): the same model code and the same decoding, for fast dataset generation.
  It stores the same historian contents as lockstep for the same seed.

Later layers (detection, root cause, control) plug in as *frame hooks*: callables that
receive every :class:`~twin.edge.frames.Frame` after it is stored. The runner knows
nothing else about them.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from plant_models.base import PlantModel
from plant_models.registry import build_plant
from virtual_plc.configfile import ConfigError
from virtual_plc.drivers import ImageDriver, PlcDriver, make_driver
from virtual_plc.endpoints import Endpoint, load_endpoints, read_endpoint_file
from virtual_plc.plc import LOOPBACK, VirtualPlc, free_port
from virtual_plc.tagmap import TagMap, load_tagmap

from .binding import check_binding, plant_tagmap, virtual_endpoints
from .detection.alarms import AlarmManager
from .detection.monitor import Detector, SubgroupMonitor
from .edge.collector import Collector, build_collectors, element_index, poll_all
from .edge.frames import Aligner, Frame
from .edge.historian import Historian, HistorianReader
from .report import Counts, Durations, RunReport
from .scenario import Policy, Scenario

Mode = Literal["lockstep", "offline"]
FrameHook = Callable[[Frame], "Awaitable[None] | None"]
Progress = Callable[[int, int], None]

HISTORIAN_FILE = "historian.duckdb"
FRAMES_FILE = "frames.parquet"
REPORT_FILE = "report.json"
ENDPOINTS_FILE = "endpoints.yaml"
TAGS_FILE = "tags.csv"


@dataclass
class EpisodeConfig:
    """Per-run choices layered over the scenario (CLI flags, app knobs)."""

    seed: int | None = None
    out_dir: Path | None = None
    mode: Mode = "lockstep"
    policy: Policy | None = None
    duration_s: float | None = None
    hooks: list[FrameHook] = field(default_factory=list)
    progress: Progress | None = None


@dataclass
class Wiring:
    """Everything one episode runs on; built by :func:`wire`, torn down by :meth:`close`."""

    plant: PlantModel
    tagmap: TagMap
    plc: VirtualPlc
    collectors: list[Collector]
    aligner: Aligner
    historian: Historian
    endpoints_file: Path
    alarms: AlarmManager
    detector: Detector | None = None

    async def close(self) -> None:
        """Close collectors, stop the servers and flush the historian, whatever happened."""
        try:
            for collector in self.collectors:
                await collector.close()
            await self.plc.stop()
        finally:
            self.historian.close()


def scenario_tagmap(scenario: Scenario, plant: PlantModel) -> TagMap:
    """The scenario's tag map file if it names one, else the plant's generated map; checked."""
    if scenario.tag_map:
        tagmap = load_tagmap(scenario.resolve(scenario.tag_map))
        check_binding(plant, tagmap, origin=str(scenario.resolve(scenario.tag_map)))
        return tagmap
    return plant_tagmap(plant, scenario.scan_ms)


def build_episode_plant(scenario: Scenario, seed: int) -> PlantModel:
    """The scenario's plant with its faults injected."""
    plant = build_plant(scenario.plant, seed, scenario.plant_options)
    for fault in scenario.faults:
        plant.inject(fault.spec())
    return plant


async def wire(scenario: Scenario, seed: int, out_dir: Path, mode: Mode) -> Wiring:
    """Build plant, PLC, endpoint file, collectors, aligner and historian for one run."""
    out_dir.mkdir(parents=True, exist_ok=True)
    plant = build_episode_plant(scenario, seed)
    tagmap = scenario_tagmap(scenario, plant)
    tagmap.to_csv(out_dir / TAGS_FILE)
    plc = VirtualPlc(tagmap)
    plc.initialise_setpoints(plant.setpoints())
    modbus_port, opcua_port = _ports(scenario)
    if scenario.endpoints == "virtual":
        endpoints_path = out_dir / ENDPOINTS_FILE
        virtual_endpoints(
            tagmap, TAGS_FILE, modbus_port=modbus_port, opcua_port=opcua_port, scan_ms=scenario.scan_ms
        ).save(endpoints_path)
    else:
        endpoints_path = scenario.resolve(scenario.endpoints)
    # the edge from here on knows only the endpoint file and the tag map it names
    endpoints = load_endpoints(endpoints_path)
    make: Callable[[Endpoint, TagMap], PlcDriver]
    if mode == "lockstep":
        await plc.start(host=LOOPBACK, modbus_port=modbus_port, opcua_port=opcua_port)
        make = make_driver
    else:

        def make(endpoint: Endpoint, tm: TagMap) -> PlcDriver:
            return ImageDriver(endpoint, tm, plc.image)

    index = element_index(endpoints)
    aligner = Aligner(index, staleness_periods=scenario.alignment.staleness_periods)
    historian = Historian(out_dir / HISTORIAN_FILE, index)
    collectors = build_collectors(endpoints, aligner, make)
    settings = scenario.detection
    detector = SubgroupMonitor(settings, index) if settings.enabled else None
    return Wiring(plant, tagmap, plc, collectors, aligner, historian, endpoints_path,
                  AlarmManager(settings.alarms), detector)


def _ports(scenario: Scenario) -> tuple[int, int]:
    """Ports for the virtual PLC: the scenario's endpoint file fixes them, else free ones."""
    if scenario.endpoints == "virtual":
        return free_port(), free_port()
    path = scenario.resolve(scenario.endpoints)
    spec = read_endpoint_file(path)
    by_protocol = {p.protocol: p for p in spec.plcs}
    for plc in spec.plcs:
        if plc.host not in (LOOPBACK, "localhost"):
            raise ConfigError(path, [f"PLC {plc.name}: a virtual PLC binds only to {LOOPBACK}, not {plc.host}"])
        if plc.port != by_protocol[plc.protocol].port:
            raise ConfigError(path, [f"PLC {plc.name}: a virtual line serves each protocol on one port"])
    return (
        by_protocol["modbus"].port if "modbus" in by_protocol else free_port(),
        by_protocol["opcua"].port if "opcua" in by_protocol else free_port(),
    )


async def run_episode(scenario: Scenario, config: EpisodeConfig | None = None) -> RunReport:
    """Run one episode and write historian, Parquet frames and ``report.json`` to the run dir."""
    config = config or EpisodeConfig()
    seed = scenario.seed if config.seed is None else config.seed
    if config.duration_s is not None and config.duration_s <= 0:
        raise ValueError(f"duration must be positive, got {config.duration_s} s")
    duration_s = config.duration_s or scenario.duration_s
    n_scans = int(round(duration_s * 1000 / scenario.scan_ms))
    out_dir = Path(config.out_dir) if config.out_dir else scenario.output_dir()
    wiring = await wire(scenario, seed, out_dir, config.mode)
    started = time.perf_counter()
    stopped_early: str | None = None
    scans_done = 0
    try:
        for k in range(n_scans):
            await run_scan(wiring, k * scenario.scan_ms, config.hooks)
            scans_done = k + 1
            if config.progress is not None:
                config.progress(scans_done, n_scans)
    except BaseException as err:  # keep what was collected, then re-raise
        stopped_early = f"{type(err).__name__}: {err}"
        raise
    finally:
        wall_s = time.perf_counter() - started
        await wiring.close()
        report = _finish(scenario, config, seed, out_dir, wiring, scans_done, wall_s, stopped_early)
    return report


async def run_scan(w: Wiring, t_ms: int, hooks: Sequence[FrameHook] = ()) -> Frame:
    """One scan at plant time ``t_ms``: apply written setpoints, advance the plant, PLC scan,
    poll every collector, align, store, run the hooks. Returns the frame."""
    for name, value in w.plc.take_setpoint_changes().items():
        w.plant.apply_setpoint(name, value)
    if t_ms > w.plant.env.now:
        w.plant.env.run(until=t_ms)
    await w.plc.scan(t_ms, w.plant.measurements())
    frame = await poll_all(w.collectors, w.aligner, t_ms)
    w.historian.append(frame)
    if w.detector is not None:
        w.alarms.process(t_ms, w.detector.observe(frame))
    for hook in hooks:
        result = hook(frame)
        if inspect.isawaitable(result):
            await result
    return frame


def _finish(
    scenario: Scenario,
    config: EpisodeConfig,
    seed: int,
    out_dir: Path,
    w: Wiring,
    scans_done: int,
    wall_s: float,
    stopped_early: str | None,
) -> RunReport:
    """Export Parquet and write the report (runs even when the episode was interrupted)."""
    with HistorianReader(out_dir / HISTORIAN_FILE) as reader:
        by_quality = reader.counts_by_quality()
        reader.export_parquet(out_dir / FRAMES_FILE)
    plant_s = scans_done * scenario.scan_ms / 1000
    policy = config.policy or scenario.control.policy
    report = RunReport(
        scenario={
            **scenario.model_dump(mode="json"),
            "file": str(scenario.source) if scenario.source else None,
            "control": {"policy": policy},
            "duration_s": config.duration_s or scenario.duration_s,
        },
        seed=seed,
        mode=config.mode,
        faults=w.plant.truth(),
        alarms=[a.to_dict() for a in w.alarms.alarms],
        detection={
            "enabled": w.detector is not None,
            **(w.detector.summary() if isinstance(w.detector, SubgroupMonitor) else {}),
            "alarm_rates": w.alarms.rates(int(plant_s * 1000)),
        },
        counts=Counts(
            frames=w.historian.frames,
            samples=sum(by_quality.values()),
            samples_by_quality=by_quality,
            polls=sum(c.stats.polls for c in w.collectors),
            failed_polls=sum(c.stats.failed_polls for c in w.collectors),
            reconnects=sum(c.stats.reconnects for c in w.collectors),
        ),
        durations=Durations(
            plant_s=plant_s,
            wall_s=round(wall_s, 3),
            realtime_factor=round(plant_s / wall_s, 2) if wall_s > 0 else 0.0,
        ),
        outputs={
            "historian": HISTORIAN_FILE,
            "frames": FRAMES_FILE,
            "endpoints": ENDPOINTS_FILE if w.endpoints_file == out_dir / ENDPOINTS_FILE else str(w.endpoints_file),
            "tag_map": TAGS_FILE,
        },
        stopped_early=stopped_early,
    )
    report.write(out_dir / REPORT_FILE)
    return report
