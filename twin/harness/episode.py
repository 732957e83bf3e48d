"""The episode runner: wire one run of a scenario and drive it scan by scan.

Modes (ARCHITECTURE.md "Time"):

* ``lockstep`` — advance the plant one PLC scan, let the virtual PLC refresh its image
  and servers, let the edge collectors poll over real Modbus TCP / OPC UA sockets on
  127.0.0.1, align a frame, store it, run the frame hooks; then the next scan.
  Deterministic for a seed.
* ``offline`` — the same, but the collectors read the process image in-process (no
  sockets): the same model code and the same decoding, for fast dataset generation.
  It stores the same historian contents as lockstep for the same seed.

Per scan, after the plant and the PLC have moved on, the edge stack
(:class:`twin.edge.stack.EdgeStack`, the same one the real-time edge runs) polls, aligns, stores,
detects, diagnoses and controls; its commands travel over MQTT to the PLC bridge, which writes
them through the PLC drivers (real sockets in lockstep, the process image offline). Policy
``off`` starts no broker and no bridge: the loop only logs what it would do. Alarms, diagnoses,
commands and acks go to the run's hash-chained ledger; the run is scored against the truth at the
end (:mod:`twin.harness.scores`).
Other layers plug in as *frame hooks*: callables that receive every frame after it is stored.
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from plant_models.base import PlantModel
from plant_models.registry import build_plant
from qtconfig import ConfigError
from twin.contracts import Counts, Durations, Mode, RunFiles, RunReport
from twin.edge.assets.openlineage import emit_edge_run
from twin.edge.frames import Frame
from twin.edge.historian import HistorianReader
from twin.edge.plugins.choice import PluginChoices
from twin.edge.settings import EdgeSettings, Policy
from twin.edge.stack import DriverFactory, EdgeStack
from twin.harness.binding import check_binding, plant_tagmap, virtual_endpoints
from twin.harness.plants import with_plant_defaults
from twin.harness.scenario import Scenario
from twin.harness.scores import score_run, with_answers
from twin.harness.sentinel import score_sentinel
from virtual_plc.drivers import ImageDriver, PlcDriver, make_driver
from virtual_plc.endpoints import Endpoint, load_endpoints, read_endpoint_file
from virtual_plc.plc import LOOPBACK, VirtualPlc, free_port
from virtual_plc.tagmap import TagMap, load_tagmap

FrameHook = Callable[[Frame], "Awaitable[None] | None"]
Progress = Callable[[int, int], None]



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
    #: the run's OpenLineage events (``openlineage.jsonl`` in the run dir, and where OPENLINEAGE_URL says); off for
    #: the throw-away episodes of a root-cause dataset, whose lineage is the dataset's
    lineage: bool = True
    #: also write the historian as hive-partitioned Parquet: (folder, line name) — a hall's lines share one folder
    partitions: tuple[Path, str] | None = None


@dataclass
class Wiring:
    """Everything one episode runs on: the plant and its virtual PLC (the truth side) and the edge
    stack reading it (:class:`~twin.edge.stack.EdgeStack`); built by :func:`wire`, torn down by :meth:`close`."""

    plant: PlantModel
    tagmap: TagMap
    plc: VirtualPlc
    endpoints_file: Path
    edge: EdgeStack

    async def close(self) -> None:
        """Stop the edge stack, then the PLC's servers, whatever happened."""
        try:
            await self.edge.close()
        finally:
            await self.plc.stop()


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


