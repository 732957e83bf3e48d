"""A family of lines to learn from: random line templates with the motifs real lines have.

A **family** (:class:`LineFamily`, a YAML file of ranges, ``scenarios/families/*.yaml``) says how
big its lines are and which structures they hold; :func:`family_template` draws line ``index``
of the family for a ``seed`` as a :class:`~plant_models.line.template.LineTemplate` for the
declarative engine, and :func:`family_faults` draws labelled faults on it, of every generic
kind (:mod:`plant_models.line.faults`). The same family, seed and index give the same template,
byte for byte (:func:`dump_template`).

A line of the family is a chain of process **units** (``unit1`` … ``unitN``) that material
flows through, each with **equipment** below it (a drive, a heater, a nozzle …) whose hidden
**condition** (wear, ageing, clogging …) is what a process fault moves. Every signal sits at
the middle of its range, so a coupling is drawn as a *normalised* gain (the share of the
target's span that the source's span moves) and converted to engineering units. The motifs:

* **servo loop**: a unit's process variable follows a setpoint through a PI controller whose
  output is a tag; the first equipment's condition disturbs it;
* **shared utility**: coolant, compressed air or power (an asset of kind ``utility`` with a
  condition of its own) whose main signal feeds two or more units;
* **material flow**: ``unitK.feed`` follows ``unit(K-1).product`` after a dead time;
* **recycle with lag**: ``unitI.recycle`` carries ``unitJ.product`` (J > I) back through a lag
  into ``unitI.product``: a cycle of the causal graph, kept stable (loop gains at most 0.5 in all);
* **redundant sensor**: ``X_b``, a second transmitter of ``X`` (``X`` its only input, gain 1);
* **derived sensor**: ``derivedK``, computed from two measured signals (a weighted sum or a product);
* **environment driver**: ``ambient.temperature`` / ``ambient.humidity`` enter several signals;
* **quality characteristic**: ``kind: quality`` with spec limits at ``unit(I+k)``, reading its
  product, so a condition of ``unitI`` reaches it ``k`` units downstream (three hops at least);
* **hidden signals**: some equipment signals and products are ``internal`` (no tag).

:func:`family_line` also returns what it built (:class:`LineMotifs`), so tests can find every motif
in the causal graph. This module is plant-side: it knows nothing of runs or datasets
(``twin rootcause dataset --family``, :func:`twin.harness.rca.dataset.family_specs`, draws episodes from it).
:mod:`plant_models.line.synthetic` is the other generator: one fixed unit repeated, for scale.

>>> family = LineFamily()
>>> template = family_template(family, index=3, seed=0)
>>> template.line
'line_0003'
>>> dump_template(template) == dump_template(family_template(family, 3, 0))
True
>>> fault = family_faults(family, template, 1, seed=0)[0]
>>> fault.kind in family.faults.kinds and fault.target.startswith(fault.label)
True
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from ruamel.yaml import YAML

from plant_models.base import SENSOR_FAULT_KINDS
from plant_models.line.compile import CompiledLine, compile_template
from plant_models.line.faults import PROCESS_KINDS, magnitude_range
from plant_models.line.template import NAME, LineTemplate
from qtconfig import Conflict, load_yaml_model

UtilityKind = Literal["coolant", "compressed_air", "power"]
FaultKind = Literal["condition_drift", "step", "oscillation", "thermal_shock", "sensor_bias", "sensor_noise_burst",
                    "sensor_stuck", "sensor_dropout", "sensor_clock_skew"]
ALL_FAULT_KINDS: list[FaultKind] = ["condition_drift", "step", "oscillation", "thermal_shock", "sensor_bias",
                                    "sensor_noise_burst", "sensor_stuck", "sensor_dropout", "sensor_clock_skew"]
EPISODE_FIELDS = ("name", "plant", "plant_options", "seed", "duration_s", "faults")  # set per episode
LOOP_GAIN = 0.5  # the recycles' loop gains add up to at most this (a stable line)

# a unit's process variable: unit and range of its nominal value
FLAVOURS: dict[str, tuple[str, tuple[float, float]]] = {
    "temperature": ("degC", (60.0, 220.0)), "pressure": ("bar", (2.0, 12.0)), "speed": ("m/min", (20.0, 120.0)),
    "force": ("kN", (5.0, 50.0)), "level": ("%", (30.0, 70.0)), "flow": ("l/min", (10.0, 80.0))}
# equipment: its hidden condition, the signal that shows it, the signal's unit and nominal range
EQUIPMENT: dict[str, tuple[str, str, str, tuple[float, float]]] = {
    "drive": ("wear", "current", "A", (10.0, 60.0)), "heater": ("ageing", "power", "kW", (5.0, 40.0)),
    "pump": ("wear", "vibration", "mm/s", (1.0, 5.0)), "valve": ("sticking", "position", "%", (30.0, 60.0)),
    "spindle": ("imbalance", "vibration", "mm/s", (1.0, 5.0)), "nozzle": ("clogging", "flow", "l/min", (2.0, 20.0)),
    "roller": ("misalignment", "torque", "Nm", (20.0, 200.0)), "tool": ("wear", "force", "N", (100.0, 900.0))}
# a utility: its condition and two signals (the first feeds the units), each with unit and nominal range
UTILITIES: dict[str, tuple[str, list[tuple[str, str, tuple[float, float]]]]] = {
    "coolant": ("fouling", [("supply_temperature", "degC", (14.0, 24.0)), ("flow", "l/min", (40.0, 120.0))]),
    "compressed_air": ("leakage", [("pressure", "bar", (5.5, 7.5)), ("flow", "Nm3/h", (20.0, 80.0))]),
    "power": ("sag", [("voltage", "V", (380.0, 420.0)), ("current", "A", (50.0, 200.0))])}
QUALITY = ("thickness", "width", "roughness", "strength", "gloss", "porosity", "weight", "flatness")
AMBIENT = {"temperature": (22.0, (1.0, 4.0), 0.05, (0.0, 50.0)), "humidity": (45.0, (4.0, 12.0), 0.3, (0.0, 100.0))}


# --------------------------------------------------------------------------- the family file


def _ordered(pair: tuple[float, float]) -> tuple[float, float]:
    """``pair`` when it is ``[low, high]`` with low <= high."""
    if pair[1] < pair[0]:
        raise ValueError(f"[{pair[0]:g}, {pair[1]:g}] must be [low, high] with low <= high")
    return pair


Span = Annotated[tuple[float, float], AfterValidator(_ordered)]
Count = Annotated[tuple[Annotated[int, Field(ge=0)], Annotated[int, Field(ge=0)]], AfterValidator(_ordered)]
Share = Annotated[float, Field(ge=0, le=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Utilities(_Strict):
    """Shared utilities: each an asset of kind ``utility`` with a hidden condition, feeding several units."""

    kinds: list[UtilityKind] = Field(default_factory=lambda: ["coolant", "compressed_air", "power"], min_length=1,
                                     description="the kinds drawn from (coolant, compressed_air, power)")
    count: Count = Field(default=(1, 2), description="utilities per line [min, max] (a kind repeats when more "
                                                     "than the kinds listed)")
    feeds: Count = Field(default=(2, 3), description="units each utility feeds [min, max], at least 2 (at most "
                                                     "the line's units)")


class EnvironmentMotif(_Strict):
    """The hall's climate driving many signals at once."""

    drivers: Count = Field(default=(1, 2), description="ambient signals per line [min, max]: 1 is the temperature, "
                                                       "2 adds the humidity")
    fanout: Count = Field(default=(3, 5), description="signals each ambient signal enters [min, max]")
    period_s: Span = Field(default=(1800.0, 7200.0), description="period of the climate's cycle, seconds")
    effect: Span = Field(default=(0.01, 0.05), description="share of a driven signal's span the full swing moves")


