"""Plots of a finished run: trends of chosen tags, what the edge did about them, and the injected faults.

Reads only the run directory (historian, ``report.json`` and ``tags.csv``). One panel per tag:

* **values** — a scalar is a line of its as-of value on a ``resolution_ms`` grid, its y axis
  labelled with the tag map's unit; an array tag (a thickness profile, a spectrum) is a heatmap
  of its elements against time, the unit on its colour bar. Time where a value was not ``good``
  is shaded red.
* **limits** — each alarm's control limit, a short dashed level line at the alarm, where that
  limit is in the tag's own unit: a Shewhart or EWMA rule of the ``spc`` detector on the raw
  subgroup means (the ``detection`` section of the scenario in the report says which). A CUSUM
  limit (a decision interval in sigmas), a limit on prewhitened forecast errors or on a context
  band's residual, and a plug-in detector's limit are not in the tag's unit and are not drawn;
  nor are any limits of a run in which a threshold rule rescaled the bands. The tag map's
  engineering range (``low``/``high``) is a faint grey band beyond it, seen only when the trace
  comes near it. Neither the tag map nor the report holds specification limits today, so none
  are drawn.
* **events** — alarms (red triangles: at the value judged when its limit is drawn, else on the
  trace), diagnoses (purple diamonds on the panels of the top candidate's asset), commands
  (green squares at the value written, filled when the bridge applied it) and the injected
  fault's onset (orange dashed, from the report's truth; ``truth=False`` leaves it out, as an
  operator would see the run). An event that belongs to no plotted panel is a thin vertical
  line of the same colour on every panel (an alarm elsewhere: a short tick at the top).

The legend sits above the panels, outside the data. Time is plant seconds, or minutes or hours
for a long run (the x label says which).

:func:`plot_run` writes the picture atomically: a finished file replaces the old one in one
step, and a failed plot leaves no file at ``out`` (not an old picture of something else).
"""

from __future__ import annotations

import contextlib
import fnmatch
import math
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from twin.contracts import RunFiles, read_report
from twin.edge.frames import Quality
from twin.edge.historian import HistorianReader

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from twin.contracts import RunReport

MAX_PANELS = 12
PANEL_IN = 1.9  # height of one panel, inches

# one colour and marker per kind of event; gids let tests (and anyone) find the artists
STYLE = {
    "fault_onset": dict(color="#ff7f0e", ls="--", lw=1.3, label="fault onset (truth)"),
    "alarm": dict(color="#d62728", marker="v", label="alarm"),
    "alarm_limit": dict(color="#d62728", ls=(0, (4, 2)), lw=1.1, label="alarm limit"),
    "diagnosis": dict(color="#7b2fa8", marker="D", label="diagnosis (top candidate)"),
    "command": dict(color="#2ca02c", marker="s", label="command"),
    "range": dict(color="#7f7f7f", alpha=0.18, label="beyond engineering range"),
    "not_good": dict(color="#d62728", alpha=0.15, label="quality not good"),
}
LEGEND_ORDER = ("fault_onset", "alarm", "alarm_limit", "diagnosis", "command", "not_good", "range")
TRACE = "#1f5aa6"
UNIT_TEXT = {"degC": "°C", "um": "µm"}


def plot_run(
    run_dir: str | Path,
    patterns: Sequence[str],
    out: str | Path,
    *,
    resolution_ms: int = 1000,
    truth: bool = True,
    dpi: int = 110,
) -> Path:
    """Write a picture (PNG, or any format matplotlib knows by the suffix) of the tags matching ``patterns``.

    One panel per tag, in the order of the patterns; see the module docstring for what is drawn.
    ``out`` may be an existing folder (the picture is then ``out/trends.png``). The file is
    written beside ``out`` and moved into place when complete, so a rerun replaces the old
    picture in one step; when the plot fails, the old picture is removed too (it would show
    something other than what was asked) and the error raised.
    """
    out = Path(out)
    if out.is_dir():
        out = out / "trends.png"
    try:
        fig = make_figure(run_dir, patterns, resolution_ms=resolution_ms, truth=truth)
        _save_atomically(fig, out, dpi)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            out.unlink()
        raise
    return out