async def wire(scenario: Scenario, seed: int, out_dir: Path, mode: Mode, *, policy: Policy | None = None,
               closed_loop: bool = False, run_id: str | None = None,
               partitions: tuple[Path, str] | None = None, timeout_s: float | None = None) -> Wiring:
    """Build plant and virtual PLC, write the endpoint file, and open the edge stack on it.

    ``closed_loop`` True also starts the closed loop with ``policy`` (default: the scenario's); ``partitions``
    (folder, line name) makes the historian also write hive-partitioned Parquet there; ``timeout_s`` is how long
    the edge waits for a virtual PLC's answer (default: the endpoint's own, 1 s).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    plant = build_episode_plant(scenario, seed)
    tagmap = scenario_tagmap(scenario, plant)
    tagmap.to_csv(out_dir / RunFiles.TAGS)
    plc = VirtualPlc(tagmap)
    plc.initialise_setpoints(plant.setpoints())
    modbus_port, opcua_port = _ports(scenario)
    if scenario.endpoints == "virtual":
        endpoints_path = out_dir / RunFiles.ENDPOINTS
        virtual_endpoints(
            tagmap, RunFiles.TAGS, modbus_port=modbus_port, opcua_port=opcua_port, scan_ms=scenario.scan_ms,
            timeout_s=timeout_s).save(endpoints_path)
    else:
        endpoints_path = scenario.resolve(scenario.endpoints)
    # the edge from here on knows only the endpoint file and the tag map it names
    endpoints = load_endpoints(endpoints_path)
    if mode == "lockstep":
        await plc.start(host=LOOPBACK, modbus_port=modbus_port, opcua_port=opcua_port,
                        anonymous_writes=scenario.opcua_anonymous_writes)
    settings = edge_settings(scenario, policy)
    if partitions is not None:
        settings = settings.with_partitions(*partitions)
    edge = EdgeStack(endpoints, out_dir, settings, run_id=run_id or f"{scenario.name}-{seed}", base=_base(scenario),
                     source=scenario.source or "<scenario>", driver_factory=driver_factory(mode, plc),
                     closed_loop=closed_loop)
    try:
        await edge.open()
    except BaseException:
        await plc.stop()
        raise
    return Wiring(plant, tagmap, plc, endpoints_path, edge)


def edge_settings(scenario: Scenario, policy: Policy | None = None) -> EdgeSettings:
    """The blocks of the scenario the edge reads (detection, root cause, control, alignment, plug-ins), with
    the plant's own knowledge file, model and playbook where the scenario names none."""
    settings = EdgeSettings.model_validate(scenario.model_dump(include=set(EdgeSettings.model_fields)))
    return with_plant_defaults(settings, scenario.plant, scenario.plant_options).with_policy(policy)


def _base(scenario: Scenario) -> Path | None:
    """The scenario's folder, where its relative paths resolve from."""
    return scenario.source.parent if scenario.source is not None else None


def driver_factory(mode: Mode, plc: VirtualPlc) -> DriverFactory:
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
    wiring = await wire(scenario, seed, out_dir, config.mode, policy=policy, closed_loop=True,
                        partitions=config.partitions)
    started = time.perf_counter()
    stopped_early: str | None = None
    scans_done = 0
    try:
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
        report = finish_episode(scenario, config, seed, out_dir, wiring, scans_done, wall_s, stopped_early)
        if config.lineage:
            emit_edge_run(wiring.edge, f"run.{scenario.name}", wall_s, stopped_early)
    return report


def write_parts(plant: PlantModel, path: Path) -> bool:
    """Write the parts a line made (``parts_log``: ids, lots, lot properties, per-part values, rejected)
    to Parquet; False when the plant makes no discrete parts. Truth side: it holds hidden attributes."""
    log = getattr(plant, "parts_log", None)
    if not log:
        return False
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = list(dict.fromkeys(key for record in log for key in record))
    pq.write_table(pa.Table.from_pylist([{k: r.get(k) for k in columns} for r in log]), path)
    return True


