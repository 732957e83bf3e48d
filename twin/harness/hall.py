"""A hall: several lines in one scenario, each behind its own virtual PLC and read by its own edge.

A hall file (``kind: hall``) lists line scenarios (any mix of plants and line templates, each with its own
faults, detection, root cause and control) and runs them for one duration from one seed:

.. code-block:: yaml

    kind: hall
    name: two_lines
    seed: 1
    duration_s: 600
    lines:
      - scenario: lines/motor_assembly/motor_assembly_bearing_lot_spread.yaml
      - {scenario: coater_blade_drift.yaml, name: coater_east}
    partitions: hall_parquet      # optional: every line's historian also as line=<name>/date=<day>/ Parquet

Each line keeps what is its own: its plant, its virtual PLC (its own Modbus and OPC UA ports in lockstep),
its edge stack (alarms, diagnoses, commands and ledger stay per line) and its run folder under the hall's
(``<out>/<line name>/``, a normal run directory every tool reads). ``backend`` says how they run:

* ``together`` (default): one process, one clock; every line is scanned in turn at each tick (the ticks are
  the greatest common divisor of the lines' scan periods, and a line scans at its own period);
* ``pool`` or ``ray``: each line runs as its own episode in its own worker process (a process pool, or a Ray
  actor of its own on the local or ``RAY_ADDRESS`` cluster), with its own PLC, edge and historian partition:
  lines share no clock, which they do not need, since they do not interact.

The hall's report (``hall.json``, :class:`HallReport`) aggregates: per line its counts, alarms, diagnoses,
commands, the cause it named most often and its scores; over the hall the totals and plant time per wall
second. The same seed gives the same lines' historians whatever the backend (line ``i`` runs at the hall's
seed + ``i`` unless it sets its own).
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from qtconfig import ConfigError, load_yaml_model, resolve_path, yaml_kind
from twin.contracts import Mode, RunFiles, RunReport
from twin.edge.assets.openlineage import emit_edge_run
from twin.harness.episode import EpisodeConfig, Wiring, finish_episode, run_episode, run_scan, wire
from twin.harness.parallel import Progress, run_parallel
from twin.harness.scenario import Scenario, load_scenario

HALL_REPORT = "hall.json"
#: together, the lines share one event loop: a virtual PLC answers once the loop has served the other lines, so a
#: read waits up to this long per line of the hall before it counts as lost (one line alone: the endpoint's 1 s)
TIMEOUT_PER_LINE_S = 1.0
Backend = Literal["together", "pool", "ray"]


class HallLine(BaseModel):
    """One line of a hall: its scenario file (relative to the hall file), a name unique in the hall (default:
    the scenario's name) and optionally its own seed."""

    model_config = ConfigDict(extra="forbid")

    scenario: str = Field(min_length=1, description="the line's scenario file, relative to the hall file")
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")] | None = Field(
        default=None, description="the line's name in the hall and its run folder (default: the scenario's name)")
    seed: int | None = Field(default=None, ge=0, description="the line's seed (default: the hall's seed + its index)")


class Hall(BaseModel):
    """A hall file (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["hall"] = Field(description="hall: several lines in one scenario")
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="the hall's name (default run folder runs/<name>)")
    description: str = Field(default="", description="what the hall is")
    seed: int = Field(default=0, ge=0, description="seed of the hall: line i runs at seed + i")
    duration_s: float = Field(gt=0, description="plant seconds every line runs")
    lines: list[HallLine] = Field(min_length=1, description="the lines, each its own scenario")
    backend: Backend = Field(default="together", description="together (one process, one clock), pool or ray")
    partitions: str | None = Field(
        default=None, description="a folder: every line's historian also as hive-partitioned Parquet "
                                  "(line=<name>/date=<day>/), one table for the whole hall")
    source: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _unique_names(self) -> Hall:
        named = [line.name for line in self.lines if line.name is not None]
        twice = sorted({n for n in named if named.count(n) > 1})
        if twice:
            raise ValueError(f"line names must be unique in a hall; given twice: {twice}")
        return self

    def resolve(self, relative: str) -> Path:
        """A path of the hall file, resolved from the file's folder."""
        return resolve_path(relative, self.source.parent if self.source is not None else None)