def make_figure(
    run_dir: str | Path, patterns: Sequence[str], *, resolution_ms: int = 1000, truth: bool = True
) -> Figure:
    """The figure :func:`plot_run` writes (a bare :class:`~matplotlib.figure.Figure`, no pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    run_dir = Path(run_dir)
    report = read_report(run_dir)
    end_ms = int(report.durations.plant_s * 1000)
    with HistorianReader(run_dir / RunFiles.HISTORIAN) as reader:
        tags = _matching_tags(reader.tags(), patterns)
        series = {tag: _series(reader, tag, resolution_ms, end_ms) for tag in tags}
    tagmap = _tag_info(run_dir)
    scale, time_unit = _time_scale(report.durations.plant_s)
    limit_labels = _limit_labels(report)

    fig = Figure(figsize=(11, PANEL_IN * len(tags) + 1.4))
    FigureCanvasAgg(fig)  # a renderer of its own: drawable and measurable without pyplot
    axes = fig.subplots(len(tags), 1, sharex=True, squeeze=False)[:, 0]
    panels = {tag: _Panel(ax, tag, *series[tag], scale) for ax, tag in zip(axes, tags)}
    for panel in panels.values():
        _draw_values(fig, panel, tagmap.get(panel.tag))
    handles: dict[str, Any] = {}
    if any(p.bad.any() for p in panels.values()):
        handles[STYLE["not_good"]["label"]] = _patch("not_good")
    events = _Events(panels, scale, handles)
    for alarm in report.alarms:
        events.alarm(alarm, draw_limit=alarm.detector in limit_labels and "context" not in alarm.rule)
    for diagnosis in report.diagnoses:
        events.diagnosis(diagnosis)
    for command in report.commands:
        events.command(command)
    if truth:
        for fault in report.faults:
            events.onset(fault.onset_s)
    for panel in panels.values():  # after everything that sets the y range
        _draw_range(panel, tagmap.get(panel.tag), handles)

    if truth:
        faults = "; ".join(f"{f.kind} on {f.target} at {f.onset_s:g} s" for f in report.faults) or "no fault"
    else:
        faults = "fault truth hidden"
    fig.suptitle(f"{report.scenario['name']} (seed {report.seed}): {faults}", fontsize=10)
    axes[-1].set_xlabel(f"plant time ({time_unit})")
    axes[-1].set_xlim(0, max(end_ms, resolution_ms) / 1000 / scale)
    _layout(fig, handles)
    return fig


# --------------------------------------------------------------------------- panels


@dataclass
class _Panel:
    ax: Axes
    tag: str
    t_s: np.ndarray  # grid, plant seconds
    values: np.ndarray  # one row per element
    bad: np.ndarray
    scale: float  # seconds per x unit

    @property
    def x(self) -> np.ndarray:
        return self.t_s / self.scale

    @property
    def is_array(self) -> bool:
        return self.values.shape[0] > 1

    def value_at(self, t_ms: int, element: int = 0) -> float:
        """The trace's value at plant time ``t_ms`` (NaN outside the grid or where there is none)."""
        if not len(self.t_s):
            return math.nan
        i = int(np.clip(np.searchsorted(self.t_s, t_ms / 1000, side="right") - 1, 0, len(self.t_s) - 1))
        return float(self.values[min(element, self.values.shape[0] - 1), i])

    def y_at(self, tag: str, t_ms: int) -> float:
        """Where an event on ``tag`` (this tag or one of its elements) sits: the value, or the element row."""
        element = _element(tag)
        if self.is_array:
            return float(element if element is not None else (self.values.shape[0] - 1) / 2)
        return self.value_at(t_ms)


