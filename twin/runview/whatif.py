"""What-if runs: a scenario with its knobs turned, run by the same runner as ``twin run``.

Knobs that ``twin run`` has flags for (seed, duration, policy, offline) go into the
:class:`~twin.episode.EpisodeConfig` exactly as the CLI puts them, so the app and the CLI give
the same report for the same choices; the others (fault kind, target, magnitude and onset,
scan period, detection warm-up) make a new, validated :class:`~twin.scenario.Scenario`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from plant_models.registry import build_plant
from virtual_plc.configfile import ConfigError

from ..episode import EpisodeConfig, Mode, Progress, run_episode
from ..report import RunReport
from ..scenario import Policy, Scenario, check_faults


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
    """Where a what-if run lands: ``ROOT/app/<scenario>-seed<seed>-<knobs digest>``."""
    seed = scenario.seed if knobs.seed is None else knobs.seed
    return Path(root) / "app" / f"{scenario.name}-seed{seed}-{knobs.digest()}"


def run_whatif(scenario: Scenario, knobs: Knobs, out_dir: Path, progress: Progress | None = None) -> RunReport:
    """Turn the knobs and run the episode (blocking); writes the usual run directory."""
    turned = apply_knobs(scenario, knobs)
    return asyncio.run(run_episode(turned, episode_config(knobs, out_dir, progress)))
