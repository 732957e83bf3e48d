"""Exercise packs: a trainer's set of exercises in one YAML file (``scenarios/exercises/<name>.yaml``)::

    name: coater
    description: three faults of the electrode coater
    exercises:
      - name: coater-1                      # trainees see the name: it must not give the fault away
        scenario: ../coater_blade_drift.yaml  # relative to the pack file
        seed: 11
        duration_s: 240
        question: Lane 3 came out thin on the night shift. What happened, and what do you do?
        roles: [test, process, after_sales]
        max_attempts: 3                     # optional; accept_actions: [...] optional too

:func:`load_pack` validates it (pydantic, :class:`~twin.harness.classroom.exercise.ExerciseSpec` per exercise)
without running anything: every scenario file must exist and be a valid plant scenario, the names must be
unique, the run must last past the first fault's onset, and ``accept_actions`` must be actions of the scenario's
playbook. A problem is a :class:`qtconfig.ConfigError` naming the file, the field and its line.
:func:`build_pack` then builds every exercise into a classroom folder; :func:`start_build` does it (or builds one
exercise) in a process of its own, a job under the classroom's ``builds/`` folder that outlives the page that
started it (:mod:`twin.harness.runview.jobs`), and :func:`list_builds` says where each stands.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from qtconfig import ConfigError, line_of, read_yaml, resolve_path, validate_document
from twin.edge.partitions import safe_name
from twin.harness.classroom.exercise import NO_ACTION, Exercise, ExerciseSpec, build_exercise, exercises_dir
from twin.harness.runview.jobs import JobStatus, TaskProgress, list_jobs, start_task

PACKS_DIR = Path("scenarios") / "exercises"
PackProgress = Callable[[str, int, int], None]
BUILDS = "builds"  # a classroom's build jobs, one folder each


class Pack(BaseModel):
    """An exercise pack file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, description="the pack's name")
    description: str = Field(default="", description="what the pack trains")
    exercises: list[ExerciseSpec] = Field(min_length=1, description="the exercises, built in this order")


def load_pack(path: str | Path) -> Pack:
    """Read and check a pack file (module docstring) without running it; ConfigError naming file, field, line."""
    path = Path(path)
    document = read_yaml(path)
    pack = validate_document(Pack, document, path)
    problems: list[str] = []

    def where(*loc: int | str) -> str:
        line = line_of(document, loc)
        field = "exercises" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc[1:])
        return f"field {field}" + (f" (line {line})" if line else "")

    seen: dict[str, int] = {}
    for i, spec in enumerate(pack.exercises):
        if spec.name in seen:
            problems.append(f"{where('exercises', i, 'name')}: exercise name {spec.name!r} is also "
                            f"exercises[{seen[spec.name]}]'s")
        seen.setdefault(spec.name, i)
        problems.extend(f"{where('exercises', i, key)}: {message}" for key, message in _check_scenario(spec, path))
    if problems:
        raise ConfigError(path, problems)
    return pack


def _check_scenario(spec: ExerciseSpec, pack_file: Path) -> list[tuple[str, str]]:
    """(field, problem) for an exercise whose scenario is missing, invalid, ends before its fault, or whose
    ``accept_actions`` its playbook lacks."""
    from twin.edge.control.playbook import load_playbook
    from twin.harness.episode import edge_settings
    from twin.harness.hall import is_hall_file
    from twin.harness.scenario import load_scenario
    from twin.harness.supply.scenario import is_supply_file

    file = resolve_path(spec.scenario, pack_file.parent)
    if not file.is_file():
        return [("scenario", f"no scenario file {file}")]
    if is_supply_file(file) or is_hall_file(file):
        return [("scenario", f"{file} is a supply scenario or a hall; an exercise is one plant's run")]
    try:
        scenario = load_scenario(file)
    except ConfigError as err:
        return [("scenario", f"invalid scenario: {err}")]
    problems = []
    duration = spec.duration_s or scenario.duration_s
    onsets = [f.start_s for f in scenario.faults]
    if onsets and duration <= min(onsets):
        key = "duration_s" if spec.duration_s is not None else "scenario"
        problems.append((key, f"the run ends at {duration:g} s, before the fault starts at {min(onsets):g} s: "
                              "trainees would see nothing"))
    if spec.accept_actions is not None:
        playbook = edge_settings(scenario).control.playbook
        try:
            rules = [r.name for r in load_playbook(resolve_path(playbook, file.parent)).rules] if playbook else []
        except ConfigError as err:
            return [*problems, ("accept_actions", f"the scenario's playbook is invalid: {err}")]
        unknown = [a for a in spec.accept_actions if a != NO_ACTION and a not in rules]
        if unknown:
            problems.append(("accept_actions", f"{unknown} are not rules of the playbook {playbook}; "
                                               f"rules: {rules}"))
    return problems


