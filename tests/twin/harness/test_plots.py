"""`twin plot`: a PNG of a finished run, and clear errors."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from typer.testing import CliRunner

from twin.cli import app
from twin.contracts import AlarmRecord, Candidate, CommandRecord, Diagnosis, RunFiles, read_report
from twin.harness.episode import EpisodeConfig, run_episode
from twin.harness.plots import _time_scale, make_figure, plot_run
from twin.harness.scenario import Scenario

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    spec = Scenario.model_validate(dict(
        name="plot", plant="coater", seed=2, duration_s=5, scan_ms=10,
        faults=[{"kind": "sensor_dropout", "target": "coater.blade3.pressure", "start_s": 2.0, "duration_s": 1.0}],
    ))
    asyncio.run(run_episode(spec, EpisodeConfig(out_dir=out, mode="offline")))
    return out


def test_plot_writes_a_png_with_scalars_and_an_array(run_dir: Path) -> None:
    out = plot_run(run_dir, ["coater.blade3.pressure", "coater.xray.thickness_profile"], run_dir / "p.png",
                   resolution_ms=100)
    assert out.read_bytes()[:8] == PNG_MAGIC and out.stat().st_size > 10_000


def test_plot_cli_names_what_is_wrong(run_dir: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["plot", str(run_dir), "-t", "coater.coolant.*"])
    assert ok.exit_code == 0, ok.output
    assert (run_dir / "trends.png").read_bytes()[:8] == PNG_MAGIC
    none = runner.invoke(app, ["plot", str(run_dir), "-t", "coater.nothing.*"])
    assert none.exit_code == 2 and "no stored tag matches" in none.output
    many = runner.invoke(app, ["plot", str(run_dir), "-t", "*"])
    assert many.exit_code == 2 and "narrow the patterns" in many.output


# --------------------------------------------------------------------------- what an engineer keeps

ALARM_S, CUSUM_S, ELSEWHERE_S, DIAGNOSIS_S, OVEN_S, COMMAND_S = 3.0, 3.5, 2.5, 4.0, 4.5, 4.2


@pytest.fixture(scope="module")
def marked_run(run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run above with alarms, diagnoses and commands in its report, and blade 3's range ending at 8 N."""
    out = tmp_path_factory.mktemp("marked") / "run"
    shutil.copytree(run_dir, out, ignore=shutil.ignore_patterns("*.png"))
    report = read_report(out)
    alarm = dict(rule="WE1", state="unack_active")
    report.alarms = [
        AlarmRecord(id="A1", t_ms=int(ALARM_S * 1000), tag="coater.blade3.pressure", detector="level",
                    value=8.6, limit=8.5, **alarm),
        AlarmRecord(id="A2", t_ms=int(CUSUM_S * 1000), tag="coater.blade3.pressure", detector="change",
                    value=13.0, limit=12.0, **alarm),  # a CUSUM decision interval: sigmas, not newtons
        AlarmRecord(id="A3", t_ms=int(ELSEWHERE_S * 1000), tag="coater.blade1.pressure", detector="level",
                    value=9.0, limit=8.9, **alarm),
    ]
    report.diagnoses = [
        Diagnosis(id="D1", t_ms=int(DIAGNOSIS_S * 1000), alarm_ids=["A1"], method="m", model_version="1",
                  candidates=[Candidate(asset="coater.blade3", score=1.0)]),
        Diagnosis(id="D2", t_ms=int(OVEN_S * 1000), alarm_ids=["A1"], method="m", model_version="1",
                  candidates=[Candidate(asset="coater.oven.zone1", score=1.0)]),
    ]
    command = dict(kind="correction", previous=8.0, reason="r", diagnosis_id="D1", rule="x", policy="auto")
    report.commands = [
        CommandRecord(id="C1", t_ms=int(COMMAND_S * 1000), tag="coater.blade3.pressure_sp", value=9.0,
                      status="applied", **command),
        CommandRecord(id="C2", t_ms=int(COMMAND_S * 1000), tag="coater.line.speed_sp", value=30.0,
                      status="logged", **command),
    ]
    report.write(out / RunFiles.REPORT)
    tags = (out / RunFiles.TAGS).read_text(encoding="utf-8")
    line = next(x for x in tags.splitlines() if x.startswith("coater.blade3.pressure,"))
    (out / RunFiles.TAGS).write_text(tags.replace(line, line.replace(",0.0,30.0,", ",0.0,8.0,")), encoding="utf-8")
    return out


def _lines(ax: Axes, gid: str) -> list[Line2D]:
    return [line for line in ax.lines if line.get_gid() == gid]


def _xs(ax: Axes, gid: str) -> list[float]:
    return sorted(float(x) for line in _lines(ax, gid) for x in np.atleast_1d(line.get_xdata()))


def test_every_y_axis_names_its_unit_and_x_plant_time(run_dir: Path) -> None:
    fig = make_figure(run_dir, ["coater.blade3.pressure", "coater.coolant.valve.coil_current",
                                "coater.xray.thickness_profile"])
    pressure, current, profile = fig.axes[:3]
    assert "[N]" in pressure.get_ylabel() and "[A]" in current.get_ylabel()
    (colour_bar,) = profile.child_axes
    assert colour_bar.get_ylabel() == "[µm]"  # the tag map's um: the array's values are its colours
    assert profile.get_xlabel() == "plant time (s)"
    assert _time_scale(600) == (1.0, "s") and _time_scale(7200) == (60.0, "min") and _time_scale(86400)[1] == "h"


