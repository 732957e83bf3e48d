"""What the edge is told besides the endpoint file: detection, root cause, control, alignment, plug-ins.

A scenario carries the same blocks (:class:`twin.harness.scenario.Scenario` uses these classes),
so a scenario file serves as the standalone edge's settings file too: its other keys are ignored.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from qtconfig import read_yaml, resolve_path, validate_document
from rootcause.settings import RootCauseSettings
from twin.contracts import Policy
from twin.edge.detection.settings import DetectionSettings
from twin.edge.plugins.choice import PluginChoices


class ControlSettings(BaseModel):
    """Closed-loop control: ``off`` logs only, ``recommend`` waits for an operator, ``auto`` acts."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    policy: Policy = Policy.OFF
    playbook: str | None = Field(default=None, description="playbook file (relative to this file); default: the "
                                 "plant's own when the harness knows the plant, else none (no closed loop)")


class AlignmentSettings(BaseModel):
    """Edge alignment: a value is stale after this many of its sample periods without a good read."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    staleness_periods: float = Field(default=2.0, ge=1.0)


class HistorianSettings(BaseModel):
    """Where the historian also writes its samples as hive-partitioned Parquet (:mod:`twin.edge.partitions`)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    partitions: str | None = Field(default=None, description="partition root (relative to this file), shared by "
                                   "the edges of a hall: line=<line>/date=<UTC date>/<run>-<n>.parquet; default: "
                                   "none, the DuckDB file only")
    line: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
                             description="this edge's line in the partitions; default: the tag map's plant")


class EdgeSettings(BaseModel):
    """The edge's settings: the blocks a scenario shares with the standalone edge's settings file."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    detection: DetectionSettings = Field(default_factory=DetectionSettings)
    rootcause: RootCauseSettings = Field(default_factory=RootCauseSettings)
    control: ControlSettings = Field(default_factory=ControlSettings)
    alignment: AlignmentSettings = Field(default_factory=AlignmentSettings)
    plugins: PluginChoices = Field(default_factory=PluginChoices)
    historian: HistorianSettings = Field(default_factory=HistorianSettings)

    def with_policy(self, policy: Policy | None) -> EdgeSettings:
        """These settings with the control ``policy`` in place of their own (unchanged for None)."""
        if policy is None:
            return self
        return self.model_copy(update={"control": self.control.model_copy(update={"policy": policy})})

    def with_partitions(self, partitions: Path | None, line: str | None = None) -> EdgeSettings:
        """These settings writing partitions under ``partitions`` (an absolute path), as ``line`` when given
        (unchanged for None: the settings' own).

        >>> EdgeSettings().with_partitions(Path("/data/hall"), "line-2").historian.model_dump()
        {'partitions': '/data/hall', 'line': 'line-2'}
        """
        update = {"partitions": str(partitions.resolve())} if partitions is not None else {}
        if line is not None:
            update["line"] = line
        return self.model_copy(update={"historian": HistorianSettings.model_validate(
            {**self.historian.model_dump(), **update})})


def with_files(settings: EdgeSettings, knowledge: Path | None = None, model: Path | None = None,
               playbook: Path | None = None, *, only_missing: bool = False) -> EdgeSettings:
    """``settings`` with the knowledge file, model and playbook given (absolute paths) in place of their own;
    with ``only_missing``, only where the settings name none."""
    rootcause, control = settings.rootcause, settings.control

    def take(current: str | None, given: Path | None) -> str | None:
        return current if given is None or (only_missing and current is not None) else str(given.resolve())

    rootcause = rootcause.model_copy(update={"knowledge": take(rootcause.knowledge, knowledge),
                                             "model": take(rootcause.model, model)})
    control = control.model_copy(update={"playbook": take(control.playbook, playbook)})
    return settings.model_copy(update={"rootcause": rootcause, "control": control})


def describe_files(settings: EdgeSettings, base: Path | None) -> tuple[str, ...]:
    """One line per file the edge reads (or what it does without), as the console shows it at start-up.

    >>> describe_files(EdgeSettings(), None)  # doctest: +NORMALIZE_WHITESPACE
    ('knowledge: none given: no diagnosis',
     'model: none: the random walk ranks the candidates',
     'playbook: none given: detection and diagnosis only, nothing is proposed')
    """
    def shown(value: str | None) -> str | None:
        return str(resolve_path(value, base)) if value else None

    rootcause = settings.rootcause
    no_playbook = "none given: detection and diagnosis only, nothing is proposed"
    return (f"knowledge: {shown(rootcause.knowledge) or 'none given: no diagnosis'}"
            if rootcause.enabled else "knowledge: root cause is off (rootcause.enabled: false)",
            f"model: {shown(rootcause.model) or 'none: the random walk ranks the candidates'}",
            f"playbook: {shown(settings.control.playbook) or no_playbook}")


def load_edge_settings(path: str | Path | None) -> tuple[EdgeSettings, Path | None]:
    """Edge settings from a YAML file (errors name field and line), and the folder paths resolve from."""
    if path is None:
        return EdgeSettings(), None
    path = Path(path)
    return validate_document(EdgeSettings, read_yaml(path), path), path.resolve().parent
