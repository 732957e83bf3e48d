"""Physics of the electrode coating line: one small class per piece of equipment.

Each class holds its own state and random generator and advances by one time step;
:mod:`plant_models.coater.model` wires them into SimPy processes. Units: seconds inside the
physics, m/min line speed, N blade force, °C, L/min, mPa·s, µm, kN.

Ground-truth causal links (mirrored by ``CoaterLine.causal_graph``):

* valve coil current :math:`I = V_s\\,c/100/R`; opening
  :math:`\\operatorname{clip}((I-I_c)/(I_f-I_c),0,1)` through a 0.2 s lag; flow
  :math:`F = F_{max}\\cdot\\text{opening}`.
* blade temperature :math:`\\tau_0 \\dot T_i = \\Delta T_{0} + d_i - h_r(F)(T_i - T_{c,i})`
  with :math:`h_r = (F/F_0)^{0.8}` and the coolant warming along its path
  (blade 3 last, at the outlet).
* blade force follows :math:`p^{sp}_i + \\beta_i (T_i - T^{ref}_i) + \\text{drift}_i`
  through a 50 ms servo lag; :math:`\\beta_3` is by far the largest.
* lane thickness :math:`= b(v,\\mu,\\text{drying}) - k_p (p_{i(l)} - p_{ref})` + lane noise.
* wrinkle rate grows with the spread between blade-zone lane means and with oven
  over-temperature, scaled by the calender nip pressure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

SCAN_MS = 10
SLOW_MS = 1000
LANES = 32
SPECTRUM_BINS = 64
SPECTRUM_MAX_HZ = 500.0

# Valve ---------------------------------------------------------------------------------
SUPPLY_VOLTS = 24.0
COIL_OHMS = 20.0
CRACK_AMPS = 0.2
FULL_AMPS = 1.0
VALVE_TAU_S = 0.2
MAX_FLOW_LPM = 40.0
VALVE_COMMAND = 60.0
# Coating head -------------------------------------------------------------------------
OUTLET_BLADE = 3
BLADE_TAU_S = 20.0
BLADE_RISE_K = 7.0  # heat load / nominal conductance: blade over local coolant at F0
BLADE_CONDUCTANCE_W_K = 86.0
MIN_CONDUCTANCE_RATIO = 0.15  # natural convection once the coolant (nearly) stops
MIN_PICKUP_FLOW_LPM = 2.0
WATER_J_PER_L_K = 4186.0
BETA_N_PER_K = 0.03
BETA_OUTLET_N_PER_K = 0.13
SERVO_TAU_S = 0.05
MAX_BLADE_N = 25.0
BLADE_SETPOINT_N = 8.0
CHILLER_C = 18.0
# Line ----------------------------------------------------------------------------------
SPEED_SETPOINT = 30.0
SPEED_TAU_S = 2.0
TENSION_N = 180.0
# Slow side ---------------------------------------------------------------------------
OVEN_SETPOINTS = (110.0, 120.0, 115.0)
OVEN_GAIN_K = 300.0
OVEN_TAU_S = 90.0
OVEN_LOAD_K = 8.0
OVEN_KP = 0.05
OVEN_KI = 0.05 / 60.0
OVER_TEMPERATURE_MARGIN_K = 8.0
VISCOSITY_MPAS = 3000.0
VISCOSITY_TAU_S = 60.0
THICKNESS_UM = 100.0
THICKNESS_PER_N = 5.0
EDGE_BEAD_UM = 0.8
LANE_SIGMA_UM = 0.3
WRINKLES_PER_M = 0.1
MAX_WRINKLES_PER_M = 50.0
SPREAD_TOLERANCE_UM = 0.8
SPREAD_SCALE_UM = 0.3
OVER_TEMPERATURE_SCALE_K = 4.0
WRINKLE_WINDOW_S = 60
CALENDER_SETPOINT_KN = 40.0
CALENDER_TAU_S = 3.0


def lag_factor(dt_s: float, tau_s: float) -> float:
    """Exact discrete factor of a first-order lag: ``x += (u - x) * lag_factor``."""
    return 1.0 - math.exp(-dt_s / tau_s)


@dataclass
class Disturbances:
    """The inputs faults act on; all zero in a healthy plant.

    Faults are SimPy processes that change these inputs (never flags in a machine):
    extra coil ohms, blade force offsets (drift and steps), oven control offsets,
    temperature excursions from thermal shocks, slurry viscosity, coolant supply
    temperature and line speed offsets.
    """

    blades: int
    zones: int = 3
    coil_resistance: float = 0.0
    viscosity_offset: float = 0.0
    coolant_offset: float = 0.0
    speed_offset: float = 0.0
    blade_offset: np.ndarray = field(init=False)
    head_excursion: np.ndarray = field(init=False)
    oven_offset: np.ndarray = field(init=False)
    oven_excursion: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.blade_offset = np.zeros(self.blades)
        self.head_excursion = np.zeros(self.blades)
        self.oven_offset = np.zeros(self.zones)
        self.oven_excursion = np.zeros(self.zones)


class Valve:
    """Solenoid proportional valve on the coolant loop: command % -> coil current -> flow."""

    def __init__(self, coil_ohms: float = COIL_OHMS) -> None:
        self.coil_ohms = coil_ohms
        self._lag = lag_factor(SCAN_MS / 1000, VALVE_TAU_S)
        self.current = self.coil_current(VALVE_COMMAND, 0.0)
        self.opening = self.target_opening(self.current)
        self.flow = MAX_FLOW_LPM * self.opening

    def coil_current(self, command: float, extra_ohms: float) -> float:
        """Coil current (A) for a command (%) with ``extra_ohms`` of coil ageing."""
        return SUPPLY_VOLTS * command / 100.0 / (self.coil_ohms + extra_ohms)

    @staticmethod
    def target_opening(current: float) -> float:
        """Steady opening (0..1) the spool reaches at ``current`` amps."""
        return min(max((current - CRACK_AMPS) / (FULL_AMPS - CRACK_AMPS), 0.0), 1.0)

    def step(self, command: float, extra_ohms: float) -> None:
        """Advance one scan: new coil current, spool opening and flow."""
        self.current = current = SUPPLY_VOLTS * command / 100.0 / (self.coil_ohms + extra_ohms)
        target = min(max((current - CRACK_AMPS) / (FULL_AMPS - CRACK_AMPS), 0.0), 1.0)
        self.opening += (target - self.opening) * self._lag
        self.flow = MAX_FLOW_LPM * self.opening


def nominal_flow(coil_ohms: float = COIL_OHMS) -> float:
    """Coolant flow (L/min) at the nominal valve command and a healthy coil."""
    current = SUPPLY_VOLTS * VALVE_COMMAND / 100.0 / coil_ohms
    return MAX_FLOW_LPM * Valve.target_opening(current)


def coolant_path(blades: int) -> list[int]:
    """Blade indices (0-based) in coolant flow order; blade 3 (or the last) is the outlet."""
    outlet = min(OUTLET_BLADE, blades) - 1
    return [i for i in range(blades) if i != outlet] + [outlet]


class CoatingHead:
    """Doctor blades: per-blade thermal state (coolant-cooled) and force servos.

    Vectorised over blades. ``temperature`` is the thermal state; what sensors and the
    servos see adds the thermal-shock excursion from :class:`Disturbances`.
    """

    def __init__(self, blades: int, flow0: float, rng: np.random.Generator) -> None:
        self.blades = blades
        self.flow0 = flow0
        self._rng = rng
        order = coolant_path(blades)
        upstream = np.zeros((blades, blades))
        for position, blade in enumerate(order):
            upstream[blade, order[:position]] = 1.0
        self._upstream = upstream
        self.beta = np.full(blades, BETA_N_PER_K)
        self.beta[order[-1]] = BETA_OUTLET_N_PER_K
        self.rise = np.full(blades, BLADE_RISE_K)
        self.setpoint = np.full(blades, BLADE_SETPOINT_N)
        self.temperature, self.coolant = self.steady_state(flow0, CHILLER_C)
        self.reference = self.temperature.copy()
        self.pressure = self.setpoint.copy()
        self.sensed_temperature = self.temperature.copy()
        self._dt_tau = SCAN_MS / 1000 / BLADE_TAU_S
        self._servo = lag_factor(SCAN_MS / 1000, SERVO_TAU_S)

    def steady_state(self, flow: float, supply: float) -> tuple[np.ndarray, np.ndarray]:
        """Blade and local coolant temperatures at steady state for ``flow`` and ``supply``."""
        ratio = max((flow / self.flow0) ** 0.8, MIN_CONDUCTANCE_RATIO)
        heat_w = BLADE_CONDUCTANCE_W_K * self.rise
        coolant = supply + self._upstream @ heat_w * 60.0 / (
            WATER_J_PER_L_K * max(flow, MIN_PICKUP_FLOW_LPM)
        )
        return coolant + self.rise / ratio, coolant

    def step(self, flow: float, supply: float, dist: Disturbances) -> None:
        """Advance one scan: heat balance with the coolant, then the force servos."""
        noise = self._rng.standard_normal(2 * self.blades)
        n = self.blades
        ratio = max((flow / self.flow0) ** 0.8, MIN_CONDUCTANCE_RATIO)
        over = self.temperature - self.coolant
        heat_w = (BLADE_CONDUCTANCE_W_K * ratio) * over
        self.coolant = supply + self._upstream @ heat_w * (
            60.0 / (WATER_J_PER_L_K * max(flow, MIN_PICKUP_FLOW_LPM))
        )
        self.temperature += (self.rise - ratio * over) * self._dt_tau + 0.002 * noise[:n]
        sensed = self.temperature + dist.head_excursion
        target = self.setpoint + self.beta * (sensed - self.reference) + dist.blade_offset
        self.pressure += (target - self.pressure) * self._servo + 0.005 * noise[n:]
        np.clip(self.pressure, 0.0, MAX_BLADE_N, out=self.pressure)
        self.sensed_temperature = sensed


class LineDrive:
    """Web transport: line speed servo and unwinder tension (dancer-controlled)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self.setpoint = SPEED_SETPOINT
        self.speed = SPEED_SETPOINT
        self.tension = TENSION_N
        self._ripple = 0.0
        self._lag = lag_factor(SCAN_MS / 1000, SPEED_TAU_S)
        self._ripple_lag = lag_factor(SCAN_MS / 1000, 0.5)

    def step(self, speed_offset: float) -> None:
        """Advance one scan: speed towards setpoint + offset; tension from speed and accel."""
        z_speed, z_tension = self._rng.standard_normal(2)
        old = self.speed
        new = old + (self.setpoint + speed_offset - old) * self._lag + 0.003 * z_speed
        self.speed = new = new if new > 0.0 else 0.0
        accel = (new - old) * (1000 / SCAN_MS)  # m/min per s
        self._ripple += -self._ripple * self._ripple_lag + 0.1 * z_tension
        self.tension = TENSION_N + 1.0 * (new - SPEED_SETPOINT) + 8.0 * accel + self._ripple


