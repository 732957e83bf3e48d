"""Fault injection for the coater: validation, defaults, and one SimPy process per fault.

A fault never sets a flag inside a machine. Each is its own SimPy process that, at its
onset, starts changing a *disturbance input* of the plant (coil ohms, a blade force
offset, an oven control offset, a temperature excursion, ...) or a sensor of the sensor
layer, and at its end (if it has a duration) takes its own contribution back. Faults
therefore stack, and the plant's physics alone decides what they do to measurements.

Kinds and their targets
-----------------------
``valve_coil_ageing``      ``coater.coolant.valve``: coil resistance ramps up by ``magnitude`` Ω
``blade_pressure_drift``   ``coater.bladeI``: force offset ramps to ``magnitude`` N
``step``                   blade (N), oven zone (K, control offset), ``coater.slurry``
                           (mPa·s), ``coater.coolant`` (K supply), ``coater.line`` (m/min)
``thermal_shock``          ``coater.oven.zoneJ`` or ``coater.head`` (all blades): excursion
                           of ``magnitude`` K for ``duration_s``, then normal recovery
``sensor_*``               any measurement tag
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import simpy

from plant_models.base import SENSOR_FAULT_KINDS, FaultSpec
from plant_models.coater.physics import Disturbances
from plant_models.sensors import SensorBank

RAMP_TICK_MS = 100
RAMP_KINDS = {"valve_coil_ageing": 300.0, "blade_pressure_drift": 120.0}
DEFAULT_DURATION_S = {"thermal_shock": 20.0, "sensor_noise_burst": 30.0}
ALLOWED_PARAMS: dict[str, frozenset[str]] = {"thermal_shock": frozenset({"rise_s"})}
DEFAULT_RISE_S = 2.0

#: (low, high) magnitude accepted per kind and target family; keeps the plant physical.
MAGNITUDE_LIMITS: dict[tuple[str, str], tuple[float, float]] = {
    ("valve_coil_ageing", "valve"): (0.0, 20.0),
    ("blade_pressure_drift", "blade"): (-5.0, 5.0),
    ("step", "blade"): (-5.0, 5.0),
    ("step", "zone"): (-30.0, 30.0),
    ("step", "slurry"): (-1500.0, 3000.0),
    ("step", "coolant"): (-10.0, 15.0),
    ("step", "line"): (-20.0, 20.0),
    ("thermal_shock", "zone"): (-30.0, 60.0),
    ("thermal_shock", "head"): (-15.0, 60.0),
    ("sensor_noise_burst", "sensor"): (0.0, math.inf),
    ("sensor_bias", "sensor"): (-math.inf, math.inf),
    ("sensor_stuck", "sensor"): (-math.inf, math.inf),
    ("sensor_dropout", "sensor"): (-math.inf, math.inf),
    ("sensor_clock_skew", "sensor"): (0.0, math.inf),
}


class FaultHost(Protocol):
    """What a fault process may touch: disturbance inputs, thermal states, sensors."""

    env: simpy.Environment
    disturbances: Disturbances
    sensors: SensorBank
    blade_assets: dict[str, int]
    zone_assets: dict[str, int]

    def absorb_excursion(self, target: str, kelvin: float) -> None:
        """Move ``kelvin`` of a thermal-shock excursion into the thermal state of ``target``."""
        ...


def fault_targets(
    blade_assets: list[str], zone_assets: list[str], measurement_tags: list[str]
) -> dict[str, list[str]]:
    """For each fault kind, the targets the coater accepts."""
    targets: dict[str, list[str]] = {
        "valve_coil_ageing": ["coater.coolant.valve"],
        "blade_pressure_drift": list(blade_assets),
        "step": [*blade_assets, *zone_assets, "coater.slurry", "coater.coolant", "coater.line"],
        "thermal_shock": [*zone_assets, "coater.head"],
    }
    for kind in sorted(SENSOR_FAULT_KINDS):
        targets[kind] = list(measurement_tags)
    return targets


def target_family(kind: str, target: str) -> str:
    """The family a target belongs to for magnitude limits (blade, zone, sensor, ...)."""
    if kind in SENSOR_FAULT_KINDS:
        return "sensor"
    if target.startswith("coater.blade"):
        return "blade"
    if target.startswith("coater.oven.zone"):
        return "zone"
    return target.rsplit(".", 1)[-1]


@dataclass(frozen=True)
class ResolvedFault:
    """A validated fault with its defaults filled in and its onset in plant ms."""

    spec: FaultSpec
    onset_ms: int
    rate: float | None
    duration_s: float | None

    @property
    def end_ms(self) -> float:
        """When the fault is taken back (``inf``: never)."""
        if self.duration_s is None:
            return math.inf
        return self.onset_ms + int(round(self.duration_s * 1000))

    def truth(self) -> dict[str, object]:
        """The JSON-ready ground-truth record of this fault."""
        spec = self.spec
        return {
            "kind": str(spec.kind),
            "target": str(spec.target),
            "onset_s": float(spec.start_s),
            "magnitude": float(spec.magnitude),
            "rate": None if self.rate is None else float(self.rate),
            "duration_s": None if self.duration_s is None else float(self.duration_s),
            "params": {str(k): float(v) for k, v in spec.params.items()},
        }


def onset_ms_of(spec: FaultSpec, now_ms: int, what: str) -> int:
    """Onset of ``spec`` in plant ms; refuses a non-finite start or one the plant has already passed."""
    start_s = finite(spec.start_s, f"start_s of {what}")
    onset_ms = int(round(start_s * 1000))
    if onset_ms < now_ms:
        raise ValueError(f"start_s={spec.start_s} of {what} is before the plant's current time {now_ms / 1000:g} s")
    return onset_ms


def finite(value: Any, what: str) -> float:
    """``value`` as a finite float; ``ValueError`` naming ``what`` otherwise."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return number


