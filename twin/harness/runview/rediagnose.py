"""What-if on knowledge: edit a knowledge file, check it, save it as a new file, and diagnose a finished run again
with it, side by side with what the run recorded.

Nothing here diagnoses on its own: :func:`rediagnose` builds the plant graph with
:func:`rootcause.diagnoser.graph_with_knowledge`, the run's own diagnoser with
:meth:`rootcause.diagnoser.Diagnoser.with_method` (the method and model ``report.json``'s ``rootcause`` block
names, the evidence settings of the run's scenario) and calls :meth:`~rootcause.diagnoser.Diagnoser.diagnose`
at each recorded diagnosis's plant time, on the alarms the edge had fed its diagnosis loop by then, answering the
same alarms. Confidence and severity are set as :class:`rootcause.diagnoser.DiagnosisLoop` sets them
(:func:`rootcause.diagnoser.rated`: confidence, uncertainty and risk). With the knowledge file the run used,
the recorded answers come back; the run folder is only read (the historian is opened read-only).

What it does not replay is *when*: a diagnosis is rerun at the time the run published it. New knowledge that would
have made the edge surer earlier (its first answer is held back below ``min_confidence``) or later is not shown as
a diagnosis at another time.

The editing helpers check an edited file with the real validator (:func:`qtconfig.validate_document` into
:class:`rootcause.knowledge.KnowledgeFile`, then :func:`rootcause.knowledge.resolve_knowledge` against the run's
tags and assets) and name each problem's table, row and field (:class:`Problem`); :func:`save_knowledge` writes a
new file and never replaces one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import networkx as nx

from qtconfig import ConfigError, load_yaml_model, resolve_path, validate_document
from rootcause.diagnoser import AlarmRef, Diagnoser, graph_with_knowledge, plant_names, rated
from rootcause.graph import PlantGraph
from rootcause.knowledge import NODE_KINDS, Knowledge, KnowledgeFile, resolve_knowledge
from rootcause.risk import RiskMap
from rootcause.settings import RootCauseSettings
from twin.contracts import Diagnosis, RunFiles
from twin.edge.assets.lineage import Lineage, Step
from twin.edge.historian import HistorianReader
from twin.edge.stack import COMM_DETECTOR
from twin.harness.runview.run import RunData, load_run, plant_clock
from virtual_plc.tagmap import TagMap, load_tagmap

#: the columns of the link table an engineer edits, in order
LINK_COLUMNS = ("cause", "effect", "note", "severity")
#: the columns of the node table
NODE_COLUMNS = ("name", "kind", "severity")
#: the folder, under the runs folder, where edited knowledge files are saved
SAVED_FOLDER = "knowledge"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")
_FIELD_PROBLEM = re.compile(r"^field (links|nodes)\[(\d+)\](?:\.([A-Za-z_]+))?")
_LINK_PROBLEM = re.compile(r"^links\[(\d+)\]")


# ------------------------------------------------------------------ editing and checking a knowledge file
@dataclass(frozen=True)
class Problem:
    """One thing wrong with an edited knowledge file: which table (``links``, ``nodes``, None for the file),
    which row of it (as the editor numbers them), which field, and the validator's own words."""

    table: Literal["links", "nodes"] | None
    row: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = "the file" if self.table is None else f"{self.table} row {self.row}"
        return f"{where}" + (f", field {self.field}" if self.field else "") + f": {self.message}"