class Ambient:
    """Hall temperature and humidity: a daily sinusoid plus slow random walks."""

    def __init__(self, rng: np.random.Generator, period_s: float, rh_mean: float,
                 rh_amplitude: float) -> None:
        self._rng = rng
        self.period_s = period_s
        self.rh_mean = rh_mean
        self.rh_amplitude = rh_amplitude
        self._walk = np.zeros(2)
        self.temperature, self.humidity = self.values(0.0)

    def values(self, t_s: float) -> tuple[float, float]:
        """Temperature (°C) and humidity (%RH) at ``t_s`` for the current random walk."""
        phase = math.sin(2.0 * math.pi * t_s / self.period_s)
        temperature = 22.0 - 2.0 * phase + self._walk[0]
        humidity = self.rh_mean + self.rh_amplitude * phase + self._walk[1]
        return float(temperature), float(min(max(humidity, 1.0), 99.0))

    def step(self, t_s: float, dt_s: float) -> None:
        """Advance the random walks by ``dt_s`` and evaluate at ``t_s``."""
        z = self._rng.standard_normal(2)
        self._walk += -self._walk * (dt_s / 3600.0) + np.array([0.01, 0.03]) * math.sqrt(dt_s) * z
        self.temperature, self.humidity = self.values(t_s)


