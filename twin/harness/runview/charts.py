"""Charts of a finished run: control charts from the historian, the root-cause graph, trends.

A control chart here is an individuals chart (``xbar.one``) of subgroup means, built by
:func:`twin.edge.detection.spc.control_chart` the way qcc builds it: Phase I is the detection
warm-up (the data the detectors learnt from), Phase II the rest, judged on Phase I's limits
with the Western Electric (or Nelson) run rules. Figures are matplotlib, so the app and the
HTML report draw the same pictures.
"""

from __future__ import annotations

import io
import math
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from twin.contracts import Diagnosis, RunFiles
from twin.edge.detection.spc import control_chart
from twin.edge.historian import HistorianReader
from twin.harness.plots import plot_run
from twin.harness.runview.metrics import quality_specs
from twin.harness.runview.run import RunData

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MIN_PHASE1 = 5


@dataclass(frozen=True)
class ChartSeries:
    """An individuals chart of one element's subgroup means, with limits and rule violations."""

    element: str
    t_s: np.ndarray
    values: np.ndarray
    center: float
    lcl: float
    ucl: float
    n_phase1: int
    subgroup_s: float
    rule_set: str
    violations: dict[int, list[int]]
    unit: str = ""
    lsl: float | None = None  # the specification limits of a quality characteristic (None: no spec, or open)
    usl: float | None = None

    @property
    def sigma(self) -> float:
        """The chart's within sigma (its limits are three of them from the centre line)."""
        return (self.ucl - self.center) / 3

    def capability(self) -> Capability | None:
        """Cp and Cpk (within sigma: the chart's, from moving ranges) and Ppk (overall sigma of Phase I) against the
        spec limits, each with a 95 % confidence interval; None without limits. Where the data are
        autocorrelated (1 s means of a slow signal) the within sigma is small and Cpk flatters; Ppk does not.

        The Cpk/Ppk intervals are Bissell's (1990) normal approximation, Cp's the chi-square one.
        """
        if (self.lsl is None and self.usl is None) or self.sigma <= 0 or self.n_phase1 < 2:
            return None
        n = self.n_phase1
        phase1 = self.values[:n]
        mean, overall = float(np.mean(phase1)), float(np.std(phase1, ddof=1))
        nearest = min(s for s in ((self.usl - mean) if self.usl is not None else None,
                                  (mean - self.lsl) if self.lsl is not None else None) if s is not None)

        def with_interval(index: float) -> tuple[float, float, float]:
            half = 1.96 * math.sqrt(1 / (9 * n) + index ** 2 / (2 * (n - 1)))
            return index, index - half, index + half

        cpk = with_interval(nearest / (3 * self.sigma))
        ppk = with_interval(nearest / (3 * overall)) if overall > 0 else (math.inf, math.inf, math.inf)
        cp = cp_low = cp_high = None
        if self.lsl is not None and self.usl is not None:
            from scipy.stats import chi2

            cp = (self.usl - self.lsl) / (6 * self.sigma)
            cp_low = cp * math.sqrt(chi2.ppf(0.025, n - 1) / (n - 1))
            cp_high = cp * math.sqrt(chi2.ppf(0.975, n - 1) / (n - 1))
        return Capability(n, cp, cp_low, cp_high, *cpk, *ppk)

    @property
    def flagged(self) -> list[int]:
        """Indices of points that break any rule."""
        return sorted({i for points in self.violations.values() for i in points})

    def first_violation_s(self) -> float | None:
        """Start time of the first Phase II subgroup that breaks a rule, or None."""
        late = [i for i in self.flagged if i >= self.n_phase1]
        return float(self.t_s[late[0]]) if late else None


@dataclass(frozen=True)
class Capability:
    """Process capability over ``n`` Phase I points: Cp (both limits only) and Cpk, each with a 95 % interval."""

    n: int
    cp: float | None
    cp_low: float | None
    cp_high: float | None
    cpk: float
    cpk_low: float
    cpk_high: float
    ppk: float
    ppk_low: float
    ppk_high: float

    def text(self) -> str:
        """``Cpk 1.42 [1.21, 1.63], Ppk ...`` (and Cp) as a chart label."""
        out = f"Cpk {self.cpk:.2f} [{self.cpk_low:.2f}, {self.cpk_high:.2f}]"
        if self.cp is not None:
            out = f"Cp {self.cp:.2f} [{self.cp_low:.2f}, {self.cp_high:.2f}], " + out
        return out + f", Ppk {self.ppk:.2f} [{self.ppk_low:.2f}, {self.ppk_high:.2f}] (Phase I, n={self.n})"


