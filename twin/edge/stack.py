"""The edge stack: collect, align, store, detect, diagnose, control and ledger, one scan at a time.

One stack serves both ways the edge runs: the lockstep runner (:mod:`twin.harness.episode`)
calls :meth:`EdgeStack.step` after each plant scan, and the real-time edge
(:mod:`twin.edge.realtime`) calls it on its own wall clock. Both know only an endpoint file's
contents and a tag map, exactly what they would know about a real line.

Per scan, :meth:`EdgeStack.step` polls every collector and aligns a frame, stores it in the
historian, turns it into alarms (detection), turns new alarms into a diagnosis (root cause), and
hands frame, alarms and diagnosis to the closed loop, whose commands travel over MQTT to the PLC
bridge. Alarms, diagnoses, commands and acks go to the hash-chained ledger.

The stack is an async context manager: entering starts everything in order (historian,
collectors, closed loop); leaving stops it in reverse, whatever happened. Settings that name no
playbook (``control.playbook``) run without a closed loop; policy ``off`` starts no broker and no
bridge.

>>> import asyncio, tempfile
>>> from pathlib import Path
>>> from virtual_plc.endpoints import ResolvedEndpoints
>>> from virtual_plc.tagmap import Tag, TagMap
>>> clock = Tag(name="demo.clock", dtype="uint64", low=0, high=1e12, period_ms=10)
>>> tagmap = TagMap(plant="demo", opcua_namespace="urn:demo", clock_tag="demo.clock", tags=[clock])
>>> async def demo(out: Path) -> int:  # an edge with no PLC to read: empty frames, stored all the same
...     endpoints = ResolvedEndpoints(tagmap=tagmap, assignments=[])
...     async with EdgeStack(endpoints, out, EdgeSettings(), run_id="demo") as edge:
...         for t_ms in (0, 10, 20):
...             await edge.step(t_ms)
...     return edge.historian.frames
>>> with tempfile.TemporaryDirectory() as out:
...     asyncio.run(demo(Path(out)))
3
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from qtconfig import load_yaml_model, resolve_path
from rootcause.diagnoser import AlarmRef, DiagnosisLoop
from rootcause.knowledge import KnowledgeFile
from twin.contracts import Diagnosis, RunFiles
from twin.contracts.report import PlcLink
from twin.edge.bridge.brokers import BRIDGE_USER, EDGE_USER
from twin.edge.bridge.mqtt import BrokerAddress
from twin.edge.collector import Collector, build_collectors, element_index, poll_all
from twin.edge.control.loop import ControlLoop
from twin.edge.control.playbook import load_playbook
from twin.edge.control.wiring import ClosedLoop, open_closed_loop
from twin.edge.detection.alarms import Alarm, AlarmManager, Signal
from twin.edge.detection.baseline import ReferencedReader
from twin.edge.detection.monitor import Detector
from twin.edge.frames import Aligner, ElementIndex, Frame
from twin.edge.historian import Historian, HistorianReader
from twin.edge.keys import LineKeys, generate_keys
from twin.edge.ledger import HEAD_SUFFIX, Ledger
from twin.edge.partitions import safe_name
from twin.edge.plugins.registry import make_detector, rootcause_loop
from twin.edge.settings import EdgeSettings
from virtual_plc.drivers import PlcDriver, make_driver
from virtual_plc.endpoints import Endpoint, ResolvedEndpoints
from virtual_plc.tagmap import Tag, TagMap

log = logging.getLogger(__name__)

COMM_DETECTOR = "comm"  # the alarm of a PLC link: tag = the endpoint's name, rule comm_lost

DriverFactory = Callable[[Endpoint, TagMap], PlcDriver]


class FramePublisher(Protocol):
    """Takes every frame the stack aligns, with the names of the PLCs that do not answer (``publish``), and
    hands the write requests it receives to the closed loop (``attach``, ``after_control``)."""

    def publish(self, frame: Frame, down: Collection[str]) -> int:
        """Publish ``frame``; returns how many values went out."""
        ...

    def report(self) -> dict[str, Any]:
        """What it has done so far, JSON-ready (``edge.json`` carries it)."""
        ...

    def attach(self, loop: ControlLoop | None, ledger: Ledger | None = None) -> None:
        """The closed loop that takes the publisher's write requests (None: there is none, refuse them)."""
        ...

    def after_control(self, frame: Frame) -> None:
        """Once the closed loop has handled ``frame``: hand it the requests that came in, report outcomes."""
        ...