class Chiller:
    """Coolant supply temperature: a chiller holding ~18 °C with slow small wander."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self.temperature = CHILLER_C

    def step(self, dt_s: float) -> None:
        """Advance the chiller's slow wander by ``dt_s``."""
        wander = self.temperature - CHILLER_C
        wander += -wander * dt_s / 600.0 + 0.002 * math.sqrt(dt_s) * float(self._rng.standard_normal())
        self.temperature = CHILLER_C + wander


class Slurry:
    """Slurry viscosity: follows hall humidity (up) and temperature (down) with a lag."""

    def __init__(self, rng: np.random.Generator, humidity: float, temperature: float) -> None:
        self._rng = rng
        self._batch = 0.0
        self.viscosity = self.equilibrium(humidity, temperature)

    @staticmethod
    def equilibrium(humidity: float, temperature: float) -> float:
        """Viscosity (mPa·s) the slurry settles at for a hall climate."""
        return VISCOSITY_MPAS * math.exp(0.012 * (humidity - 45.0) - 0.02 * (temperature - 22.0))

    def step(self, humidity: float, temperature: float, offset: float, dt_s: float) -> None:
        """Advance by ``dt_s`` towards the climate equilibrium plus batch wander and offset."""
        self._batch += -self._batch * dt_s / 300.0 + 2.0 * math.sqrt(dt_s) * float(
            self._rng.standard_normal()
        )
        target = self.equilibrium(humidity, temperature) + self._batch + offset
        self.viscosity += (target - self.viscosity) * lag_factor(dt_s, VISCOSITY_TAU_S)


