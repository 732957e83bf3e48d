"""Compile a :class:`~plant_models.line.template.LineTemplate` into what the engine evaluates.

Every scalar of the process (environment, conditions, setpoints, servo outputs, scalar signals)
gets one index in the state vector ``x``; array signals are evaluated after the scalars, per-part
signals when a part leaves its station. A signal's value is

    nominal + Σ_inputs [ f(x) - f(x_nominal) ]

so at nominal inputs every signal sits at its declared nominal. Signals with a lag or a dead
time are *dynamic*: they are computed from the state of the previous tick, which is what breaks
a feedback loop. Every other signal is *instant* and evaluated in dependency order; a cycle
among instant signals is an **algebraic loop** and is refused, naming its signals. So is a
reference that names nothing, with the names it was looked up as.

:class:`Terms` evaluates all inputs of a set of signals with a handful of numpy operations
(a sparse matrix for the linear gains, one vectorised expression per nonlinear form), so a line
of thousands of signals costs a few dozen array operations per tick.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import networkx as nx
import numpy as np
from scipy import sparse

from plant_models.line.template import Asset, Input, LineTemplate, LotProperty, Ramp, Signal, Station
from plant_models.spec import QualityCharacteristic

Role = Literal["environment", "condition", "setpoint", "servo_output", "signal", "part", "lot", "station"]
PART = "part."
DENSE_LIMIT = 40_000  # matrix elements up to which the linear gains are kept dense


class TemplateError(ValueError):
    """A template that validates field by field but does not make a line (names every problem)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass
class Node:
    """One named quantity of the line: its full name, role, asset, declaration and place."""

    name: str
    role: Role
    asset: str
    nominal: float
    low: float
    high: float
    unit: str = ""
    signal: Signal | None = None
    index: int = -1            # in the scalar state x (process scalars), else -1
    size: int = 1
    station: int | None = None  # per-part signals: which station measures them
    observed: bool = False
    period_ms: int = 1000
    inputs: list[tuple[Input, list[str]]] = field(default_factory=list)  # resolved sources
    servo_setpoint: str | None = None  # a servo's setpoint node
    servo_output: str | None = None    # a servo's output node
    description: str = ""


def form_value(item: Input, values: Sequence[float]) -> float:
    """The contribution ``f(x)`` of one input at input values ``values`` (scalar form)."""
    x = values[0]
    if item.form == "linear":
        return item.gain * x
    if item.form == "saturation":
        low = -math.inf if item.low is None else item.low
        high = math.inf if item.high is None else item.high
        return item.gain * min(max(x, low), high)
    if item.form == "hinge":
        threshold = float(item.threshold or 0.0)
        return item.gain * max(0.0, (threshold - x) if item.below else (x - threshold))
    if item.form == "product":
        return item.gain * x * values[1]
    points = item.points or []
    return item.gain * float(np.interp(x, [p[0] for p in points], [p[1] for p in points]))


def spread(value: float | list[float] | Ramp | None, size: int, default: float) -> np.ndarray:
    """A number, a list or a ramp as ``size`` values (``default`` when not given)."""
    if value is None:
        return np.full(size, default, dtype=float)
    if isinstance(value, Ramp):
        return np.linspace(value.from_, value.to, size) if size > 1 else np.array([value.from_])
    if isinstance(value, list):
        return np.asarray(value, dtype=float)
    return np.full(size, float(value))


