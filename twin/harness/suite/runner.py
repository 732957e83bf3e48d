"""Run a suite: every scenario × seed as one episode (in parallel), judge the gates, compare a baseline.

Each episode runs in its own worker with a wall-clock limit (``episode_timeout_s``); a plug-in
that raises, overruns or returns malformed output fails *that* episode with its message
(:class:`~twin.edge.plugins.guard.PluginError`) and the suite goes on. The result is a
:class:`SuiteResult`, written as ``summary.json`` and JUnit XML (:mod:`twin.harness.suite.junit`).
"""

from __future__ import annotations

import asyncio
import json
import math
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from twin.harness.parallel import run_parallel
from twin.harness.suite.gates import AGGREGATES, PER_EPISODE, Gate, format_value
from twin.harness.suite.metrics import episode_metrics
from twin.harness.suite.spec import Suite

SUMMARY_FILE = "summary.json"
JUNIT_FILE = "junit.xml"


class EpisodeTimeout(Exception):
    """An episode ran past the suite's ``episode_timeout_s``."""


@dataclass(frozen=True)
class Case:
    """One episode of a suite: everything a worker needs (picklable)."""

    label: str
    scenario: str
    seed: int
    mode: str
    out_dir: str
    duration_s: float | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    plugins: dict[str, str | None] = field(default_factory=dict)  # detector / diagnoser / control_policy names
    timeout_s: float = 900.0

    @property
    def name(self) -> str:
        """``label[seed=N]``: the JUnit test case name."""
        return f"{self.label}[seed={self.seed}]"


@dataclass
class CaseResult:
    """What one episode gave: its figures, or the error that stopped it."""

    label: str
    seed: int
    status: str  # ok | error
    message: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    run_dir: str = ""
    wall_s: float = 0.0
    failed_gates: list[dict[str, Any]] = field(default_factory=list)

    @property
    def name(self) -> str:
        """``label[seed=N]``."""
        return f"{self.label}[seed={self.seed}]"


@dataclass
class GateResult:
    """A gate judged over every episode that has its metric."""

    gate: str
    value: float | None
    passed: bool
    episodes: int


@dataclass
class Regression:
    """A gated figure that got worse than the baseline by more than the tolerance."""

    gate: str
    baseline: float
    value: float
    allowed: float
    message: str


@dataclass
class SuiteResult:
    """The whole run: per-episode results, gates, regressions; ``passed`` decides the exit status."""

    suite: str
    plugins: dict[str, str | None]
    cases: list[CaseResult]
    gates: list[GateResult]
    regressions: list[Regression] = field(default_factory=list)
    baseline: str | None = None
    wall_s: float = 0.0

    @property
    def passed(self) -> bool:
        """No errored episode, no failed gate, no regression."""
        return (all(c.status == "ok" and not c.failed_gates for c in self.cases)
                and all(g.passed for g in self.gates) and not self.regressions)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (∞ written as the string ``"inf"``)."""
        return _json_safe({**asdict(self), "passed": self.passed})


def cases_of(suite: Suite, out_dir: Path, plugins: Mapping[str, str | None] | None = None) -> list[Case]:
    """Every scenario × seed of ``suite`` as a :class:`Case`, episodes under ``out_dir/episodes``."""
    out: list[Case] = []
    for entry in suite.entries:
        path = suite.scenario_path(entry)
        label = entry.name()
        for seed in entry.seeds:
            out.append(Case(label=label, scenario=str(path), seed=seed, mode=suite.mode,
                            out_dir=str(out_dir / "episodes" / f"{label}-s{seed}"), duration_s=entry.duration_s,
                            overrides=dict(entry.overrides), plugins=dict(plugins or {}),
                            timeout_s=suite.episode_timeout_s))
    return out


def run_case(case: Case) -> CaseResult:
    """Run one episode (in a worker); never raises: an error becomes the result's message."""
    started = time.perf_counter()
    _preload()
    try:
        with _time_limit(case.timeout_s):
            report = _run(case)
        return CaseResult(case.label, case.seed, "ok", metrics=episode_metrics(report), run_dir=case.out_dir,
                          wall_s=round(time.perf_counter() - started, 2))
    except BaseException as err:  # noqa: BLE001 - an episode's failure is reported, the suite goes on
        if isinstance(err, KeyboardInterrupt):
            raise
        message = f"{type(err).__name__}: {err}"
        if not _explained(err):
            message += "\n" + "".join(traceback.format_exception(err)[-6:])
        return CaseResult(case.label, case.seed, "error", message=message, run_dir=case.out_dir,
                          wall_s=round(time.perf_counter() - started, 2))