class Oven:
    """Three-zone drying oven, each zone a PI-controlled heater (vectorised over zones)."""

    def __init__(self, rng: np.random.Generator, ambient: float) -> None:
        self._rng = rng
        self.setpoint = np.array(OVEN_SETPOINTS)
        self.temperature = self.setpoint.copy()
        self.sensed = self.setpoint.copy()
        rise = self.setpoint - ambient
        self.duty = (rise + OVEN_LOAD_K * rise / 100.0) / OVEN_GAIN_K
        self._integral = self.duty.copy()

    def step(self, ambient: float, speed: float, dist: Disturbances, dt_s: float) -> None:
        """Advance by ``dt_s``: PI on the control thermocouple, then the zone heat balance.

        The control thermocouple reads the zone's thermal state shifted by the control
        offset (a step fault); a thermal-shock excursion is seen by the zone's monitor
        sensor and the web, not by the controller, until it is absorbed into the state.
        """
        error = self.setpoint + dist.oven_offset - self.temperature
        raw = OVEN_KP * error + self._integral
        duty = np.clip(raw, 0.0, 1.0)
        winding_up = ((raw > 1.0) & (error > 0)) | ((raw < 0.0) & (error < 0))
        self._integral += np.where(winding_up, 0.0, OVEN_KI * error * dt_s)
        web_pull = OVEN_LOAD_K * speed / SPEED_SETPOINT / 100.0
        load = web_pull * np.maximum(self.temperature - ambient, 0.0)
        noise = 0.05 * self._rng.standard_normal(self.temperature.shape[0])
        self.temperature += (OVEN_GAIN_K * duty - (self.temperature - ambient) - load) * (
            dt_s / OVEN_TAU_S
        ) + noise
        self.duty = duty
        self.sensed = self.temperature + dist.oven_excursion

    def over_temperature(self) -> float:
        """Kelvin above the zones' safe drying limits, summed over zones."""
        limit = np.array(OVEN_SETPOINTS) + OVER_TEMPERATURE_MARGIN_K
        return float(np.maximum(self.sensed - limit, 0.0).sum())

    def drying_factor(self, speed: float) -> float:
        """Dry/wet thickness ratio relative to nominal: hotter shrinks more, faster less."""
        hotter = float(self.sensed.mean()) - sum(OVEN_SETPOINTS) / 3.0
        return 1.0 - 0.003 * hotter + 0.002 * (speed - SPEED_SETPOINT)


def lane_blades(blades: int) -> np.ndarray:
    """Blade index (0-based) covering each of the 32 lanes; uneven splits by array_split."""
    return np.concatenate(
        [np.full(len(part), i) for i, part in enumerate(np.array_split(np.arange(LANES), blades))]
    )


class XRayGauge:
    """The web after the oven: cross-web lane thickness, its mean, and blade-zone spread."""

    def __init__(self, rng: np.random.Generator, blades: int) -> None:
        self._rng = rng
        self.lane_blade = lane_blades(blades)
        self._zone_starts = np.flatnonzero(np.diff(self.lane_blade, prepend=-1))
        self._zone_sizes = np.bincount(self.lane_blade)
        self._edge = np.zeros(LANES)
        self._edge[[0, -1]] = EDGE_BEAD_UM
        self.profile = np.full(LANES, THICKNESS_UM)

    def measure(self, speed: float, viscosity: float, drying: float,
                pressure: np.ndarray) -> np.ndarray:
        """Lane thickness (µm): base − k_p·(blade force − nominal) + edge bead + lane noise."""
        base = THICKNESS_UM * (max(speed, 1.0) / SPEED_SETPOINT) ** 0.25
        base *= (max(viscosity, 1.0) / VISCOSITY_MPAS) ** 0.3 * drying
        deviation = pressure[self.lane_blade] - BLADE_SETPOINT_N
        noise = LANE_SIGMA_UM * self._rng.standard_normal(LANES)
        profile = base - THICKNESS_PER_N * deviation + self._edge + noise
        self.profile = np.maximum(profile, 0.0, out=profile)
        return self.profile

    def zone_spread(self) -> float:
        """Largest minus smallest mean thickness over the blade zones (µm)."""
        means = np.add.reduceat(self.profile, self._zone_starts) / self._zone_sizes
        return float(means.max() - means.min())


