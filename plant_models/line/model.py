"""The declarative line as a SimPy plant: a compiled template run tick by tick.

One process advances the continuous dynamics every ``tick_ms`` and samples each group of
sensors that is due (sensors sharing a sample period form one
:class:`~plant_models.sensors.SensorGroup`, so noise and the five sensor faults come from the
same vectorised layer as the coater's). A tick:

1. the environment follows its daily cycles; conditions are their initial value plus wear plus
   what faults add (clipped to their range);
2. servo controllers (PI, output limited, anti-windup) act on the error of the previous tick;
3. dynamic signals (lag, dead time) move towards their target computed from the current state;
4. instant signals are evaluated level by level; array signals after them.

Parts start every ``cycle_s`` and flow through the stations as SimPy processes; each station
measures the part as it leaves (per-part values carry their own measurement noise, counts are
Poisson draws), judges it against the spec limits, adds wear to the station's conditions and
updates its tags. Faults are SimPy processes too (:mod:`plant_models.line.faults`).

Examples
--------
>>> from plant_models.line import starter_template_path
>>> line = LineModel(starter_template_path(), seed=1)
>>> line.env.run(until=5_000)
>>> round(line.measurements()["starter.press.force"])
12
>>> line.setpoints()
{'starter.press.force_sp': 12.0}
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Generator
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import simpy

from plant_models.base import SENSOR_FAULT_KINDS, FaultSpec, Signal
from plant_models.faults import ResolvedFault, check_sensor_fault, sensor_fault
from plant_models.line import faults as line_faults
from plant_models.line.compile import (
    PART,
    CompiledLine,
    Node,
    Terms,
    compile_template,
    form_value,
    quality_characteristics,
    spread,
)
from plant_models.line.field import design_parameters, field_returns
from plant_models.line.template import LineTemplate, load_template
from plant_models.rng import rng_for
from plant_models.sensors import SensorBank, SensorGroup, SensorSpec
from plant_models.spec import QualityCharacteristic

REJECT_WINDOW = 50
SENSOR_HISTORY_S = 60.0


class LineModel:
    """A plant built from a line template, implementing :class:`~plant_models.base.PlantModel`.

    Parameters
    ----------
    template:
        A :class:`~plant_models.line.template.LineTemplate` or the path of its YAML file.
    seed:
        Seed of every random stream (sensors, lots, parts, faults).
    """

    def __init__(self, template: LineTemplate | str | Path, seed: int) -> None:
        self.template = template if isinstance(template, LineTemplate) else load_template(template)
        self.compiled = compiled = compile_template(self.template)
        self.name = self.template.line
        self.seed = seed
        self.env = simpy.Environment()
        self.tick_ms = self.template.tick_ms
        nodes = compiled.nodes
        self.x = compiled.x_nominal()
        self._build_evaluation(compiled)
        self._build_conditions(compiled)
        self._build_parts(compiled)
        self._signals = self._build_signals(compiled)
        self.sensors = self._build_sensors(compiled)
        self._setpoints = {n.name: n.nominal for n in nodes.values() if n.role == "setpoint"}
        self._setpoint_signals = {sig.name: sig for sig in self._signals if sig.kind == "setpoint"}
        self._faults: list[ResolvedFault] = []
        self._fault_names: dict[str, int] = {}
        self.env.process(self._tick_loop())
        if self.template.parts is not None:
            self.env.process(self._part_source())

    # -- construction -----------------------------------------------------------------------
    def _build_evaluation(self, c: CompiledLine) -> None:
        nodes, width = c.nodes, len(c.scalars)
        x_nom = self.x.copy()

        def terms(names: list[str]) -> Terms:
            entries = [(row, item, [nodes[s].index for s in sources])
                       for row, name in enumerate(names) for item, sources in nodes[name].inputs]
            return Terms(len(names), entries, width, np.array([nodes[n].nominal for n in names]), x_nom)

        self._dyn_index = np.array([nodes[n].index for n in c.dynamic], dtype=int)
        self._dyn_terms = terms(c.dynamic)
        signals = [nodes[n].signal for n in c.dynamic]
        lag = np.array([s.lag_s if s else 0.0 for s in signals])
        self._dyn_alpha = np.where(lag > 0, 1.0 - np.exp(-self.tick_ms / 1000.0 / np.maximum(lag, 1e-12)), 1.0)
        delay = np.array([int(round((s.dead_time_s if s else 0.0) * 1000 / self.tick_ms)) for s in signals], dtype=int)
        self._delay = delay
        self._delay_ring = np.tile(self._dyn_terms.evaluate(x_nom), (int(delay.max(initial=0)) + 1, 1))
        self._delay_row = 0
        self._levels = [(np.array([nodes[n].index for n in level], dtype=int), terms(level))
                        for level in c.instant_levels]
        # process noise, per row of the dynamic block and of each instant level (None: none there)
        def sigma(names: list[str]) -> np.ndarray | None:
            values = np.array([nodes[n].signal.process_noise if nodes[n].signal else 0.0 for n in names])
            return values if values.any() else None

        self._dyn_noise = sigma(c.dynamic)
        self._level_noise = [sigma(level) for level in c.instant_levels]
        self._process_rng = rng_for(self.seed, f"{self.name}.process_noise")
        # servos: setpoint, actual, output indices and gains
        servo_nodes = [nodes[n] for n in c.servos]
        self._servo_sp = np.array([nodes[str(n.servo_setpoint)].index for n in servo_nodes], dtype=int)
        self._servo_pv = np.array([n.index for n in servo_nodes], dtype=int)
        self._servo_out = np.array([nodes[str(n.servo_output)].index for n in servo_nodes], dtype=int)
        servos = [n.signal.servo for n in servo_nodes if n.signal and n.signal.servo]
        self._servo_kp = np.array([s.kp for s in servos])
        self._servo_ki = np.array([s.ki for s in servos])
        self._servo_sign = np.sign(np.array([s.gain for s in servos]))
        self._servo_low = np.array([s.output_range[0] for s in servos])
        self._servo_high = np.array([s.output_range[1] for s in servos])
        self._servo_integral = self.x[self._servo_out].copy() if servos else np.zeros(0)
        # arrays: flat base + weights @ contributions
        pairs: list[tuple[int, Any, list[int]]] = []
        weights: list[np.ndarray] = []
        base = []
        offset = 0
        self.array_slices: dict[str, slice] = {}
        for name in c.arrays:
            node = nodes[name]
            sig = node.signal
            assert sig is not None
            base.append(spread(sig.base, node.size, node.nominal))
            self.array_slices[name] = slice(offset, offset + node.size)
            for item, sources in node.inputs:
                column = np.zeros(sum(nodes[n].size for n in c.arrays))
                column[offset:offset + node.size] = spread(item.weights, node.size, 1.0)
                pairs.append((len(pairs), item, [nodes[s].index for s in sources]))
                weights.append(column)
            offset += node.size
        self._array_base = np.concatenate(base) if base else np.zeros(0)
        self._array_terms = Terms(len(pairs), pairs, width, np.zeros(len(pairs)), x_nom)
        self._array_weights = np.stack(weights, axis=1) if weights else np.zeros((offset, 0))
        self.arrays = self._array_base.copy()
        # environment
        env = self.template.environment
        self._environment = []
        if env is not None:
            for quantity, cycle in (("temperature", env.temperature), ("humidity", env.humidity)):
                if cycle is not None:
                    self._environment.append((nodes[f"{self.name}.ambient.{quantity}"].index, cycle))

    def _build_conditions(self, c: CompiledLine) -> None:
        conditions = [n for n in c.nodes.values() if n.role == "condition"]
        self.condition_index = {n.name: i for i, n in enumerate(conditions)}
        self._cond_x = np.array([n.index for n in conditions], dtype=int)
        self._cond_base = np.array([n.nominal for n in conditions], dtype=float)
        self._cond_initial = self._cond_base.copy()
        self.condition_offset = np.zeros(len(conditions))
        self._cond_low = np.array([n.low for n in conditions])
        self._cond_high = np.array([n.high for n in conditions])

    def _build_parts(self, c: CompiledLine) -> None:
        part_nodes = [n for n in c.nodes.values() if n.role in ("part", "station")]
        self._part_slices: dict[str, slice] = {}
        offset = 0
        for node in part_nodes:
            self._part_slices[node.name] = slice(offset, offset + node.size)
            offset += node.size
        self.part_values = np.zeros(offset)
        for node in part_nodes:
            base = node.signal.base if node.signal is not None and node.size > 1 else None  # arrays only
            self.part_values[self._part_slices[node.name]] = spread(base, node.size, node.nominal)
        # per per-part signal: each input with its contribution at nominal inputs, computed once
        nodes = c.nodes
        self._part_inputs = {
            name: [(item, sources, form_value(item, [nodes[s].nominal for s in sources]))
                   for item, sources in nodes[name].inputs]
            for _, _, names in c.stations for name in names}
        self._rejects = [deque(maxlen=REJECT_WINDOW) for _ in c.stations]
        self._station_parts = [0 for _ in c.stations]
        self.parts_log: list[dict[str, Any]] = []
        self.part_extremes: dict[str, tuple[float, float]] = {}  # per-part signal -> (min, max) before clipping
        self._lot_state: dict[str, dict[str, float]] = {}
        self._part_rng = rng_for(self.seed, f"{self.name}.parts")
        self._lot_rng = rng_for(self.seed, f"{self.name}.lots")

    def _build_signals(self, c: CompiledLine) -> list[Signal]:
        out = []
        for node in c.measured():
            kind = "setpoint" if node.role == "setpoint" else "measurement"
            shape = (node.size,) if node.size > 1 else ()
            out.append(Signal(node.name, node.unit, kind, node.low, node.high, node.period_ms, shape,
                              node.description, node.nominal if kind == "setpoint" else None))
        return out

    def _build_sensors(self, c: CompiledLine) -> SensorBank:
        by_period: dict[int, list[Node]] = {}
        for node in c.measured():
            if node.role != "setpoint":
                by_period.setdefault(node.period_ms, []).append(node)
        self._groups: list[tuple[int, SensorGroup, np.ndarray]] = []
        width = len(self.x)
        array_offset = width
        part_offset = width + len(self.arrays)
        for period, members in sorted(by_period.items()):
            specs, index = [], []
            for node in members:
                per_part = node.role in ("part", "station")
                sigma = 0.0 if per_part else (node.signal.noise if node.signal else self._env_noise(node))
                specs.append(SensorSpec(node.name, node.size, sigma, node.low, node.high))
                if node.index >= 0:
                    index.append([node.index])
                elif node.name in self.array_slices:
                    s = self.array_slices[node.name]
                    index.append(list(range(array_offset + s.start, array_offset + s.stop)))
                else:
                    s = self._part_slices[node.name]
                    index.append(list(range(part_offset + s.start, part_offset + s.stop)))
            flat = np.array([i for block in index for i in block], dtype=int)
            group = SensorGroup(specs, period, rng_for(self.seed, f"sensors.{period}"),
                                SENSOR_HISTORY_S if period <= 1000 else 60 * period / 1000, self._observed()[flat])
            self._groups.append((period, group, flat))
        # per group: its scalar tags and their positions (read in one go), and its array tags
        self._readout = [
            ([n for n, sl in group.slices.items() if sl.stop - sl.start == 1],
             np.array([sl.start for sl in group.slices.values() if sl.stop - sl.start == 1], dtype=int),
             [(n, sl) for n, sl in group.slices.items() if sl.stop - sl.start > 1], group)
            for _, group, _ in self._groups]
        return SensorBank([g for _, g, _ in self._groups])

    def _env_noise(self, node: Node) -> float:
        env = self.template.environment
        cycle = getattr(env, node.name.rsplit(".", 1)[-1], None) if env is not None else None
        return float(cycle.noise) if cycle is not None else 0.0

    def _observed(self) -> np.ndarray:
        return np.concatenate((self.x, self.arrays, self.part_values))

    # -- the tick ------------------------------------------------------------------------------
    def _tick_loop(self) -> Generator[simpy.Event, Any, None]:
        """Every tick: advance the process, then sample the sensor groups that are due."""
        dt = self.tick_ms / 1000.0
        while True:
            self.step(dt)
            now = int(self.env.now)
            due = [(group, flat) for period, group, flat in self._groups if now % period == 0]
            if due:
                observed = self._observed()
                for group, flat in due:
                    group.sample(observed[flat])
            yield self.env.timeout(self.tick_ms)

    def step(self, dt: float) -> None:
        """Advance the continuous state by one tick of ``dt`` seconds (see the module docstring)."""
        x = self.x
        t_s = self.env.now / 1000.0
        for index, cycle in self._environment:
            x[index] = cycle.mean + cycle.amplitude * math.sin(2 * math.pi * t_s / cycle.period_s + cycle.phase)
        if len(self._cond_x):
            x[self._cond_x] = np.minimum(np.maximum(self._cond_base + self.condition_offset, self._cond_low),
                                         self._cond_high)
        if len(self._servo_pv):
            error = (x[self._servo_sp] - x[self._servo_pv]) * self._servo_sign
            integral = self._servo_integral + self._servo_ki * error * dt
            raw = integral + self._servo_kp * error
            output = np.minimum(np.maximum(raw, self._servo_low), self._servo_high)
            windup = (raw != output)
            self._servo_integral = np.where(windup, self._servo_integral, integral)
            x[self._servo_out] = output
        if len(self._dyn_index):
            target = self._dyn_terms.evaluate(x)
            if self._dyn_noise is not None:
                target += self._dyn_noise * self._process_rng.standard_normal(len(target))
            self._delay_row = (self._delay_row + 1) % len(self._delay_ring)
            self._delay_ring[self._delay_row] = target
            if self._delay.any():
                rows = (self._delay_row - self._delay) % len(self._delay_ring)
                target = self._delay_ring[rows, np.arange(len(target))]
            current = x[self._dyn_index]
            x[self._dyn_index] = current + self._dyn_alpha * (target - current)
        for (index, terms), noise in zip(self._levels, self._level_noise):
            x[index] = terms.evaluate(x)
            if noise is not None:
                x[index] += noise * self._process_rng.standard_normal(len(index))
        if len(self._array_base):
            self.arrays = self._array_base + self._array_weights @ self._array_terms.evaluate(x)

    # -- parts ----------------------------------------------------------------------------------
    def _part_source(self) -> Generator[simpy.Event, Any, None]:
        parts = self.template.parts
        assert parts is not None
        number = 0
        while True:
            number += 1
            self.env.process(self._part_flow(self._new_part(number)))
            gap = parts.cycle_s + (parts.jitter_s * (2 * self._part_rng.random() - 1) if parts.jitter_s else 0.0)
            yield self.env.timeout(max(1, int(round(gap * 1000))))

    def _new_part(self, number: int) -> dict[str, float]:
        parts = self.template.parts
        assert parts is not None
        part: dict[str, float] = {"part_id": float(number)}
        for lot_name, lot in parts.lots.items():
            lot_number = (number - 1) // lot.size + 1
            state = self._lot_state.get(lot_name)
            if state is None or state["number"] != lot_number:
                state = self._lot_state[lot_name] = self._new_lot(lot_name, lot_number)
            part[f"{PART}{lot_name}"] = float(lot_number)
            for prop, spec in lot.properties.items():
                if spec.share is not None:
                    part[f"{PART}{prop}"] = float(self._part_rng.random() < state[f"{prop}.share"])
                else:
                    draw = self._part_rng.standard_normal()
                    part[f"{PART}{prop}"] = state[f"{prop}.mean"] + state[f"{prop}.within"] * draw
        return part

    def _new_lot(self, lot_name: str, number: int) -> dict[str, float]:
        parts = self.template.parts
        assert parts is not None
        lot = parts.lots[lot_name]
        asset = self.compiled.nodes[f"{PART}{lot_name}"].asset

        def value(v: float | str | None) -> float:
            if v is None:
                return 0.0
            return float(v) if isinstance(v, (int, float)) else float(self.x[self.compiled.nodes[f"{asset}.{v}"].index])

        state = {"number": float(number)}
        for prop, spec in lot.properties.items():
            state[f"{prop}.mean"] = value(spec.mean) + value(spec.between) * self._lot_rng.standard_normal()
            state[f"{prop}.within"] = max(0.0, value(spec.within))
            state[f"{prop}.share"] = min(1.0, max(0.0, value(spec.share)))
        return state

    def _part_flow(self, part: dict[str, float]) -> Generator[simpy.Event, Any, None]:
        for k, (station, path, names) in enumerate(self.compiled.stations):
            yield self.env.timeout(max(1, int(round(station.process_s * 1000))))
            self._measure(k, path, names, part)

    def _measure(self, k: int, path: str, names: list[str], part: dict[str, float]) -> None:
        nodes, rng = self.compiled.nodes, self._part_rng
        rejected = False
        record: dict[str, Any] = {"part_id": int(part["part_id"]), "station": path, "t_s": self.env.now / 1000.0,
                                  **{key[len(PART):]: value for key, value in part.items() if key.startswith(PART)}}
        for name in names:
            node = nodes[name]
            sig = node.signal
            assert sig is not None
            moved = [(item, form_value(item, [self._value_of(s, part) for s in sources]) - at_nominal)
                     for item, sources, at_nominal in self._part_inputs[name]]
            if node.size > 1:
                values = spread(sig.base, node.size, node.nominal)
                for item, delta in moved:
                    values = values + spread(item.weights, node.size, 1.0) * delta
                values = values + sig.noise * rng.standard_normal(node.size)
                self.part_values[self._part_slices[name]] = values
                continue
            mean = node.nominal + sum(delta for _, delta in moved)
            value = float(rng.poisson(max(mean, 0.0))) if sig.distribution == "poisson" else \
                mean + sig.noise * rng.standard_normal()
            low, high = self.part_extremes.get(name, (value, value))
            self.part_extremes[name] = (min(low, value), max(high, value))
            value = min(max(value, node.low), node.high)
            part[name] = value
            part[f"{PART}{name.rsplit('.', 1)[-1]}"] = value
            record[name.rsplit(".", 1)[-1]] = value
            self.part_values[self._part_slices[name]] = value
            if sig.spec is not None:
                low, high = sig.spec
                rejected |= (low is not None and value < low) or (high is not None and value > high)
        record["rejected"] = bool(rejected)
        self.parts_log.append(record)
        self._rejects[k].append(rejected)
        self._station_parts[k] += 1
        rejects = self._rejects[k]
        self.part_values[self._part_slices[f"{path}.reject_rate"]] = 100.0 * sum(rejects) / len(rejects)
        self.part_values[self._part_slices[f"{path}.part_id"]] = part["part_id"]
        for lot_name in (self.template.parts.lots if self.template.parts else {}):
            self.part_values[self._part_slices[f"{path}.{lot_name}"]] = part[f"{PART}{lot_name}"]
        self._wear(path, self._station_parts[k])

    def _value_of(self, name: str, part: dict[str, float]) -> float:
        if name in part:
            return part[name]
        node = self.compiled.nodes[name]
        return float(self.x[node.index]) if node.index >= 0 else node.nominal

    def _wear(self, path: str, count: int) -> None:
        for name, cond in self.compiled.assets[path].conditions.items():
            i = self.condition_index[f"{path}.{name}"]
            if cond.reset_every_parts and count % cond.reset_every_parts == 0:
                self._cond_base[i] = self._cond_initial[i]
            elif cond.per_part:
                self._cond_base[i] += cond.per_part
            if cond.count_tag is not None and cond.reset_every_parts:
                self.part_values[self._part_slices[f"{path}.{cond.count_tag}"]] = count % cond.reset_every_parts

    # -- PlantModel surface --------------------------------------------------------------------
    def signals(self) -> list[Signal]:
        """Every tag (measurements, quality characteristics, station tags, setpoints), stable order."""
        return list(self._signals)

    def measurements(self) -> dict[str, float | np.ndarray]:
        """The latest measured value of every measurement tag (``nan`` when dropped out)."""
        out: dict[str, float | np.ndarray] = {}
        for scalars, positions, arrays, group in self._readout:
            out.update(zip(scalars, group.measured[positions].tolist()))
            out.update((name, group.measured[where].copy()) for name, where in arrays)
        return out

    def setpoints(self) -> dict[str, float]:
        """The current value of every setpoint tag."""
        return dict(self._setpoints)

    def apply_setpoint(self, name: str, value: float) -> None:
        """Set setpoint ``name``; ``KeyError`` if unknown, ``ValueError`` if outside its range."""
        if name not in self._setpoints:
            raise KeyError(f"unknown setpoint {name!r}; setpoints: {sorted(self._setpoints)}")
        number = self._setpoint_signals[name].checked(value)
        self._setpoints[name] = number
        self.x[self.compiled.nodes[name].index] = number

    def fault_targets(self) -> dict[str, list[str]]:
        """For each fault kind, the targets it accepts (conditions and their assets; measured tags)."""
        return line_faults.fault_targets(self.compiled)

    def inject(self, fault: FaultSpec) -> None:
        """Validate ``fault`` and start it as its own SimPy process (``ValueError`` naming what is wrong)."""
        resolved = line_faults.resolve(fault, self.compiled, int(self.env.now))
        key = f"fault:{fault.kind}:{fault.target}:{fault.start_s!r}:{fault.magnitude!r}"
        copies = self._fault_names.get(key, 0)
        self._fault_names[key] = copies + 1
        if fault.kind in SENSOR_FAULT_KINDS:
            check_sensor_fault(self, resolved)  # type: ignore[arg-type]
            self.env.process(sensor_fault(self, resolved, rng_for(self.seed, f"{key}:{copies}")))  # type: ignore[arg-type]
        else:
            index = self.condition_index[line_faults.condition_of(fault.target, self.compiled)]
            self.env.process(line_faults.process_fault(self.env, self.condition_offset, index, resolved))
        self._faults.append(resolved)

    def truth(self) -> list[dict[str, object]]:
        """The injected faults, in injection order, as JSON-ready dicts."""
        return [fault.truth() for fault in self._faults]

    def causal_graph(self) -> nx.DiGraph:
        """The causal structure derived from the template's declarations, cause -> effect."""
        return self.compiled.graph.copy()

    def cause_node(self, fault: FaultSpec) -> str:
        """The causal-graph node where ``fault`` enters the line (its condition, or the sensor's tag)."""
        if fault.kind in SENSOR_FAULT_KINDS:
            return fault.target
        return line_faults.condition_of(fault.target, self.compiled)

    def field_returns(self) -> list[dict[str, Any]] | None:
        """The shipped parts that fail in service so far (:func:`plant_models.line.field.field_returns`; None
        when the line declares no field)."""
        return field_returns(self.template, self.parts_log, self.seed)

    def design_parameters(self) -> list[dict[str, Any]]:
        """The lot properties with a design tolerance (:func:`plant_models.line.field.design_parameters`)."""
        return design_parameters(self.template)

    def quality_characteristics(self) -> tuple[QualityCharacteristic, ...]:
        """The line's quality characteristics and their spec limits."""
        return quality_characteristics(self.compiled)