class QualityMotif(_Strict):
    """Quality characteristics several units downstream of their causes."""

    count: Count = Field(default=(1, 2), description="quality characteristics per line [min, max]")
    steps: Count = Field(default=(1, 2), description="units between the cause's unit and the one measuring the "
                                                     "characteristic [min, max]; below the line's units")
    spec_width: Span = Field(default=(0.06, 0.12), description="spec limits: nominal ± this share of the span")


class Motifs(_Strict):
    """How many of each motif a line holds (counts are [min, max], drawn per line)."""

    servo_loops: Count = Field(default=(1, 2), description="units whose process variable is a servo loop "
                                                           "(at most one per unit)")
    recycles: Count = Field(default=(0, 1), description="recycles: a later unit's product back into an earlier "
                                                        "unit through a lag (below the line's units)")
    redundant_sensors: Count = Field(default=(0, 2), description="signals measured twice (X and X_b)")
    derived_sensors: Count = Field(default=(0, 2), description="signals computed from two measured ones")
    hidden_share: Share = Field(default=0.1, description="share of equipment signals and products no tag shows")
    nonlinear_share: Share = Field(default=0.2, description="share of condition couplings that saturate")
    environment: EnvironmentMotif = Field(default_factory=EnvironmentMotif, description="environment drivers")
    quality: QualityMotif = Field(default_factory=QualityMotif, description="quality characteristics")


class Dynamics(_Strict):
    """Noise, time constants and coupling strengths (drawn per signal or per coupling)."""

    noise: Span = Field(default=(0.002, 0.008), description="sensor noise, standard deviation as a share of the "
                                                            "signal's span")
    lag_s: Span = Field(default=(0.5, 8.0), description="first-order time constants, seconds")
    lag_share: Share = Field(default=0.6, description="share of signals with a lag (servo loops always have one)")
    dead_time_s: Span = Field(default=(0.5, 3.0), description="transport delay of the material from unit to unit")
    recycle_lag_s: Span = Field(default=(5.0, 20.0), description="time constant of a recycle stream (> 0)")
    gain: Span = Field(default=(0.3, 1.0), description="normalised gains: share of the target's span the source's "
                                                       "span moves (at most 1)")
    condition_effect: Span = Field(default=(0.05, 0.2), description="share of a signal's span a condition at the "
                                                                    "end of its fault range moves")
    periods_ms: list[Annotated[int, Field(ge=1)]] = Field(
        default_factory=lambda: [100, 1000], min_length=1,
        description="sample periods a tag is drawn from (multiples of tick_ms)")