class WrinkleCounter:
    """Inline wrinkle detector: Poisson counts over the last ``WRINKLE_WINDOW_S`` of web."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        metres = SPEED_SETPOINT / 60.0
        self._counts = np.full(WRINKLE_WINDOW_S, WRINKLES_PER_M * metres)  # a steady past
        self._metres = np.full(WRINKLE_WINDOW_S, metres)
        self._slot = 0
        self.rate = WRINKLES_PER_M
        self.per_metre = WRINKLES_PER_M

    @staticmethod
    def rate_for(spread_um: float, over_k: float, calender_kn: float) -> float:
        """Expected wrinkles per metre for a zone spread, oven over-temperature and nip."""
        excess = max(spread_um - SPREAD_TOLERANCE_UM, 0.0) / SPREAD_SCALE_UM
        nip = max(calender_kn, 0.0) / CALENDER_SETPOINT_KN
        heat = over_k / OVER_TEMPERATURE_SCALE_K
        rate = WRINKLES_PER_M * (1.0 + excess * excess * nip + heat * heat)
        return min(rate, MAX_WRINKLES_PER_M)

    def step(self, rate: float, metres: float) -> float:
        """Count the wrinkles in ``metres`` of web at ``rate``; return the windowed per-metre."""
        count = self._rng.poisson(rate * metres)
        self._slot = (self._slot + 1) % WRINKLE_WINDOW_S
        self._counts[self._slot] = count
        self._metres[self._slot] = metres
        total = self._metres.sum()
        self.rate = rate
        self.per_metre = float(self._counts.sum() / total) if total > 0 else 0.0
        return self.per_metre


class RollVibration:
    """Coating-roll vibration spectrum: roll 1×, drive-shaft harmonics, gear mesh, floor."""

    ROLL_DIAMETER_M = 0.25
    GEAR_RATIO = 20.0
    PINION_TEETH = 23.0

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self.bins = np.linspace(0.0, SPECTRUM_MAX_HZ, SPECTRUM_BINS)
        self._orders = np.array([1.0, self.GEAR_RATIO, 2 * self.GEAR_RATIO,
                                 3 * self.GEAR_RATIO, 4 * self.GEAR_RATIO,
                                 self.GEAR_RATIO * self.PINION_TEETH])
        self._amplitudes = np.array([0.4, 1.2, 0.5, 0.3, 0.2, 0.3])

    def roll_hz(self, speed: float) -> float:
        """Roll rotation frequency (Hz) at ``speed`` m/min."""
        return speed / 60.0 / (math.pi * self.ROLL_DIAMETER_M)

    def spectrum(self, speed: float) -> np.ndarray:
        """Amplitude per bin (mm/s); peaks scale with speed and sit at its orders."""
        peaks = self._orders * self.roll_hz(speed)
        shape = np.exp(-0.5 * ((self.bins[None, :] - peaks[:, None]) / 4.0) ** 2)
        floor = 0.05 + 0.02 * np.abs(self._rng.standard_normal(SPECTRUM_BINS))
        return floor + (self._amplitudes * (speed / SPEED_SETPOINT)) @ shape


class Calender:
    """Calender nip: pressure servo (slow) and the compression it applies."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self.setpoint = CALENDER_SETPOINT_KN
        self.pressure = CALENDER_SETPOINT_KN

    def step(self, dt_s: float) -> None:
        """Advance by ``dt_s`` towards the setpoint, with a little hydraulic ripple."""
        self.pressure += (self.setpoint - self.pressure) * lag_factor(dt_s, CALENDER_TAU_S)
        self.pressure += 0.05 * float(self._rng.standard_normal())

    def compressed(self, thickness_um: float) -> float:
        """Thickness after the nip (µm): up to 35 % compression, saturating with pressure."""
        return thickness_um * (1.0 - 0.35 * (1.0 - math.exp(-max(self.pressure, 0.0) / 40.0)))