def resolve_fault(spec: FaultSpec, targets: dict[str, list[str]], now_ms: int) -> ResolvedFault:
    """Validate ``spec`` against ``targets`` and fill in defaults.

    Raises
    ------
    ValueError
        Naming the bad kind, target, magnitude, rate, duration, onset or parameter,
        and listing what is valid.
    """
    if spec.kind not in targets:
        raise ValueError(f"unknown fault kind {spec.kind!r}; valid kinds: {sorted(targets)}")
    if spec.target not in targets[spec.kind]:
        raise ValueError(
            f"fault {spec.kind!r} cannot target {spec.target!r}; "
            f"valid targets: {targets[spec.kind]}"
        )
    onset_ms = onset_ms_of(spec, now_ms, f"{spec.kind} on {spec.target}")
    magnitude = finite(spec.magnitude, f"magnitude of {spec.kind}")
    low, high = MAGNITUDE_LIMITS[(spec.kind, target_family(spec.kind, spec.target))]
    if not low <= magnitude <= high or (spec.kind == "valve_coil_ageing" and magnitude == 0):
        raise ValueError(
            f"magnitude {magnitude} of {spec.kind} on {spec.target} is outside {low}..{high}"
            + (" (and must be > 0)" if spec.kind == "valve_coil_ageing" else "")
        )
    allowed = ALLOWED_PARAMS.get(spec.kind, frozenset())
    for key, value in spec.params.items():
        if key not in allowed:
            raise ValueError(
                f"unknown parameter {key!r} for {spec.kind}; valid parameters: {sorted(allowed)}"
            )
        if finite(value, f"parameter {key} of {spec.kind}") < 0:
            raise ValueError(f"parameter {key} of {spec.kind} must be >= 0, got {value}")
    return ResolvedFault(spec, onset_ms, _resolve_rate(spec, magnitude), _resolve_duration(spec))


def _resolve_rate(spec: FaultSpec, magnitude: float) -> float | None:
    if spec.kind not in RAMP_KINDS:
        if spec.rate is not None:
            raise ValueError(
                f"rate applies only to {sorted(RAMP_KINDS)}, not to {spec.kind!r}"
            )
        return None
    if spec.rate is None:
        return abs(magnitude) / RAMP_KINDS[spec.kind]
    rate = finite(spec.rate, f"rate of {spec.kind}")
    if rate <= 0:
        raise ValueError(f"rate of {spec.kind} must be > 0, got {spec.rate}")
    return rate


def _resolve_duration(spec: FaultSpec) -> float | None:
    if spec.duration_s is None:
        return DEFAULT_DURATION_S.get(spec.kind)
    duration = finite(spec.duration_s, f"duration_s of {spec.kind}")
    if duration <= 0:
        raise ValueError(f"duration_s of {spec.kind} must be > 0, got {spec.duration_s}")
    return duration


