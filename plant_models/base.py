"""What every plant model offers the twin: signals, measurements, setpoints, faults, truth.

A plant model is a SimPy model whose clock counts **integer milliseconds** of plant time.
The twin advances it with ``plant.env.run(until=t_ms)``, then reads ``measurements()`` and
serves them through a virtual PLC; setpoints written to the PLC reach the model through
``apply_setpoint``. Nothing here knows about PLCs, protocols or the edge.

Ground truth (the injected faults and the declared causal graph) is available from the
model for scoring code only; the edge never imports this package.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

import networkx as nx
import numpy as np
import simpy

SignalKind = Literal["measurement", "setpoint"]


@dataclass(frozen=True)
class Signal:
    """One signal a plant exposes; its ``name`` is the PLC tag name.

    ``low``/``high`` are the engineering range, ``period_ms`` the sample period at which
    the PLC refreshes it, ``shape`` is ``()`` for a scalar or ``(n,)`` for an array
    (e.g. a 32-lane thickness profile). Setpoints carry their ``initial`` value.
    The asset a signal belongs to is its name without the last dotted segment
    (``coater.blade3.pressure`` belongs to ``coater.blade3``).
    """

    name: str
    unit: str
    kind: SignalKind
    low: float
    high: float
    period_ms: int
    shape: tuple[int, ...] = ()
    description: str = ""
    initial: float | None = None

    @property
    def asset(self) -> str:
        """The asset path: the name without its last dotted segment."""
        return self.name.rsplit(".", 1)[0]

    def checked(self, value: float) -> float:
        """``value`` as a float inside the engineering range; ``ValueError`` naming the signal otherwise."""
        number = float(value)
        if not (math.isfinite(number) and self.low <= number <= self.high):
            raise ValueError(f"setpoint {self.name}={value!r} is outside {self.low:g}..{self.high:g}")
        return number


FaultKind = Literal[
    "valve_coil_ageing",
    "condition_drift",
    "oscillation",
    "blade_pressure_drift",
    "step",
    "thermal_shock",
    "sensor_stuck",
    "sensor_bias",
    "sensor_noise_burst",
    "sensor_dropout",
    "sensor_clock_skew",
]

SENSOR_FAULT_KINDS: frozenset[str] = frozenset(
    {"sensor_stuck", "sensor_bias", "sensor_noise_burst", "sensor_dropout", "sensor_clock_skew"}
)


@dataclass(frozen=True)
class FaultSpec:
    """One fault to inject: what, where, when and how strong.

    ``target`` is an asset path for process faults (``coater.coolant.valve``) and a
    measurement tag name for sensor faults (``coater.blade3.pressure``).
    ``start_s`` is the onset in plant seconds; ``magnitude`` the final size of the
    fault in the target's unit (e.g. ohms of extra coil resistance, newtons of drift,
    kelvin of shock); ``rate`` a rate per second for ramp-shaped faults (``None``: the
    model's default ramp); ``duration_s`` bounds transient faults (``None``: until the
    end of the run). ``params`` holds kind-specific extras.
    """

    kind: FaultKind
    target: str
    start_s: float
    magnitude: float = 0.0
    rate: float | None = None
    duration_s: float | None = None
    params: dict[str, float] = field(default_factory=dict)


class PlantShutdown(RuntimeError):
    """The plant tripped (a safety limit of the model); the message names when and why."""


@runtime_checkable
class PlantModel(Protocol):
    """The surface the twin uses; see module docstring for the time convention."""

    name: str
    env: simpy.Environment

    def signals(self) -> list[Signal]:
        """Every measurement and setpoint, in a stable order."""
        ...

    def measurements(self) -> dict[str, float | np.ndarray]:
        """Current measured value of every measurement signal (after the sensor layer).

        A dropped-out sensor reads ``nan``.
        """
        ...

    def setpoints(self) -> dict[str, float]:
        """Current value of every setpoint signal."""
        ...

    def apply_setpoint(self, name: str, value: float) -> None:
        """Set a setpoint; raises ``KeyError`` naming the tag for an unknown setpoint."""
        ...

    def inject(self, fault: FaultSpec) -> None:
        """Start ``fault`` as its own SimPy process; raises ``ValueError`` naming a bad target."""
        ...

    def fault_targets(self) -> dict[str, list[str]]:
        """For each fault kind, the targets it accepts."""
        ...

    def truth(self) -> list[dict[str, object]]:
        """The injected faults as JSON-ready dicts (kind, target, onset_s, magnitude, ...)."""
        ...

    def causal_graph(self) -> nx.DiGraph:
        """The declared causal structure (ground truth), cause -> effect."""
        ...