def chart_series(run: RunData, element: str, *, subgroup_s: float = 1.0, phase1_s: float | None = None,
                 rule_set: str = "western-electric", nsigmas: float = 3.0) -> ChartSeries:
    """The control chart of ``element``: good samples averaged per ``subgroup_s``, limits from Phase I.

    Phase I covers ``[0, phase1_s)``; by default the run's detection warm-up, or the first
    half of the run when the run is shorter than that.
    """
    if subgroup_s <= 0:
        raise ValueError(f"subgroup_s must be positive, got {subgroup_s}")
    with HistorianReader(run.run_dir / RunFiles.HISTORIAN) as reader:
        table = reader.window(None, None, [element])
    good = np.asarray(table.column("quality").to_pylist()) == "good"
    ts = table.column("ts_ms").to_numpy()[good]
    values = table.column("value").to_numpy(zero_copy_only=False).astype(float)[good]
    if ts.size == 0:
        raise ValueError(f"{element} has no good samples in {run.run_dir}")
    groups = (ts // int(subgroup_s * 1000)).astype(np.int64)
    starts, inverse = np.unique(groups, return_inverse=True)
    means = np.bincount(inverse, weights=values) / np.bincount(inverse)
    t_s = starts * subgroup_s
    limit_s = phase1_s if phase1_s is not None else (run.warmup_s or run.plant_s / 2)
    if limit_s >= run.plant_s:
        limit_s = run.plant_s / 2
    n1 = int(np.searchsorted(t_s, limit_s))
    if n1 < MIN_PHASE1:
        raise ValueError(f"{element}: {n1} subgroups before {limit_s:g} s; a control chart needs at least "
                         f"{MIN_PHASE1} in Phase I")
    phase1, phase2 = means[:n1], means[n1:]
    if np.ptp(phase1) == 0:
        raise ValueError(f"{element} does not move during Phase I (0–{limit_s:g} s): no sigma to chart against")
    chart = control_chart("xbar.one", phase1, newdata=phase2 if phase2.size else None, nsigmas=nsigmas)
    spec = next((q for q in quality_specs(run) if q.tag == element), None)
    return ChartSeries(element, t_s, means, float(chart.center), float(chart.lcl[0]), float(chart.ucl[0]), n1,
                       subgroup_s, rule_set, chart.rules(rule_set), run.units.get(element, ""),
                       spec.low if spec else None, spec.high if spec else None)


def control_chart_figure(series: ChartSeries, onsets_s: Sequence[float] = (),
                         focus_s: tuple[float, float, float] | None = None) -> Figure:
    """Centre line, limits, Phase I/II boundary, rule violations marked, fault onsets dashed; ``focus_s``
    ``(start, event, end)`` shows only that window with the event marked (a jump from the timeline)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.0))
    ax = fig.subplots()
    t, x = series.t_s, series.values
    ax.plot(t, x, lw=0.9, color="#1f5aa6", marker=".", ms=2.5, label="subgroup mean")
    ax.axhline(series.center, color="#2ca02c", lw=1.0, label=f"CL {series.center:.4g}")
    for limit, name in ((series.ucl, "UCL"), (series.lcl, "LCL")):
        ax.axhline(limit, color="#d62728", lw=1.0, ls="--", label=f"{name} {limit:.4g}")
    ax.axvspan(t[0], t[series.n_phase1 - 1] + series.subgroup_s, color="#888888", alpha=0.08, label="Phase I")
    beyond = series.violations.get(1, [])
    others = [i for i in series.flagged if i not in set(beyond)]
    if others:
        ax.scatter(t[others], x[others], s=16, color="#ff7f0e", zorder=3, label="run rule 2–8")
    if beyond:
        ax.scatter(t[beyond], x[beyond], s=22, color="#d62728", zorder=4, label="beyond limits")
    for limit, name in ((series.lsl, "LSL"), (series.usl, "USL")):
        if limit is not None:
            ax.axhline(limit, color="#000000", lw=1.3, ls="-.", label=f"{name} {limit:.4g} (spec)")
    for onset in onsets_s:
        ax.axvline(onset, color="#9467bd", lw=1.2, ls=":", label="fault onset (truth)")
    if focus_s is not None:
        ax.axvline(focus_s[1], color="#000000", lw=1.0, alpha=0.6, label="the event jumped to")
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    ax.legend(unique.values(), unique.keys(), fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0),
              borderaxespad=0.0)  # beside the chart, never over the data
    capability = series.capability()
    ax.set_title(f"{series.element}: individuals chart of {series.subgroup_s:g} s means, "
                 f"{len(series.flagged)} points flagged ({series.rule_set})"
                 + (f"\n{capability.text()}" if capability else ""), fontsize=9)
    ax.set_ylabel(f"{series.element.rsplit('.', 1)[-1]}" + (f" ({series.unit})" if series.unit else ""), fontsize=8)
    if focus_s is not None:
        ax.set_xlim(focus_s[0], focus_s[2])
    _plant_time_axis(ax, float(t[-1]) if len(t) else 0.0)
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _plant_time_axis(ax: Any, end_s: float) -> None:
    """Label the x axis in plant time a person reads: seconds for a short run, mm:ss or h:mm:ss beyond."""
    from matplotlib.ticker import FuncFormatter

    if end_s < 120:
        ax.set_xlabel("plant time (s)", fontsize=8)
        return
    hours = end_s >= 3600

    def tick(value: float, _position: int) -> str:
        if value < 0:  # a margin tick before the run began
            return ""
        minutes, seconds = divmod(int(round(value)), 60)
        return f"{minutes // 60}:{minutes % 60:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"

    ax.xaxis.set_major_formatter(FuncFormatter(tick))
    ax.set_xlabel("plant time (h:mm:ss)" if hours else "plant time (mm:ss)", fontsize=8)


def rootcause_figure(diagnosis: Diagnosis, *, others: int = 5) -> Figure:
    """The diagnosis as a picture a person can read: the evidence path left to right (the top candidate first,
    the alarmed signal last; each link's evidence score on it), the next ``others`` candidates below with their
    scores, and a legend saying what the colours and numbers are."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import FancyArrowPatch

    path_nodes: list[str] = []
    for step in diagnosis.evidence_path:
        path_nodes += [n for n in (step.cause, step.effect) if n not in path_nodes]
    scores = {c.asset: c.score for c in diagnosis.candidates}
    rest = [c.asset for c in diagnosis.candidates if c.asset not in path_nodes][:others]
    top = diagnosis.top.asset if diagnosis.top else None
    width = max(len(path_nodes), len(rest), 2)
    fig = Figure(figsize=(min(2.2 * width + 1.5, 16), 3.0))
    ax = fig.subplots()
    pos = {n: (float(i), 1.0) for i, n in enumerate(path_nodes)}
    pos |= {n: (float(i), 0.0) for i, n in enumerate(rest)}

    def label(node: str) -> str:
        head, _, tail = node.rpartition(".")
        text = f"{head}.\n{tail}" if head and len(node) > 18 else node
        return text + (f"\nscore {scores[node]:.2f}" if node in scores else "")

    for step in diagnosis.evidence_path:
        (x0, y0), (x1, y1) = pos[step.cause], pos[step.effect]
        ax.add_patch(FancyArrowPatch((x0 + 0.28, y0), (x1 - 0.28, y1), arrowstyle="-|>", mutation_scale=12,
                                     color="#d62728", lw=1.8))
        ax.text((x0 + x1) / 2, y0 + 0.13, f"{step.score:.2f}", ha="center", fontsize=7, color="#d62728")
    for node, (x, y) in pos.items():
        colour = "#d62728" if node == top else "#fbd3d3" if node in path_nodes else "#e6e6e6"
        ax.text(x, y, label(node), ha="center", va="center", fontsize=7, color="white" if node == top else "black",
                bbox={"boxstyle": "round,pad=0.35", "fc": colour, "ec": "#555555", "lw": 0.6})
    legend = [Line2D([], [], marker="s", ls="", color="#d62728", label="most likely cause"),
              Line2D([], [], marker="s", ls="", color="#fbd3d3", label="on its evidence path"),
              Line2D([], [], marker="s", ls="", color="#e6e6e6", label="other candidates (below)"),
              Line2D([], [], color="#d62728", label="link: strength of its evidence in the alarm window")]
    ax.legend(handles=legend, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    confidence = f", confidence {diagnosis.confidence:.0%}" if diagnosis.confidence else ""
    ax.set_title(f"diagnosis {diagnosis.id} ({diagnosis.method}{confidence}): from the cause to the alarmed signal",
                 fontsize=9)
    ax.set_xlim(-0.7, width - 0.3)
    ax.set_ylim(-0.6 if rest else 0.5, 1.6)
    ax.axis("off")
    fig.tight_layout()
    return fig


def trends_png(run: RunData, patterns: Sequence[str], *, resolution_ms: int = 1000) -> bytes:
    """Trends of the tags matching ``patterns`` (``twin plot``'s picture) as PNG bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        out = plot_run(run.run_dir, patterns, Path(tmp) / "trends.png", resolution_ms=resolution_ms)
        return out.read_bytes()


def figure_png(fig: Figure, dpi: int = 100) -> bytes:
    """A matplotlib figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()
