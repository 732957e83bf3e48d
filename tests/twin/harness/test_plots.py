"""`twin plot`: a PNG of a finished run, and clear errors."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from twin.cli import app
from twin.harness.episode import EpisodeConfig, run_episode
from twin.harness.plots import plot_run
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