def _draw_values(fig: Figure, panel: _Panel, info: dict[str, Any] | None) -> None:
    ax, x, values = panel.ax, panel.x, panel.values
    unit = _unit_text(info)
    head, _, rest = panel.tag.split(".", 1)[-1].partition(".")
    name = f"{head}\n{rest}" if rest else head
    if not panel.is_array:
        ax.plot(x, values[0], lw=1.0, color=TRACE)
        ax.set_ylabel(f"{name}\n[{unit}]" if unit else name, fontsize=8)
    else:  # an array tag: elements (lanes, bins) against time
        step = x[1] - x[0] if len(x) > 1 else 1.0
        image = ax.imshow(values, aspect="auto", origin="lower", cmap="viridis", interpolation="nearest",
                          extent=(x[0] - step / 2, x[-1] + step / 2, -0.5, values.shape[0] - 0.5))
        bar = fig.colorbar(image, cax=ax.inset_axes((1.005, 0.0, 0.012, 1.0)))  # keeps panels aligned
        bar.ax.tick_params(labelsize=7)
        if unit:
            bar.set_label(f"[{unit}]", fontsize=8)
        ax.set_ylabel(f"{name}\nelement", fontsize=8)
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.3)
    if panel.bad.any():
        ax.fill_between(x, 0, 1, where=panel.bad, transform=ax.get_xaxis_transform(), step="mid",
                        color=STYLE["not_good"]["color"], alpha=STYLE["not_good"]["alpha"], lw=0, gid="not_good")


def _draw_range(panel: _Panel, info: dict[str, Any] | None, handles: dict[str, Any]) -> None:
    """Grey beyond the engineering range, where the view reaches it (the view itself is kept)."""
    if panel.is_array or info is None:
        return
    ax = panel.ax
    bottom, top = ax.get_ylim()
    style = STYLE["range"]
    drew = False
    if top > info["high"]:
        ax.axhspan(max(info["high"], bottom), top, color=style["color"], alpha=style["alpha"], lw=0, gid="range")
        drew = True
    if bottom < info["low"]:
        ax.axhspan(bottom, min(info["low"], top), color=style["color"], alpha=style["alpha"], lw=0, gid="range")
        drew = True
    ax.set_ylim(bottom, top)
    if drew:
        handles.setdefault(STYLE["range"]["label"], _patch("range"))


