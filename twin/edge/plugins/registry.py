"""Finding and building plug-ins: by registered name or by ``module:attr``, guarded.

Names come from Python entry points — groups ``quality_twin.detectors``,
``quality_twin.diagnosers`` and ``quality_twin.control_policies`` — so a team's installed
package plugs in without a fork::

    # the team's pyproject.toml
    [project.entry-points."quality_twin.detectors"]
    zscore = "byo_detector:ZScoreDetector"

Ours are registered the same way (``spc``, ``graph``, ``playbook``, plus the root-cause
baselines as diagnosers) and are also known without installed metadata. A name with a colon,
``package.module:attr``, is imported directly. The object found is a factory: called with a
:class:`~twin.edge.plugins.protocols.PluginContext`, it returns the implementation, which the
runner uses behind a guard (:mod:`twin.edge.plugins.guard`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Literal

from qtconfig import ConfigError, resolve_path
from rootcause.baselines import BASELINES
from rootcause.diagnoser import Diagnoser, DiagnosisLoop, build_graph
from rootcause.risk import RiskMap
from rootcause.settings import RootCauseSettings
from twin.edge.control.playbook import Playbook, watched_signals
from twin.edge.control.policy import PlaybookPolicy
from twin.edge.detection.baseline import BaselineError, load_baseline
from twin.edge.detection.monitor import SubgroupMonitor
from twin.edge.detection.settings import DetectionSettings
from twin.edge.frames import ElementIndex
from twin.edge.plugins.choice import PluginChoice
from twin.edge.plugins.guard import GuardedDetector, GuardedDiagnoser, GuardedPolicy, PluginError
from twin.edge.plugins.protocols import PluginContext
from virtual_plc.tagmap import TagMap

Kind = Literal["detector", "diagnoser", "control_policy"]
GROUPS: dict[Kind, str] = {"detector": "quality_twin.detectors", "diagnoser": "quality_twin.diagnosers",
                           "control_policy": "quality_twin.control_policies"}
Factory = Callable[[PluginContext], Any]


# ------------------------------------------------------------------ ours
def spc_detector(context: PluginContext) -> SubgroupMonitor:
    """Our detector: subgroup SPC, run rules and dynamic thresholds from the scenario's ``detection``."""
    file = context.detection.baseline
    if file is None:
        return SubgroupMonitor(context.detection, context.index)
    path = resolve_path(file, context.base)
    try:
        return SubgroupMonitor(context.detection, context.index, load_baseline(path), str(path))
    except BaselineError as err:
        raise ConfigError(path, [str(err).removeprefix(f"{path}: ")]) from None


def model_file(settings: RootCauseSettings, base: Path | None) -> Path | None:
    """The root-cause model the settings name (relative to ``base``), or None."""
    return resolve_path(settings.model, base) if settings.model else None


def graph_diagnoser(context: PluginContext) -> Diagnoser | None:
    """Our diagnoser on the plant graph: the scenario's method (the GNN when the plant has a model, else
    the random walk); ``options.method`` picks another (``gnn`` or a baseline). None without a graph."""
    if context.graph is None:
        return None
    settings = context.rootcause
    model = model_file(settings, context.base)
    has_model = model is not None and model.is_file()
    method = str(context.options.get("method") or settings.method or ("gnn" if has_model else "random_walk"))
    return Diagnoser.with_method(context.graph, method, model if method == "gnn" else None, settings.evidence)


def _baseline(method: str) -> Factory:
    def factory(context: PluginContext) -> Diagnoser | None:
        if context.graph is None:
            return None
        return Diagnoser.with_method(context.graph, method, None, context.rootcause.evidence)

    factory.__doc__ = f"Our {method} baseline ranking on the plant graph."
    return factory


def playbook_policy(context: PluginContext) -> PlaybookPolicy:
    """Our control policy: the plant's playbook."""
    if context.playbook is None:
        raise ValueError("the playbook policy needs the plant's playbook")
    return PlaybookPolicy(context.playbook, watched_signals(context.playbook, context.tagmap))


BUILTIN: dict[Kind, dict[str, Factory]] = {
    "detector": {"spc": spc_detector},
    "diagnoser": {"graph": graph_diagnoser, **{name: _baseline(name) for name in BASELINES}},
    "control_policy": {"playbook": playbook_policy},
}


# ------------------------------------------------------------- resolving
def available(kind: Kind) -> dict[str, str]:
    """Every name ``kind`` can be chosen by → where it comes from (``builtin`` or the entry point's value)."""
    names = {ep.name: ep.value for ep in entry_points(group=GROUPS[kind])}
    for name in BUILTIN[kind]:
        names.setdefault(name, "builtin")
    return names


