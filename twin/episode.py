"""The episode runner: wire one run of a scenario and drive it scan by scan.

Modes (ARCHITECTURE.md "Time"):

* ``lockstep`` — advance the plant one PLC scan, let the virtual PLC refresh its image
  and servers, let the edge collectors poll over real Modbus TCP / OPC UA sockets on
  127.0.0.1, align a frame, store it, run the frame hooks; then the next scan.
  Deterministic for a seed.
* ``offline`` — the same, but the collectors read the process image in-process (no
  sockets): the same model code and the same decoding, for fast dataset generation.
  It stores the same historian contents as lockstep for the same seed.

Per scan, after the frame is stored: detection turns it into alarms, root cause turns new
alarms into diagnoses (:class:`~rootcause.diagnoser.DiagnosisLoop`), and the closed loop
(:mod:`twin.control.wiring`) gets the frame, every new alarm and every diagnosis; its commands
travel over MQTT to the PLC bridge, which writes them through the PLC drivers (real sockets
in lockstep, the process image offline). Policy ``off`` starts no broker and no bridge: the
loop only logs what it would do. Alarms, diagnoses, commands and acks go to the run's
hash-chained ledger; the run is scored against the truth at the end (:mod:`twin.scores`).
Other layers plug in as *frame hooks*: callables that receive every frame after it is stored.
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
from rootcause.diagnoser import AlarmRef, DiagnosisLoop
from virtual_plc.configfile import ConfigError
from virtual_plc.drivers import ImageDriver, PlcDriver, make_driver
from virtual_plc.endpoints import Endpoint, load_endpoints, read_endpoint_file
from virtual_plc.plc import LOOPBACK, VirtualPlc, free_port
from virtual_plc.tagmap import TagMap, load_tagmap

from .binding import check_binding, plant_tagmap, virtual_endpoints
from .control.playbook import playbook_path
from .control.wiring import BRIDGE_JOURNAL_FILE, LEDGER_FILE, ClosedLoop, open_closed_loop
from .detection.alarms import AlarmManager
from .detection.monitor import Detector
from .edge.collector import Collector, build_collectors, element_index, poll_all
from .edge.frames import Aligner, ElementIndex, Frame
from .edge.historian import Historian, HistorianReader
from .ledger import HEAD_SUFFIX
from .plugins.choice import PluginChoices
from .plugins.registry import KNOWLEDGE_DIR, MODEL_DIR, make_detector, rootcause_loop  # noqa: F401 - re-exported
from .report import Counts, Durations, RunReport
from .scenario import Policy, Scenario
from .scores import score_run, with_answers

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
    #: called once the run is wired, before the first scan, with the live :class:`Wiring` (its
    #: ``alarms`` and ``control.loop``): how an operator's console (the app's live run) gets a handle
    on_wired: Callable[[Wiring], None] | None = None
    #: the detector, diagnoser and control policy, replacing the scenario's ``plugins`` (``twin check --detector``)
    plugins: PluginChoices | None = None


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
    diagnosis: DiagnosisLoop | None = None
    rootcause_info: dict[str, object] = field(default_factory=dict)
    control: ClosedLoop | None = None
    analysis_wall_ms: float = 0.0  # detection + root cause on scans that raised alarms or diagnosed

    async def close(self) -> None:
        """Stop the closed loop, close collectors, stop the servers and flush the historian, whatever happened."""
        try:
            if self.control is not None:
                await self.control.close()
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
    if mode == "lockstep":
        await plc.start(host=LOOPBACK, modbus_port=modbus_port, opcua_port=opcua_port)
    make = driver_factory(mode, plc)
    index = element_index(endpoints)
    aligner = Aligner(index, staleness_periods=scenario.alignment.staleness_periods)
    historian = Historian(out_dir / HISTORIAN_FILE, index)
    collectors = build_collectors(endpoints, aligner, make)
    settings = scenario.detection
    detector = make_detector(scenario.plugins.detector, settings, tagmap, index, _base(scenario))
    diagnosis, rootcause_info = diagnosis_loop(scenario, tagmap, index)
    return Wiring(plant, tagmap, plc, collectors, aligner, historian, endpoints_path,
                  AlarmManager(settings.alarms), detector, diagnosis, rootcause_info)


def diagnosis_loop(scenario: Scenario, tagmap: TagMap, index: ElementIndex | None = None
                   ) -> tuple[DiagnosisLoop | None, dict[str, object]]:
    """The scenario's root-cause loop (knowledge file + its ``plugins.diagnoser``), and what the report says of it.

    The same as the standalone edge builds (:func:`twin.plugins.registry.rootcause_loop`);
    relative paths resolve from the scenario's folder."""
    return rootcause_loop(scenario.rootcause, tagmap, _base(scenario), scenario.source or "<scenario>",
                          choice=scenario.plugins.diagnoser, index=index)


def _base(scenario: Scenario) -> Path | None:
    """The scenario's folder, where its relative paths resolve from."""
    return scenario.source.parent if scenario.source is not None else None