class Terms:
    """The inputs of ``rows`` target quantities, evaluated together: ``const + Σ f(x)``.

    ``entries`` are ``(row, input, source indices)``; ``const`` is chosen so that the targets
    come out at ``nominal`` when ``x`` is at ``x_nominal``.
    """

    def __init__(self, rows: int, entries: list[tuple[int, Input, list[int]]], width: int,
                 nominal: np.ndarray, x_nominal: np.ndarray) -> None:
        self.rows = rows
        linear = [(r, s[0], i.gain) for r, i, s in entries if i.form == "linear"]
        matrix = sparse.csr_matrix(
            ([g for _, _, g in linear], ([r for r, _, _ in linear], [c for _, c, _ in linear])),
            shape=(rows, width))
        # a small block is faster dense (one BLAS call); a large one stays sparse
        self.matrix: Any = matrix.toarray() if rows * width <= DENSE_LIMIT else matrix
        self._groups: list[Callable[[np.ndarray, np.ndarray], None]] = []
        sat = [(r, i, s) for r, i, s in entries if i.form == "saturation"]
        if sat:
            self._groups.append(self._saturation(sat))
        hinge = [(r, i, s) for r, i, s in entries if i.form == "hinge"]
        if hinge:
            self._groups.append(self._hinge(hinge))
        prod = [(r, i, s) for r, i, s in entries if i.form == "product"]
        if prod:
            self._groups.append(self._product(prod))
        for r, i, s in entries:
            if i.form == "table":
                self._groups.append(self._table(r, i, s[0]))
        self.const = np.zeros(rows)
        self.const = nominal - self.evaluate(x_nominal)

    def evaluate(self, x: np.ndarray) -> np.ndarray:
        """The targets at state ``x``."""
        out = self.const + self.matrix @ x
        for group in self._groups:
            group(x, out)
        return out

    def _saturation(self, items: list[tuple[int, Input, list[int]]]) -> Callable[[np.ndarray, np.ndarray], None]:
        rows = np.array([r for r, _, _ in items])
        cols = np.array([s[0] for _, _, s in items])
        gain = np.array([i.gain for _, i, _ in items])
        low = np.array([-np.inf if i.low is None else i.low for _, i, _ in items])
        high = np.array([np.inf if i.high is None else i.high for _, i, _ in items])
        n = self.rows

        def apply(x: np.ndarray, out: np.ndarray) -> None:
            out += np.bincount(rows, gain * np.minimum(np.maximum(x[cols], low), high), minlength=n)
        return apply

    def _hinge(self, items: list[tuple[int, Input, list[int]]]) -> Callable[[np.ndarray, np.ndarray], None]:
        rows = np.array([r for r, _, _ in items])
        cols = np.array([s[0] for _, _, s in items])
        gain = np.array([i.gain for _, i, _ in items])
        threshold = np.array([float(i.threshold or 0.0) for _, i, _ in items])
        sign = np.array([-1.0 if i.below else 1.0 for _, i, _ in items])
        n = self.rows

        def apply(x: np.ndarray, out: np.ndarray) -> None:
            out += np.bincount(rows, gain * np.maximum(0.0, sign * (x[cols] - threshold)), minlength=n)
        return apply

    def _product(self, items: list[tuple[int, Input, list[int]]]) -> Callable[[np.ndarray, np.ndarray], None]:
        rows = np.array([r for r, _, _ in items])
        a = np.array([s[0] for _, _, s in items])
        b = np.array([s[1] for _, _, s in items])
        gain = np.array([i.gain for _, i, _ in items])
        n = self.rows

        def apply(x: np.ndarray, out: np.ndarray) -> None:
            out += np.bincount(rows, gain * x[a] * x[b], minlength=n)
        return apply

    @staticmethod
    def _table(row: int, item: Input, col: int) -> Callable[[np.ndarray, np.ndarray], None]:
        xs = np.array([p[0] for p in item.points or []])
        ys = item.gain * np.array([p[1] for p in item.points or []])

        def apply(x: np.ndarray, out: np.ndarray) -> None:
            out[row] += np.interp(x[col], xs, ys)
        return apply


@dataclass
class CompiledLine:
    """A template resolved into nodes, evaluation order and the derived causal graph."""

    template: LineTemplate
    nodes: dict[str, Node]
    scalars: list[str]           # process scalars, in state-vector order
    dynamic: list[str]           # scalar signals with lag or dead time
    instant_levels: list[list[str]]  # instant scalar signals, level by level
    arrays: list[str]            # process array signals
    servos: list[str]            # signals with a servo
    stations: list[tuple[Station, str, list[str]]]  # (station, full asset path, per-part signals in order)
    lot_properties: list[str]    # part.<lot property> names
    graph: nx.DiGraph
    assets: dict[str, Asset]     # full asset path -> its declaration, in template order

    def x_nominal(self) -> np.ndarray:
        """The nominal state vector."""
        return np.array([self.nodes[n].nominal for n in self.scalars], dtype=float)

    def measured(self) -> list[Node]:
        """The nodes that are tags (measurements, quality, setpoints, measured outputs, station tags)."""
        return [n for n in self.nodes.values() if n.observed]


def quality_characteristics(compiled: CompiledLine) -> tuple[QualityCharacteristic, ...]:
    """The line's quality characteristics: every ``kind: quality`` signal, the template's ``quality_metric``
    first, then those with spec limits."""
    quality = [n for n in compiled.nodes.values() if n.signal is not None and n.signal.kind == "quality"]
    chosen = compiled.template.quality_metric
    quality.sort(key=lambda n: (n.name != chosen, n.signal.spec is None))  # type: ignore[union-attr]
    return tuple(QualityCharacteristic(n.name, *(n.signal.spec or (None, None))) for n in quality)  # type: ignore[union-attr]


