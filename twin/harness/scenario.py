"""Scenario files: what to simulate, which faults to inject, and how to run the edge.

A scenario is YAML validated by :class:`Scenario`; :func:`load_scenario` also checks the
faults against the plant (kind, target) and reports any problem as a
:class:`~qtconfig.ConfigError` naming the field and its line, e.g.::

    scenarios/broken.yaml: field faults[0].target (line 14): 'coater.blade9' is not a
    target of blade_pressure_drift; valid: coater.blade1, coater.blade2, ...
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from plant_models.base import FaultKind, FaultSpec, PlantModel
from plant_models.registry import build_plant, known_plants
from qtconfig import ConfigError, line_of, read_yaml, resolve_path, validate_document
from rootcause.settings import RootCauseSettings
from twin.edge.detection.settings import DetectionSettings
from twin.edge.plugins.choice import PluginChoices
from twin.edge.settings import AlignmentSettings, ControlSettings
from twin.harness.binding import check_binding
from twin.harness.sentinel import SentinelSettings
from virtual_plc.tagmap import load_tagmap

# the example scenarios of the repository (a checkout has them; a wheel install reads the user's own files)
SCENARIO_DIR = Path(__file__).resolve().parents[2] / "scenarios"
#: the longest run a scenario (or ``--duration``) may ask for, in plant seconds: 30 days, six times the longest
#: shipped scenario (the 124 h cell-formation line). Longer is a slip (an extra zero, ms for s) far more often
#: than a plan, and would run for days; a longer study is several runs.
MAX_DURATION_S = 30 * 86_400
DURATION_LIMIT = f"at most {MAX_DURATION_S:,} s (30 days of plant time)"


class _Strict(BaseModel):
    """Unknown keys are refused, and so are NaN and infinity in every number."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class FaultEntry(_Strict):
    """One injected fault (see :class:`plant_models.base.FaultSpec` for the meaning)."""

    kind: FaultKind
    target: str
    start_s: float = Field(ge=0)
    magnitude: float = 0.0
    rate: float | None = Field(default=None, gt=0)
    duration_s: float | None = Field(default=None, gt=0)
    params: dict[str, float] = Field(default_factory=dict)

    def spec(self) -> FaultSpec:
        """The plant-level fault specification."""
        return FaultSpec(
            kind=self.kind,
            target=self.target,
            start_s=self.start_s,
            magnitude=self.magnitude,
            rate=self.rate,
            duration_s=self.duration_s,
            params=dict(self.params),
        )


class Outputs(_Strict):
    """Where a run writes its files (relative paths are relative to the working directory)."""

    dir: str | None = Field(default=None, description="default: runs/<scenario name>")


class Scenario(_Strict):
    """A whole scenario file."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    plant: str
    plant_options: dict[str, Any] = Field(default_factory=dict)
    seed: int = Field(ge=0)
    duration_s: float = Field(gt=0, description=f"plant seconds to run; {DURATION_LIMIT}")
    scan_ms: int = Field(default=10, ge=1, le=60_000)
    faults: list[FaultEntry] = Field(default_factory=list)
    detection: DetectionSettings = Field(default_factory=DetectionSettings)
    rootcause: RootCauseSettings = Field(default_factory=RootCauseSettings)
    control: ControlSettings = Field(default_factory=ControlSettings)
    alignment: AlignmentSettings = Field(default_factory=AlignmentSettings)
    plugins: PluginChoices = Field(default_factory=PluginChoices,
                                   description="detector, diagnoser and control policy (default: ours)")
    endpoints: str = Field(default="virtual", description="'virtual', or an endpoint file fixing ports")
    tag_map: str | None = Field(default=None, description="a tag map file; default: generated from the plant")
    opcua_anonymous_writes: bool = Field(
        default=False, description="let anonymous OPC UA sessions write setpoints on this scenario's virtual PLC (a "
        "lab simulator); default: they may read and subscribe, and a write is answered BadUserAccessDenied")
    outputs: Outputs = Field(default_factory=Outputs)
    sentinel: SentinelSettings | None = Field(
        default=None, description="score per-part early warnings against the parts' hidden truth (a line with parts)")

    # set by load_scenario: where the file lives, to resolve relative paths
    source: Path | None = Field(default=None, exclude=True)

    @field_validator("plant")
    @classmethod
    def _known_plant(cls, plant: str) -> str:
        if plant not in known_plants():
            raise ValueError(f"unknown plant {plant!r}; known plants: {', '.join(known_plants())}")
        return plant

    @field_validator("duration_s")
    @classmethod
    def _not_too_long(cls, duration_s: float) -> float:
        if duration_s > MAX_DURATION_S:
            raise ValueError(f"{duration_s:g} s is too long: {DURATION_LIMIT}")
        return duration_s

    @property
    def n_scans(self) -> int:
        """Number of PLC scans in the run."""
        return int(round(self.duration_s * 1000 / self.scan_ms))

    def resolve(self, relative: str) -> Path:
        """A path from the file, relative to the scenario file's folder."""
        return resolve_path(relative, self.source.parent if self.source is not None else None)

    def duration_warnings(self, duration_s: float | None = None) -> list[str]:
        """What a run of ``duration_s`` plant seconds (default: the scenario's) cannot show, in words.

        >>> s = Scenario(name="t", plant="coater", seed=1, duration_s=600,
        ...              faults=[{"kind": "step", "target": "coater.blade3", "start_s": 120, "magnitude": 1}])
        >>> s.duration_warnings(100)  # doctest: +NORMALIZE_WHITESPACE
        ['the run ends at 100 s, before the first fault starts (120 s): nothing is injected',
         'the run ends at 100 s, within the detection warm-up (120 s): no alarm can be raised']
        >>> s.duration_warnings()
        []
        """
        end_s = self.duration_s if duration_s is None else duration_s
        warnings = []
        onsets = [f.start_s for f in self.faults]
        if onsets and end_s <= min(onsets):
            warnings.append(f"the run ends at {end_s:g} s, before the first fault starts ({min(onsets):g} s): "
                            "nothing is injected")
        if self.detection.enabled and end_s <= self.detection.warmup_s:
            warnings.append(f"the run ends at {end_s:g} s, within the detection warm-up "
                            f"({self.detection.warmup_s:g} s): no alarm can be raised")
        return warnings

    def output_dir(self) -> Path:
        """The run directory."""
        return Path(self.outputs.dir) if self.outputs.dir else Path("runs") / self.name