async def open_control(w: Wiring, policy: Policy, mode: Mode, out_dir: Path, run_id: str,
                       plugins: PluginChoices | None = None, base: Path | None = None) -> ClosedLoop | None:
    """The closed loop of a run (None when the plant has no playbook); starts fresh ledger files.

    Lockstep: the bridge reaches the PLC over the same sockets as the collectors; offline it
    writes the process image. Policy ``off`` starts no broker and no bridge.
    """
    if not playbook_path(w.tagmap.plant).is_file():
        return None
    plugins = plugins or PluginChoices()
    for name in (LEDGER_FILE, BRIDGE_JOURNAL_FILE):  # a re-run into the same folder starts its own chain
        for path in (out_dir / name, out_dir / (name + HEAD_SUFFIX)):
            path.unlink(missing_ok=True)
    return await open_closed_loop(load_endpoints(w.endpoints_file), out_dir, policy=policy, run_id=run_id,
                                  driver_factory=driver_factory(mode, w.plc), policy_plugin=plugins.control_policy,
                                  base=base)


def driver_factory(mode: Mode, plc: VirtualPlc) -> Callable[[Endpoint, TagMap], PlcDriver]:
    """How the edge reaches the PLC: socket drivers in lockstep, the process image offline."""
    if mode == "lockstep":
        return make_driver

    def make(endpoint: Endpoint, tm: TagMap) -> PlcDriver:
        return ImageDriver(endpoint, tm, plc.image)

    return make


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
    if config.plugins is not None:
        scenario = scenario.model_copy(update={"plugins": config.plugins})
    seed = scenario.seed if config.seed is None else config.seed
    if config.duration_s is not None and config.duration_s <= 0:
        raise ValueError(f"duration must be positive, got {config.duration_s} s")
    duration_s = config.duration_s or scenario.duration_s
    n_scans = int(round(duration_s * 1000 / scenario.scan_ms))
    out_dir = Path(config.out_dir) if config.out_dir else scenario.output_dir()
    policy = config.policy or scenario.control.policy
    wiring = await wire(scenario, seed, out_dir, config.mode)
    started = time.perf_counter()
    stopped_early: str | None = None
    scans_done = 0
    try:
        wiring.control = await open_control(wiring, policy, config.mode, out_dir, f"{scenario.name}-{seed}",
                                            scenario.plugins, _base(scenario))
        if wiring.control is not None:  # an operator's acknowledgements and shelvings go to the run's ledger
            wiring.alarms.on_operator_action = wiring.control.ledger.append
        if config.on_wired is not None:
            config.on_wired(wiring)
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
    poll every collector, align, store, detect, diagnose, control, run the hooks. Returns the frame."""
    for name, value in w.plc.take_setpoint_changes().items():
        w.plant.apply_setpoint(name, value)
    if t_ms > w.plant.env.now:
        w.plant.env.run(until=t_ms)
    await w.plc.scan(t_ms, w.plant.measurements())
    frame = await poll_all(w.collectors, w.aligner, t_ms)
    w.historian.append(frame)
    new, diagnosis = [], None
    if w.detector is not None:
        started = time.perf_counter()
        new = w.alarms.process(t_ms, w.detector.observe(frame))
        if w.diagnosis is not None:
            diagnosis = w.diagnosis.step(t_ms, [AlarmRef(a.id, a.tag, a.t_ms) for a in new], w.historian.reader)
        if new or diagnosis is not None:
            w.analysis_wall_ms += (time.perf_counter() - started) * 1000
    if w.control is not None:
        loop = w.control.loop
        for alarm in new:
            loop.on_alarm(alarm)
        await loop.on_frame(frame)
        if diagnosis is not None:
            await loop.on_diagnosis(diagnosis, frame)
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
    alarms = [a.to_dict() for a in w.alarms.alarms]
    diagnoses = [d.model_dump(mode="json") for d in w.diagnosis.diagnoses] if w.diagnosis else []
    commands = w.control.loop.records() if w.control is not None else []
    faults = with_answers(w.plant, w.plant.truth())
    report = RunReport(
        scenario={
            **scenario.model_dump(mode="json"),
            "file": str(scenario.source) if scenario.source else None,
            "control": {"policy": policy, "playbook": str(playbook_path(w.tagmap.plant))
                        if w.control is not None else None},
            "duration_s": config.duration_s or scenario.duration_s,
        },
        seed=seed,
        mode=config.mode,
        faults=faults,
        alarms=alarms,
        diagnoses=diagnoses,
        rootcause=w.rootcause_info,
        commands=commands,
        scores=score_run(w.tagmap.plant, faults, alarms, diagnoses, commands, historian=out_dir / HISTORIAN_FILE,
                         end_ms=int(plant_s * 1000), analysis_wall_ms=w.analysis_wall_ms),
        detection={
            "enabled": w.detector is not None,
            **(w.detector.summary() if callable(getattr(w.detector, "summary", None)) else {}),
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
            **({"ledger": LEDGER_FILE} if w.control is not None else {}),
        },
        stopped_early=stopped_early,
    )
    report.write(out_dir / REPORT_FILE)
    return report