class FaultDraw(_Strict):
    """Which faults are drawn on a line, and how strong."""

    kinds: list[FaultKind] = Field(default_factory=lambda: list(ALL_FAULT_KINDS), min_length=1,
                                   description="the fault kinds drawn from (condition faults and sensor faults)")
    sensor_share: Share = Field(default=0.5, description="chance of a sensor fault when both families are listed")
    process_magnitude: Span = Field(default=(0.2, 1.0), description="condition faults: share of the condition's "
                                                                    "fault range (sign drawn)")
    sensor_bias: Span = Field(default=(0.01, 0.04), description="sensor_bias: share of the tag's span (sign drawn)")
    sensor_noise_burst: Span = Field(default=(0.005, 0.02), description="sensor_noise_burst: standard deviation as "
                                                                        "a share of the tag's span")
    sensor_clock_skew_s: Span = Field(default=(2.0, 10.0), description="sensor_clock_skew: seconds (below 60, the "
                                                                       "sensor history)")


class Episodes(_Strict):
    """How the episodes of a family run (what a sweep file says for one plant)."""

    per_line: int = Field(default=1, ge=1, description="episodes (faults) per generated line")
    scan_ms: int = Field(default=100, ge=1, le=60_000, description="the episodes' PLC scan")
    onset_s: Span = Field(default=(130.0, 190.0), description="[earliest, latest] fault onset, plant seconds")
    detect_within_s: float = Field(default=300.0, gt=0, description="an episode ends this long after the onset "
                                                                     "(plus the evidence window)")
    base: dict[str, Any] = Field(
        default_factory=lambda: {"control": {"policy": "off"}},
        description="the run every episode perturbs: scenario fields (no name, plant, plant_options, seed, "
                    "duration_s or faults)")


class LineFamily(_Strict):
    """A family of random lines (a YAML file of ranges; see the module docstring)."""

    description: str = Field(default="", description="what the family is")
    line_prefix: str = Field(default="line", pattern=NAME, description="line I of the family is PREFIX_IIII")
    tick_ms: int = Field(default=100, ge=1, description="integration step of the lines")
    units: Count = Field(default=(3, 5), description="process units per line [min, max], in flow order (at least 2)")
    equipment: Count = Field(default=(1, 2), description="equipment per unit [min, max], each with a hidden "
                                                         f"condition (at most {len(EQUIPMENT)})")
    utilities: Utilities = Field(default_factory=Utilities, description="shared utilities")
    motifs: Motifs = Field(default_factory=Motifs, description="the structures a line holds")
    dynamics: Dynamics = Field(default_factory=Dynamics, description="noise, lags, gains")
    faults: FaultDraw = Field(default_factory=FaultDraw, description="the faults drawn")
    episode: Episodes = Field(default_factory=Episodes, description="how episodes run")

    @model_validator(mode="after")
    def _consistent(self) -> LineFamily:
        for loc, message in self.problems():  # a Conflict: the loader names the field's line
            raise Conflict("field", [(loc, ".".join(loc))], message)
        return self

    def problems(self) -> list[tuple[tuple[str, ...], str]]:
        """What is inconsistent across fields: (field path, what is wrong)."""
        units_min = self.units[0]
        m = self.motifs
        checks = [
            (("units",), units_min >= 2, "must start at 2 or more: material flows from unit to unit"),
            (("equipment",), 1 <= self.equipment[0] and self.equipment[1] <= len(EQUIPMENT),
             f"must be within 1..{len(EQUIPMENT)}"),
            (("utilities", "feeds"), self.utilities.feeds[0] >= 2,
             "must start at 2 or more: a shared utility feeds several units"),
            (("motifs", "servo_loops"), m.servo_loops[1] <= units_min,
             f"must not exceed the fewest units of a line ({units_min}): one servo loop per unit at most"),
            (("motifs", "recycles"), m.recycles[1] <= units_min - 1,
             f"must not exceed {units_min - 1}, one less than the fewest units of a line"),
            (("motifs", "quality", "steps"), m.quality.steps[1] <= units_min - 1,
             f"must not exceed {units_min - 1}: a line of {units_min} units has no more units downstream"),
            (("motifs", "environment", "drivers"), m.environment.drivers[1] <= 2,
             "must not exceed 2 (temperature, humidity)"),
            (("dynamics", "gain"), 0 < self.dynamics.gain[0] and self.dynamics.gain[1] <= 1,
             "must be within (0, 1]: a normalised gain"),
            (("dynamics", "recycle_lag_s"), self.dynamics.recycle_lag_s[0] > 0,
             "must be above 0: a recycle needs a lag to break its loop"),
            (("dynamics", "periods_ms"), all(p % self.tick_ms == 0 for p in self.dynamics.periods_ms),
             f"must be multiples of tick_ms ({self.tick_ms})"),
            (("faults", "sensor_clock_skew_s"), self.faults.sensor_clock_skew_s[1] < 60,
             "must stay below 60 s, the sensor history"),
            (("episode", "base"), not set(EPISODE_FIELDS) & set(self.episode.base),
             f"must not set {', '.join(EPISODE_FIELDS)}: every episode sets them"),
        ]
        return [(loc, message) for loc, ok, message in checks if not ok]


