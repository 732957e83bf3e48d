"""``twin --help`` stays quick: the CLI imports torch, the protocol stacks, the app and the plants only
in the commands that use them. Checked by what gets imported, not by a clock (benchmarks/cli_startup.py
measures the time)."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from twin.cli import app

HEAVY = ("torch", "torch_geometric", "asyncua", "pymodbus", "streamlit", "duckdb", "pyarrow", "scipy", "matplotlib",
         "simpy", "tep_studio", "amqtt", "paho")


def test_importing_the_cli_loads_no_heavy_library() -> None:
    code = f"import sys, twin.cli; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert loaded.stdout.strip() == "[]", loaded.stdout


def test_help_lists_every_command_group() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in ("run", "plc", "edge", "tags", "plot", "scenario", "detect", "ledger", "rootcause", "report", "check",
                 "plugins"):
        assert name in result.output, name
