"""A pytest plug-in (entry point ``pytest11``): fault-injection tests of your own edge analytics.

Installed with quality-twin, it gives every test suite three fixtures:

* ``virtual_plant(scenario, seed=None, *, detector=None, ...)`` — a *running* virtual line: the
  scenario's plant behind a virtual PLC serving Modbus TCP and OPC UA on 127.0.0.1 (its endpoint
  file in ``plant.endpoints_file``), with the edge reading it. ``plant.run(seconds)`` advances it
  in lockstep; ``plant.inject(kind, target, magnitude, rate=...)`` starts a fault *now*;
  ``plant.alarms`` / ``plant.diagnoses`` are what the edge saw. Torn down after the test.
* ``run_episode(scenario, seed=None, *, duration_s=None, detector=None, diagnoser=None,
  control_policy=None, overrides=None, mode="offline")`` — one whole episode, returning its
  :class:`~twin.contracts.RunReport` (the run directory is under the test's ``tmp_path``).
* ``historian(source)`` — a :class:`~twin.edge.historian.HistorianReader` on a report's run, a
  run directory or a virtual plant; closed after the test.

``scenario`` is a path, or the name of a shipped scenario (``"coater_blade_drift"``).
Plug-ins are names (entry points) or ``module:attr`` strings, as in a scenario file.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import pytest

from twin.contracts import RunFiles, RunReport
from twin.edge.historian import HistorianReader
from twin.harness.episode import EpisodeConfig, Wiring, run_scan, wire
from twin.harness.episode import run_episode as _run_episode
from twin.harness.scenario import SCENARIO_DIR as SCENARIOS
from twin.harness.scenario import FaultEntry, Scenario, load_scenario

T = TypeVar("T")


def find_scenario(scenario: str | Path, overrides: Mapping[str, Any] | None = None) -> Scenario:
    """A scenario by path, or by the name of a shipped one (``coater_blade_drift``)."""
    path = Path(scenario)
    if not path.is_file() and (SCENARIOS / f"{scenario}.yaml").is_file():
        path = SCENARIOS / f"{scenario}.yaml"
    if not path.is_file():
        shipped = sorted(p.stem for p in SCENARIOS.glob("*.yaml"))
        raise FileNotFoundError(f"no scenario {scenario!r}: give a file, or one of {', '.join(shipped)}")
    return load_scenario(path, overrides)


def _with_plugins(scenario: Scenario, detector: str | None, diagnoser: str | None,
                  control_policy: str | None) -> Scenario:
    return scenario.model_copy(update={"plugins": scenario.plugins.with_names(detector, diagnoser, control_policy)})


class VirtualPlant:
    """A running virtual line with the edge attached; its event loop runs in a background thread,
    so the PLC's servers answer outside clients between calls too."""

    def __init__(self, scenario: Scenario, seed: int | None, out_dir: Path) -> None:
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else seed
        self.out_dir = out_dir
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="virtual-plant", daemon=True)
        self._thread.start()
        self.t_ms = 0
        try:
            self.wiring: Wiring = self._call(wire(scenario, self.seed, out_dir, "lockstep"))
        except BaseException:
            self._stop_loop()
            raise

    def _call(self, coroutine: Coroutine[Any, Any, T], timeout_s: float = 600.0) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout_s)

    @property
    def endpoints_file(self) -> Path:
        """The endpoint file the edge (or your own client) reads the PLC by."""
        return self.wiring.endpoints_file

    @property
    def now_s(self) -> float:
        """Plant time of the next scan, seconds."""
        return self.t_ms / 1000

    def run(self, seconds: float) -> list[dict[str, Any]]:
        """Advance the line ``seconds`` of plant time, scan by scan; returns the alarms raised meanwhile."""
        before = len(self.wiring.edge.alarms.alarms)
        n = int(round(seconds * 1000 / self.scenario.scan_ms))

        async def scans() -> None:
            for _ in range(n):
                await run_scan(self.wiring, self.t_ms)
                self.t_ms += self.scenario.scan_ms

        self._call(scans())
        return [a.to_dict() for a in self.wiring.edge.alarms.alarms[before:]]

    def inject(self, kind: str, target: str, magnitude: float = 0.0, *, rate: float | None = None,
               duration_s: float | None = None, params: Mapping[str, float] | None = None) -> dict[str, Any]:
        """Start a fault at the current plant time; returns its truth record. Bad kinds or targets raise
        ValueError naming the valid ones."""
        entry = FaultEntry(kind=kind, target=target, start_s=self.now_s, magnitude=magnitude,  # type: ignore[arg-type]
                           rate=rate, duration_s=duration_s, params=dict(params or {}))
        self.wiring.plant.inject(entry.spec())
        return self.wiring.plant.truth()[-1]

    @property
    def alarms(self) -> list[dict[str, Any]]:
        """Every alarm the edge raised so far."""
        return [a.to_dict() for a in self.wiring.edge.alarms.alarms]

    @property
    def diagnoses(self) -> list[dict[str, Any]]:
        """Every diagnosis so far."""
        loop = self.wiring.edge.diagnosis
        return [d.model_dump(mode="json") for d in loop.diagnoses] if loop is not None else []

    def truth(self) -> list[dict[str, Any]]:
        """The faults injected so far (for scoring in the test, never for the edge)."""
        return self.wiring.plant.truth()

    def reader(self) -> HistorianReader:
        """A reader over what the edge stored so far."""
        self.wiring.edge.historian.flush()
        return self.wiring.edge.historian.reader()

    def close(self) -> None:
        """Stop the servers, close collectors and the historian, stop the loop (safe to call twice)."""
        if self._loop.is_closed():
            return
        try:
            self._call(self.wiring.close(), timeout_s=60.0)
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()


