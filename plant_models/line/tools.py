"""What ``twin line check|graph|new`` do: validate a template, draw its structure, start a new one.

* :func:`check_template` — loads and compiles the template (field errors with their line,
  unknown references, algebraic loops), then runs a short clean simulation and reports every
  signal that leaves its declared range.
* :func:`draw_template` — the declared structure as a left-to-right picture: causes on the left,
  quality characteristics on the right, colour by role, hidden conditions dashed.
* :func:`new_template` — a commented starter template under a new line name.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx
import numpy as np

from plant_models.line import starter_template_path
from plant_models.line.compile import CompiledLine, compile_template
from plant_models.line.template import NAME, load_template

MAX_CHECK_TICKS = 20_000


@dataclass(frozen=True)
class OutOfRange:
    """A signal that left its declared range during the clean check run."""

    name: str
    low: float
    high: float
    seen_min: float
    seen_max: float

    def __str__(self) -> str:
        return (f"{self.name}: went to {self.seen_min:.4g}..{self.seen_max:.4g}, "
                f"outside its range {self.low:g}..{self.high:g}")


@dataclass
class CheckResult:
    """What :func:`check_template` found."""

    line: str
    counts: dict[str, int]
    simulated_s: float
    parts: int
    out_of_range: list[OutOfRange] = field(default_factory=list)
    fault_kinds: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when nothing left its range."""
        return not self.out_of_range


def default_check_seconds(compiled: CompiledLine) -> float:
    """Long enough for the dynamics to settle and for parts to pass every station a few times."""
    t = compiled.template
    slowest = max([n.signal.lag_s * 5 + n.signal.dead_time_s for n in compiled.nodes.values()
                   if n.signal is not None] + [60.0])
    if t.parts is not None:
        slowest = max(slowest, sum(s.process_s for s in t.parts.stations) + 10 * t.parts.cycle_s)
    return min(slowest, MAX_CHECK_TICKS * t.tick_ms / 1000.0)