def load_family(path: str | Path) -> LineFamily:
    """Read and validate a family file; a :class:`~qtconfig.ConfigError` names the file, the field and its line."""
    return load_yaml_model(LineFamily, path)


# --------------------------------------------------------------------------- what a line holds


@dataclass
class LineMotifs:
    """What :func:`family_line` built, by full node name (what a test looks for in the causal graph)."""

    utilities: dict[str, list[str]] = field(default_factory=dict)  # utility asset -> unit assets it feeds
    servos: list[str] = field(default_factory=list)                # servo-controlled signals
    recycles: list[tuple[str, str, str]] = field(default_factory=list)  # (recycle signal, from product, into product)
    redundant: list[tuple[str, str]] = field(default_factory=list)  # (signal, its second transmitter)
    derived: list[tuple[str, tuple[str, str]]] = field(default_factory=list)  # (derived signal, its two sources)
    environment: dict[str, list[str]] = field(default_factory=dict)  # ambient tag -> signals it enters
    quality: list[tuple[str, str, int]] = field(default_factory=list)  # (quality tag, cause condition, steps)
    flow: list[tuple[str, str]] = field(default_factory=list)       # (product of unit K-1, feed of unit K)


@dataclass(frozen=True)
class FamilyLine:
    """Line ``index`` of a family for ``seed``: its template and the motifs it holds."""

    template: LineTemplate
    index: int
    seed: int
    motifs: LineMotifs


def family_template(family: LineFamily, index: int, seed: int) -> LineTemplate:
    """Line ``index`` of ``family`` for ``seed`` (a valid template; same arguments, same template)."""
    return family_line(family, index, seed).template


def family_line(family: LineFamily, index: int, seed: int) -> FamilyLine:
    """Line ``index`` of ``family`` for ``seed``, with what it holds (:class:`LineMotifs`)."""
    if index < 0 or seed < 0:
        raise ValueError(f"index and seed must be >= 0, got index {index}, seed {seed}")
    builder = _Builder(family, np.random.default_rng([seed, index, 0x11E]), f"{family.line_prefix}_{index:04d}")
    template = builder.build(seed)
    return FamilyLine(template, index, seed, builder.motifs)


def dump_template(template: LineTemplate) -> str:
    """The template as YAML text (defaults left out): what a family line's ``line.yaml`` holds."""
    stream = io.StringIO()
    yaml = YAML()
    yaml.width = 120
    yaml.dump(template.model_dump(mode="json", by_alias=True, exclude_defaults=True), stream)
    return stream.getvalue()


def _round(value: float) -> float:
    """Four significant digits: readable YAML, the same text on every machine."""
    return float(f"{value:.4g}")


@dataclass
class _Signal:
    """A signal being built: its root-relative reference, declaration and span."""

    ref: str
    spec: dict[str, Any]
    span: float
    role: str

    @property
    def nominal(self) -> float:
        """The signal's nominal value."""
        return float(self.spec["nominal"])

    @property
    def measured(self) -> bool:
        """True when a tag shows it."""
        return self.spec.get("kind", "measurement") != "internal"