class HallLineReport(BaseModel):
    """What one line of a hall did (its own run folder holds the whole ``report.json``)."""

    name: str
    scenario: str
    seed: int
    run_dir: str
    tags: int
    samples: int
    alarms: int
    diagnoses: int
    commands: int
    named_cause: str | None = Field(description="the cause the line's diagnoses named most often")
    faults: list[str] = Field(description="the faults injected (truth, for the reader)")
    scores: dict[str, Any] = Field(description="the line's scores (report.json's scores)")
    plant_s: float
    wall_s: float
    stopped_early: str | None = None


class HallReport(BaseModel):
    """The hall's report (``hall.json``): every line, and the totals."""

    hall: str
    seed: int
    mode: Mode
    backend: Backend
    lines: list[HallLineReport]
    tags: int
    samples: int
    alarms: int
    diagnoses: int
    commands: int
    plant_s: float = Field(description="plant seconds of the hall (its lines run side by side)")
    wall_s: float = Field(description="wall seconds of the whole hall (lines together, or in parallel)")
    plant_per_wall_s: float = Field(description="plant seconds per wall second of the hall")
    partitions: str | None = None

    def write(self, path: Path) -> None:
        """Write the report as JSON."""
        path.write_text(self.model_dump_json(indent=1) + "\n", encoding="utf-8")


def is_hall_file(path: str | Path) -> bool:
    """Whether a YAML file declares ``kind: hall`` (unreadable files are not)."""
    return yaml_kind(path) == "hall"


def load_hall(path: str | Path) -> tuple[Hall, list[tuple[str, Scenario]]]:
    """Read a hall file and every line's scenario; a :class:`~qtconfig.ConfigError` names the file, the field and
    its line (for a line's scenario: the hall's ``lines[i].scenario`` and the scenario's own problem)."""
    path = Path(path)
    hall = load_yaml_model(Hall, path)
    hall.source = path.resolve()
    lines: list[tuple[str, Scenario]] = []
    for i, line in enumerate(hall.lines):
        try:
            scenario = load_scenario(hall.resolve(line.scenario))
        except ConfigError as err:
            raise ConfigError(path, [f"lines[{i}].scenario: {err}"]) from None
        lines.append((line.name or scenario.name, scenario))
    names = [name for name, _ in lines]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(path, [f"lines: two lines are called {twice}; give each a name"])
    return hall, lines


def run_hall(hall: Hall, lines: list[tuple[str, Scenario]], *, out_dir: Path | None = None,
             mode: Mode = "lockstep", seed: int | None = None, duration_s: float | None = None,
             backend: Backend | None = None, progress: Progress | None = None) -> HallReport:
    """Run every line of ``hall`` (as :func:`load_hall` gave them) and write ``hall.json`` beside their run
    folders; ``progress(done, total)`` counts plant milliseconds (together) or lines finished (pool, ray)."""
    seed = hall.seed if seed is None else seed
    duration_s = duration_s or hall.duration_s
    backend = backend or hall.backend
    out_dir = Path(out_dir) if out_dir else Path("runs") / hall.name
    out_dir.mkdir(parents=True, exist_ok=True)
    partitions = hall.resolve(hall.partitions).resolve() if hall.partitions else None
    jobs = [LineJob(name, scenario, hall.lines[i].seed if hall.lines[i].seed is not None else seed + i,
                    out_dir / name, mode, duration_s, partitions) for i, (name, scenario) in enumerate(lines)]
    started = time.perf_counter()
    if backend == "together":
        reports = asyncio.run(_run_together(jobs, progress))
    else:
        reports = run_parallel(run_line, jobs, backend=backend, processes=min(len(jobs), os.cpu_count() or 1),
                               progress=progress, actors=True)
    wall_s = time.perf_counter() - started
    report = hall_report(hall.name, seed, mode, backend, jobs, reports, wall_s, partitions)
    report.write(out_dir / HALL_REPORT)
    return report