@dataclass(frozen=True)
class Messaging:
    """How the closed loop reaches the PLC bridge.

    ``broker`` None starts an in-process broker (only when the policy sends commands) with accounts
    of its own (random passwords; the two accounts here are then not used); ``bridge_account`` None
    leaves the PLC bridge to another process (which needs an outside broker and the line's key file).
    """

    broker: BrokerAddress | None = None
    edge_account: tuple[str, str] = (EDGE_USER, "")
    bridge_account: tuple[str, str] | None = (BRIDGE_USER, "")


@dataclass
class Step:
    """What one scan produced: the aligned frame, the alarms it raised, the diagnosis it made."""

    frame: Frame
    alarms: list[Alarm] = field(default_factory=list)
    diagnosis: Diagnosis | None = None


class EdgeStack:
    """Collectors, aligner, historian, detection, diagnosis, closed loop and ledger for one run.

    ``out_dir`` receives ``historian.duckdb`` and, with a closed loop, ``ledger.jsonl`` and the
    bridge's journal (a run into the same folder starts fresh ones); without one, a ``publisher`` still
    gets a ledger there for the write requests it refuses. ``base`` is the folder the
    settings' relative paths resolve from, ``source`` names the settings in error messages.
    ``driver_factory`` is how collectors and bridge reach the PLCs (socket drivers by default).
    ``closed_loop`` False runs detection and root cause only. ``keys`` (the line's key file,
    :func:`twin.edge.keys.load_keys`) sign the commands and the ledger; None: fresh keys for this run.
    Settings with ``historian.partitions`` also write every sample there, as hive-partitioned Parquet under
    the line's name, with ``run_id`` as the source (:mod:`twin.edge.partitions`).
    """

    def __init__(self, endpoints: ResolvedEndpoints, out_dir: str | Path, settings: EdgeSettings, *, run_id: str,
                 base: Path | None = None, source: str | Path = "<settings>",
                 driver_factory: DriverFactory = make_driver, messaging: Messaging | None = None,
                 closed_loop: bool = True, keys: LineKeys | None = None,
                 publisher: FramePublisher | None = None) -> None:
        self.endpoints = endpoints
        self.out_dir = Path(out_dir)
        self.settings = settings
        self.run_id = run_id
        self.base = base
        self.source = source
        self.driver_factory = _one_driver_per_plc(driver_factory)
        self.messaging = messaging or Messaging()
        self.closed_loop = closed_loop
        self.keys = keys
        self.publisher = publisher  # e.g. a Sparkplug edge node (twin.edge.sparkplug.node), handed every frame
        self.index: ElementIndex = element_index(endpoints)
        self.aligner = Aligner(self.index, staleness_periods=settings.alignment.staleness_periods)
        self.alarms = AlarmManager(settings.detection.alarms)
        self.collectors: list[Collector] = []
        self.historian: Historian | None = None  # type: ignore[assignment]
        self.detector: Detector | None = None
        self.diagnosis: DiagnosisLoop | None = None
        self.rootcause_info: dict[str, object] = {}
        self.control: ClosedLoop | None = None
        self.analysis_wall_ms = 0.0  # detection + root cause on scans that raised alarms or diagnosed
        self.notes: list[str] = []  # what the edge runs without, said once (edge.json, the console)
        self._source_of: dict[str, Collector] = {}  # tag element -> the collector that reads it
        self._run_start_ms: int | None = None  # the first stored sample's time (a baseline's reference ends there)
        self._exit = AsyncExitStack()

    @property
    def tagmap(self) -> TagMap:
        """The tag map the endpoint file names."""
        return self.endpoints.tagmap

    async def open(self) -> EdgeStack:
        """Start everything in order; on a failure, stop what had started and re-raise."""
        try:
            plugins = self.settings.plugins
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self.collectors = build_collectors(self.endpoints, self.aligner, self.driver_factory)
            for collector in reversed(self.collectors):
                self._exit.push_async_callback(collector.close)
            await asyncio.gather(*(c.connect() for c in self.collectors))
            self.endpoints, described = described_by_servers(self.endpoints, self.collectors)
            self.notes.extend(described)
            self._source_of = {name: c for c in self.collectors for tag in c.schedule.tags
                               for name in tag.element_names()}
            text_tags = [t for _, tags in self.endpoints.assignments for t in tags if t.is_text]
            self.historian = Historian(self.out_dir / RunFiles.HISTORIAN, element_index(self.endpoints),
                                       text_tags=text_tags, **self._partitions())
            self._exit.callback(self.historian.close)
            self.detector = make_detector(plugins.detector, self.settings.detection, self.tagmap, self.index,
                                          self.base)
            self.diagnosis, self.rootcause_info = rootcause_loop(
                self.settings.rootcause, self.tagmap, self.base, self.source, choice=plugins.diagnoser,
                index=self.index)
            if self.closed_loop and self.settings.control.playbook:
                self.control = await self._open_control()
                self._exit.push_async_callback(self.control.close)
                self.alarms.on_operator_action = self.control.ledger.append  # acks and shelvings go to the ledger
            elif self.closed_loop:
                self.notes.append("no playbook (control.playbook): detection and diagnosis only, nothing is proposed")
            if self.publisher is not None:
                if self.control is not None:
                    self.publisher.attach(self.control.loop)
                else:  # what it refuses is ledgered all the same, in a ledger of its own
                    self.publisher.attach(None, self._fresh_ledger())
            if self.diagnosis is not None and self.diagnosis.risk:
                self.alarms.risk = self.diagnosis.risk.of  # alarms carry the severity their tag threatens
            if self.settings.rootcause.enabled and self.diagnosis is None:
                self.notes.append(f"no diagnosis: {self.rootcause_info.get('note', 'no diagnoser')}")
        except BaseException:
            await self.close()
            raise
        return self

    def _partitions(self) -> dict[str, Any]:
        """The historian's partition arguments from the settings (``historian.partitions``; none: no partitions):
        the root, the line (the settings' own, else the tag map's plant) and this run's id as the source."""
        historian = self.settings.historian
        if historian.partitions is None:
            return {}
        return {"partitions": resolve_path(historian.partitions, self.base),
                "line": historian.line or safe_name(self.tagmap.plant or "line"), "source": safe_name(self.run_id)}

    def _remove_ledgers(self) -> None:
        """Remove the ledger and bridge journal an earlier run left in the folder: a re-run starts its own
        chain, and its bridge a journal of its own (it never answers from another run's)."""
        for name in (RunFiles.LEDGER, RunFiles.BRIDGE_JOURNAL):
            for old in (self.out_dir / name, self.out_dir / (name + HEAD_SUFFIX)):
                old.unlink(missing_ok=True)

    def _fresh_ledger(self) -> Ledger:
        """A ledger of this run's own, for a stack without a closed loop (signed with its keys, or fresh ones)."""
        self._remove_ledgers()
        keys = self.keys if self.keys is not None else generate_keys(self.tagmap.plant or "edge")
        return Ledger(self.out_dir / RunFiles.LEDGER, keys=keys)

    async def _open_control(self) -> ClosedLoop:
        """The closed loop, on fresh ledger files (:meth:`_remove_ledgers`)."""
        self._remove_ledgers()
        m = self.messaging
        control = self.settings.control
        playbook = load_playbook(resolve_path(control.playbook or "", self.base), self.tagmap,
                                 extra_assets=self._knowledge_nodes())
        return await open_closed_loop(
            self.endpoints, self.out_dir, playbook=playbook, policy=control.policy, run_id=self.run_id,
            broker=m.broker, edge_account=m.edge_account, bridge_account=m.bridge_account,
            driver_factory=self.driver_factory, policy_plugin=self.settings.plugins.control_policy, base=self.base,
            keys=self.keys)

    def _knowledge_nodes(self) -> list[str]:
        """The nodes the knowledge file declares (assets a diagnosis may name without a tag of their own)."""
        knowledge = self.settings.rootcause.knowledge
        path = resolve_path(knowledge, self.base) if knowledge else None
        if path is None or not path.is_file():
            return []
        return [node.name for node in load_yaml_model(KnowledgeFile, path).nodes]

    async def close(self) -> None:
        """Stop the closed loop, close the collectors and the historian, in that order (safe to call twice)."""
        await self._exit.aclose()

    async def __aenter__(self) -> EdgeStack:
        return await self.open()

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def step(self, t_ms: int) -> Step:
        """One scan at edge time ``t_ms``: poll and align, store, detect, diagnose, control."""
        if self.historian is None:
            raise RuntimeError("the edge stack is not open: use 'async with EdgeStack(...)' or await open()")
        frame = await poll_all(self.collectors, self.aligner, t_ms)
        self.historian.append(frame)
        if self.publisher is not None:
            self.publisher.publish(frame, {c.name for c in self.collectors if c.down})
        step = Step(frame)
        started = time.perf_counter()
        signals = self._comm_signals()
        if self.detector is not None:
            signals += self._without_lost_plcs(self.detector.observe(frame), t_ms)
        step.alarms = self.alarms.process(t_ms, signals)
        if self.detector is not None and self.diagnosis is not None:
            refs = [AlarmRef(a.id, a.tag, a.t_ms, a.rule) for a in step.alarms if a.detector != COMM_DETECTOR]
            step.diagnosis = self.diagnosis.step(t_ms, refs, self._evidence_reader)
        if step.alarms or step.diagnosis is not None:
            self.analysis_wall_ms += (time.perf_counter() - started) * 1000
        if self.control is not None:
            loop = self.control.loop
            for alarm in step.alarms:
                loop.on_alarm(alarm)
            await loop.on_frame(frame)
            if step.diagnosis is not None:
                await loop.on_diagnosis(step.diagnosis, frame)
        if self.publisher is not None:
            self.publisher.after_control(frame)  # e.g. Sparkplug DCMDs, through the loop above
        return step

    def _evidence_reader(self) -> HistorianReader | ReferencedReader:
        """What a diagnosis reads: the historian, and before the run the detection baseline's in-control
        reference (when it has one on the diagnosis's grid), so an alarm right after the start is still
        compared with the line in control rather than with itself."""
        assert self.historian is not None
        reader = self.historian.reader()
        baseline = getattr(self.detector, "baseline", None)
        reference = getattr(baseline, "reference", None)
        if reference is None or reference.grid_ms != self.settings.rootcause.evidence.grid_ms:
            return reader
        if self._run_start_ms is None:
            self._run_start_ms = reader.first_ms()
        return reader if self._run_start_ms is None else ReferencedReader(reader, baseline, self._run_start_ms)

    def _comm_signals(self) -> list[Signal]:
        """One ``comm_lost`` signal per PLC that does not answer (ISA-18.2: one alarm for the link,
        returning to normal once it answers again); the per-tag quality stays in the historian."""
        return [Signal(tag=c.name, detector=COMM_DETECTOR, rule="comm_lost", value=float("nan"), limit=0.0)
                for c in self.collectors if c.down]

    def _without_lost_plcs(self, signals: list[Signal], t_ms: int) -> list[Signal]:
        """The detector's signals minus the data-loss ones of PLCs whose link was lost lately (their
        ``comm_lost`` alarm says it once, instead of one alarm per tag element)."""
        detection = self.settings.detection
        horizon_ms = (detection.dataloss_subgroups + 2) * detection.subgroup_s * 1000

        def lost_lately(tag: str) -> bool:
            collector = self._source_of.get(tag)
            return (collector is not None and collector.last_failed_ms is not None
                    and t_ms - collector.last_failed_ms <= horizon_ms)

        return [s for s in signals if not (s.detector == "data_loss" and lost_lately(s.tag))]

    def plc_links(self) -> list[PlcLink]:
        """Each PLC link's health so far: connect attempts, sessions, failed polls, tags it cannot serve."""
        return [PlcLink(name=c.name, url=c.driver.endpoint.url, connect_attempts=c.stats.connect_attempts,
                        sessions_opened=c.driver.sessions_opened, reconnects=c.stats.reconnects,
                        failed_polls=c.stats.failed_polls,
                        unknown=dict(c.driver.probe.unknown) if c.driver.probe else {},
                        problems=dict(c.stats.problems), last_error=c.stats.last_error)
                for c in self.collectors]

    def records(self) -> dict[str, list[dict[str, Any]]]:
        """Alarms, diagnoses and commands so far, JSON-ready (what ``report.json`` and ``edge.json`` hold)."""
        return {
            "alarms": [a.to_dict() for a in self.alarms.alarms],
            "diagnoses": [d.model_dump(mode="json") for d in self.diagnosis.diagnoses] if self.diagnosis else [],
            "commands": self.control.loop.records() if self.control is not None else [],
        }