class _Builder:
    """Draws one line of a family, motif by motif, in a fixed order (so a seed gives one line)."""

    def __init__(self, family: LineFamily, rng: np.random.Generator, line: str) -> None:
        self.f, self.rng, self.line = family, rng, line
        self.tree: dict[str, Any] = {}               # the template's assets, nested
        self.assets: dict[str, dict[str, Any]] = {}  # root-relative asset path -> its declaration
        self.signals: dict[str, _Signal] = {}        # root-relative reference -> signal
        self.motifs = LineMotifs()
        self.units: list[str] = []
        self.conditions: dict[str, list[str]] = {}   # unit -> its equipment's conditions (root-relative)

    # -- small draws --------------------------------------------------------------------------
    def uniform(self, span: tuple[float, float]) -> float:
        """A number drawn uniformly from ``[low, high]``."""
        return float(self.rng.uniform(span[0], span[1]))

    def count(self, span: tuple[int, int]) -> int:
        """An integer drawn uniformly from ``[low, high]``."""
        return int(self.rng.integers(span[0], span[1] + 1))

    def pick(self, items: list[Any], n: int) -> list[Any]:
        """``n`` distinct items, in the order drawn."""
        return [items[i] for i in self.rng.permutation(len(items))[:n]]

    def full(self, ref: str) -> str:
        """The full node name of a root-relative reference."""
        return f"{self.line}.{ref}"

    # -- declarations -------------------------------------------------------------------------
    def asset(self, path: str, kind: str, description: str) -> dict[str, Any]:
        """Declare an asset at root-relative ``path`` (its parent declared before it)."""
        declaration: dict[str, Any] = {"kind": kind, "description": description}
        parent, _, name = path.rpartition(".")
        (self.assets[parent].setdefault("assets", {}) if parent else self.tree).setdefault(name, declaration)
        self.assets[path] = declaration
        return declaration

    def condition(self, asset: str, name: str, description: str) -> str:
        """A hidden condition of ``asset``: signed, 0 when healthy, faults add up to ±1."""
        self.assets[asset].setdefault("conditions", {})[name] = {
            "unit": "index", "initial": 0.0, "range": [-1.0, 1.0], "fault_range": [-1.0, 1.0],
            "description": description}
        return f"{asset}.{name}"

    def signal(self, asset: str, name: str, unit: str, nominal: float, role: str, *, lag: bool | None = None,
               measured: bool = True, description: str = "") -> _Signal:
        """A signal at the middle of its range ``[0, 2·nominal]``; lagged at random unless ``lag`` says."""
        nominal = _round(nominal)
        spec: dict[str, Any] = {"unit": unit, "range": [0.0, _round(2 * nominal)], "nominal": nominal,
                                "description": description}
        if measured:
            spec["noise"] = _round(self.uniform(self.f.dynamics.noise) * 2 * nominal)
            spec["period_ms"] = int(self.f.dynamics.periods_ms[int(self.rng.integers(len(self.f.dynamics.periods_ms)))])
        else:
            spec["kind"] = "internal"
        if lag or (lag is None and self.rng.random() < self.f.dynamics.lag_share):
            spec["lag_s"] = _round(self.uniform(self.f.dynamics.lag_s))
        spec["inputs"] = []
        self.assets[asset].setdefault("signals", {})[name] = spec
        sig = _Signal(f"{asset}.{name}", spec, 2 * nominal, role)
        self.signals[sig.ref] = sig
        return sig

    def couple(self, source: _Signal, target: _Signal, gain: float | None = None) -> float:
        """``target`` follows ``source`` with a normalised gain (drawn unless given, sign drawn); returns it."""
        g = gain if gain is not None else self.uniform(self.f.dynamics.gain) * (1 if self.rng.random() < 0.7 else -1)
        target.spec["inputs"].append({"from": source.ref, "gain": _round(g * target.span / source.span)})
        return g

    def affect(self, condition: str, target: _Signal) -> None:
        """``target`` moves with a condition: linearly, or saturating for a share of couplings."""
        effect = self.uniform(self.f.dynamics.condition_effect) * target.span * (1 if self.rng.random() < 0.5 else -1)
        item: dict[str, Any] = {"from": condition, "gain": _round(effect)}
        if self.rng.random() < self.f.motifs.nonlinear_share:
            limit = _round(self.uniform((0.4, 0.8)))
            item.update(form="saturation", low=-limit, high=limit, gain=_round(effect / limit))
        target.spec["inputs"].append(item)

    # -- the line -----------------------------------------------------------------------------
    def build(self, seed: int) -> LineTemplate:
        """Every motif in a fixed order; the template, validated."""
        f = self.f
        ambient = self.environment()
        utilities = self.utilities()
        n = self.count(f.units)
        servo_units = set(self.pick(list(range(1, n + 1)), self.count(f.motifs.servo_loops)))
        for k in range(1, n + 1):
            self.unit(k, k in servo_units)
        self.feed_utilities(utilities)
        self.recycles()
        self.quality()
        self.hide()
        self.drive_environment(ambient)
        self.redundant()
        self.derived()
        for sig in self.signals.values():  # no empty lists in the YAML
            if not sig.spec["inputs"]:
                del sig.spec["inputs"]
        periods = f.dynamics.periods_ms
        return LineTemplate.model_validate({
            "line": self.line, "description": f"line {self.line} of the family {f.line_prefix} (seed {seed}): "
                                              f"{n} units, {len(utilities)} utilities",
            "tick_ms": f.tick_ms, "period_ms": max(periods), "environment": ambient or None, "assets": self.tree})

    def environment(self) -> dict[str, Any]:
        """The hall's climate: temperature, then humidity, as many as drawn (its cycles, not yet its couplings)."""
        drivers = self.count(self.f.motifs.environment.drivers)
        out: dict[str, Any] = {}
        for quantity in list(AMBIENT)[:drivers]:
            mean, amplitude, noise, bounds = AMBIENT[quantity]
            out[quantity] = {"mean": mean, "amplitude": _round(self.uniform(amplitude)),
                             "period_s": _round(self.uniform(self.f.motifs.environment.period_s)),
                             "phase": _round(self.uniform((0.0, 2 * math.pi))), "noise": noise, "range": list(bounds)}
        return out

    def utilities(self) -> list[tuple[str, _Signal]]:
        """The shared utilities (asset, the signal that feeds units), each with its condition and two signals."""
        kinds = self.f.utilities.kinds
        count = self.count(self.f.utilities.count)
        chosen = self.pick(kinds, count) if count <= len(kinds) else \
            [kinds[int(self.rng.integers(len(kinds)))] for _ in range(count)]
        out = []
        seen: dict[str, int] = {}
        for kind in chosen:
            seen[kind] = seen.get(kind, 0) + 1
            name = kind if seen[kind] == 1 else f"{kind}_{seen[kind]}"
            self.asset(name, "utility", f"shared {kind.replace('_', ' ')}")
            cond_name, signals = UTILITIES[kind]
            cond = self.condition(name, cond_name, f"{cond_name} of the {kind.replace('_', ' ')} supply")
            made = [self.signal(name, s, unit, self.uniform(bounds), "utility", description=f"{kind} {s}")
                    for s, unit, bounds in signals]
            for sig in made:
                self.affect(cond, sig)
            out.append((name, made[0]))
        return out

    def unit(self, k: int, servo: bool) -> None:
        """Unit ``k``: equipment with conditions, feed, process variable (a servo loop or not), product."""
        f, name = self.f, f"unit{k}"
        flavour = list(FLAVOURS)[int(self.rng.integers(len(FLAVOURS)))]
        self.asset(name, "unit", f"process unit {k} ({flavour})")
        self.units.append(name)
        feed = self.signal(name, "feed", "%", 50.0, "feed", lag=False, description="material coming in")
        if k > 1:
            product = self.signals[f"unit{k - 1}.product"]
            self.couple(product, feed, self.uniform(f.dynamics.gain))
            feed.spec["dead_time_s"] = _round(self.uniform(f.dynamics.dead_time_s))
            self.motifs.flow.append((self.full(product.ref), self.full(feed.ref)))
        unit, bounds = FLAVOURS[flavour]
        pv = self.signal(name, flavour, unit, self.uniform(bounds), "pv", lag=True if servo else None,
                         description=f"the unit's {flavour}")
        equipment = self.pick(list(EQUIPMENT), self.count(f.equipment))
        conditions = []
        for eq in equipment:
            path = f"{name}.{eq}"
            self.asset(path, "equipment", f"{eq} of unit {k}")
            cond_name, signal_name, signal_unit, signal_bounds = EQUIPMENT[eq]
            conditions.append(self.condition(path, cond_name, f"{cond_name} of the {eq}"))
            measured = self.signal(path, signal_name, signal_unit, self.uniform(signal_bounds), "equipment",
                                   description=f"{eq} {signal_name}")
            self.affect(conditions[-1], measured)
        self.conditions[name] = conditions
        shown = [self.signals[f"{name}.{eq}.{EQUIPMENT[eq][1]}"] for eq in equipment]
        self.affect(conditions[0], pv)  # the first equipment's condition disturbs the process variable
        if servo:
            self.servo(name, flavour, unit, pv, shown[0])
        else:
            self.couple(feed, pv)
        for sig in shown:
            self.couple(pv, sig)
        product = self.signal(name, "product", "%", 50.0, "product", description="property of the material going out")
        self.couple(feed, product, self.uniform(f.dynamics.gain))
        self.couple(pv, product)
        for sig in shown:
            self.couple(sig, product)

    def servo(self, unit_name: str, flavour: str, unit: str, pv: _Signal, effort: _Signal) -> None:
        """Make ``pv`` a servo loop following ``<flavour>_sp``; its output (0..100 %, a tag) drives ``effort``."""
        gain = pv.nominal / 50.0  # the controller output sits at 50 % at nominal
        out_name = f"{flavour}_output"
        pv.spec["servo"] = {"setpoint": f"{flavour}_sp", "kp": _round(self.uniform((0.3, 1.0)) / gain),
                            "ki": _round(self.uniform((0.1, 0.5)) / gain), "gain": _round(gain),
                            "output_range": [0.0, 100.0], "output_name": out_name, "output_measured": True}
        self.assets[unit_name]["signals"][f"{flavour}_sp"] = {"kind": "setpoint", "unit": unit,
                                                              "range": pv.spec["range"], "nominal": pv.nominal}
        g = self.uniform(self.f.dynamics.gain)
        effort.spec["inputs"].append({"from": f"{unit_name}.{out_name}", "gain": _round(g * effort.span / 100.0)})
        self.motifs.servos.append(self.full(pv.ref))

    def feed_utilities(self, utilities: list[tuple[str, _Signal]]) -> None:
        """Each utility's main signal enters the process variable of two or more units."""
        for name, main in utilities:
            fed = self.pick(self.units, min(self.count(self.f.utilities.feeds), len(self.units)))
            for unit in fed:
                pv = next(s for s in self.signals.values() if s.role == "pv" and s.ref.startswith(f"{unit}."))
                self.couple(main, pv, self.uniform(self.f.dynamics.gain) * 0.5)
            self.motifs.utilities[self.full(name)] = [self.full(u) for u in fed]

    def recycles(self) -> None:
        """Product of a later unit back into an earlier unit's product, through a lag; loop gains stay small."""
        f = self.f
        n = len(self.units)
        pairs = [(i, j) for j in range(2, n + 1) for i in range(1, j)]
        count = self.count(f.motifs.recycles)
        for i, j in self.pick(pairs, count):
            into, source = self.signals[f"unit{i}.product"], self.signals[f"unit{j}.product"]
            name = "recycle" if "recycle" not in self.assets[f"unit{i}"]["signals"] else f"recycle_{j}"
            stream = self.signal(f"unit{i}", name, "%", 50.0, "recycle", lag=True,
                                 description=f"material recycled from unit {j}")
            stream.spec["lag_s"] = _round(self.uniform(f.dynamics.recycle_lag_s))
            chain = self.path_gain(into.ref, source.ref)
            g_in = self.uniform(f.dynamics.gain)
            g_out = min(self.uniform(f.dynamics.gain), LOOP_GAIN / count / max(chain * g_in, 1e-9))
            self.couple(source, stream, g_in)
            self.couple(stream, into, g_out)
            self.motifs.recycles.append((self.full(stream.ref), self.full(source.ref), self.full(into.ref)))

    def path_gain(self, source: str, target: str) -> float:
        """How much ``target`` moves per unit of ``source``, normalised, summed over every path between them
        (absolute gains: a bound), recycle streams left out."""
        memo: dict[str, float] = {}

        def gain(ref: str) -> float:
            if ref == source:
                return 1.0
            if ref not in memo:
                sig = self.signals[ref]
                memo[ref] = 0.0 if sig.role == "recycle" else sum(
                    self.normalised(sig, item["from"]) * gain(item["from"]) for item in sig.spec["inputs"]
                    if isinstance(item["from"], str) and item["from"] in self.signals)
            return memo[ref]

        return gain(target)

    def normalised(self, target: _Signal, source: str) -> float:
        """|normalised gain| of ``target``'s inputs from ``source``."""
        src = self.signals[source]
        return sum(abs(i["gain"]) * src.span / target.span for i in target.spec["inputs"] if i["from"] == source)

    def quality(self) -> None:
        """Quality characteristics ``k`` units downstream of the unit whose condition causes them."""
        f, q = self.f, self.f.motifs.quality
        n = len(self.units)
        names = list(QUALITY)
        for _ in range(self.count(q.count)):
            steps = min(self.count(q.steps), n - 1)
            cause_unit = int(self.rng.integers(1, n - steps + 1))
            unit = f"unit{cause_unit + steps}"
            taken = self.assets[unit].get("signals", {})
            name = next((x for x in self.pick(names, len(names)) if x not in taken), f"quality{len(taken)}")
            sig = self.signal(unit, name, "", self.uniform((20.0, 80.0)), "quality", lag=False,
                              description=f"{name} of the product")
            width = self.uniform(q.spec_width) * sig.span
            sig.spec.update(kind="quality", spec=[_round(sig.nominal - width), _round(sig.nominal + width)])
            self.couple(self.signals[f"{unit}.product"], sig, self.uniform(f.dynamics.gain))
            self.motifs.quality.append((self.full(sig.ref), self.full(self.conditions[f"unit{cause_unit}"][0]), steps))

    def hide(self) -> None:
        """Some equipment signals and products become internal: no tag shows them."""
        for sig in self.signals.values():
            if sig.role in ("equipment", "product") and self.rng.random() < self.f.motifs.hidden_share:
                sig.spec.update(kind="internal")
                sig.spec.pop("noise", None)
                sig.spec.pop("period_ms", None)

    def candidates(self) -> list[_Signal]:
        """Process signals an environment driver, a redundant or a derived sensor may use (not quality)."""
        return [s for s in self.signals.values() if s.role in ("feed", "pv", "equipment", "product", "utility",
                                                                 "recycle")]

    def drive_environment(self, ambient: dict[str, Any]) -> None:
        """Each ambient signal enters several process signals at once."""
        env = self.f.motifs.environment
        for quantity, cycle in ambient.items():
            pool = [s for s in self.candidates() if "servo" not in s.spec]
            driven = self.pick(pool, min(self.count(env.fanout), len(pool)))
            for sig in driven:
                effect = self.uniform(env.effect) * sig.span / (2 * cycle["amplitude"])
                sig.spec["inputs"].append({"from": f"ambient.{quantity}",
                                           "gain": _round(effect if self.rng.random() < 0.5 else -effect)})
            self.motifs.environment[self.full(f"ambient.{quantity}")] = [self.full(s.ref) for s in driven]

    def redundant(self) -> None:
        """A second transmitter ``X_b`` of some measured signals ``X``."""
        pool = [s for s in self.candidates() if s.measured]
        for sig in self.pick(pool, min(self.count(self.f.motifs.redundant_sensors), len(pool))):
            asset, _, name = sig.ref.rpartition(".")
            spec = {k: v for k, v in sig.spec.items() if k in ("unit", "range", "nominal", "period_ms")}
            spec.update(noise=_round(self.uniform(self.f.dynamics.noise) * sig.span), inputs=[{"from": sig.ref}],
                        description=f"second transmitter of {name}")
            self.assets[asset]["signals"][f"{name}_b"] = spec
            copy = _Signal(f"{sig.ref}_b", spec, sig.span, "redundant")
            self.signals[copy.ref] = copy
            self.motifs.redundant.append((self.full(sig.ref), self.full(copy.ref)))

    def derived(self) -> None:
        """``derivedK``: a signal computed from two measured ones (a weighted sum, or a product)."""
        pool = [s for s in self.candidates() if s.measured]
        for k in range(1, self.count(self.f.motifs.derived_sensors) + 1):
            a, b = self.pick(pool, 2)
            asset = a.ref.rpartition(".")[0]
            sig = self.signal(asset, f"derived{k}", "", 50.0, "derived", lag=False,
                              description=f"computed from {a.ref} and {b.ref}")
            if self.rng.random() < 0.5:
                self.couple(a, sig)
                self.couple(b, sig)
            else:  # near nominal, d(a·b) = b0·da + a0·db: both move it by the normalised gain
                g = self.uniform(self.f.dynamics.gain)
                sig.spec["inputs"].append({"from": [a.ref, b.ref], "form": "product",
                                           "gain": _round(g * sig.span / (a.span * b.nominal))})
            self.motifs.derived.append((self.full(sig.ref), (self.full(a.ref), self.full(b.ref))))