@dataclass(frozen=True)
class Checked:
    """An edited knowledge file after the real validator: the file and its resolved knowledge when it is valid,
    else the problems (each naming its row and field)."""

    spec: KnowledgeFile | None
    knowledge: Knowledge | None
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the file validates and every link names something the plant has."""
        return self.knowledge is not None and not self.problems


def open_knowledge(path: str | Path) -> KnowledgeFile:
    """A knowledge file as the editor starts from it (validated as a file; its names are checked later against
    the run, by :func:`check_knowledge`)."""
    return load_yaml_model(KnowledgeFile, path)


def clean_rows(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> list[dict[str, Any]]:
    """Rows from a table editor as a knowledge file holds them: text stripped, an empty cell None (an empty note
    ""), a whole-number severity an int (a fractional one is left for the validator to refuse).

    >>> clean_rows([{"cause": " a ", "effect": "b", "note": float("nan"), "severity": 3.0}], LINK_COLUMNS)
    [{'cause': 'a', 'effect': 'b', 'note': '', 'severity': 3}]
    """
    out = []
    for row in rows:
        clean: dict[str, Any] = {}
        for column in columns:
            value = row.get(column)
            if value is None or (isinstance(value, float) and math.isnan(value)):
                value = "" if column == "note" else None
            elif isinstance(value, str):
                value = value.strip() or ("" if column == "note" else None)
            elif isinstance(value, float) and value.is_integer():
                value = int(value)
            clean[column] = value
        out.append(clean)
    return out


def is_blank(row: Mapping[str, Any]) -> bool:
    """True for a row with nothing in it (a table editor's fresh row): it is left out, not refused."""
    return all(value in (None, "") for value in row.values())


def knowledge_document(plant: str, source: str, nodes: Iterable[Mapping[str, Any]],
                       links: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The document of a knowledge file from its parts: blank rows left out, a node's or link's unset severity
    (and a link's empty note) omitted, as a person writes the file."""
    def tidy(row: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in row.items() if v is not None and not (k == "note" and v == "")}

    return {"plant": plant, "source": source, "nodes": [tidy(n) for n in nodes if not is_blank(n)],
            "links": [tidy(link) for link in links if not is_blank(link)]}


def check_knowledge(document: Mapping[str, Any], names: Iterable[str], *, label: str = "<edited knowledge>",
                    ) -> Checked:
    """Validate an edited knowledge file as a file on disk is validated, against the plant's ``names``.

    The rows of ``document`` are numbered as in the file; an editor that left blank rows out maps them back
    itself (:func:`check_rows` does)."""
    try:
        spec = validate_document(KnowledgeFile, dict(document), label)
    except ConfigError as err:
        return Checked(None, None, [_problem(p, document) for p in err.problems])
    try:
        knowledge = resolve_knowledge(spec, names, path=label)
    except ConfigError as err:
        return Checked(spec, None, [_problem(p, document) for p in err.problems])
    return Checked(spec, knowledge)


def check_rows(plant: str, source: str, nodes: Sequence[Mapping[str, Any]], links: Sequence[Mapping[str, Any]],
               names: Iterable[str], *, label: str = "<edited knowledge>") -> tuple[dict[str, Any], Checked]:
    """Check the editor's tables (rows as :func:`clean_rows` gives them): the document they make, and the
    verdict with each problem's row numbered as the editor shows it (blank rows skipped, not counted out)."""
    document = knowledge_document(plant, source, nodes, links)
    checked = check_knowledge(document, names, label=label)
    kept = {"nodes": [i for i, n in enumerate(nodes) if not is_blank(n)],
            "links": [i for i, link in enumerate(links) if not is_blank(link)]}
    problems = [Problem(p.table, kept[p.table][p.row], p.field, p.message)
                if p.table is not None and p.row is not None and p.row < len(kept[p.table]) else p
                for p in checked.problems]
    return document, Checked(checked.spec, checked.knowledge, problems)


def _problem(text: str, document: Mapping[str, Any]) -> Problem:
    """The validator's message as a :class:`Problem`: its table, row and field read off the message's place."""
    if m := _FIELD_PROBLEM.match(text):  # pydantic: "field links[3].severity: ..."
        table, row = m.group(1), int(m.group(2))
        return Problem(table, row, m.group(3), text[m.end():].lstrip(" :").strip())  # type: ignore[arg-type]
    if m := _LINK_PROBLEM.match(text):  # resolve_knowledge: "links[3]: 'x' names no tag, asset or ..."
        row, links = int(m.group(1)), document.get("links") or []
        link = links[row] if row < len(links) else {}
        named = [f for f in ("cause", "effect") if repr(link.get(f)) in text]
        return Problem("links", row, " and ".join(named) or None, text[m.end():].lstrip(" :").strip())
    return Problem(None, None, None, text)


def names_of_run(run: RunData) -> list[str]:
    """What links of ``run``'s plant may name: its tag map's tags and asset paths (the validator adds the nodes a
    knowledge file declares)."""
    return plant_names(_run_tagmap(run.run_dir))


def saved_folder(runs_root: str | Path) -> Path:
    """Where the app saves edited knowledge files: ``<runs folder>/knowledge``."""
    return Path(runs_root) / SAVED_FOLDER


def save_knowledge(spec: KnowledgeFile, folder: str | Path, name: str, *, origin: str | None = None) -> Path:
    """Write ``spec`` as ``folder/<name>.yaml``, a new file: an existing file is never replaced.

    ``name`` is a plain file name (letters, digits, ``_ . -``; ``.yaml`` added when missing); ``origin`` (the
    file it was edited from) goes into the header comment. Raises ``ValueError`` naming what is wrong."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    from twin.edge.assets.fmea import knowledge_yaml

    stem = name.strip().removesuffix(".yaml").removesuffix(".yml")
    if not _SAFE_NAME.match(stem):
        raise ValueError(f"name {name!r}: use letters, digits, '_', '.' or '-' (a file name, no folder)")
    path = Path(folder) / f"{stem}.yaml"
    if path.exists():
        raise ValueError(f"{path} exists: choose another name (a saved knowledge file is never overwritten)")
    document = CommentedMap(plant=spec.plant, source=spec.source.strip())
    for key, rows in (("nodes", spec.nodes), ("links", spec.links)):
        document[key] = CommentedSeq()
        for row in rows:  # unset severities and empty notes left out, as a person writes the file
            item = CommentedMap((k, v) for k, v in row.model_dump().items() if v is not None and v != "")
            item.fa.set_flow_style()  # one node or link a line, as the shipped files have them
            document[key].append(item)
    document.yaml_set_start_comment("Knowledge edited in the Quality Twin app (Edit the knowledge)"
                                    + (f" from {origin}" if origin else "")
                                    + ".\nThe original's comments are not kept.")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("x", encoding="utf-8") as out:  # "x": fails rather than replace a file made meanwhile
        out.write(knowledge_yaml(document))
    return path


def knowledge_choices(run: RunData, runs_root: str | Path) -> dict[str, Path]:
    """The knowledge files an engineer may start from for ``run``, by label: the one the run used, the plant's
    own (when another), and those saved from the editor before."""
    choices: dict[str, Path] = {}
    used = (run.rootcause_info or {}).get("knowledge")
    if used and Path(used).is_file():
        choices[f"the run's: {used}"] = Path(used)
    own = _plant_knowledge(run)
    if own is not None and own.is_file() and own.resolve() not in {p.resolve() for p in choices.values()}:
        choices[f"the plant's own: {own}"] = own
    folder = saved_folder(runs_root)
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        choices[f"saved: {path}"] = path
    return choices


def _plant_knowledge(run: RunData) -> Path | None:
    """The shipped knowledge file of the run's plant (a line's beside its template), None for another plant."""
    from twin.harness.plants import SPECS

    spec = SPECS.get(run.plant)
    return spec.knowledge_file(run.report["scenario"].get("plant_options")) if spec is not None else None


def knowledge_lineage(links: Iterable[tuple[str, str]], start: str,
                      direction: Literal["upstream", "downstream", "both"] | str = "upstream") -> Lineage:
    """Concrete links (:attr:`Knowledge.links`) around ``start`` as a :class:`twin.edge.assets.lineage.Lineage`, so
    :func:`twin.edge.assets.lineage.draw` draws them (causes left, effects right, ``start`` in the middle).

    Each node sits at its distance from ``start``; the links that join nodes of the same or a nearer layer come
    after those that place the nodes, so they are drawn without moving anyone."""
    if direction not in ("upstream", "downstream", "both"):
        raise ValueError(f"direction must be upstream, downstream or both, not {direction!r}")
    graph = nx.DiGraph(list(links))
    found = Lineage(start, direction)  # type: ignore[arg-type]
    if start not in graph:
        return found
    for way in ("upstream", "downstream") if direction == "both" else (direction,):
        walk = graph.reverse(copy=False) if way == "upstream" else graph  # walk from start along ``way``
        distance = nx.single_source_shortest_path_length(walk, start)
        layered, across = [], []
        for near, far in walk.edges:
            if near not in distance or far not in distance:
                continue
            cause, effect = (far, near) if way == "upstream" else (near, far)
            step = Step(cause, effect, "causes", distance[far], "", way)
            (layered if distance[far] == distance[near] + 1 else across).append(step)
        found.steps += sorted(layered, key=lambda s: (s.depth, s.upstream, s.downstream)) + across
    return found


# ------------------------------------------------------------------ diagnosing a run again
@dataclass(frozen=True)
class Rediagnosis:
    """One recorded diagnosis and the one the new knowledge gives at the same time for the same alarms."""

    recorded: Diagnosis
    new: Diagnosis

    @property
    def changed(self) -> bool:
        """True when the new knowledge names another most likely cause (or none, or one where there was none)."""
        old, new = self.recorded.top, self.new.top
        return (old.asset if old else None) != (new.asset if new else None)

    def row(self) -> dict[str, Any]:
        """One line of the side-by-side table."""
        old, new = self.recorded.top, self.new.top
        return {"diagnosis": self.recorded.id, "plant time": plant_clock(self.recorded.t_ms),
                "alarms": ", ".join(self.recorded.alarm_ids),
                "recorded cause": old.asset if old else "-", "recorded confidence": round(self.recorded.confidence, 3),
                "new cause": new.asset if new else "-", "new confidence": round(self.new.confidence, 3),
                "changed": self.changed}


@dataclass(frozen=True)
class RediagnoseResult:
    """A run's diagnoses made again with other knowledge: each beside the recorded one, and how they were made."""

    run_dir: Path
    knowledge: str
    method: str
    model_version: str
    links: int
    pairs: list[Rediagnosis]
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> int:
        """How many diagnoses name another most likely cause."""
        return sum(p.changed for p in self.pairs)

    def rows(self) -> list[dict[str, Any]]:
        """The side-by-side table, one row per recorded diagnosis, in the run's order."""
        return [p.row() for p in self.pairs]

    def summary(self) -> str:
        """One line for a person: how many diagnoses changed their most likely cause."""
        return (f"{self.changed} of {len(self.pairs)} diagnoses name another most likely cause with {self.knowledge} "
                f"({self.links} links; {self.method}, {self.model_version})")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: how it was made, the table, and the new diagnoses in full."""
        return {"run_dir": str(self.run_dir), "knowledge": self.knowledge, "method": self.method,
                "model_version": self.model_version, "knowledge_links": self.links, "changed": self.changed,
                "notes": self.notes, "rows": self.rows(),
                "diagnoses": [p.new.model_dump(mode="json") for p in self.pairs]}


def rediagnose(run_dir: str | Path, knowledge: str | Path | KnowledgeFile | Knowledge, *,
               perturb: bool = False) -> RediagnoseResult:
    """Diagnose a finished run's recorded diagnoses again with ``knowledge``, reading the run folder only.

    ``knowledge``: a knowledge file, a :class:`KnowledgeFile` (an edited one, not saved yet) or resolved
    :class:`Knowledge`; a file or a ``KnowledgeFile`` is checked against the run's tags and assets, and an error
    names the link. ``perturb``: drop and add links as the run's scenario did (``rootcause.knowledge_drop`` /
    ``knowledge_add`` / ``knowledge_seed``); by default the knowledge is used as written.

    Raises ``ValueError`` (a :class:`~qtconfig.ConfigError` for bad knowledge) when the run cannot be diagnosed
    again: no diagnoses, root cause off, a diagnoser plug-in not ours, or a model file gone.
    """
    run = load_run(run_dir)
    info = run.rootcause_info or {}
    if not run.diagnoses:
        raise ValueError(f"{run.run_dir}: the run has no diagnoses to make again ({run.no_diagnoses_note()})")
    method, model = _method_of(run, info)
    tagmap = _run_tagmap(run.run_dir)
    resolved, label = _resolve(knowledge, tagmap)
    settings = RootCauseSettings.model_validate(run.report["scenario"].get("rootcause") or {})
    notes: list[str] = []
    drop, add = (settings.knowledge_drop, settings.knowledge_add) if perturb else (0.0, 0.0)
    if not perturb and (settings.knowledge_drop or settings.knowledge_add):
        notes.append(f"the run perturbed its knowledge (links dropped {settings.knowledge_drop:.0%}, added "
                     f"{settings.knowledge_add:.0%}); this rediagnosis uses the knowledge as written")
    graph = graph_with_knowledge(tagmap, resolved, drop=drop, add=add, seed=settings.knowledge_seed)
    diagnoser = Diagnoser.with_method(graph, method, model, settings.evidence)
    if diagnoser.model_version != info.get("model_version", diagnoser.model_version):
        notes.append(f"the model is now version {diagnoser.model_version}; the run used {info['model_version']}")
    risk = RiskMap(graph.graph, graph.severities)
    fed = [AlarmRef(a["id"], a["tag"], int(a["t_ms"]), a.get("rule", "")) for a in run.alarms
           if a.get("detector") != COMM_DETECTOR]  # what the edge fed its diagnosis loop (stack.EdgeStack.step)
    pairs = []
    with HistorianReader(run.run_dir / RunFiles.HISTORIAN) as historian:  # opened read-only
        reader = _evidence_reader(run, historian, settings, notes)
        for recorded in run.diagnoses:
            known = [a for a in fed if a.t_ms <= recorded.t_ms]
            new = diagnoser.diagnose(reader, known, recorded.t_ms, answers=recorded.alarm_ids)
            update = rated(new, known, risk, settings.evidence.uncertain_below)  # as DiagnosisLoop.step does
            update.update({"id": recorded.id, "revises": recorded.revises})
            pairs.append(Rediagnosis(recorded, new.model_copy(update=update)))
    return RediagnoseResult(run.run_dir, label, diagnoser.method, diagnoser.model_version,
                            graph.graph.number_of_edges(), pairs, notes)


def _method_of(run: RunData, info: Mapping[str, Any]) -> tuple[str, Path | None]:
    """The method and model file the run diagnosed with, from its ``rootcause`` block; refused by name when
    they cannot be used again."""
    from rootcause.baselines import BASELINES

    if not info or info.get("enabled") is False:
        raise ValueError(f"{run.run_dir}: root cause did not run in this run: {run.no_diagnoses_note()}")
    plugin, method = str(info.get("diagnoser", "graph")), str(info.get("method", ""))
    if plugin != "graph" and plugin not in BASELINES:
        raise ValueError(f"{run.run_dir}: the run diagnosed with the plug-in {plugin!r}; only ours (graph, or a "
                         "baseline) can be rerun with other knowledge")
    if method != "gnn":
        return method, None
    model = Path(str(info.get("model", "")))
    if not info.get("model") or not model.is_file():
        raise ValueError(f"{run.run_dir}: the run used the GNN model {info.get('model') or '(not named)'}, "
                         "which is not there any more")
    return method, model


def _resolve(knowledge: str | Path | KnowledgeFile | Knowledge, tagmap: TagMap) -> tuple[Knowledge, str]:
    """Resolved knowledge and its label (the file's path, or what the object says it is); knowledge of another
    plant than the run's is refused before its links are (every one of them would name nothing)."""
    from rootcause.knowledge import load_knowledge

    plant = (knowledge if isinstance(knowledge, Knowledge | KnowledgeFile) else open_knowledge(knowledge)).plant
    if tagmap.plant and plant != tagmap.plant:
        where = "" if isinstance(knowledge, Knowledge | KnowledgeFile) else f"{knowledge}: "
        raise ValueError(f"{where}the knowledge is of plant {plant!r}, the run's tag map of {tagmap.plant!r}")
    if isinstance(knowledge, Knowledge):
        return knowledge, knowledge.path
    if isinstance(knowledge, KnowledgeFile):
        return resolve_knowledge(knowledge, plant_names(tagmap), path="<edited knowledge>"), "the edited knowledge"
    return load_knowledge(knowledge, plant_names(tagmap)), str(knowledge)


def run_graph(run: RunData) -> PlantGraph:
    """The plant graph the run's diagnoses ranked on: its tag map and the knowledge file it used (else the
    plant's own), without the run's knowledge perturbation."""
    used = (run.rootcause_info or {}).get("knowledge")
    path = Path(used) if used and Path(used).is_file() else _plant_knowledge(run)
    if path is None or not path.is_file():
        raise ValueError(f"{run.run_dir}: the knowledge file the run used is not there ({used})")
    tagmap = _run_tagmap(run.run_dir)
    knowledge, _ = _resolve(path, tagmap)
    return graph_with_knowledge(tagmap, knowledge)


def _run_tagmap(run_dir: Path) -> TagMap:
    """The tag map the run wrote (``tags.csv``): the names its edge knew."""
    path = run_dir / RunFiles.TAGS
    if not path.is_file():
        raise ValueError(f"{run_dir}: no {RunFiles.TAGS}: the run's tag names are unknown")
    return load_tagmap(path)


def _evidence_reader(run: RunData, historian: HistorianReader, settings: RootCauseSettings,
                     notes: list[str]) -> Any:
    """What the edge's diagnoses read (``EdgeStack._evidence_reader``): the historian and, when the run's
    detection baseline holds an in-control reference on the evidence grid, that reference before the run."""
    from twin.edge.detection.baseline import BaselineError, ReferencedReader, load_baseline

    scenario = run.report["scenario"]
    file = (scenario.get("detection") or {}).get("baseline")
    if not file:
        return historian
    base = Path(scenario["file"]).parent if scenario.get("file") else None
    try:
        baseline = load_baseline(resolve_path(file, base))
    except BaselineError as err:
        notes.append(f"the detection baseline is unreadable, so no in-control reference before the run: {err}")
        return historian
    reference = baseline.reference
    start = historian.first_ms()
    if reference is None or reference.grid_ms != settings.evidence.grid_ms or start is None:
        return historian
    return ReferencedReader(historian, baseline, start)


__all__ = ["LINK_COLUMNS", "NODE_COLUMNS", "NODE_KINDS", "Checked", "Problem", "RediagnoseResult", "Rediagnosis",
           "check_knowledge", "check_rows", "clean_rows", "knowledge_choices", "knowledge_document",
           "knowledge_lineage", "names_of_run", "open_knowledge", "rediagnose", "save_knowledge", "saved_folder"]
