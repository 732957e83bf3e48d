"""A battery-electrode coating line as a SimPy model (the twin's flagship plant).

Unwinder -> coating head with N doctor blades (coolant loop through the head, flow set
by a solenoid valve) -> 3-zone drying oven -> X-ray gauge -> calender, in a hall whose
temperature and humidity follow the day. The SimPy clock counts integer milliseconds.

Two processes carry all continuous dynamics: a fast loop every 10 ms (line speed,
tension, valve, blade thermal states and force servos, vectorised over blades) and a
slow loop every 1000 ms (ambient, chiller, slurry, oven, X-ray, wrinkles, vibration,
calender). Each tick integrates the step that ends at the tick's time + its period and
then samples the sensors, so after ``env.run(until=t)`` the fast sensors show the plant
at ``t`` and the slow sensors the latest whole second. Faults are their own processes
(:mod:`plant_models.faults`); sensors live in :mod:`plant_models.sensors`.

Examples
--------
>>> line = CoaterLine(seed=1)
>>> line.env.run(until=1_010)
>>> round(line.measurements()["coater.coolant.flow"])
26
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from typing import Any

import networkx as nx
import numpy as np
import simpy

from plant_models.base import SENSOR_FAULT_KINDS, FaultSpec, Signal
from plant_models.coater import physics as phys
from plant_models.faults import (
    ResolvedFault,
    check_sensor_fault,
    fault_targets,
    process_fault,
    resolve_fault,
    sensor_fault,
)
from plant_models.rng import rng_for
from plant_models.sensors import SensorBank, SensorGroup, SensorSpec

OPTION_DEFAULTS: dict[str, float] = {
    "blades": 4,
    "humidity_period_s": 86_400.0,
    "humidity_amplitude": 10.0,
    "humidity_mean": 45.0,
    "coil_resistance_ohm": phys.COIL_OHMS,
}
OPTION_BOUNDS: dict[str, tuple[float, float]] = {
    "blades": (2, 16),
    "humidity_period_s": (1.0, 10 * 86_400.0),
    "humidity_amplitude": (0.0, 40.0),
    "humidity_mean": (5.0, 95.0),
    "coil_resistance_ohm": (10.0, 30.0),
}
PROFILE = "coater.xray.thickness_profile"
SPECTRUM = "coater.coating_roll.vibration_spectrum"
FAST_HISTORY_S = 20.0
SLOW_HISTORY_S = 300.0

# name suffix -> (unit, low, high, sensor sigma, description)
_Row = tuple[str, float, float, float, str]
FAST_SENSORS: dict[str, _Row] = {
    "line.speed": ("m/min", 0.0, 80.0, 0.05, "web speed at the coating roll"),
    "unwinder.tension": ("N", 0.0, 600.0, 1.5, "web tension after the unwinder dancer"),
    "blade.pressure": ("N", 0.0, 30.0, 0.02, "doctor-blade force (servo actual)"),
    "blade.temperature": ("degC", -20.0, 150.0, 0.05, "doctor-blade body temperature"),
    "coolant.valve.coil_current": ("A", 0.0, 2.0, 0.002, "solenoid coil current"),
    "coolant.flow": ("L/min", 0.0, 50.0, 0.15, "coolant flow through the coating head"),
}
SLOW_SENSORS: dict[str, _Row] = {
    "coolant.temperature": ("degC", 0.0, 60.0, 0.03, "coolant supply temperature (chiller)"),
    "oven.zone.temperature": ("degC", 0.0, 300.0, 0.2, "oven zone air temperature"),
    "ambient.temperature": ("degC", -10.0, 50.0, 0.1, "hall temperature"),
    "ambient.humidity": ("%RH", 0.0, 100.0, 0.5, "hall relative humidity"),
    "slurry.viscosity": ("mPa*s", 0.0, 20_000.0, 15.0, "inline slurry viscometer"),
    "xray.thickness_profile": ("um", 0.0, 300.0, 0.25, "dry coating thickness, 32 lanes"),
    "xray.thickness_mean": ("um", 0.0, 300.0, 0.05, "mean dry coating thickness"),
    "xray.wrinkles_per_m": ("1/m", 0.0, 100.0, 0.0, "wrinkles per metre, last 60 s of web"),
    "coating_roll.vibration_spectrum": ("mm/s", 0.0, 50.0, 0.01,
                                        "roll vibration, 64 bins over 0..500 Hz"),
    "calender.pressure": ("kN", 0.0, 120.0, 0.2, "calender nip force"),
}


def _number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"option {key!r} must be a number, got {value!r}")
    if not math.isfinite(float(value)):
        raise ValueError(f"option {key!r} must be finite, got {value!r}")
    return float(value)


def validate_options(options: dict[str, Any] | None, blades: int) -> dict[str, float]:
    """Coater options with defaults filled in; ``ValueError`` naming any bad key or value."""
    given = dict(options or {})
    for key in given:
        if key not in OPTION_DEFAULTS:
            raise ValueError(f"unknown coater option {key!r}; valid options: {sorted(OPTION_DEFAULTS)}")
    if "blades" in given and given["blades"] != blades:
        raise ValueError(f"option 'blades'={given['blades']!r} disagrees with blades={blades!r}")
    given["blades"] = blades
    if isinstance(blades, bool) or not isinstance(blades, (int, np.integer)):
        raise ValueError(f"option 'blades' must be an integer, got {blades!r}")
    resolved = dict(OPTION_DEFAULTS)
    for key, value in given.items():
        number = _number(key, value)
        low, high = OPTION_BOUNDS[key]
        if not low <= number <= high:
            raise ValueError(f"option {key!r}={value!r} is outside {low:g}..{high:g}")
        resolved[key] = number
    return resolved


class CoaterLine:
    """SimPy model of an electrode coating line implementing :class:`~.base.PlantModel`.

    Parameters
    ----------
    seed:
        Seed of every random stream in the plant (one generator per part and fault).
    blades:
        Number of doctor blades across the web (4 by default; 6 is the wide variant).
    options:
        ``humidity_period_s`` (daily swing period, default 86400), ``humidity_amplitude``
        (%RH, default 10), ``humidity_mean`` (%RH, default 45), ``coil_resistance_ohm``
        (healthy valve coil, default 20) and ``blades`` (must agree with ``blades``).
    """

    name = "coater"

    def __init__(self, seed: int, *, blades: int = 4, options: dict[str, Any] | None = None) -> None:
        self.options = validate_options(options, blades)
        self.seed = seed
        self.blades = n = int(blades)
        self.env = simpy.Environment()
        self.disturbances = phys.Disturbances(blades=n)
        self.blade_assets = {f"coater.blade{i + 1}": i for i in range(n)}
        self.zone_assets = {f"coater.oven.zone{j + 1}": j for j in range(3)}
        self._build_equipment(seed)
        self._signals = self._build_signals()
        self._setters = self._build_setters()
        self._setpoint_signals = {s.name: s for s in self._signals if s.kind == "setpoint"}
        self._setpoints = {name: float(s.initial) for name, s in self._setpoint_signals.items()}
        self.sensors = self._build_sensors(seed)
        self._faults: list[ResolvedFault] = []
        self._fault_names: dict[str, int] = {}
        self.env.process(self._fast_loop())
        self.env.process(self._slow_loop())

    # -- construction -----------------------------------------------------------------
    def _build_equipment(self, seed: int) -> None:
        opts = self.options
        self.valve = phys.Valve(opts["coil_resistance_ohm"])
        self.valve_command = phys.VALVE_COMMAND
        self.head = phys.CoatingHead(self.blades, self.valve.flow, rng_for(seed, "coater.head"))
        self.line = phys.LineDrive(rng_for(seed, "coater.line"))
        self.ambient = phys.Ambient(rng_for(seed, "coater.ambient"), opts["humidity_period_s"],
                                    opts["humidity_mean"], opts["humidity_amplitude"])
        self.chiller = phys.Chiller(rng_for(seed, "coater.coolant"))
        self.slurry = phys.Slurry(rng_for(seed, "coater.slurry"), self.ambient.humidity,
                                  self.ambient.temperature)
        self.oven = phys.Oven(rng_for(seed, "coater.oven"), self.ambient.temperature)
        self.xray = phys.XRayGauge(rng_for(seed, "coater.xray"), self.blades)
        self.wrinkles = phys.WrinkleCounter(rng_for(seed, "coater.xray.wrinkles"))
        self.vibration = phys.RollVibration(rng_for(seed, "coater.coating_roll"))
        self.calender = phys.Calender(rng_for(seed, "coater.calender"))
        self.calendered_thickness = self.calender.compressed(phys.THICKNESS_UM)

    def _expand(self, table: dict[str, _Row]) -> list[tuple[str, int, _Row]]:
        """(tag, size, row) for a sensor table, expanding per-blade and per-zone rows."""
        out: list[tuple[str, int, _Row]] = []
        for suffix, row in table.items():
            asset, quantity = suffix.rsplit(".", 1)
            if asset == "blade":
                out += [(f"coater.blade{i + 1}.{quantity}", 1, row) for i in range(self.blades)]
            elif asset == "oven.zone":
                out += [(f"coater.oven.zone{j + 1}.{quantity}", 1, row) for j in range(3)]
            else:
                size = {PROFILE: phys.LANES, SPECTRUM: phys.SPECTRUM_BINS}.get(f"coater.{suffix}", 1)
                out.append((f"coater.{suffix}", size, row))
        return out

    def _build_signals(self) -> list[Signal]:
        rows = {name: (size, row) for name, size, row in
                self._expand(FAST_SENSORS) + self._expand(SLOW_SENSORS)}
        fast = {name for name, _, _ in self._expand(FAST_SENSORS)}

        def measured(name: str) -> Signal:
            size, (unit, low, high, _, text) = rows[name]
            period = phys.SCAN_MS if name in fast else phys.SLOW_MS
            return Signal(name, unit, "measurement", low, high, period,
                          (size,) if size > 1 else (), text)

        def setpoint(name: str, unit: str, high: float, initial: float, period: int,
                     text: str) -> Signal:
            return Signal(name, unit, "setpoint", 0.0, high, period, (), text, initial)

        out = [setpoint("coater.line.speed_sp", "m/min", 60.0, phys.SPEED_SETPOINT, 10,
                        "line speed setpoint"), measured("coater.line.speed"),
               measured("coater.unwinder.tension")]
        for i in range(1, self.blades + 1):
            out += [setpoint(f"coater.blade{i}.pressure_sp", "N", 20.0, phys.BLADE_SETPOINT_N,
                             10, f"blade {i} force setpoint"),
                    measured(f"coater.blade{i}.pressure"), measured(f"coater.blade{i}.temperature")]
        out += [setpoint("coater.coolant.valve.command", "%", 100.0, phys.VALVE_COMMAND, 10,
                         "coolant valve command"),
                measured("coater.coolant.valve.coil_current"), measured("coater.coolant.flow"),
                measured("coater.coolant.temperature")]
        for j, sp in enumerate(phys.OVEN_SETPOINTS, start=1):
            out += [setpoint(f"coater.oven.zone{j}.temperature_sp", "degC", 200.0, sp, 1000,
                             f"oven zone {j} temperature setpoint"),
                    measured(f"coater.oven.zone{j}.temperature")]
        out += [measured(f"coater.{s}") for s in (
            "ambient.temperature", "ambient.humidity", "slurry.viscosity",
            "xray.thickness_profile", "xray.thickness_mean", "xray.wrinkles_per_m",
            "coating_roll.vibration_spectrum")]
        out += [setpoint("coater.calender.pressure_sp", "kN", 100.0, phys.CALENDER_SETPOINT_KN,
                         1000, "calender nip force setpoint"), measured("coater.calender.pressure")]
        return out

    def _build_setters(self) -> dict[str, Callable[[float], None]]:
        head, oven = self.head, self.oven
        setters: dict[str, Callable[[float], None]] = {
            "coater.line.speed_sp": lambda v: setattr(self.line, "setpoint", v),
            "coater.coolant.valve.command": lambda v: setattr(self, "valve_command", v),
            "coater.calender.pressure_sp": lambda v: setattr(self.calender, "setpoint", v),
        }
        for asset, i in self.blade_assets.items():
            setters[f"{asset}.pressure_sp"] = lambda v, i=i: head.setpoint.__setitem__(i, v)
        for asset, j in self.zone_assets.items():
            setters[f"{asset}.temperature_sp"] = lambda v, j=j: oven.setpoint.__setitem__(j, v)
        return setters

    def _build_sensors(self, seed: int) -> SensorBank:
        def specs(table: dict[str, _Row]) -> list[SensorSpec]:
            return [SensorSpec(name, size, row[3], row[1], row[2])
                    for name, size, row in self._expand(table)]

        self._fast_true = np.empty(4 + 2 * self.blades)
        self._fill_fast_true()
        self._fast_sensors = SensorGroup(specs(FAST_SENSORS), phys.SCAN_MS,
                                         rng_for(seed, "sensors.fast"), FAST_HISTORY_S,
                                         self._fast_true)
        self._slow_sensors = SensorGroup(specs(SLOW_SENSORS), phys.SLOW_MS,
                                         rng_for(seed, "sensors.slow"), SLOW_HISTORY_S,
                                         self._slow_true())
        self._fast_names = list(self._fast_sensors.slices)
        slices = self._slow_sensors.slices
        self._slow_scalar_names = [k for k, s in slices.items() if s.stop - s.start == 1]
        self._slow_scalar_index = np.array([slices[k].start for k in self._slow_scalar_names])
        self._measured: dict[str, Any] = {
            s.name: math.nan for s in self._signals if s.kind == "measurement"}
        self._publish_slow()
        return SensorBank([self._fast_sensors, self._slow_sensors])

    # -- the two processes --------------------------------------------------------------
    def _fill_fast_true(self) -> None:
        n, true, head = self.blades, self._fast_true, self.head
        true[0] = self.line.speed
        true[1] = self.line.tension
        true[2:2 + n] = head.pressure
        true[2 + n:2 + 2 * n] = head.sensed_temperature
        true[2 + 2 * n] = self.valve.current
        true[3 + 2 * n] = self.valve.flow

    def _fast_loop(self) -> Generator[simpy.Event, Any, None]:
        """Every 10 ms: line, valve, blades over [t, t+10 ms], then sample the fast sensors."""
        env, dist, valve = self.env, self.disturbances, self.valve
        line, head, chiller, sensors = self.line, self.head, self.chiller, self._fast_sensors
        while True:
            line.step(dist.speed_offset)
            valve.step(self.valve_command, dist.coil_resistance)
            head.step(valve.flow, chiller.temperature + dist.coolant_offset, dist)
            self._fill_fast_true()
            sensors.sample(self._fast_true)
            yield env.timeout(phys.SCAN_MS)

    def _slow_loop(self) -> Generator[simpy.Event, Any, None]:
        """Every second: advance the slow equipment, then (at the new second) sample it."""
        dt = phys.SLOW_MS / 1000.0
        while True:
            t_next = (self.env.now + phys.SLOW_MS) / 1000.0
            self.ambient.step(t_next, dt)
            self.chiller.step(dt)
            dist = self.disturbances
            self.slurry.step(self.ambient.humidity, self.ambient.temperature,
                             dist.viscosity_offset, dt)
            self.oven.step(self.ambient.temperature, self.line.speed, dist, dt)
            self.calender.step(dt)
            yield self.env.timeout(phys.SLOW_MS)
            self._slow_sensors.sample(self._slow_true())
            self._publish_slow()

    def _slow_true(self) -> np.ndarray:
        """True values of the slow sensors now (draws this second's web and counts)."""
        speed = self.line.speed
        profile = self.xray.measure(speed, self.slurry.viscosity,
                                    self.oven.drying_factor(speed), self.head.pressure)
        rate = self.wrinkles.rate_for(self.xray.zone_spread(), self.oven.over_temperature(),
                                      self.calender.pressure)
        per_metre = self.wrinkles.step(rate, speed / 60.0 * phys.SLOW_MS / 1000.0)
        mean = float(profile.mean())
        self.calendered_thickness = self.calender.compressed(mean)
        return np.concatenate((
            [self.chiller.temperature + self.disturbances.coolant_offset], self.oven.sensed,
            [self.ambient.temperature, self.ambient.humidity, self.slurry.viscosity],
            profile, [mean, per_metre], self.vibration.spectrum(speed), [self.calender.pressure],
        ))

    def _publish_slow(self) -> None:
        measured = self._slow_sensors.measured
        self._measured.update(zip(self._slow_scalar_names,
                                  measured[self._slow_scalar_index].tolist()))
        slices = self._slow_sensors.slices
        self._measured[PROFILE] = measured[slices[PROFILE]]
        self._measured[SPECTRUM] = measured[slices[SPECTRUM]]

    # -- PlantModel surface -----------------------------------------------------------
    def signals(self) -> list[Signal]:
        """Every measurement and setpoint, in a stable order (see the module docstring)."""
        return list(self._signals)

    def measurements(self) -> dict[str, float | np.ndarray]:
        """The latest measured value of every measurement tag (``nan`` when dropped out)."""
        self._measured.update(zip(self._fast_names, self._fast_sensors.measured.tolist()))
        out = self._measured.copy()
        out[PROFILE] = out[PROFILE].copy()
        out[SPECTRUM] = out[SPECTRUM].copy()
        return out

    def setpoints(self) -> dict[str, float]:
        """The current value of every setpoint tag."""
        return dict(self._setpoints)

    def apply_setpoint(self, name: str, value: float) -> None:
        """Set setpoint ``name``; ``KeyError`` if unknown, ``ValueError`` if out of range."""
        if name not in self._setters:
            raise KeyError(f"unknown setpoint {name!r}; setpoints: {sorted(self._setters)}")
        number = self._setpoint_signals[name].checked(value)
        self._setpoints[name] = number
        self._setters[name](number)

    def fault_targets(self) -> dict[str, list[str]]:
        """For each fault kind, the targets it accepts."""
        tags = [s.name for s in self._signals if s.kind == "measurement"]
        return fault_targets(list(self.blade_assets), list(self.zone_assets), tags)

    def inject(self, fault: FaultSpec) -> None:
        """Validate ``fault`` and start it as its own SimPy process.

        Raises
        ------
        ValueError
            Naming the bad kind, target, onset, magnitude, rate, duration or parameter.
        """
        resolved = resolve_fault(fault, self.fault_targets(), int(self.env.now))
        key = f"fault:{fault.kind}:{fault.target}:{fault.start_s!r}:{fault.magnitude!r}"
        copies = self._fault_names.get(key, 0)
        self._fault_names[key] = copies + 1
        rng = rng_for(self.seed, f"{key}:{copies}")
        if fault.kind in SENSOR_FAULT_KINDS:
            check_sensor_fault(self, resolved)
            self.env.process(sensor_fault(self, resolved, rng))
        else:
            self.env.process(process_fault(self, resolved))
        self._faults.append(resolved)

    def truth(self) -> list[dict[str, object]]:
        """The injected faults, in injection order, as JSON-ready dicts."""
        return [fault.truth() for fault in self._faults]

    def absorb_excursion(self, target: str, kelvin: float) -> None:
        """Hand a thermal shock's excursion to the thermal state, to recover naturally."""
        if target == "coater.head":
            self.head.temperature += kelvin
        else:
            self.oven.temperature[self.zone_assets[target]] += kelvin

    def causal_graph(self) -> nx.DiGraph:
        """The declared causal structure, cause -> effect (see :func:`coater_causal_graph`)."""
        return coater_causal_graph(self._signals, self.blades)

    def cause_node(self, fault: FaultSpec) -> str:
        """The causal-graph node where ``fault`` enters the plant (for scoring diagnoses)."""
        if fault.kind in SENSOR_FAULT_KINDS:
            return fault.target
        if fault.kind == "valve_coil_ageing":
            return "coater.coolant.valve.coil_resistance"
        if fault.target in self.blade_assets:
            return f"{fault.target}.drift"
        if fault.target == "coater.head":
            return "coater.head.excursion"
        if fault.target in self.zone_assets:
            quantity = "temperature" if fault.kind == "thermal_shock" else "control_offset"
            return f"{fault.target}.{quantity}"
        return {"coater.slurry": "coater.slurry.batch", "coater.coolant": "coater.coolant.temperature",
                "coater.line": "coater.line.speed"}[fault.target]


def coater_causal_graph(signals: list[Signal], blades: int) -> nx.DiGraph:
    """The coater's ground-truth causal graph; every node has ``asset`` and ``observed``."""
    graph = nx.DiGraph()
    for signal in signals:
        graph.add_node(signal.name, asset=signal.asset, observed=True, role=signal.kind)

    def link(cause: str, effect: str) -> None:
        for node in (cause, effect):
            if node not in graph:
                graph.add_node(node, asset=node.rsplit(".", 1)[0], observed=False, role="hidden")
        graph.add_edge(cause, effect)

    c = "coater."
    valve = c + "coolant.valve."
    for cause, effect in [
        (valve + "coil_resistance", valve + "coil_current"), (valve + "command", valve + "coil_current"),
        (valve + "coil_current", valve + "opening"), (valve + "opening", c + "coolant.flow"),
        (c + "line.speed_sp", c + "line.speed"), (c + "line.speed", c + "unwinder.tension"),
        (c + "line.speed", SPECTRUM), (c + "line.speed", c + "oven.drying"),
        (c + "line.speed", PROFILE), (c + "ambient.humidity", c + "slurry.viscosity"),
        (c + "ambient.temperature", c + "slurry.viscosity"), (c + "slurry.batch", c + "slurry.viscosity"),
        (c + "slurry.viscosity", PROFILE), (c + "oven.drying", PROFILE),
        (PROFILE, c + "xray.thickness_mean"), (PROFILE, c + "xray.wrinkles_per_m"),
        (PROFILE, c + "calender.thickness"), (c + "calender.pressure_sp", c + "calender.pressure"),
        (c + "calender.pressure", c + "calender.thickness"),
        (c + "calender.pressure", c + "xray.wrinkles_per_m"),
    ]:
        link(cause, effect)
    for j in range(1, 4):
        zone = f"{c}oven.zone{j}."
        for cause, effect in [
            (zone + "temperature_sp", zone + "temperature"), (zone + "control_offset", zone + "temperature"),
            (c + "ambient.temperature", zone + "temperature"), (c + "line.speed", zone + "temperature"),
            (zone + "temperature", c + "oven.drying"), (zone + "temperature", c + "xray.wrinkles_per_m"),
        ]:
            link(cause, effect)
    for i in range(1, blades + 1):
        blade = f"{c}blade{i}."
        for cause, effect in [
            (c + "coolant.flow", blade + "temperature"), (c + "coolant.temperature", blade + "temperature"),
            (c + "head.excursion", blade + "temperature"), (blade + "temperature", blade + "pressure"),
            (blade + "pressure_sp", blade + "pressure"), (blade + "drift", blade + "pressure"),
            (blade + "pressure", PROFILE),
        ]:
            link(cause, effect)
    return graph