def resolve(kind: Kind, name: str) -> Factory:
    """The factory registered as ``name`` for ``kind``, or imported from ``module:attr``."""
    if ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            target: Any = importlib.import_module(module_name)
        except ImportError as err:
            raise PluginError(kind, name, f"cannot import module {module_name!r}: {err}") from err
        for part in attr.split("."):
            if not hasattr(target, part):
                raise PluginError(kind, name, f"module {module_name!r} has no attribute {attr!r}")
            target = getattr(target, part)
        factory = target
    else:
        found = [ep for ep in entry_points(group=GROUPS[kind]) if ep.name == name]
        if found:
            try:
                factory = found[0].load()
            except Exception as err:  # noqa: BLE001 - a broken package is named, not raised raw
                raise PluginError(kind, name, f"entry point {found[0].value!r} fails to load: "
                                  f"{type(err).__name__}: {err}") from err
        elif name in BUILTIN[kind]:
            factory = BUILTIN[kind][name]
        else:
            raise PluginError(kind, name, f"no {kind} named {name!r}; known: {', '.join(sorted(available(kind)))} "
                              "(or give package.module:attr)")
    if not callable(factory):
        raise PluginError(kind, name, f"{name} is a {type(factory).__name__}, not a factory taking a PluginContext")
    return factory


_GUARDS = {"detector": (GuardedDetector, "observe"), "diagnoser": (GuardedDiagnoser, "diagnose"),
           "control_policy": (GuardedPolicy, "propose")}


def build(kind: Kind, choice: PluginChoice, context: PluginContext) -> Any:
    """The guarded implementation ``choice`` names (None when its factory declines, e.g. no graph)."""
    factory = resolve(kind, choice.use)
    try:
        instance = factory(context)
    except PluginError:
        raise
    except Exception as err:  # noqa: BLE001 - outside code fails with its name on it
        raise PluginError(kind, choice.use, f"its factory raised {type(err).__name__}: {err}") from err
    if instance is None:
        return None
    guard, method = _GUARDS[kind]
    if not callable(getattr(instance, method, None)):
        raise PluginError(kind, choice.use, f"the factory returned a {type(instance).__name__}, which has no "
                          f"{method}() method")
    return guard(instance, choice.use, choice.timeout_s)


# ---------------------------------------------------------- root cause
def rootcause_loop(settings: RootCauseSettings, tagmap: TagMap, base: Path | None,
                   origin: str | Path = "<settings>", *, choice: PluginChoice | None = None,
                   index: ElementIndex | None = None) -> tuple[DiagnosisLoop | None, dict[str, object]]:
    """The root-cause loop of a line — the plant graph from its knowledge file and the chosen diagnoser
    (ours by default) — and what a report says of it.

    Relative ``knowledge`` / ``model`` paths resolve from ``base``. The edge has no defaults: for a
    plant it knows, the harness (or ``twin edge run``) fills in the plant's own files. Without a
    knowledge file there is no diagnosis; without a model, the random walk ranks.
    """
    choice = choice or PluginChoice(use="graph")
    if not settings.enabled:
        return None, {"enabled": False}
    plant = tagmap.plant
    knowledge = resolve_path(settings.knowledge, base) if settings.knowledge else None
    graph = None
    if knowledge is not None and knowledge.is_file():
        graph = build_graph(tagmap, knowledge, drop=settings.knowledge_drop, add=settings.knowledge_add,
                            seed=settings.knowledge_seed)
    elif settings.knowledge:
        raise ConfigError(origin, [f"field rootcause.knowledge: no file {knowledge}"])
    context = PluginContext(name=choice.use, tagmap=tagmap, index=index or ElementIndex(list(tagmap.tags)),
                            options=dict(choice.options), rootcause=settings, graph=graph, base=base)
    diagnoser = build("diagnoser", choice, context)
    if diagnoser is None:
        why = f"no knowledge file ({knowledge})" if knowledge else "no knowledge file given (rootcause.knowledge)"
        return None, {"enabled": False, "note": f"{why} for plant {plant}"}
    info: dict[str, object] = {"enabled": True, "diagnoser": choice.use}
    info.update({"method": getattr(diagnoser, "method", choice.use),
                 "model_version": getattr(diagnoser, "model_version", "unknown")})
    if settings.model:
        info["model"] = str(resolve_path(settings.model, base))
    if graph is not None:
        info.update({"knowledge": str(knowledge), "knowledge_links": graph.graph.number_of_edges(),
                     "candidates": len(graph.candidates)})
    evidence_s = float(getattr(diagnoser, "evidence_s", settings.evidence.evidence_s))
    first_s = float(getattr(diagnoser, "first_s", settings.evidence.first_s))
    risk = RiskMap(graph.graph, graph.severities) if graph is not None else None
    if risk:
        info["rated_effects"] = len(graph.severities)  # type: ignore[union-attr]
    return DiagnosisLoop(diagnoser, evidence_ms=int(evidence_s * 1000), first_ms=int(first_s * 1000), risk=risk), info


# ----------------------------------------------------- detector, policy
def make_detector(choice: PluginChoice, settings: DetectionSettings, tagmap: TagMap, index: ElementIndex,
                  base: Path | None = None) -> Any:
    """The run's guarded detector (None when ``detection.enabled`` is false)."""
    if not settings.enabled:
        return None
    context = PluginContext(name=choice.use, tagmap=tagmap, index=index, options=dict(choice.options),
                            detection=settings, base=base)
    return build("detector", choice, context)


def make_policy(choice: PluginChoice, playbook: Playbook, tagmap: TagMap, base: Path | None = None) -> Any:
    """The run's guarded control policy (the playbook still supplies interlocks, line and expiry)."""
    context = PluginContext(name=choice.use, tagmap=tagmap, index=ElementIndex(list(tagmap.tags)),
                            options=dict(choice.options), playbook=playbook, base=base)
    return build("control_policy", choice, context)