def check_template(path: str | Path, seconds: float | None = None, seed: int = 0,
                   progress: Callable[[float], None] | None = None) -> CheckResult:
    """Validate the template at ``path`` and run it clean for ``seconds`` of plant time.

    Raises
    ------
    qtconfig.ConfigError
        A field is wrong (named with its line).
    plant_models.line.compile.TemplateError
        Unknown references or algebraic loops (every one named).
    """
    from plant_models.line.model import LineModel

    template = load_template(path)
    model = LineModel(template, seed)
    compiled = model.compiled
    seconds = default_check_seconds(compiled) if seconds is None else seconds
    watched = [n for n in compiled.nodes.values() if n.role in ("signal", "servo_output", "environment")]
    scalars = [n for n in watched if n.index >= 0]
    index = np.array([n.index for n in scalars], dtype=int)
    seen_min = np.full(len(scalars), np.inf)
    seen_max = np.full(len(scalars), -np.inf)
    arrays = {n.name: (np.inf, -np.inf) for n in watched if n.index < 0}
    end_ms = int(seconds * 1000)
    tick = template.tick_ms
    chunk = max(tick, end_ms // 200)
    t = 0
    while t < end_ms:
        t = min(t + chunk, end_ms)
        next_check = model.env.now + tick
        while model.env.now < t:
            model.env.run(until=min(next_check, t))
            values = model.x[index]
            np.minimum(seen_min, values, out=seen_min)
            np.maximum(seen_max, values, out=seen_max)
            for name in arrays:
                block = model.arrays[model.array_slices[name]]
                arrays[name] = (min(arrays[name][0], float(block.min())), max(arrays[name][1], float(block.max())))
            next_check += tick
        if progress is not None:
            progress(t / end_ms)
    out = [OutOfRange(n.name, n.low, n.high, float(lo), float(hi))
           for n, lo, hi in zip(scalars, seen_min, seen_max) if lo < n.low or hi > n.high]
    out += [OutOfRange(name, compiled.nodes[name].low, compiled.nodes[name].high, lo, hi)
            for name, (lo, hi) in arrays.items()
            if lo < compiled.nodes[name].low or hi > compiled.nodes[name].high]
    out += [OutOfRange(name, compiled.nodes[name].low, compiled.nodes[name].high, lo, hi)
            for name, (lo, hi) in model.part_extremes.items()
            if lo < compiled.nodes[name].low or hi > compiled.nodes[name].high]
    roles = [n.role for n in compiled.nodes.values()]
    counts = {"assets": len({n.asset for n in compiled.nodes.values() if n.role != "lot"}),
              "conditions": roles.count("condition"),
              "tags": len(model.signals()),
              "setpoints": roles.count("setpoint"),
              "per-part signals": roles.count("part"),
              "stations": len(compiled.stations)}
    return CheckResult(template.line, counts, seconds, len(model.parts_log), out,
                       {kind: len(targets) for kind, targets in model.fault_targets().items()})


ROLE_STYLE = {  # role -> (colour, label)
    "condition": ("#f28e2b", "hidden condition (what faults move)"),
    "environment": ("#76b7b2", "environment"),
    "setpoint": ("#4e79a7", "setpoint (writable)"),
    "servo_output": ("#9c755f", "servo output"),
    "signal": ("#59a14f", "measurement"),
    "internal": ("#bab0ac", "internal (no tag)"),
    "quality": ("#e15759", "quality characteristic"),
    "part": ("#edc948", "per-part measurement"),
    "lot": ("#b07aa1", "lot / part attribute"),
    "station": ("#ff9da7", "station tag"),
}


def _role(compiled: CompiledLine, name: str) -> str:
    node = compiled.nodes[name]
    if node.signal is not None and node.signal.kind == "quality":
        return "quality"
    if node.role == "signal" and not node.observed:
        return "internal"
    return node.role


def draw_template(path: str | Path, out: str | Path) -> Path:
    """Draw the template's declared structure into ``out`` (PNG or SVG by its suffix)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    compiled = compile_template(load_template(path))
    graph = compiled.graph.copy()
    graph.remove_nodes_from([n for n in list(graph) if compiled.nodes[n].role == "station"
                             and graph.degree(n) == 0])
    dag = nx.condensation(graph)
    column = {}
    for depth, members in enumerate(nx.topological_generations(dag)):
        for member in members:
            for name in dag.nodes[member]["members"]:
                column[name] = depth
    by_column: dict[int, list[str]] = {}
    for name in sorted(graph, key=lambda n: (compiled.nodes[n].asset, n)):
        by_column.setdefault(column[name], []).append(name)
    tallest = max(len(v) for v in by_column.values())
    pos = {name: (c, -(i - (len(members) - 1) / 2))
           for c, members in by_column.items() for i, name in enumerate(members)}
    fig, ax = plt.subplots(figsize=(max(8.0, 3.2 * len(by_column)), max(5.0, 0.42 * tallest + 1.5)))
    prefix = compiled.template.line + "."
    roles = {n: _role(compiled, n) for n in graph}
    nx.draw_networkx_edges(graph, pos, ax=ax, edge_color="#888888", arrows=True, arrowsize=9,
                           width=0.8, connectionstyle="arc3,rad=0.08", node_size=220)
    for role, (colour, _) in ROLE_STYLE.items():
        members = [n for n in graph if roles[n] == role]
        if members:
            nx.draw_networkx_nodes(graph, pos, nodelist=members, node_color=colour, node_size=220, ax=ax,
                                   edgecolors="#333333", linewidths=0.6)
    for name, (x, y) in pos.items():
        ax.text(x, y - 0.28, name.removeprefix(prefix), ha="center", va="top", fontsize=7)
    used = sorted({roles[n] for n in graph}, key=list(ROLE_STYLE).index)
    ax.legend(handles=[Line2D([], [], marker="o", linestyle="", color=ROLE_STYLE[r][0], label=ROLE_STYLE[r][1])
                       for r in used], loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    ax.set_title(f"line {compiled.template.line}: declared causes (left) to effects (right)", fontsize=10)
    ax.axis("off")
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=130)
    plt.close(fig)
    return out


def new_template(name: str, folder: str | Path = ".") -> Path:
    """Write a commented starter template for line ``name`` to ``folder/<name>.yaml`` (never overwrites)."""
    if not re.match(NAME, name):
        raise ValueError(f"line name {name!r} must be letters, digits and underscores, not starting with a digit")
    out = Path(folder) / f"{name}.yaml"
    if out.exists():
        raise FileExistsError(f"{out} already exists; choose another name or folder")
    text = starter_template_path().read_text(encoding="utf-8")
    text = re.sub(r"^line: starter(\s)", rf"line: {name}\1", text, count=1, flags=re.MULTILINE)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return out