class _Events:
    """Alarms, diagnoses, commands and onsets onto the panels they concern (or all, as thin lines)."""

    def __init__(self, panels: dict[str, _Panel], scale: float, handles: dict[str, Any]) -> None:
        self.panels, self.scale, self.handles = panels, scale, handles
        span_s = max((p.t_s[-1] for p in panels.values() if len(p.t_s)), default=1.0)
        self.half_width_s = max(span_s * 0.03, 1.0)  # of a limit's level line

    def alarm(self, alarm: Any, *, draw_limit: bool) -> None:
        panel = self.panels.get(_base(alarm.tag))
        if panel is None:  # a short tick at the top of every panel: there, not in the way
            self._everywhere("alarm", alarm.t_ms, ls="-", lw=1.0, alpha=0.6, span=(0.9, 1.0),
                             label="alarm on a tag not shown")
            return
        limit = alarm.limit
        draw_limit = draw_limit and limit is not None and math.isfinite(limit) and not panel.is_array
        # with its limit, the alarm sits at the value judged (a subgroup mean); else on the trace
        y = alarm.value if draw_limit and alarm.value is not None else panel.y_at(alarm.tag, alarm.t_ms)
        self._marker(panel, "alarm", alarm.t_ms, y)
        if draw_limit:
            t = alarm.t_ms / 1000
            style = STYLE["alarm_limit"]
            panel.ax.hlines(limit, (t - self.half_width_s) / self.scale, (t + self.half_width_s) / self.scale,
                            colors=style["color"], linestyles=style["ls"], lw=style["lw"], gid="alarm_limit")
            self.handles.setdefault(style["label"], self._line("alarm_limit"))

    def diagnosis(self, diagnosis: Any) -> None:
        top = diagnosis.candidates[0] if diagnosis.candidates else None
        concerned = [p for p in self.panels.values() if top is not None and _concerns(p.tag, top.asset, top.signal)]
        if not concerned:
            self._everywhere("diagnosis", diagnosis.t_ms, ls="-.")
        for panel in concerned:
            self._marker(panel, "diagnosis", diagnosis.t_ms, panel.y_at(panel.tag, diagnosis.t_ms))

    def command(self, command: Any) -> None:
        applied = command.status == "applied"
        label = "command applied" if applied else "command not applied"
        panel = self.panels.get(command.tag or "")
        if panel is None or command.value is None or panel.is_array:
            self._everywhere("command", command.t_ms, ls="-" if applied else (0, (5, 2, 1, 2)),
                             label=f"{label} (tag not shown)")
            return
        self._marker(panel, "command", command.t_ms, command.value, filled=applied, label=label)

    def onset(self, onset_s: float) -> None:
        self._everywhere("fault_onset", int(onset_s * 1000), ls=STYLE["fault_onset"]["ls"],
                         lw=STYLE["fault_onset"]["lw"], alpha=1.0)

    def _marker(self, panel: _Panel, kind: str, t_ms: int, y: float, *, filled: bool = True,
                label: str | None = None) -> None:
        style = STYLE[kind]
        x = t_ms / 1000 / self.scale
        kwargs = dict(marker=style["marker"], ms=7, mec="white" if filled else style["color"],
                      mew=0.8 if filled else 1.4, mfc=style["color"] if filled else "white", ls="none", zorder=5,
                      gid=kind)
        if math.isfinite(y):
            panel.ax.plot([x], [y], **kwargs)
        else:  # no value to sit on: at the top of the panel
            panel.ax.plot([x], [0.97], transform=panel.ax.get_xaxis_transform(), clip_on=False, **kwargs)
        label = label or style["label"]
        self.handles.setdefault(label, self._line(kind, marker=True, filled=filled, label=label))

    def _everywhere(self, kind: str, t_ms: int, *, ls: Any, lw: float = 0.8, alpha: float = 0.55,
                    span: tuple[float, float] = (0.0, 1.0), label: str | None = None) -> None:
        style = STYLE[kind]
        for panel in self.panels.values():
            panel.ax.axvline(t_ms / 1000 / self.scale, *span, color=style["color"], ls=ls, lw=lw, alpha=alpha,
                             gid=kind, zorder=1.5)
        label = label or style["label"]
        self.handles.setdefault(label, self._line(kind, ls=ls, lw=lw, alpha=alpha, label=label))

    @staticmethod
    def _line(kind: str, *, marker: bool = False, filled: bool = True, ls: Any = None, lw: float | None = None,
              alpha: float = 1.0, label: str | None = None) -> Any:
        from matplotlib.lines import Line2D

        style = STYLE[kind]
        if marker:
            return Line2D([], [], marker=style["marker"], ls="none", ms=7, color=style["color"],
                          mfc=style["color"] if filled else "white", mec="white" if filled else style["color"],
                          label=label or style["label"])
        return Line2D([], [], color=style["color"], ls=ls or style.get("ls", "-"), lw=lw or style.get("lw", 1.0),
                      alpha=alpha, label=label or style["label"])


def _patch(kind: str) -> Any:
    from matplotlib.patches import Patch

    style = STYLE[kind]
    return Patch(color=style["color"], alpha=style["alpha"], label=style["label"], lw=0)


def _layout(fig: Figure, handles: dict[str, Any]) -> None:
    """Panels below a title and a legend strip, so the legend never sits on the data."""
    order = [label for kind in LEGEND_ORDER for label in handles if label.startswith(STYLE[kind]["label"])]
    ordered = [handles[label] for label in dict.fromkeys([*order, *handles])]
    ncol = min(len(ordered), 4) or 1
    rows = math.ceil(len(ordered) / ncol)
    title_in, legend_in = 0.38, 0.19 * rows  # inches from the top: the title, then the legend rows
    height = PANEL_IN * len(fig.axes) + 0.6 + title_in + legend_in
    fig.set_figheight(height)
    fig.suptitle(fig.get_suptitle(), fontsize=10, y=1 - 0.12 / height, va="top")
    if ordered:
        fig.legend(handles=ordered, loc="upper center", bbox_to_anchor=(0.5, 1 - title_in / height),
                   ncol=ncol, fontsize=8, frameon=False, handlelength=2.4, columnspacing=1.8)
    fig.tight_layout(rect=(0, 0, 1, 1 - (title_in + legend_in) / height))
    if ordered:  # close the gap tight_layout leaves under the legend
        legend_bottom = fig.legends[0].get_window_extent(fig.canvas.get_renderer()).y0 / (height * fig.dpi)
        fig.subplots_adjust(top=legend_bottom - 0.1 / height)