# --------------------------------------------------------------------------- faults


@dataclass(frozen=True)
class FamilyFault:
    """A fault drawn on a family line, with the node where it enters and its true label.

    ``label`` is what a perfect diagnosis names, as the datasets label episodes: the measured tag
    for a sensor fault, else the asset of the condition the fault moves. ``quantile`` is where the
    magnitude sits in its range (0 for the faults without one).
    """

    kind: str
    target: str
    magnitude: float
    quantile: float
    cause: str
    label: str

    @property
    def family(self) -> str:
        """``sensor`` or ``process``."""
        return "sensor" if self.kind in SENSOR_FAULT_KINDS else "process"


def draw_fault(family: LineFamily, compiled: CompiledLine, rng: np.random.Generator) -> FamilyFault:
    """One fault on a compiled family line: a family (sensor or process), a kind, a target, a magnitude."""
    draw = family.faults
    sensor = [k for k in draw.kinds if k in SENSOR_FAULT_KINDS]
    process = [k for k in draw.kinds if k in PROCESS_KINDS]
    use_sensor = bool(sensor) and (not process or rng.random() < draw.sensor_share)
    kinds = sensor if use_sensor else process
    kind = kinds[int(rng.integers(len(kinds)))]
    if not use_sensor:
        conditions = [n.name for n in compiled.nodes.values() if n.role == "condition"]
        target = conditions[int(rng.integers(len(conditions)))]
        low, high = magnitude_range(target, compiled)
        q = float(rng.uniform(*draw.process_magnitude))
        side = (high if rng.random() < 0.5 else low) if low < 0 < high else (low if high <= 0 else high)
        return FamilyFault(kind, target, _round(q * side), _round(q), target, compiled.nodes[target].asset)
    tags = [n for n in compiled.measured() if n.role != "setpoint"]
    node = tags[int(rng.integers(len(tags)))]
    span = node.high - node.low
    ranges = {"sensor_bias": draw.sensor_bias, "sensor_noise_burst": draw.sensor_noise_burst,
              "sensor_clock_skew": draw.sensor_clock_skew_s}
    q = float(rng.uniform()) if kind in ranges else 0.0
    magnitude = 0.0
    if kind in ranges:
        low, high = ranges[kind]
        magnitude = low + q * (high - low)
        if kind == "sensor_bias":
            magnitude *= span * (1 if rng.random() < 0.5 else -1)
        elif kind == "sensor_noise_burst":
            magnitude *= span
    return FamilyFault(kind, node.name, _round(magnitude), _round(q), node.name, node.name)


def family_faults(family: LineFamily, template: LineTemplate, count: int, seed: int) -> list[FamilyFault]:
    """``count`` faults drawn on one family line for ``seed`` (:func:`draw_fault` each, one random stream)."""
    compiled = compile_template(template)
    rng = np.random.default_rng([seed, 0xFA17])
    return [draw_fault(family, compiled, rng) for _ in range(count)]