@pytest.fixture
def virtual_plant(tmp_path: Path) -> Iterator[Callable[..., VirtualPlant]]:
    """Factory: ``virtual_plant(scenario, seed=None, *, detector=None, diagnoser=None, overrides=None)``."""
    plants: list[VirtualPlant] = []

    def make(scenario: str | Path, seed: int | None = None, *, detector: str | None = None,
             diagnoser: str | None = None, overrides: Mapping[str, Any] | None = None) -> VirtualPlant:
        spec = _with_plugins(find_scenario(scenario, overrides), detector, diagnoser, None)
        plant = VirtualPlant(spec, seed, tmp_path / f"plant-{len(plants)}-{spec.name}")
        plants.append(plant)
        return plant

    yield make
    for plant in plants:
        plant.close()


@pytest.fixture
def run_episode(tmp_path: Path) -> Callable[..., RunReport]:
    """Factory: ``run_episode(scenario, seed=None, *, duration_s=None, detector=None, diagnoser=None,
    control_policy=None, overrides=None, mode="offline")`` → the run's report."""
    count = 0

    def run(scenario: str | Path, seed: int | None = None, *, duration_s: float | None = None,
            detector: str | None = None, diagnoser: str | None = None, control_policy: str | None = None,
            overrides: Mapping[str, Any] | None = None, mode: str = "offline") -> RunReport:
        nonlocal count
        spec = find_scenario(scenario, overrides)
        count += 1
        out = tmp_path / f"run-{count}-{spec.name}"
        config = EpisodeConfig(seed=seed, out_dir=out, mode=mode, duration_s=duration_s,  # type: ignore[arg-type]
                               plugins=spec.plugins.with_names(detector, diagnoser, control_policy))
        report = asyncio.run(_run_episode(spec, config))
        report.scenario["run_dir"] = str(out)
        return report

    return run


@pytest.fixture
def historian() -> Iterator[Callable[[RunReport | VirtualPlant | str | Path], HistorianReader]]:
    """Factory: ``historian(report | run_dir | virtual_plant)`` → a reader, closed after the test."""
    readers: list[HistorianReader] = []

    def open_reader(source: RunReport | VirtualPlant | str | Path) -> HistorianReader:
        if isinstance(source, VirtualPlant):
            reader = source.reader()
        else:
            run_dir = Path(source.scenario["run_dir"]) if isinstance(source, RunReport) else Path(source)
            reader = HistorianReader(run_dir / RunFiles.HISTORIAN)
        readers.append(reader)
        return reader

    yield open_reader
    for reader in readers:
        reader.close()