def build_pack(pack_file: str | Path, classroom: str | Path, *, progress: PackProgress | None = None,
               replace: bool = False) -> list[Exercise]:
    """Check the pack, then build every exercise into ``classroom`` (offline runs, one after another);
    ``progress(exercise, done, total)`` is called per scan."""
    pack_file = Path(pack_file)
    pack = load_pack(pack_file)
    built = []
    for spec in pack.exercises:
        def step(done: int, total: int, name: str = spec.name) -> None:
            if progress is not None:
                progress(name, done, total)

        built.append(build_exercise(classroom, spec, base=pack_file.parent, progress=step, replace=replace))
    return built


def start_build(classroom: str | Path, *, pack_file: str | Path | None = None, spec: ExerciseSpec | None = None,
                replace: bool = False) -> Path:
    """Build every exercise of ``pack_file``, or the one exercise ``spec``, in a process of its own; returns the
    job's folder (under ``<classroom>/builds/``; :func:`list_builds`). Checked here, before anything starts: a bad
    pack is a :class:`qtconfig.ConfigError`, an exercise that exists (without ``replace``) a ValueError naming it.
    What the build itself refuses (a run whose graph lacks the answer) fails the job, with its message."""
    if (pack_file is None) == (spec is None):
        raise ValueError("start_build takes a pack file or an exercise spec, not both nor neither")
    pack = load_pack(pack_file) if pack_file is not None else None
    specs = pack.exercises if pack is not None else [spec]
    taken = [s.name for s in specs if s is not None and (exercises_dir(classroom) / s.name).exists()]
    if taken and not replace:  # said now, not by a failed job a moment later
        raise ValueError(f"{', '.join(taken)} already exist in {Path(classroom)}; remove them or replace them")
    name = pack.name if pack is not None else spec.name  # type: ignore[union-attr]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    root = Path(classroom) / BUILDS
    base = folder = root / f"{stamp}-{safe_name(name)}"
    k = 1
    while folder.exists():  # two builds of one name in one second
        folder, k = base.with_name(f"{base.name}~{k}"), k + 1
    what = f"pack {name}" if pack_file is not None else f"exercise {name}"
    return start_task(folder, what, _build, str(classroom), None if pack_file is None else str(pack_file), spec,
                      replace)


def list_builds(classroom: str | Path) -> list[JobStatus]:
    """The classroom's build jobs, newest first: running, or how each ended and what it built."""
    return list_jobs(Path(classroom) / BUILDS)


def _build(classroom: str, pack_file: str | None, spec: ExerciseSpec | None, replace: bool, *,
           progress: TaskProgress) -> str:
    """A build job's work (:func:`start_build`): what it built, in a sentence."""
    if pack_file is not None:
        built = build_pack(pack_file, classroom, replace=replace,
                           progress=lambda exercise, done, total: progress(done, total, exercise))
        return f"built {len(built)} exercises: {', '.join(e.name for e in built)}"
    assert spec is not None
    exercise = build_exercise(classroom, spec, replace=replace,
                              progress=lambda done, total: progress(done, total, spec.name))
    return f"built {exercise.name}"


def shipped_packs(root: str | Path = ".") -> list[Path]:
    """The packs the project ships (``scenarios/exercises/*.yaml`` under ``root``)."""
    return sorted((Path(root) / PACKS_DIR).glob("*.yaml"))