@dataclass
class LineJob:
    """One line to run: what :func:`run_line` needs, picklable for a worker process."""

    name: str
    scenario: Scenario
    seed: int
    out_dir: Path
    mode: Mode
    duration_s: float
    partitions: Path | None = None

    def config(self) -> EpisodeConfig:
        """The episode configuration of this line."""
        return EpisodeConfig(seed=self.seed, out_dir=self.out_dir, mode=self.mode, duration_s=self.duration_s,
                             partitions=(self.partitions, self.name) if self.partitions else None)


def run_line(job: LineJob) -> RunReport:
    """Run one line of a hall on its own (a worker process's job: pool or Ray)."""
    return asyncio.run(run_episode(job.scenario, job.config()))


async def _run_together(jobs: list[LineJob], progress: Progress | None) -> list[RunReport]:
    """Every line in this process on one clock: at each tick, each line whose scan period has come is scanned."""
    tick = math.gcd(*(job.scenario.scan_ms for job in jobs))
    end_ms = int(round(max(job.duration_s for job in jobs) * 1000))
    configs = [job.config() for job in jobs]
    wirings: list[Wiring] = []
    scans = [0 for _ in jobs]
    stopped: str | None = None
    started = time.perf_counter()
    try:
        for job, config in zip(jobs, configs):
            wirings.append(await wire(job.scenario, job.seed, job.out_dir, job.mode, closed_loop=True,
                                      run_id=f"{job.name}-{job.seed}", partitions=config.partitions,
                                      timeout_s=TIMEOUT_PER_LINE_S * len(jobs)))
        for t_ms in range(0, end_ms, tick):
            for i, (job, wiring) in enumerate(zip(jobs, wirings)):
                if t_ms % job.scenario.scan_ms == 0:
                    await run_scan(wiring, t_ms)
                    scans[i] += 1
            if progress is not None:
                progress(t_ms + tick, end_ms)
    except BaseException as err:  # keep what every line collected, then re-raise
        stopped = f"{type(err).__name__}: {err}"
        raise
    finally:
        wall_s = time.perf_counter() - started
        reports = []
        for job, config, wiring, done in zip(jobs, configs, wirings, scans):
            await wiring.close()
            reports.append(finish_episode(job.scenario, config, job.seed, job.out_dir, wiring, done, wall_s, stopped))
            emit_edge_run(wiring.edge, f"run.{job.scenario.name}", wall_s, stopped)
    return reports


def hall_report(name: str, seed: int, mode: Mode, backend: Backend, jobs: list[LineJob], reports: list[RunReport],
                wall_s: float, partitions: Path | None) -> HallReport:
    """Aggregate the lines' run reports into the hall's."""
    lines = []
    for job, report in zip(jobs, reports):
        causes = Counter(d.top.asset for d in report.diagnoses if d.top is not None)
        lines.append(HallLineReport(
            name=job.name, scenario=str(job.scenario.source or job.scenario.name), seed=job.seed,
            run_dir=str(job.out_dir), tags=_tags(job.out_dir), samples=report.counts.samples,
            alarms=len(report.alarms), diagnoses=len(report.diagnoses), commands=len(report.commands),
            named_cause=causes.most_common(1)[0][0] if causes else None,
            faults=[f"{f.kind} {f.target}" for f in report.faults],
            scores=report.scores.model_dump(mode="json", exclude_none=True), plant_s=report.durations.plant_s,
            wall_s=report.durations.wall_s, stopped_early=report.stopped_early))
    plant_s = max((line.plant_s for line in lines), default=0.0)  # the hall's clock: its lines run side by side
    return HallReport(
        hall=name, seed=seed, mode=mode, backend=backend, lines=lines, tags=sum(x.tags for x in lines),
        samples=sum(x.samples for x in lines), alarms=sum(x.alarms for x in lines),
        diagnoses=sum(x.diagnoses for x in lines), commands=sum(x.commands for x in lines), plant_s=plant_s,
        wall_s=round(wall_s, 3), plant_per_wall_s=round(plant_s / wall_s, 2) if wall_s > 0 else 0.0,
        partitions=str(partitions) if partitions else None)


def _tags(run_dir: Path) -> int:
    """Tags in a line's tag map (``tags.csv``: a header and a row per tag)."""
    path = run_dir / RunFiles.TAGS
    return max(0, len(path.read_text(encoding="utf-8").splitlines()) - 1) if path.is_file() else 0