def load_scenario(path: str | Path, overrides: Mapping[str, Any] | None = None) -> Scenario:
    """Load and validate a scenario file, including its faults against the plant.

    ``overrides`` (a suite's, ``{"control": {"policy": "auto"}}``) are merged in before validation."""
    path = Path(path)
    document = read_yaml(path)
    if overrides:
        document = merge_overrides(document, overrides)
    scenario = validate_document(Scenario, document, path)
    scenario.source = path.resolve()
    if isinstance(scenario.plant_options.get("template"), str):  # a line template, relative to the scenario file
        scenario.plant_options["template"] = str(scenario.resolve(scenario.plant_options["template"]))
    plant = check_faults(scenario, document, path)
    check_tag_map(scenario, plant, document, path)
    return scenario


def merge_overrides(document: Any, overrides: Mapping[str, Any]) -> Any:
    """``document`` with ``overrides`` merged in, mapping into mapping; other values replace.

    >>> merge_overrides({"a": {"b": 1, "c": 2}, "d": 3}, {"a": {"c": 5}})
    {'a': {'b': 1, 'c': 5}, 'd': 3}
    """
    if not isinstance(document, MutableMapping):
        raise ValueError(f"cannot apply overrides {dict(overrides)} to a {type(document).__name__}")
    for key, value in overrides.items():
        current = document.get(key)
        if isinstance(value, Mapping) and isinstance(current, MutableMapping):
            merge_overrides(current, value)
        else:
            document[key] = value
    return document


def check_faults(scenario: Scenario, document: Any = None, path: str | Path = "<scenario>") -> PlantModel:
    """Check every fault against the plant (kind, target, onset, and whatever the plant refuses when the fault
    is injected: a magnitude out of its range, an unknown parameter); errors name field and line.

    Returns the plant the faults were injected into (built with the scenario's seed and options)."""

    def where(*loc: int | str) -> str:
        line = line_of(document, loc) if document is not None else None
        dotted = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
        return f"field {dotted}" + (f" (line {line})" if line else "")

    try:
        plant = build_plant(scenario.plant, scenario.seed, scenario.plant_options)
    except ValueError as err:
        raise ConfigError(path, [f"{where('plant_options')}: {err}"]) from None
    targets = plant.fault_targets()
    problems = []
    for i, fault in enumerate(scenario.faults):
        valid = targets.get(fault.kind, [])
        if fault.target not in valid:
            shown = ", ".join(valid[:12]) + (" ..." if len(valid) > 12 else "")
            problems.append(
                f"{where('faults', i, 'target')}: {fault.target!r} is not a target of {fault.kind} "
                f"on plant {scenario.plant}; valid: {shown}"
            )
            continue
        if fault.start_s >= scenario.duration_s:
            problems.append(
                f"{where('faults', i, 'start_s')}: the fault starts at {fault.start_s:g} s, "
                f"at or after the end of the run ({scenario.duration_s:g} s)"
            )
        try:
            plant.inject(fault.spec())
        except ValueError as err:
            problems.append(f"{where('faults', i)}: {err}")
    if problems:
        raise ConfigError(path, problems)
    return plant


def check_tag_map(scenario: Scenario, plant: PlantModel, document: Any = None, path: str | Path = "<scenario>") -> None:
    """Load the scenario's ``tag_map`` file, if it names one, and check it against the plant; a problem is an
    error naming the scenario's field and line, then the tag map file's own (its line, where there is one)."""
    if not scenario.tag_map:
        return
    origin = scenario.resolve(scenario.tag_map)
    try:
        check_binding(plant, load_tagmap(origin), origin=str(origin))
    except ConfigError as err:
        line = line_of(document, ("tag_map",)) if document is not None else None
        raise ConfigError(path, [f"field tag_map{f' (line {line})' if line else ''}: {err}"]) from None
