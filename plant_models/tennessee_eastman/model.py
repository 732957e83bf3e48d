"""The Tennessee Eastman process (revised kernel, closed loop) inside the twin's SimPy clock.

The plant is tep-studio's :class:`~tep_studio.TennesseeEastmanProcess` (the Downs & Vogel
model as revised by Bathelt, Ricker & Jelali, ``temexd_mod``) under Ricker's (1996)
decentralised Mode-1 control, :class:`~tep_studio.control.RickerMultiLoopController`
with its overrides. The open-loop plant is unstable, so the controller is part of the
plant here: it is the plant's own DCS, and the twin's PLC sits beside it.

Time
    One SimPy process advances kernel and controller in lockstep every 1.8 s of plant time
    (0.0005 h: the kernel's fixed RK4 step and Ricker's control interval). The tick at
    ``t`` integrates ``[t, t + 1.8 s]`` and publishes the result, so after
    ``env.run(until=t)`` measurements show the plant at the last multiple of 1.8 s at or
    before ``t`` (exactly ``t`` for the suggested scans of 18 s or 36 s). A scenario fault
    takes effect at the first step starting at or after its onset. Plant time per wall
    time: about 0.1 ms per step, i.e. 24 h of plant time in about 5 s.

Signals
    The 41 XMEAS as the benchmark defines them, noise from the kernel included: the 22
    continuous ones sampled every ``sample_period_s`` (default 180 s, the 3 min of the
    classic data sets); the gas analysers (XMEAS 23-36) every 0.1 h with 0.1 h dead time
    and the product analyser (XMEAS 37-41) every 0.25 h with 0.25 h dead time, the kernel
    holding each analysis until the next. Kernel time follows the millisecond grid (36 ms
    ahead, see ``TIME_LEAD_H``) so an analysis is new exactly at each 0.1 h / 0.25 h mark,
    where the PLC samples it.

XMV writes (how the PLC meets the closed loop)
    Each XMV has two tags. ``tep.reactor.cw_valve`` (read-write, 0..100 %) is the loop's
    *hand value*, as on a DCS faceplate: it starts at the Mode-1 value and, while the loop
    is in AUTO, is not used. A write (through the PLC's bounded Modbus / OPC UA path, so
    out-of-range values are refused before they reach the plant) switches that valve to
    MANUAL at the written value for the rest of the run; the controller keeps running, but
    its output for that valve is overridden, and everything downstream (cascades, the other
    loops) reacts to the valve as it would on the real plant. ``tep.reactor.cw_valve_out``
    (read-only) is the value actually sent to the valve: the controller output in AUTO,
    the hand value in MANUAL; these are the XMV columns of the classic data sets. The
    valves Mode 1 holds at fixed values (XMV 5, 9, 12; XMV 5 under a high-level override)
    simply follow a write. There is no way back to AUTO yet.

Faults
    See :mod:`plant_models.tennessee_eastman.faults` (kind ``step``, target a disturbance id,
    magnitude = the disturbance's scale) and :mod:`plant_models.tennessee_eastman.signals` for the ids.

Trips
    When the kernel hits a shutdown limit (reactor pressure above 3000 kPa, a level or
    temperature limit) the plant stops: the SimPy process raises :class:`PlantShutdown`
    naming time and cause, which ends an episode early with the reason in its report.

Examples
--------
>>> plant = TennesseeEastmanPlant(seed=1)
>>> plant.env.run(until=36_000)
>>> round(plant.measurements()["tep.reactor.pressure"] / 100)
27
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any

import networkx as nx
import numpy as np
import simpy
from tep_studio import TennesseeEastmanProcess
from tep_studio.control import RickerMultiLoopController

from plant_models.base import FaultSpec, PlantShutdown, Signal
from plant_models.faults import ResolvedFault
from plant_models.rng import rng_for
from plant_models.tennessee_eastman.faults import (
    PROCESS_STATE,
    check_generator_layout,
    disturbance_process,
    fault_targets,
    kernel_seed,
    resolve_tep_fault,
    set_generator,
)
from plant_models.tennessee_eastman.signals import (
    DEFAULT_SAMPLE_PERIOD_S,
    DISTURBANCE_BY_NAME,
    STEP_MS,
    XMEAS,
    XMV,
    build_signals,
    tep_causal_graph,
)

STEP_H = STEP_MS / 3_600_000
# kernel flags: 0x0F the default outputs; 0x20 separate generators for measurement noise and
# process disturbances; 0x80 disturbances scaled continuously by their activation (0..1)
MS_FLAG = 0x0F | 0x20 | 0x80
# Kernel time runs 36 ms ahead of the ms grid: the kernel schedules its gas analyser by adding
# a single-precision 0.1 h (0.1000000015 h) per sample, so without a lead the analysis due at
# 0.1 h would come one step late; 1e-5 h covers that drift for 6700 samples (670 h of plant time).
TIME_LEAD_H = 1e-5
OPTION_DEFAULTS: dict[str, float] = {"sample_period_s": DEFAULT_SAMPLE_PERIOD_S}
OPTION_BOUNDS: dict[str, tuple[float, float]] = {"sample_period_s": (STEP_MS / 1000, 3600.0)}


def validate_options(options: dict[str, Any] | None) -> dict[str, float]:
    """Options with defaults filled in; ``ValueError`` naming any bad key or value."""
    resolved = dict(OPTION_DEFAULTS)
    for key, value in (options or {}).items():
        if key not in OPTION_DEFAULTS:
            raise ValueError(f"unknown tennessee_eastman option {key!r}; valid options: {sorted(OPTION_DEFAULTS)}")
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ValueError(f"option {key!r} must be a number, got {value!r}")
        low, high = OPTION_BOUNDS[key]
        if not (math.isfinite(float(value)) and low <= float(value) <= high):
            raise ValueError(f"option {key!r}={value!r} is outside {low:g}..{high:g}")
        resolved[key] = float(value)
    return resolved


class TennesseeEastmanPlant:
    """The closed-loop Tennessee Eastman process implementing :class:`~.base.PlantModel`.

    Parameters
    ----------
    seed:
        Seed of the run; the kernel's noise and disturbance generators and every random
        disturbance derive their seeds from it with :func:`~.rng.rng_for`.
    options:
        ``sample_period_s``: sample period of the continuous XMEAS and of the XMVs
        (default 180 s; 1.8 .. 3600 s).
    """

    name = "tennessee_eastman"

    def __init__(self, seed: int, *, options: dict[str, Any] | None = None) -> None:
        self.options = validate_options(options)
        self.seed = seed
        self.env = simpy.Environment()
        self.sim = TennesseeEastmanProcess(ms_flag=MS_FLAG)
        noise_seed = kernel_seed(rng_for(seed, "tep.kernel.measurement_noise"))
        xmeas, _ = self.sim.reset(seed=float(noise_seed))
        check_generator_layout(self.sim, float(noise_seed))
        set_generator(self.sim, PROCESS_STATE, kernel_seed(rng_for(seed, "tep.kernel.process_disturbances")))
        self.controller = RickerMultiLoopController(enable_overrides=True)
        self.controller.reset(xmeas, time=0.0)
        self._xmeas = np.asarray(xmeas, dtype=np.float64).copy()
        self._xmv = self.sim.state[38:50].copy()
        self._idv = np.zeros(28)
        self._manual: dict[int, float] = {}
        period_ms = int(round(self.options["sample_period_s"] * 1000))
        self._signals = build_signals(period_ms, self._xmv.tolist())
        self._setpoint_index = {m.tag: m.xmv - 1 for m in XMV}
        self._setpoint_signals = {s.name: s for s in self._signals if s.kind == "setpoint"}
        self._hand = {m.tag: float(v) for m, v in zip(XMV, self._xmv)}
        self._xmeas_names = [r.tag for r in XMEAS]
        self._xmv_names = [m.readback for m in XMV]
        self._steps = 0
        self._faults: list[ResolvedFault] = []
        self._seeds: list[int | None] = []
        self._fault_names: dict[str, int] = {}
        self.shutdown: dict[str, object] | None = None
        self.env.process(self._loop())

    # -- the process --------------------------------------------------------------------
    def _loop(self) -> Generator[simpy.Event, Any, None]:
        """Every 1.8 s: controller on the latest measurements, then one kernel step."""
        sim, controller = self.sim, self.controller
        yield self.env.timeout(0)  # let faults injected before the run with onset 0 act on the first step
        while True:
            start_h = self._steps * STEP_H
            action, _ = controller.compute_action(self._xmeas, time=start_h)
            for index, value in self._manual.items():
                action[index] = value
            sim.time = start_h + TIME_LEAD_H
            result = sim.advance(action, control_interval=STEP_H, disturbances=self._idv)
            self._steps += 1
            if result.shutdown_status["terminated"]:
                self._trip(str(result.shutdown_status["message"]), result.shutdown_status["code"])
            self._xmeas = result.measurements
            self._xmv = result.implemented_action
            yield self.env.timeout(STEP_MS)

    def _trip(self, message: str, code: float) -> None:
        t_s = self._steps * STEP_MS / 1000
        self.shutdown = {"t_s": t_s, "code": float(code), "message": message}
        raise PlantShutdown(f"Tennessee Eastman plant shut down at t = {t_s:g} s ({t_s / 3600:.3f} h): {message}")

    # -- PlantModel surface -------------------------------------------------------------
    def signals(self) -> list[Signal]:
        """XMEAS(1..41), then for each XMV its hand value (setpoint) and value sent."""
        return list(self._signals)

    def measurements(self) -> dict[str, float | np.ndarray]:
        """The latest XMEAS and values sent to the valves (the plant at the last 1.8 s step)."""
        out: dict[str, float | np.ndarray] = dict(zip(self._xmeas_names, self._xmeas.tolist()))
        out.update(zip(self._xmv_names, self._xmv.tolist()))
        return out

    def setpoints(self) -> dict[str, float]:
        """The hand value of every XMV (see the module docstring)."""
        return dict(self._hand)

    def apply_setpoint(self, name: str, value: float) -> None:
        """Put XMV ``name`` in MANUAL at ``value``; ``KeyError`` if unknown, ``ValueError`` if out of range."""
        if name not in self._setpoint_index:
            raise KeyError(f"unknown setpoint {name!r}; setpoints: {sorted(self._setpoint_index)}")
        number = self._setpoint_signals[name].checked(value)
        self._hand[name] = number
        self._manual[self._setpoint_index[name]] = number

    def manual(self) -> list[str]:
        """The XMVs in MANUAL (written at least once), in XMV order."""
        return [m.tag for m in XMV if m.xmv - 1 in self._manual]

    def fault_targets(self) -> dict[str, list[str]]:
        """``step`` with every disturbance id (see :mod:`plant_models.tennessee_eastman.faults`)."""
        return fault_targets()

    def inject(self, fault: FaultSpec) -> None:
        """Validate ``fault`` and start it as its own SimPy process.

        Raises
        ------
        ValueError
            Naming the bad kind, target, onset, magnitude, rate, duration or parameter.
        """
        resolved = resolve_tep_fault(fault, int(self.env.now))
        key = f"fault:{fault.kind}:{fault.target}:{fault.start_s!r}:{fault.magnitude!r}"
        copies = self._fault_names.get(key, 0)
        self._fault_names[key] = copies + 1
        seed = None
        reseed = None
        if DISTURBANCE_BY_NAME[fault.target].random:
            seed = kernel_seed(rng_for(self.seed, f"{key}:{copies}"))

            def reseed(seed: int = seed) -> None:
                set_generator(self.sim, PROCESS_STATE, seed)

        self.env.process(disturbance_process(self.env, resolved, self._idv, reseed))
        self._faults.append(resolved)
        self._seeds.append(seed)

    def truth(self) -> list[dict[str, object]]:
        """The injected faults as JSON-ready dicts; ``params`` adds the kernel IDV number and seed."""
        out = []
        for fault, seed in zip(self._faults, self._seeds):
            record = fault.truth()
            params = dict(record["params"])  # type: ignore[call-overload]
            params["idv"] = float(DISTURBANCE_BY_NAME[fault.spec.target].idv)
            if seed is not None:
                params["seed"] = float(seed)
            record["params"] = params
            out.append(record)
        return out

    def causal_graph(self) -> nx.DiGraph:
        """The declared causal structure (see :func:`~.tep_signals.tep_causal_graph`)."""
        return tep_causal_graph(self._signals)

    def cause_node(self, fault: FaultSpec) -> str:
        """The causal-graph node where ``fault`` enters the plant: its disturbance node."""
        if fault.target not in DISTURBANCE_BY_NAME:
            raise ValueError(f"{fault.target!r} is not a Tennessee Eastman disturbance")
        return fault.target