def write_field(plant: PlantModel, out_dir: Path) -> dict[str, str]:
    """Write what a line's service organisation and drawings hold: the field failures of its shipped parts
    (``returns.parquet``, empty when none failed) and its lots' design parameters (``design.json``). Returns the
    ``outputs`` entries of the files written (none for a plant without a field or design tolerances)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    written: dict[str, str] = {}
    returns = plant.field_returns() if callable(getattr(plant, "field_returns", None)) else None
    if returns is not None:
        schema = pa.schema([("serial", pa.int64()), ("unit", pa.string()), ("part", pa.string()),
                            ("mode", pa.string()), ("lot", pa.string()), ("lot_number", pa.int64()),
                            ("t_h", pa.float64()), ("service_h", pa.float64()), ("repair", pa.string())])
        pq.write_table(pa.Table.from_pylist(returns, schema=schema), out_dir / RunFiles.RETURNS)
        written["returns"] = RunFiles.RETURNS
    design = plant.design_parameters() if callable(getattr(plant, "design_parameters", None)) else []
    if design:
        (out_dir / RunFiles.DESIGN).write_text(json.dumps(design, indent=1) + "\n", encoding="utf-8")
        written["design"] = RunFiles.DESIGN
    return written


async def run_scan(w: Wiring, t_ms: int, hooks: Sequence[FrameHook] = ()) -> Frame:
    """One scan at plant time ``t_ms``: apply written setpoints, advance the plant, PLC scan, then
    the edge stack's step (poll, align, store, detect, diagnose, control), then the hooks. Returns the frame."""
    for name, value in w.plc.take_setpoint_changes().items():
        w.plant.apply_setpoint(name, value)
    if t_ms > w.plant.env.now:
        w.plant.env.run(until=t_ms)
    await w.plc.scan(t_ms, w.plant.measurements())
    frame = (await w.edge.step(t_ms)).frame
    for hook in hooks:
        result = hook(frame)
        if inspect.isawaitable(result):
            await result
    return frame


def finish_episode(
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
    with HistorianReader(out_dir / RunFiles.HISTORIAN) as reader:
        by_quality = reader.counts_by_quality()
        reader.export_parquet(out_dir / RunFiles.FRAMES)
    plant_s = scans_done * scenario.scan_ms / 1000
    policy = config.policy or scenario.control.policy
    edge = w.edge
    records = edge.records()
    alarms, diagnoses, commands = records["alarms"], records["diagnoses"], records["commands"]
    faults = with_answers(w.plant, w.plant.truth())
    parts_written = write_parts(w.plant, out_dir / RunFiles.PARTS)
    field_written = write_field(w.plant, out_dir)
    scores = score_run(scenario.plant, faults, alarms, diagnoses, commands, historian=out_dir / RunFiles.HISTORIAN,
                       end_ms=int(plant_s * 1000), analysis_wall_ms=edge.analysis_wall_ms,
                       plant_options=scenario.plant_options)
    if scenario.sentinel is not None:
        scores.sentinel = score_sentinel(getattr(w.plant, "parts_log", []), scenario.sentinel)
    report = RunReport(
        scenario={
            **scenario.model_dump(mode="json"),
            "file": str(scenario.source) if scenario.source else None,
            "control": {"policy": policy, "playbook": edge.settings.control.playbook
                        if edge.control is not None else None},
            "duration_s": config.duration_s or scenario.duration_s,
        },
        seed=seed,
        mode=config.mode,
        faults=faults,
        alarms=alarms,
        diagnoses=diagnoses,
        rootcause=edge.rootcause_info,
        commands=commands,
        scores=scores,
        detection={
            "enabled": edge.detector is not None,
            **(edge.detector.summary() if callable(getattr(edge.detector, "summary", None)) else {}),
            "alarm_rates": edge.alarms.rates(int(plant_s * 1000)),
        },
        plcs=edge.plc_links(),
        counts=Counts(
            frames=edge.historian.frames,
            samples=sum(by_quality.values()),
            samples_by_quality=by_quality,
            polls=sum(c.stats.polls for c in edge.collectors),
            failed_polls=sum(c.stats.failed_polls for c in edge.collectors),
            reconnects=sum(c.stats.reconnects for c in edge.collectors),
        ),
        durations=Durations(
            plant_s=plant_s,
            wall_s=round(wall_s, 3),
            realtime_factor=round(plant_s / wall_s, 2) if wall_s > 0 else 0.0,
        ),
        outputs={
            "historian": RunFiles.HISTORIAN,
            "frames": RunFiles.FRAMES,
            "endpoints": (RunFiles.ENDPOINTS if w.endpoints_file == out_dir / RunFiles.ENDPOINTS
                          else str(w.endpoints_file)),
            "tag_map": RunFiles.TAGS,
            **({"ledger": RunFiles.LEDGER} if edge.control is not None else {}),
            **({"parts": RunFiles.PARTS} if parts_written else {}),
            **field_written,
        },
        stopped_early=stopped_early,
    )
    report.write(out_dir / RunFiles.REPORT)
    return report
