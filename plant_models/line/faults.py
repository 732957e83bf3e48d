"""Faults of a declarative line: the generic kinds, valid on any template.

Process faults move a **condition** of an asset (its hidden wear, ageing, fouling); the target
is the condition (``weld.gun.tip_wear``) or its asset (``weld.gun``: the asset's first
condition). Sensor faults act on any measured tag, through the shared sensor layer.

``condition_drift``   ramps the condition by ``magnitude`` at ``rate`` per second
                      (default: over 300 s)
``step``              adds ``magnitude`` at the onset
``oscillation``       adds ``magnitude·sin(2π t / period_s)`` (``params.period_s``, default 60)
``thermal_shock``     a transient: rises to ``magnitude`` over ``params.rise_s`` (default 2),
                      holds ``duration_s`` (default 20), decays back with time constant
                      ``params.recovery_s`` (default 30)
``sensor_*``          the five sensor faults, on any measured tag

A magnitude is bounded by the condition's ``fault_range`` (default: ± the width of its range).
Truth records are the same as the hand-written plants' (:class:`plant_models.faults.ResolvedFault`).
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any

import numpy as np
import simpy

from plant_models.base import SENSOR_FAULT_KINDS, FaultSpec
from plant_models.faults import RAMP_TICK_MS, ResolvedFault, finite, onset_ms_of, ramp, wait_until
from plant_models.line.compile import CompiledLine
from plant_models.spec import SENSOR_FAULTS, FaultRange

PROCESS_KINDS = ("condition_drift", "step", "oscillation", "thermal_shock")
DEFAULT_RAMP_S = 300.0
DEFAULT_DURATION_S = {"thermal_shock": 20.0, "sensor_noise_burst": 30.0}
PARAMS: dict[str, dict[str, float]] = {
    "oscillation": {"period_s": 60.0},
    "thermal_shock": {"rise_s": 2.0, "recovery_s": 30.0},
}


def fault_targets(compiled: CompiledLine) -> dict[str, list[str]]:
    """For each fault kind, what it may target on this line."""
    conditions = [n.name for n in compiled.nodes.values() if n.role == "condition"]
    assets = list(dict.fromkeys(compiled.nodes[c].asset for c in conditions))
    tags = [s.name for s in compiled.measured() if s.role != "setpoint"]
    targets = {kind: [*assets, *conditions] for kind in PROCESS_KINDS}
    for kind in sorted(SENSOR_FAULT_KINDS):
        targets[kind] = list(tags)
    return targets


def fault_catalogue(compiled: CompiledLine) -> tuple[FaultRange, ...]:
    """What a sweep of this line draws: a drift and a step on every condition, within its fault
    range (from a tenth of its larger side; both signs, up to its smaller side, when the range spans
    zero: a drawn magnitude of either sign stays inside the range), and the sensor faults on every
    measured tag."""
    out = []
    for name, node in compiled.nodes.items():
        if node.role != "condition":
            continue
        low, high = magnitude_range(name, compiled)
        if low < 0 < high:
            top = min(-low, high)
            entry = (0.1 * top, top, True)
        elif high <= 0:
            entry = (min(high, 0.1 * low), low, False)
        else:
            entry = (max(low, 0.1 * high), high, False)
        out += [FaultRange(kind, name, *entry) for kind in ("condition_drift", "step")]
    return (*out, *SENSOR_FAULTS)


def condition_of(target: str, compiled: CompiledLine) -> str:
    """The condition a process fault on ``target`` moves (an asset's first condition)."""
    node = compiled.nodes.get(target)
    if node is not None and node.role == "condition":
        return target
    for name, candidate in compiled.nodes.items():
        if candidate.role == "condition" and candidate.asset == target:
            return name
    raise ValueError(f"{target!r} is neither a condition nor an asset with conditions")


def resolve(spec: FaultSpec, compiled: CompiledLine, now_ms: int) -> ResolvedFault:
    """Validate ``spec`` on this line and fill in defaults (``ValueError`` naming what is wrong)."""
    targets = fault_targets(compiled)
    if spec.kind not in targets:
        raise ValueError(f"unknown fault kind {spec.kind!r} for a line; valid kinds: {sorted(targets)}")
    if spec.target not in targets[spec.kind]:
        shown = ", ".join(targets[spec.kind][:12]) + (" ..." if len(targets[spec.kind]) > 12 else "")
        raise ValueError(f"fault {spec.kind!r} cannot target {spec.target!r}; valid targets: {shown}")
    onset_ms = onset_ms_of(spec, now_ms, f"{spec.kind} on {spec.target}")
    magnitude = finite(spec.magnitude, f"magnitude of {spec.kind}")
    allowed = PARAMS.get(spec.kind, {})
    for key, value in spec.params.items():
        if key not in allowed:
            raise ValueError(f"unknown parameter {key!r} for {spec.kind}; valid parameters: {sorted(allowed)}")
        if finite(value, f"parameter {key} of {spec.kind}") <= 0:
            raise ValueError(f"parameter {key} of {spec.kind} must be > 0, got {value}")
    rate: float | None = None
    if spec.kind not in SENSOR_FAULT_KINDS:
        low, high = magnitude_range(condition_of(spec.target, compiled), compiled)
        if not low <= magnitude <= high:
            raise ValueError(f"magnitude {magnitude} of {spec.kind} on {spec.target} is outside {low:g}..{high:g}")
    if spec.kind == "condition_drift":
        rate = abs(magnitude) / DEFAULT_RAMP_S if spec.rate is None else finite(spec.rate, "rate")
        if rate <= 0:
            raise ValueError(f"rate of {spec.kind} must be > 0, got {spec.rate}")
    elif spec.rate is not None:
        raise ValueError(f"rate applies only to condition_drift, not to {spec.kind!r}")
    duration = DEFAULT_DURATION_S.get(spec.kind) if spec.duration_s is None else finite(spec.duration_s, "duration_s")
    if duration is not None and duration <= 0:
        raise ValueError(f"duration_s of {spec.kind} must be > 0, got {spec.duration_s}")
    return ResolvedFault(spec, onset_ms, rate, duration)


def magnitude_range(condition: str, compiled: CompiledLine) -> tuple[float, float]:
    """What a fault may add to ``condition``: its ``fault_range``, else ± the width of its range."""
    node = compiled.nodes[condition]
    declared = compiled.assets[node.asset].conditions[condition.rsplit(".", 1)[-1]]
    if declared.fault_range is not None:
        low, high = declared.fault_range
        return float(low), float(high)
    width = node.high - node.low
    return -width, width


def process_fault(env: simpy.Environment, offsets: np.ndarray, index: int,
                  fault: ResolvedFault) -> Generator[simpy.Event, Any, None]:
    """The SimPy process of one condition fault, adding to ``offsets[index]``."""
    spec = fault.spec

    def add(delta: float) -> None:
        offsets[index] += delta

    yield from wait_until(env, fault.onset_ms)
    applied = 0.0
    if spec.kind == "condition_drift":
        applied = yield from ramp(env, add, spec.magnitude, float(fault.rate or 0.0), fault.end_ms)
    elif spec.kind == "step":
        add(spec.magnitude)
        applied = spec.magnitude
    elif spec.kind == "oscillation":
        period_s = spec.params.get("period_s", PARAMS["oscillation"]["period_s"])
        while env.now < fault.end_ms:
            value = spec.magnitude * math.sin(2 * math.pi * (env.now - fault.onset_ms) / 1000.0 / period_s)
            add(value - applied)
            applied = value
            yield env.timeout(min(RAMP_TICK_MS, fault.end_ms - env.now))
    else:  # thermal_shock: rise, hold, recover
        rise_s = spec.params.get("rise_s", PARAMS["thermal_shock"]["rise_s"])
        applied = yield from ramp(env, add, spec.magnitude, abs(spec.magnitude) / max(rise_s, 0.1), fault.end_ms)
        yield from wait_until(env, fault.end_ms)
        recovery_s = spec.params.get("recovery_s", PARAMS["thermal_shock"]["recovery_s"])
        decay = math.exp(-RAMP_TICK_MS / 1000.0 / recovery_s)
        while abs(applied) > 1e-3 * max(abs(spec.magnitude), 1e-9):
            remaining = applied * decay
            add(remaining - applied)
            applied = remaining
            yield env.timeout(RAMP_TICK_MS)
        add(-applied)
        return
    yield from wait_until(env, fault.end_ms)
    if math.isfinite(fault.end_ms):
        add(-applied)
