"""The line template: a production line declared in YAML, validated by :class:`LineTemplate`.

A template names the line, its assets in a hierarchy (line → cell/unit → equipment), and on
each asset its hidden **conditions** (wear, ageing, fouling: what faults move and no tag shows)
and its **signals** (measurements, setpoints, quality characteristics, internal values). Each
signal says how it depends on other signals and conditions (:class:`Input`: linear gains,
saturation, hinge, product, lookup table), may follow a first-order lag and a dead time, and
may be a servo loop (:class:`Servo`) so that a setpoint write acts through the process.
Discrete parts (:class:`Parts`) flow through stations and are measured one by one: per-part
values, curves per part, defect counts, pass/fail against spec limits, lot identifiers.

Every name is local to its asset; a reference (``from:``) is looked up from the referring
asset outwards (``tip_wear`` on ``cell.gun`` finds ``cell.gun.tip_wear``, ``coolant.flow``
finds ``cell.coolant.flow`` or ``coolant.flow``), and ``part.X`` names an attribute of the part
being measured (a lot property or an earlier per-part measurement). The full tag of a signal is
``<line>.<asset path>.<signal>``.

:func:`load_template` reads a file and reports any problem with the field and its line; the
structural checks (unknown references, algebraic loops) are made when the engine compiles the
template (:mod:`plant_models.line.compile`). The JSON Schema of this model is published as
``docs/reference/line-template.schema.json``.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from qtconfig import load_yaml_model

NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
Number = float
Ref = Annotated[str, Field(min_length=1, description="a signal, condition or part attribute, looked up from this "
                                                     "asset outwards")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _ordered(bounds: tuple[float, float]) -> tuple[float, float]:
    """``bounds`` as ``(low, high)``; ``ValueError`` unless low < high."""
    low, high = bounds
    if high <= low:
        raise ValueError(f"range must be [low, high] with low < high, got {list(bounds)}")
    return low, high


class Input(_Strict):
    """One dependency of a signal: ``value += f(x) - f(x_nominal)``, so at nominal inputs the
    signal sits at its nominal.

    ``form`` is ``linear`` (``gain·x``), ``saturation`` (``gain·clip(x, low, high)``), ``hinge``
    (``gain·max(0, x - threshold)``; ``below: true`` for ``max(0, threshold - x)``), ``product``
    (``gain·x·y`` with ``from: [x, y]``) or ``table`` (linear interpolation through ``points``
    ``[[x, y], ...]``, flat beyond the ends). ``weights`` spreads the contribution over the
    elements of an array signal (a list, one per element, or ``{from, to}`` for a straight ramp).
    """

    from_: Ref | list[Ref] = Field(alias="from", description="the input's name (two names for form product)")
    form: Literal["linear", "saturation", "hinge", "product", "table"] = Field(
        default="linear", description="how the input acts (see the model's docstring)")
    gain: Number = Field(default=1.0, description="signal units per input unit (table: scales the table's y)")
    low: Number | None = Field(default=None, description="saturation: the input's lower clip")
    high: Number | None = Field(default=None, description="saturation: the input's upper clip")
    threshold: Number | None = Field(default=None, description="hinge: where the input starts to act")
    below: bool = Field(default=False, description="hinge: act below the threshold instead of above")
    points: list[tuple[Number, Number]] | None = Field(default=None, description="table: [[x, y], ...], x increasing")
    weights: list[Number] | Ramp | None = Field(
        default=None, description="array signals: the contribution's weight per element (default 1)")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _form_fields(self) -> Input:
        sources = self.from_ if isinstance(self.from_, list) else [self.from_]
        if self.form == "product":
            if len(sources) != 2:
                raise ValueError("form product takes two inputs: from: [x, y]")
        elif len(sources) != 1:
            raise ValueError(f"form {self.form} takes one input (a list of two is for form product)")
        if self.form == "saturation" and self.low is None and self.high is None:
            raise ValueError("form saturation needs low, high or both")
        if self.form == "hinge" and self.threshold is None:
            raise ValueError("form hinge needs a threshold")
        if self.form == "table":
            if not self.points or len(self.points) < 2:
                raise ValueError("form table needs points: [[x, y], ...] (at least two)")
            xs = [p[0] for p in self.points]
            if any(b <= a for a, b in zip(xs, xs[1:])):
                raise ValueError("the x values of a table's points must increase")
        return self

    @property
    def sources(self) -> list[str]:
        """The referenced names, in order."""
        return self.from_ if isinstance(self.from_, list) else [self.from_]


class Ramp(_Strict):
    """A straight ramp over the elements of an array: ``from`` at the first, ``to`` at the last."""

    from_: Number = Field(alias="from", description="value at the first element")
    to: Number = Field(description="value at the last element")
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


Input.model_rebuild()


class Servo(_Strict):
    """A servo loop: a PI controller moves ``output`` so the signal follows ``setpoint``.

    The signal's value is ``gain·output`` plus its inputs (disturbances the loop works against),
    through its lag. The controller output is limited to ``output_range`` (anti-windup); when it
    saturates, the disturbance shows. ``output_name`` makes the output a node of its own (e.g.
    ``valve_position``), a measured tag when ``output_measured``.
    """

    setpoint: Ref = Field(description="the setpoint the loop follows (a kind: setpoint signal)")
    kp: Number = Field(default=0.5, ge=0, description="proportional gain, output units per signal unit of error")
    ki: Number = Field(default=1.0, ge=0, description="integral gain per second")
    gain: Number = Field(default=1.0, description="signal units per unit of controller output")
    output_range: tuple[Number, Number] = Field(default=(0.0, 100.0), description="the controller output's limits")
    output_name: str | None = Field(default=None, pattern=NAME,
                                    description="name of the output node on the asset (default: <signal>_output)")
    output_unit: str = Field(default="%", description="unit of the controller output")
    output_measured: bool = Field(default=False, description="publish the output as a tag")

    @model_validator(mode="after")
    def _range(self) -> Servo:
        if self.output_range[1] <= self.output_range[0]:
            raise ValueError("output_range must be [low, high] with low < high")
        if self.gain == 0:
            raise ValueError("a servo's gain must not be 0")
        return self


class Signal(_Strict):
    """A signal of an asset.

    ``kind``: ``measurement`` (a tag), ``quality`` (a tag that is a quality characteristic,
    optionally with ``spec`` limits), ``setpoint`` (a writable tag, ``nominal`` is its initial
    value) or ``internal`` (a value of the process no tag shows, e.g. a valve's opening).
    ``range`` is the engineering range (the sensor saturates there; a setpoint write outside it
    is refused). ``size`` > 1 makes an array (a profile across lanes, a spectrum, a curve per
    part) whose elements are ``base`` (a number, a list, or a ramp) plus the weighted inputs.
    ``distribution: poisson`` (per-part signals) draws a count with the computed mean.
    """

    kind: Literal["measurement", "quality", "setpoint", "internal"] = Field(
        default="measurement", description="measurement, quality, setpoint or internal (no tag)")
    unit: str = Field(default="", description="engineering unit")
    range: tuple[Number, Number] = Field(description="engineering range [low, high]")
    nominal: Number = Field(default=0.0, description="value at nominal inputs (a setpoint's initial value)")
    noise: Number = Field(default=0.0, ge=0, description="sensor noise, standard deviation")
    process_noise: Number = Field(
        default=0.0, ge=0, description="process noise: standard deviation added to the signal's target every tick "
                                       "(what a servo works against; continuous signals only)")
    period_ms: int | None = Field(default=None, ge=1, description="sample period; default: the line's")
    lag_s: Number = Field(default=0.0, ge=0, description="first-order time constant")
    dead_time_s: Number = Field(default=0.0, ge=0, description="pure delay before the signal responds")
    inputs: list[Input] = Field(default_factory=list, description="what the signal depends on")
    servo: Servo | None = Field(default=None, description="make the signal a servo loop following a setpoint")
    size: int = Field(default=1, ge=1, le=10_000, description="elements: 1 for a scalar, more for an array")
    base: Number | list[Number] | Ramp | None = Field(
        default=None, description="arrays: the elements at nominal inputs (default: nominal)")
    spec: tuple[Number | None, Number | None] | None = Field(
        default=None, description="quality spec limits [low, high]; null for an open side")
    distribution: Literal["normal", "poisson"] = Field(
        default="normal", description="per-part signals: poisson draws a count with the computed mean")
    description: str = Field(default="", description="what the signal is, for the tag map")

    @model_validator(mode="after")
    def _consistent(self) -> Signal:
        low, high = _ordered(self.range)
        if self.size == 1 and not low <= self.nominal <= high:
            raise ValueError(f"nominal {self.nominal:g} is outside the range {low:g}..{high:g}")
        if self.kind == "setpoint" and (self.inputs or self.servo or self.lag_s or self.dead_time_s
                                        or self.process_noise):
            raise ValueError("a setpoint is written, not computed: no inputs, servo, lag, dead time or process noise")
        if self.servo is not None and self.size > 1:
            raise ValueError("a servo acts on a scalar signal (size 1)")
        if self.spec is not None and self.kind != "quality":
            raise ValueError("spec limits belong to kind quality")
        if isinstance(self.base, list) and len(self.base) != self.size:
            raise ValueError(f"base has {len(self.base)} values for a signal of size {self.size}")
        for item in self.inputs:
            if isinstance(item.weights, list) and len(item.weights) != self.size:
                raise ValueError(f"weights of input {item.sources} have {len(item.weights)} values "
                                 f"for a signal of size {self.size}")
        return self


class Condition(_Strict):
    """A hidden state of an asset (wear, ageing, fouling, misalignment): faults move it, no tag shows it.

    ``per_part`` adds wear per part the asset processes (a station); ``reset_every_parts`` puts
    it back to ``initial`` after that many parts (tip dressing, a tool change). ``fault_range``
    bounds what a fault may add (and what a root-cause sweep draws from).
    """

    unit: str = Field(default="", description="unit of the condition")
    initial: Number = Field(default=0.0, description="value of a healthy asset")
    range: tuple[Number, Number] = Field(description="the physical bounds the condition is clipped to")
    per_part: Number = Field(default=0.0, description="wear added per part the asset (a station) processes")
    reset_every_parts: int | None = Field(default=None, ge=1, description="back to initial after this many parts")
    fault_range: tuple[Number, Number] | None = Field(
        default=None, description="what a fault may add (default: ± the width of range); sweeps draw from it")
    count_tag: str | None = Field(default=None, pattern=NAME,
                                  description="a tag of the asset counting parts since the last reset "
                                              "(e.g. welds since tip dressing); the condition itself stays hidden")
    description: str = Field(default="", description="what the condition is")

    @model_validator(mode="after")
    def _consistent(self) -> Condition:
        low, high = _ordered(self.range)
        if not low <= self.initial <= high:
            raise ValueError(f"initial {self.initial:g} is outside the range {low:g}..{high:g}")
        if self.count_tag is not None and self.reset_every_parts is None:
            raise ValueError("count_tag counts parts since a reset: it needs reset_every_parts")
        return self


class Asset(_Strict):
    """An asset of the line: a cell, unit or piece of equipment, with its own assets below it."""

    kind: Literal["cell", "unit", "equipment", "utility", "supplier", "area"] = Field(
        default="equipment", description="what the asset is in the hierarchy")
    description: str = Field(default="", description="what the asset is")
    conditions: dict[Annotated[str, Field(pattern=NAME)], Condition] = Field(
        default_factory=dict, description="hidden states by name")
    signals: dict[Annotated[str, Field(pattern=NAME)], Signal] = Field(
        default_factory=dict, description="signals by name (tag: <line>.<asset path>.<name>)")
    assets: dict[Annotated[str, Field(pattern=NAME)], Asset] = Field(
        default_factory=dict, description="the assets below this one, by name")


class Cycle(_Strict):
    """A daily (or any period) cycle: ``mean + amplitude·sin(2π t / period_s + phase)``."""

    mean: Number = Field(description="the daily mean")
    amplitude: Number = Field(default=0.0, description="half the daily swing")
    period_s: Number = Field(default=86_400.0, gt=0, description="the cycle's period")
    phase: Number = Field(default=0.0, description="phase at t = 0, radians")
    noise: Number = Field(default=0.0, ge=0, description="sensor noise, standard deviation")
    range: tuple[Number, Number] = Field(description="the sensor's range")


class Environment(_Strict):
    """The hall's climate, as signals ``ambient.temperature`` and ``ambient.humidity`` of the line."""

    temperature: Cycle | None = Field(default=None, description="hall temperature, degC")
    humidity: Cycle | None = Field(default=None, description="hall relative humidity, %RH")
    period_ms: int = Field(default=1000, ge=1, description="sample period of the two tags")


class LotProperty(_Strict):
    """A property every part of a lot carries (clearance, capacity, a latent defect).

    Each lot draws its own mean ``mean + N(0, between)``; each part ``lot mean + N(0, within)``.
    ``share`` makes it a yes/no property instead: 1 for that share of parts, else 0.
    Each of ``mean``, ``between``, ``within`` and ``share`` may name a condition of the lot's
    asset (a supplier whose spread a fault widens) instead of a number; it is read when a lot
    starts, so a fault shows from the first lot after its onset.
    """

    mean: Number | str = Field(default=0.0, description="the property's mean (or a condition's name)")
    between: Number | str = Field(default=0.0, description="spread of lot means (or a condition's name)")
    within: Number | str = Field(default=0.0, description="spread of parts within a lot (or a condition's name)")
    share: Number | str | None = Field(default=None, description="yes/no property: share of parts with it")
    spec: tuple[Number | None, Number | None] | None = Field(
        default=None, description="the design tolerance the drawing gives the property [low, high] (null for an "
                                  "open side): a design parameter each lot is specified by, for lineage")
    unit: str = Field(default="", description="engineering unit of the property")


class Lot(_Strict):
    """Lots of a supply the parts are built from: ``size`` parts per lot, numbered from 1."""

    asset: str = Field(description="the asset (a supplier) the lot comes from, and whose conditions it may read")
    part: str | None = Field(default=None, pattern=NAME,
                             description="the component the lot holds (bearing); default: the lot's name "
                                         "without _lot")
    size: int = Field(ge=1, description="parts per lot")
    properties: dict[Annotated[str, Field(pattern=NAME)], LotProperty] = Field(
        default_factory=dict, description="properties every part of the lot carries (read as part.<name>)")


class Station(_Strict):
    """A station parts pass through, in order: it takes ``process_s`` per part and measures it.

    ``measure`` are per-part signals (computed when the part leaves, from the process signals of
    the line and the part's attributes ``part.X``); their tags hold the latest part's value.
    The station publishes the share of the last 50 parts it rejected (``<station>.reject_rate``),
    the number of its latest part (``<station>.part_id``) and of each of that part's lots
    (``<station>.<lot>``).
    """

    asset: str = Field(description="the asset this station is (its path below the line)")
    process_s: Number = Field(gt=0, description="time a part spends in the station")
    measure: dict[Annotated[str, Field(pattern=NAME)], Signal] = Field(
        default_factory=dict, description="per-part signals measured as the part leaves")


class FieldFailure(_Strict):
    """A way a shipped part fails in service: the chance of failing within the service period follows a part
    attribute (``from``: a lot property or a per-part value, hidden ones included) through ``points``
    ``[[x, probability], ...]``, linear between them and flat beyond the ends."""

    mode: str = Field(pattern=NAME, description="how it fails (excess_vibration): the words an FMEA line names")
    component: str = Field(pattern=NAME, description="what fails and is replaced (bearing)")
    lot: str | None = Field(default=None, description="the lot the failing component comes from (one of parts.lots)")
    from_: str = Field(alias="from", pattern=NAME, description="the part attribute the chance follows")
    points: list[tuple[Number, Number]] = Field(
        min_length=2, description="[[x, probability of failing within service_h], ...], x increasing")
    repair: str = Field(default="", description="what service does about it")

    @model_validator(mode="after")
    def _table(self) -> FieldFailure:
        xs = [x for x, _ in self.points]
        if any(b <= a for a, b in zip(xs, xs[1:])):
            raise ValueError("the x values of points must increase")
        if any(not 0 <= p <= 1 for _, p in self.points):
            raise ValueError("a probability in points is outside 0..1")
        return self


class FieldService(_Strict):
    """The field: how long shipped parts are watched in service, and the ways they fail there
    (each becomes a row of the run's ``returns.parquet``)."""

    service_h: Number = Field(default=8760, gt=0, description="hours in service watched per shipped part")
    failures: list[FieldFailure] = Field(min_length=1, description="the ways a part fails in service")


class Parts(_Strict):
    """Discrete parts: one starts every ``cycle_s`` (± ``jitter_s``), flows through the stations."""

    name: str = Field(default="part", pattern=NAME, description="what a part is called")
    cycle_s: Number = Field(gt=0, description="a part starts every cycle_s")
    jitter_s: Number = Field(default=0.0, ge=0, description="uniform jitter of the start, ±")
    lots: dict[Annotated[str, Field(pattern=NAME)], Lot] = Field(
        default_factory=dict, description="supplies the parts are built from, by name")
    stations: list[Station] = Field(min_length=1, description="the stations in flow order")
    field: FieldService | None = Field(default=None, description="how shipped parts fail in service (optional)")

    @model_validator(mode="after")
    def _field_names(self) -> Parts:
        attributes = {name for lot in self.lots.values() for name in lot.properties}
        attributes |= {name for station in self.stations for name in station.measure}
        for k, failure in enumerate(self.field.failures if self.field else []):
            if failure.lot is not None and failure.lot not in self.lots:
                raise ValueError(f"field.failures[{k}].lot: no lot {failure.lot!r}; lots: {sorted(self.lots)}")
            if failure.from_ not in attributes:
                raise ValueError(f"field.failures[{k}].from: no part attribute {failure.from_!r}; "
                                 f"attributes: {sorted(attributes)}")
        return self


class LineTemplate(_Strict):
    """A whole line template (see the module docstring)."""

    line: str = Field(pattern=NAME, description="the line's name: every tag starts with it")
    description: str = Field(default="", description="what the line is")
    tick_ms: int = Field(default=100, ge=1, description="integration step of the continuous dynamics")
    period_ms: int = Field(default=1000, ge=1, description="default sample period of a signal")
    environment: Environment | None = Field(default=None, description="the hall's climate (optional)")
    assets: dict[Annotated[str, Field(pattern=NAME)], Asset] = Field(
        min_length=1, description="the line's assets by name, each with its own below it")
    parts: Parts | None = Field(default=None, description="discrete parts and their stations (optional)")
    quality_metric: str | None = Field(
        default=None, description="the quality characteristic a run's quality is scored on (a full tag); "
                                  "default: the first kind: quality signal with spec limits")

    @model_validator(mode="after")
    def _periods(self) -> LineTemplate:
        if self.period_ms % self.tick_ms:
            raise ValueError(f"period_ms {self.period_ms} must be a multiple of tick_ms {self.tick_ms}")
        return self


def load_template(path: str | Path) -> LineTemplate:
    """Read and validate a line template; a :class:`~qtconfig.ConfigError` names
    the file, the field and its line for any problem. A file read before and unchanged since
    (same size and modification time) is not parsed again."""
    path = Path(path)
    try:
        stat = path.resolve().stat()
    except OSError:
        return load_yaml_model(LineTemplate, path)  # names the missing file
    return _load_cached(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=32)
def _load_cached(path: str, mtime_ns: int, size: int) -> LineTemplate:
    """One parse per version of a template file (a run reads it to build, score and sweep)."""
    return load_yaml_model(LineTemplate, path)