# --------------------------------------------------------------------------- data


def _matching_tags(stored: list[str], patterns: Sequence[str]) -> list[str]:
    """Tags (array elements folded into their tag) matching the patterns, in pattern order."""
    tags = list(dict.fromkeys(name.split("[", 1)[0] for name in stored))
    chosen = list(dict.fromkeys(t for p in patterns for t in tags if fnmatch.fnmatchcase(t, p)))
    if not chosen:
        raise ValueError(f"no stored tag matches {list(patterns)}; stored tags start with {tags[:5]}")
    if len(chosen) > MAX_PANELS:
        raise ValueError(f"{len(chosen)} tags match {list(patterns)}; narrow the patterns to {MAX_PANELS} or fewer")
    return chosen


def _series(reader: HistorianReader, tag: str, resolution_ms: int, end_ms: int) -> tuple[np.ndarray, ...]:
    """Grid times (s), values (one row per element) and a not-good mask over time."""
    resampled = reader.resample(resolution_ms, 0, max(end_ms, resolution_ms), [tag])
    values = np.vstack([v for v, _ in resampled.values()])
    quality = np.vstack([q for _, q in resampled.values()])
    grid = np.arange(0, max(end_ms, resolution_ms), resolution_ms) / 1000
    return grid, values, (quality != Quality.GOOD).any(axis=0)


def _tag_info(run_dir: Path) -> dict[str, dict[str, Any]]:
    """Unit and engineering range per tag from the run's ``tags.csv`` (none if the run has no readable one)."""
    from qtconfig import ConfigError
    from virtual_plc.tagmap import load_tagmap

    try:
        tagmap = load_tagmap(run_dir / RunFiles.TAGS)
    except (FileNotFoundError, ConfigError):
        return {}
    return {t.name: {"unit": t.unit, "low": t.low, "high": t.high} for t in tagmap.tags}


def _limit_labels(report: RunReport) -> set[str]:
    """Labels of the detectors whose alarm limits are in the tag's own unit (see the module docstring)."""
    from pydantic import ValidationError

    from twin.edge.detection.settings import DetectionSettings

    scenario = report.scenario
    plugin = ((scenario.get("plugins") or {}).get("detector") or {}).get("use", "spc")
    if plugin != "spc":
        return set()
    try:
        settings = DetectionSettings.model_validate(scenario.get("detection") or {})
    except ValidationError:
        return set()
    if report.detection.get("threshold_firings"):  # bands were rescaled for a while: limits left out
        return set()
    return {
        rule.label for rule in settings.monitor
        if rule.detector in ("shewhart", "ewma") and not rule.context
        and not (settings.prewhiten if rule.prewhiten is None else rule.prewhiten)
    }


def _time_scale(plant_s: float) -> tuple[float, str]:
    """Seconds per x unit, and the unit's name: seconds up to 20 min, minutes up to 10 h, then hours."""
    if plant_s <= 1200:
        return 1.0, "s"
    if plant_s <= 36000:
        return 60.0, "min"
    return 3600.0, "h"


def _unit_text(info: dict[str, Any] | None) -> str:
    unit = (info or {}).get("unit", "")
    return UNIT_TEXT.get(unit, unit)


def _base(tag: str) -> str:
    return tag.split("[", 1)[0]


def _element(tag: str) -> int | None:
    if "[" not in tag:
        return None
    with contextlib.suppress(ValueError):
        return int(tag.split("[", 1)[1].rstrip("]"))
    return None


def _concerns(tag: str, asset: str, signal: str | None) -> bool:
    """True when ``tag`` belongs to ``asset`` or carries the candidate's evidence."""
    return tag == asset or tag.startswith(asset + ".") or (signal is not None and _base(signal) == tag)


def _save_atomically(fig: Figure, out: Path, dpi: int) -> None:
    """Write beside ``out`` and move into place: readers see the old file or the whole new one, never half."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:12]}.tmp")  # same folder: os.replace is atomic
    try:
        with open(tmp, "xb") as fh:
            fig.savefig(fh, dpi=dpi, format=out.suffix.lstrip(".").lower() or "png")
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