def _preload() -> None:
    """Import the runner and torch before the time limit is armed: a limit that fires in the middle of
    an import would leave a half-initialised module behind for the next episode in this worker."""
    import rootcause.model  # noqa: F401
    import twin.harness.episode  # noqa: F401


def _explained(err: BaseException) -> bool:
    """Errors whose message says it all (no traceback needed)."""
    from qtconfig import ConfigError
    from twin.edge.plugins.guard import PluginError

    return isinstance(err, (PluginError, ConfigError, EpisodeTimeout))


def _run(case: Case) -> dict[str, Any]:
    """The episode's report as a dict: a plant scenario through the runner, a supply one through its own."""
    from twin.harness.supply.scenario import is_supply_file

    if is_supply_file(case.scenario):
        if any(case.plugins.values()):
            raise ValueError("plug-ins apply to plant scenarios; this one is a supply scenario")
        from twin.harness.scenario import merge_overrides
        from twin.harness.supply.runner import run_supply
        from twin.harness.supply.scenario import SupplyScenario, load_supply_scenario

        spec = load_supply_scenario(case.scenario)
        if case.overrides:
            spec = SupplyScenario.model_validate(merge_overrides(spec.model_dump(), case.overrides))
        return run_supply(spec, seed=case.seed, out_dir=Path(case.out_dir)).model_dump(mode="json")
    from twin.harness.episode import EpisodeConfig, run_episode
    from twin.harness.scenario import load_scenario

    scenario = load_scenario(case.scenario, case.overrides)
    plugins = scenario.plugins.with_names(**case.plugins)
    config = EpisodeConfig(seed=case.seed, out_dir=Path(case.out_dir), mode=case.mode,  # type: ignore[arg-type]
                           duration_s=case.duration_s, plugins=plugins)
    return asyncio.run(run_episode(scenario, config)).model_dump(mode="json")


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`EpisodeTimeout` in this (main) thread after ``seconds`` of wall time."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach only the main thread: no limit here
        return

    def expire(signum: int, frame: Any) -> None:
        raise EpisodeTimeout(f"the episode ran over the suite's episode_timeout_s of {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def judge(suite: Suite, cases: list[CaseResult]) -> list[GateResult]:
    """Every gate over the episodes that have its metric — suite gates over all, an entry's gates over its
    own (named ``label: gate``); per-episode gates are also marked on the cases."""
    ok = [c for c in cases if c.status == "ok"]
    scoped: list[tuple[str, Gate, list[CaseResult]]] = [("", g, ok) for g in suite.gates]
    for entry in suite.entries:
        mine = [c for c in ok if c.label == entry.name()]
        scoped += [(f"{entry.name()}: ", g, mine) for g in entry.gates]
    results = []
    for prefix, gate, group in scoped:
        values = [c.metrics[gate.metric] for c in group if gate.metric in c.metrics]
        value = gate.value(values)
        results.append(GateResult(prefix + gate.text, value, gate.holds(value), len(values)))
        if gate.aggregate in PER_EPISODE:
            for case in group:
                measured = case.metrics.get(gate.metric)
                if measured is not None and not gate.holds(measured):
                    case.failed_gates.append({"gate": gate.text, "value": measured})
    return results


def compare(suite: Suite, gates: list[GateResult], baseline: Mapping[str, Any]) -> list[Regression]:
    """Gated figures worse than in ``baseline`` (a stored ``summary.json``) beyond ``suite.regression``."""
    before = {g["gate"]: g.get("value") for g in baseline.get("gates", [])}
    parsed = {prefix + g.text: g for prefix, g in _all_gates(suite)}
    out = []
    for result in gates:
        gate = parsed[result.gate]
        old = _number(before.get(result.gate))
        new = result.value
        if old is None or new is None or math.isinf(old):
            continue
        worse = (new - old) if gate.lower_is_better else (old - new)
        allowed = suite.regression.allowed(old)
        if worse > allowed + 1e-12:
            verb = "rose" if gate.lower_is_better else "fell"
            name = result.gate.rsplit(" ", 2)[0]
            out.append(Regression(result.gate, old, new, allowed,
                                  f"{name} {verb} from {format_value(old)} to {format_value(new)} "
                                  f"(tolerance {allowed:.3g})"))
    return out


def _all_gates(suite: Suite) -> list[tuple[str, Gate]]:
    """(prefix, gate) of every gate: the suite's, then each entry's (``label: ``)."""
    return [("", g) for g in suite.gates] + [(f"{e.name()}: ", g) for e in suite.entries for g in e.gates]


def run_suite(suite: Suite, out_dir: Path, *, plugins: Mapping[str, str | None] | None = None, jobs: int = 1,
              baseline: Mapping[str, Any] | None = None, baseline_name: str | None = None,
              progress: Callable[[int, int], None] | None = None, backend: str | None = None) -> SuiteResult:
    """Run every case (``jobs`` at a time), judge gates, compare with ``baseline``; writes nothing.

    ``backend`` (:func:`~twin.harness.parallel.run_parallel`): ``serial``, ``pool`` or ``ray`` (a local Ray of
    ``jobs`` CPUs, or the cluster ``RAY_ADDRESS`` names); by default a process pool when ``jobs`` > 1. Each
    case carries its own seed, so every backend gives the same results."""
    started = time.perf_counter()
    cases = cases_of(suite, out_dir, plugins)
    results = run_parallel(run_case, cases, processes=max(1, jobs),
                           backend=backend or ("pool" if jobs > 1 else "serial"), progress=progress)
    gates = judge(suite, results)
    regressions = compare(suite, gates, baseline) if baseline is not None else []
    chosen = {k: v for k, v in (plugins or {}).items()}
    return SuiteResult(suite.name, chosen, results, gates, regressions, baseline_name,
                       round(time.perf_counter() - started, 2))


def load_baseline(path: Path) -> dict[str, Any]:
    """A stored summary: ``RUN_DIR/summary.json``, or the file itself."""
    file = path / SUMMARY_FILE if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"no baseline summary at {file} (give the RUN_DIR of an earlier 'twin check')")
    return json.loads(file.read_text(encoding="utf-8"))


def write_summary(result: SuiteResult, out_dir: Path) -> Path:
    """``summary.json`` in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / SUMMARY_FILE
    path.write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
    return path


def metric_table(result: SuiteResult) -> dict[str, dict[str, float]]:
    """Per metric over the ok episodes: n, mean, p50, p90, max (for the printed table)."""
    names = sorted({m for c in result.cases for m in c.metrics})
    out = {}
    for name in names:
        values = np.array([c.metrics[name] for c in result.cases if name in c.metrics], dtype=float)
        out[name] = {"n": float(len(values)), "mean": float(np.mean(values)),
                     **{k: AGGREGATES[k](values) for k in ("p50", "p90", "max")}}
    return out


def _number(value: Any) -> float | None:
    if value == "inf":
        return math.inf
    return float(value) if isinstance(value, (int, float)) else None


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, float) and math.isinf(obj):
        return "inf" if obj > 0 else "-inf"
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_json_safe(v) for v in obj]
    return obj