def _one_driver_per_plc(factory: DriverFactory) -> DriverFactory:
    """``factory``, made to hand out one driver per PLC: the collectors and the bridge share its session."""
    made: dict[str, PlcDriver] = {}

    def shared(endpoint: Endpoint, tagmap: TagMap) -> PlcDriver:
        driver = made.get(endpoint.name)
        if driver is None:
            driver = made[endpoint.name] = factory(endpoint, tagmap)
        return driver

    return shared


def described_by_servers(endpoints: ResolvedEndpoints, collectors: list[Collector]) -> tuple[ResolvedEndpoints,
                                                                                               list[str]]:
    """The endpoints with each tag's unit and range filled from what its server declares (OPC UA
    EngineeringUnits and EURange) where the tag map leaves them out, and one line per tag whose tag map
    disagrees with its server (naming both values) or that its server does not serve."""
    notes: list[str] = []
    fill: dict[str, dict[str, Any]] = {}
    for collector in collectors:
        probe = collector.driver.probe
        if probe is None:
            continue
        if probe.unknown:
            notes.append(f"PLC {collector.name} does not serve {len(probe.unknown)} tag(s), stored as bad: "
                         + "; ".join(f"{t} ({why})" for t, why in probe.unknown.items()))
        for tag in collector.schedule.tags:
            update: dict[str, Any] = {}
            unit = probe.units.get(tag.name)
            if unit is not None and not tag.unit:
                update["unit"] = unit
            elif unit and unit != tag.unit:
                notes.append(f"tag {tag.name}: the tag map says unit {tag.unit!r}, the server says {unit!r}")
            low_high = probe.ranges.get(tag.name)
            if low_high is not None:
                if tag.low is None and tag.high is None:
                    update.update(low=low_high[0], high=low_high[1])
                elif (tag.low, tag.high) != low_high:
                    notes.append(f"tag {tag.name}: the tag map says range {tag.low}..{tag.high}, "
                                 f"the server says {low_high[0]:g}..{low_high[1]:g}")
            if update:
                fill[tag.name] = update
    for note in notes:
        log.warning(note)
    if not fill:
        return endpoints, notes

    def filled(tag: Tag) -> Tag:
        return tag.model_copy(update=fill[tag.name]) if tag.name in fill else tag

    tagmap = endpoints.tagmap.model_copy(update={"tags": [filled(t) for t in endpoints.tagmap.tags]})
    assignments = [(e, [filled(t) for t in tags]) for e, tags in endpoints.assignments]
    return ResolvedEndpoints(tagmap=tagmap, assignments=assignments), notes
