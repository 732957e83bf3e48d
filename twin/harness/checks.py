"""Checks over whole scenarios: determinism (same seed -> byte-identical historian contents)."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from twin.contracts import Mode, RunFiles
from twin.edge.historian import HistorianReader
from twin.harness.episode import EpisodeConfig, run_episode
from twin.harness.scenario import Scenario


def historian_hash(
    scenario: Scenario,
    *,
    seed: int | None = None,
    duration_s: float | None = None,
    mode: Mode = "offline",
) -> str:
    """Run ``scenario`` once in a temporary directory and return the content hash of its historian."""
    with tempfile.TemporaryDirectory(prefix="qt-check-") as tmp:
        run_dir = Path(tmp)
        config = EpisodeConfig(seed=seed, out_dir=run_dir, mode=mode, duration_s=duration_s)
        asyncio.run(run_episode(scenario, config))
        with HistorianReader(run_dir / RunFiles.HISTORIAN) as reader:
            return reader.content_hash()


def check_determinism(
    scenario: Scenario, *, duration_s: float | None = None, mode: Mode = "offline"
) -> tuple[bool, str]:
    """Run ``scenario`` twice with its seed; True and the hash when both historians are identical."""
    first = historian_hash(scenario, duration_s=duration_s, mode=mode)
    second = historian_hash(scenario, duration_s=duration_s, mode=mode)
    return first == second, first