def test_alarms_sit_on_their_tag_with_limits_in_its_unit(marked_run: Path) -> None:
    pressure, current = make_figure(marked_run, ["coater.blade3.pressure", "coater.coolant.valve.coil_current"]).axes
    alarms = _lines(pressure, "alarm")
    assert [(a.get_xdata()[0], a.get_ydata()[0]) for a in alarms if a.get_xdata()[0] == ALARM_S] == [(ALARM_S, 8.6)]
    assert CUSUM_S in _xs(pressure, "alarm") and ALARM_S not in _xs(current, "alarm")
    limits = [c for c in pressure.collections if c.get_gid() == "alarm_limit"]
    levels = [seg[:, 1].tolist() for c in limits for seg in c.get_segments()]
    assert levels == [[8.5, 8.5]]  # the Shewhart limit, short, around the alarm; not the CUSUM's 12
    (segment,) = limits[0].get_segments()
    assert segment[0, 0] < ALARM_S < segment[1, 0] and segment[1, 0] - segment[0, 0] < 5
    for ax in (pressure, current):  # an alarm on a tag not shown: a thin tick on every panel
        assert ELSEWHERE_S in _xs(ax, "alarm")


def test_diagnoses_and_commands_are_marked_where_they_apply(marked_run: Path) -> None:
    pressure, setpoint, speed = make_figure(
        marked_run, ["coater.blade3.pressure", "coater.blade3.pressure_sp", "coater.coolant.flow"]).axes
    assert DIAGNOSIS_S in _xs(pressure, "diagnosis") and DIAGNOSIS_S in _xs(setpoint, "diagnosis")
    assert DIAGNOSIS_S not in _xs(speed, "diagnosis")  # coater.blade3 is not the coolant
    for ax in (pressure, setpoint, speed):  # no panel of the oven: a line on each
        assert OVEN_S in _xs(ax, "diagnosis")
    (applied,) = [line for line in _lines(setpoint, "command") if line.get_marker() == "s"]
    assert (applied.get_xdata()[0], applied.get_ydata()[0]) == (COMMAND_S, 9.0)  # the value written
    assert applied.get_markerfacecolor() != "white"  # filled: the bridge applied it
    assert set(_xs(pressure, "command")) == {COMMAND_S}  # the speed change, not shown, as a line


def test_fault_onset_is_truth_and_optional(run_dir: Path) -> None:
    with_truth = make_figure(run_dir, ["coater.blade3.pressure"])
    assert _xs(with_truth.axes[0], "fault_onset") == [2.0, 2.0]  # an axvline has two x points
    assert "sensor_dropout" in with_truth.get_suptitle()
    without = make_figure(run_dir, ["coater.blade3.pressure"], truth=False)
    assert not _lines(without.axes[0], "fault_onset") and "sensor_dropout" not in without.get_suptitle()
    labels = [t.get_text() for legend in without.legends for t in legend.get_texts()]
    assert "fault onset (truth)" not in labels
    result = CliRunner().invoke(app, ["plot", str(run_dir), "-t", "coater.blade3.*", "--no-truth",
                                      "--out", str(run_dir / "no_truth.png")])
    assert result.exit_code == 0, result.output


def test_engineering_range_shows_beyond_its_limits(marked_run: Path) -> None:
    (pressure,) = make_figure(marked_run, ["coater.blade3.pressure"]).axes
    bands = [p for p in pressure.patches if p.get_gid() == "range"]
    assert bands and min(p.get_extents().transformed(pressure.transData.inverted()).y0 for p in bands) \
        == pytest.approx(8.0)


def test_legend_stays_off_the_data(marked_run: Path) -> None:
    fig = make_figure(marked_run, ["coater.blade3.pressure", "coater.xray.thickness_profile", "coater.coolant.flow"])
    renderer = fig.canvas.get_renderer()
    fig.draw(renderer)
    (legend,) = fig.legends
    labels = {t.get_text() for t in legend.get_texts()}
    assert {"alarm", "alarm limit", "diagnosis (top candidate)", "command applied (tag not shown)",
            "fault onset (truth)"} <= labels
    box = legend.get_window_extent(renderer)
    assert all(not box.overlaps(ax.get_window_extent(renderer)) for ax in fig.axes)
    assert box.y0 >= max(ax.get_window_extent(renderer).y1 for ax in fig.axes)
    assert fig._suptitle is not None and not box.overlaps(fig._suptitle.get_window_extent(renderer))


def test_a_rerun_replaces_the_picture_whole(run_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "plots"
    folder.mkdir()
    first = plot_run(run_dir, ["coater.coolant.*"], folder)
    assert first == folder / "trends.png"
    second = plot_run(run_dir, ["coater.blade3.pressure"], folder)
    assert second == first and [p.name for p in folder.iterdir()] == ["trends.png"]
    fresh = plot_run(run_dir, ["coater.blade3.pressure"], tmp_path / "fresh.png")
    assert second.read_bytes() == fresh.read_bytes()  # the new tags, complete


def test_a_failed_rerun_leaves_no_old_or_half_picture(run_dir: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "trends.png"
    plot_run(run_dir, ["coater.coolant.flow"], out)
    with pytest.raises(ValueError, match="no stored tag matches"):
        plot_run(run_dir, ["coater.nothing"], out)
    assert list(tmp_path.iterdir()) == []  # not the old picture, which shows something else

    plot_run(run_dir, ["coater.coolant.flow"], out)

    def half_written(self: Figure, fname: Any, **kwargs: Any) -> None:
        (fname.write if hasattr(fname, "write") else Path(fname).write_bytes)(PNG_MAGIC)
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", half_written)
    with pytest.raises(OSError, match="disk full"):
        plot_run(run_dir, ["coater.blade3.pressure"], out)
    assert list(tmp_path.iterdir()) == []