def _walk(assets: dict[str, Asset], parent: str) -> Iterator[tuple[str, Asset]]:
    """(full path, declaration) of every asset below ``parent``, depth first in template order."""
    for name, asset in assets.items():
        path = f"{parent}.{name}"
        yield path, asset
        yield from _walk(asset.assets, path)


def compile_template(template: LineTemplate) -> CompiledLine:
    """Resolve names and order of ``template``; :class:`TemplateError` names every problem."""
    return _Compiler(template).run()


class _Compiler:
    def __init__(self, template: LineTemplate) -> None:
        self.t = template
        self.line = template.line
        self.nodes: dict[str, Node] = {}
        self.problems: list[str] = []
        self.pending: list[tuple[Node, Signal, str]] = []  # nodes whose inputs are still to resolve
        self.stations: list[tuple[Station, str, list[str]]] = []
        self.lot_properties: list[str] = []
        self.assets: dict[str, Asset] = dict(_walk(template.assets, template.line))

    # -- declaring nodes ------------------------------------------------------------------
    def add(self, node: Node) -> Node:
        if node.name in self.nodes:
            self.problems.append(f"{node.name} is declared twice")
        self.nodes[node.name] = node
        return node

    def declare(self) -> None:
        t, line = self.t, self.line
        env = t.environment
        if env is not None:
            for quantity, cycle in (("temperature", env.temperature), ("humidity", env.humidity)):
                if cycle is not None:
                    unit = "degC" if quantity == "temperature" else "%RH"
                    self.add(Node(f"{line}.ambient.{quantity}", "environment", f"{line}.ambient", cycle.mean,
                                  cycle.range[0], cycle.range[1], unit, observed=True, period_ms=env.period_ms,
                                  description=f"hall {quantity}"))
        for path, asset in self.assets.items():
            for name, cond in asset.conditions.items():
                self.add(Node(f"{path}.{name}", "condition", path, cond.initial, cond.range[0], cond.range[1],
                              cond.unit, description=cond.description))
                if cond.count_tag is not None:
                    self.add(Node(f"{path}.{cond.count_tag}", "station", path, 0.0, 0.0, 1e9, "parts",
                                  observed=True, period_ms=t.period_ms,
                                  description=f"parts since {name} was last reset"))
            for name, sig in asset.signals.items():
                self.declare_signal(path, name, sig, None)
        if t.parts is not None:
            for lot_name, lot in t.parts.lots.items():
                lot_asset = self.full_asset(lot.asset)
                self.add(Node(f"{PART}{lot_name}", "lot", lot_asset or line, 0.0, 0.0, 1e9))
                for prop, spec in lot.properties.items():
                    nominal = spec.share if spec.share is not None else spec.mean
                    value = nominal if isinstance(nominal, (int, float)) else math.nan
                    self.add(Node(f"{PART}{prop}", "lot", lot_asset or line, float(value), -math.inf, math.inf))
                    self.lot_properties.append(f"{PART}{prop}")
            for k, station in enumerate(t.parts.stations):
                path = self.full_asset(station.asset)
                if path is None:
                    self.problems.append(f"parts.stations[{k}].asset: no asset {station.asset!r} "
                                         f"(assets: {', '.join(self.assets)})")
                    continue
                names = [self.declare_signal(path, n, s, k).name for n, s in station.measure.items()]
                for tag, unit, text in (("reject_rate", "%", "rejected share of the last 50 parts"),
                                        ("part_id", "", "number of the latest part (an identifier)")):
                    self.add(Node(f"{path}.{tag}", "station", path, 0.0, 0.0, 100.0 if tag == "reject_rate" else 1e9,
                                  unit, station=k, observed=True, period_ms=t.period_ms, description=text))
                for lot_name in t.parts.lots:
                    self.add(Node(f"{path}.{lot_name}", "station", path, 1.0, 0.0, 1e9, "", station=k,
                                  observed=True, period_ms=t.period_ms,
                                  description=f"{lot_name} number of the latest part (an identifier)"))
                self.stations.append((station, path, names))

    def declare_signal(self, path: str, name: str, sig: Signal, station: int | None) -> Node:
        period = sig.period_ms or self.t.period_ms
        if period % self.t.tick_ms:
            self.problems.append(f"{path}.{name}: period_ms {period} is not a multiple of tick_ms {self.t.tick_ms}")
        if station is not None and (sig.servo or sig.lag_s or sig.dead_time_s or sig.process_noise
                                    or sig.kind == "setpoint"):
            self.problems.append(f"{path}.{name}: a per-part signal is measured on the part: "
                                 "no servo, lag, dead time, process noise or setpoint (its noise is per part)")
        node = self.add(Node(f"{path}.{name}", "part" if station is not None else
                             ("setpoint" if sig.kind == "setpoint" else "signal"), path, sig.nominal,
                             sig.range[0], sig.range[1], sig.unit, sig, size=sig.size, station=station,
                             observed=sig.kind != "internal", period_ms=period, description=sig.description))
        if sig.servo is not None:
            servo = sig.servo
            low, high = servo.output_range
            u0 = sig.nominal / servo.gain
            u0 = u0 if low <= u0 <= high else (low + high) / 2
            out = servo.output_name or f"{name}_output"
            self.add(Node(f"{path}.{out}", "servo_output", path, u0, low, high, servo.output_unit,
                          observed=servo.output_measured, period_ms=period,
                          description=f"servo output driving {name}"))
        self.pending.append((node, sig, path))
        return node

    def full_asset(self, relative: str) -> str | None:
        for candidate in (relative, f"{self.line}.{relative}"):
            if candidate in self.assets:
                return candidate
        return None

    # -- resolving references ---------------------------------------------------------------
    def lookup(self, ref: str, path: str) -> list[str]:
        """Names ``ref`` is tried as, nearest scope first."""
        if ref.startswith(PART):
            return [ref]
        scopes = path.split(".")
        tried = [".".join([*scopes[:k], ref]) for k in range(len(scopes), 0, -1)]
        return tried + ([ref] if ref.startswith(f"{self.line}.") else [])

    def resolve(self, ref: str, node: Node) -> str | None:
        tried = self.lookup(ref, node.asset)
        for name in tried:
            if name in self.nodes:
                target = self.nodes[name]
                if target.size > 1:
                    self.problems.append(f"{node.name}: input {ref!r} is an array; inputs must be scalars")
                    return None
                if target.role == "part" and node.role != "part":
                    self.problems.append(f"{node.name}: input {ref!r} is measured per part; "
                                         "only per-part signals may read it (as part.NAME)")
                    return None
                return name
        if ref.startswith(PART):
            short = ref[len(PART):]
            matches = [x for n, x in self.nodes.items() if x.role == "part" and n.rsplit(".", 1)[-1] == short
                       and node.station is not None and x.station is not None and x.station <= node.station]
            if node.role == "part" and matches:  # its own station first, then the latest station before it
                return max(matches, key=lambda x: (x.station == node.station, x.station)).name
            self.problems.append(f"{node.name}: unknown part attribute {ref!r} (lot properties: "
                                 f"{', '.join(p[len(PART):] for p in self.lot_properties) or 'none'}; "
                                 "or a per-part measurement)")
            return None
        self.problems.append(f"{node.name}: unknown input {ref!r} (looked up as {', '.join(tried)})")
        return None

    def resolve_all(self) -> None:
        for node, sig, path in self.pending:
            for item in sig.inputs:
                sources = [self.resolve(ref, node) for ref in item.sources]
                if all(s is not None for s in sources):
                    node.inputs.append((item, [s for s in sources if s is not None]))
            if sig.servo is not None:
                sp = self.resolve(sig.servo.setpoint, node)
                if sp is not None and self.nodes[sp].role != "setpoint":
                    self.problems.append(f"{node.name}: servo setpoint {sig.servo.setpoint!r} is not a setpoint")
                out = f"{path}.{sig.servo.output_name or node.name.rsplit('.', 1)[-1] + '_output'}"
                node.servo_setpoint, node.servo_output = sp, out
                node.inputs.append((Input.model_validate({"from": out, "gain": sig.servo.gain}), [out]))
        if self.t.parts is not None:
            for lot_name, lot in self.t.parts.lots.items():
                for prop, spec in lot.properties.items():
                    self.check_lot_refs(lot_name, lot.asset, prop, spec)

    def check_lot_refs(self, lot_name: str, asset: str, prop: str, spec: LotProperty) -> None:
        path = self.full_asset(asset)
        if path is None:
            self.problems.append(f"parts.lots.{lot_name}.asset: no asset {asset!r}")
            return
        for field_name in ("mean", "between", "within", "share"):
            value = getattr(spec, field_name)
            if isinstance(value, str):
                name = f"{path}.{value}"
                if name not in self.nodes or self.nodes[name].role != "condition":
                    self.problems.append(f"parts.lots.{lot_name}.properties.{prop}.{field_name}: "
                                         f"{value!r} is not a condition of {path}")
                else:
                    if field_name in ("mean", "share"):
                        self.nodes[f"{PART}{prop}"].nominal = self.nodes[name].nominal
                    self.nodes[f"{PART}{prop}"].inputs.append(
                        (Input.model_validate({"from": name}), [name]))

    # -- order -------------------------------------------------------------------------------
    def order(self) -> tuple[list[str], list[str], list[list[str]], list[str], list[str]]:
        nodes = self.nodes
        process = [n for n in nodes.values() if n.role not in ("part", "lot", "station")]
        scalars = [n.name for n in process if n.size == 1]
        for i, name in enumerate(scalars):
            nodes[name].index = i
        dynamic = [n.name for n in process if n.role == "signal" and n.size == 1 and n.signal is not None
                   and (n.signal.lag_s > 0 or n.signal.dead_time_s > 0)]
        instant = {n.name for n in process if n.role == "signal" and n.size == 1} - set(dynamic)
        deps = nx.DiGraph()
        deps.add_nodes_from(instant)
        for name in instant:
            for _, sources in nodes[name].inputs:
                deps.add_edges_from((s, name) for s in sources if s in instant)
        cycles = list(nx.simple_cycles(deps))
        for cycle in cycles[:5]:
            self.problems.append("algebraic loop (no lag or dead time on the way round): "
                                 + " -> ".join([*cycle, cycle[0]]))
        levels = [] if cycles else [sorted(level) for level in nx.topological_generations(deps)]
        arrays = [n.name for n in process if n.role == "signal" and n.size > 1]
        servos = [n.name for n in process if n.signal is not None and n.signal.servo is not None]
        for _, _, names in self.stations:
            part_deps = nx.DiGraph()
            part_deps.add_nodes_from(names)
            for name in names:
                for _, sources in nodes[name].inputs:
                    part_deps.add_edges_from((s, name) for s in sources if s in names)
            for cycle in list(nx.simple_cycles(part_deps))[:5]:
                self.problems.append("per-part signals depend on each other in a loop: "
                                     + " -> ".join([*cycle, cycle[0]]))
            if nx.is_directed_acyclic_graph(part_deps):
                names[:] = list(nx.topological_sort(part_deps))
        return scalars, dynamic, levels, arrays, servos

    def graph(self) -> nx.DiGraph:
        graph = nx.DiGraph()
        for node in self.nodes.values():
            graph.add_node(node.name, asset=node.asset, observed=node.observed,
                           role="hidden" if not node.observed else
                           ("setpoint" if node.role == "setpoint" else "measurement"), kind=node.role)
        for node in self.nodes.values():
            for _, sources in node.inputs:
                graph.add_edges_from((s, node.name) for s in sources)
            if node.servo_setpoint is not None and node.servo_output is not None:
                graph.add_edge(node.servo_setpoint, node.servo_output)
        for _, path, names in self.stations:  # the parts judged against spec limits make the reject rate
            graph.add_edges_from((n, f"{path}.reject_rate") for n in names if self.nodes[n].signal is not None
                                 and self.nodes[n].signal.spec is not None)  # type: ignore[union-attr]
        for lot_name in (self.t.parts.lots if self.t.parts else {}):
            for _, path, _ in self.stations:
                graph.add_edge(f"{PART}{lot_name}", f"{path}.{lot_name}")
        return graph

    def check_parts(self) -> None:
        """Per-part names must not hide lot properties, and part wear only acts on a station's asset."""
        lot_props = {p[len(PART):] for p in self.lot_properties}
        for _, _path, names in self.stations:
            for name in names:
                if name.rsplit(".", 1)[-1] in lot_props:
                    self.problems.append(f"{name}: a per-part measurement may not share its name with the lot "
                                         f"property part.{name.rsplit('.', 1)[-1]} (rename one)")
        stations = {path for _, path, _ in self.stations}
        for path, asset in self.assets.items():
            for name, cond in asset.conditions.items():
                if (cond.per_part or cond.reset_every_parts or cond.count_tag) and path not in stations:
                    self.problems.append(f"{path}.{name}: per_part, reset_every_parts and count_tag count the parts "
                                         f"a station processes, and {path} is not a station")

    def run(self) -> CompiledLine:
        self.declare()
        self.resolve_all()
        self.check_parts()
        chosen = self.t.quality_metric
        if chosen is not None and not (chosen in self.nodes and self.nodes[chosen].signal is not None
                                       and self.nodes[chosen].signal.kind == "quality"):  # type: ignore[union-attr]
            self.problems.append(f"quality_metric {chosen!r} is not a kind: quality signal (a full tag name)")
        scalars, dynamic, levels, arrays, servos = self.order()
        if self.problems:
            raise TemplateError(self.problems)
        return CompiledLine(self.t, self.nodes, scalars, dynamic, levels, arrays, servos,
                            self.stations, self.lot_properties, self.graph(), self.assets)