def disturbance_adder(host: FaultHost, kind: str, target: str) -> Callable[[float], None]:
    """A function adding ``delta`` to the disturbance input ``kind`` acts on at ``target``."""
    dist = host.disturbances
    if kind == "valve_coil_ageing":
        def add(delta: float) -> None:
            dist.coil_resistance += delta
        return add
    if kind == "thermal_shock":
        if target == "coater.head":
            return _array_adder(dist.head_excursion, slice(None))
        return _array_adder(dist.oven_excursion, host.zone_assets[target])
    if target in host.blade_assets:
        return _array_adder(dist.blade_offset, host.blade_assets[target])
    if target in host.zone_assets:
        return _array_adder(dist.oven_offset, host.zone_assets[target])
    attribute = {"coater.slurry": "viscosity_offset", "coater.coolant": "coolant_offset",
                 "coater.line": "speed_offset"}[target]

    def add_scalar(delta: float) -> None:
        setattr(dist, attribute, getattr(dist, attribute) + delta)
    return add_scalar


def _array_adder(array: np.ndarray, where: int | slice) -> Callable[[float], None]:
    def add(delta: float) -> None:
        array[where] += delta
    return add


def wait_until(env: simpy.Environment, at_ms: float) -> Generator[simpy.Event, Any, None]:
    """Wait (inside a SimPy process) until plant time ``at_ms``; no wait when it is past or infinite."""
    if math.isfinite(at_ms) and at_ms > env.now:
        yield env.timeout(at_ms - env.now)


def ramp(env: simpy.Environment, add: Callable[[float], None], magnitude: float,
         rate: float, end_ms: float) -> Generator[simpy.Event, Any, float]:
    """Ramp ``add`` towards ``magnitude`` at ``rate`` per second until done or ``end_ms``."""
    applied = 0.0
    step = rate * RAMP_TICK_MS / 1000.0
    while abs(magnitude - applied) > 1e-12 * max(1.0, abs(magnitude)) and env.now < end_ms:
        increment = math.copysign(min(step, abs(magnitude - applied)), magnitude)
        add(increment)
        applied += increment
        yield env.timeout(min(RAMP_TICK_MS, end_ms - env.now))
    return applied


def process_fault(host: FaultHost, fault: ResolvedFault) -> Generator[simpy.Event, Any, None]:
    """The SimPy process of one process (non-sensor) fault."""
    env, spec = host.env, fault.spec
    add = disturbance_adder(host, spec.kind, spec.target)
    yield from wait_until(env, fault.onset_ms)
    if fault.rate is not None:
        applied = yield from ramp(env, add, spec.magnitude, fault.rate, fault.end_ms)
    elif spec.kind == "thermal_shock":
        rise_ms = 1000.0 * spec.params.get("rise_s", DEFAULT_RISE_S)
        rate = abs(spec.magnitude) / max(rise_ms / 1000.0, RAMP_TICK_MS / 1000.0)
        applied = yield from ramp(env, add, spec.magnitude, rate, fault.end_ms)
    else:
        add(spec.magnitude)
        applied = spec.magnitude
    yield from wait_until(env, fault.end_ms)
    if math.isfinite(fault.end_ms):
        add(-applied)
        if spec.kind == "thermal_shock":
            host.absorb_excursion(spec.target, applied)


def sensor_fault(host: FaultHost, fault: ResolvedFault,
                 rng: np.random.Generator) -> Generator[simpy.Event, Any, None]:
    """The SimPy process of one sensor fault (stuck, bias, noise burst, drop-out, skew)."""
    env, spec = host.env, fault.spec
    group = host.sensors.group(spec.target)
    lag = group.skew_samples(spec.magnitude) if spec.kind == "sensor_clock_skew" else 0
    yield from wait_until(env, fault.onset_ms)
    undo: Callable[[], None]
    if spec.kind == "sensor_stuck":
        group.stick(spec.target)
        undo = lambda: group.unstick(spec.target)  # noqa: E731
    elif spec.kind == "sensor_bias":
        group.add_bias(spec.target, spec.magnitude)
        undo = lambda: group.add_bias(spec.target, -spec.magnitude)  # noqa: E731
    elif spec.kind == "sensor_noise_burst":
        handle = group.start_burst(spec.target, spec.magnitude, rng)
        undo = lambda: group.stop_burst(handle)  # noqa: E731
    elif spec.kind == "sensor_dropout":
        group.drop(spec.target)
        undo = lambda: group.drop(spec.target, -1)  # noqa: E731
    else:
        group.add_lag(spec.target, lag)
        undo = lambda: group.add_lag(spec.target, -lag)  # noqa: E731
    if math.isfinite(fault.end_ms):
        yield from wait_until(env, fault.end_ms)
        undo()


def check_sensor_fault(host: FaultHost, fault: ResolvedFault) -> None:
    """Checks that need the sensor layer (clock skew within the kept history)."""
    if fault.spec.kind == "sensor_clock_skew":
        host.sensors.group(fault.spec.target).skew_samples(fault.spec.magnitude)
