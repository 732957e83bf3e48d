"""What a new user meets in the first hour: misspellings answered with a suggestion, YAML errors on the right
line, a warning for a run too short to show anything, a summary that fits the terminal and lists every
diagnosis, and commands that are ``watching`` only once they were sent."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console
from typer.testing import CliRunner

from qtconfig import ConfigError
from tests.conftest import REPO
from twin.cli import app
from twin.cli.summary import MAX_DIAGNOSES, print_summary
from twin.contracts import RunReport
from twin.harness.scenario import load_scenario

runner = CliRunner()
FLAGSHIP = REPO / "scenarios" / "coater_coil_ageing.yaml"


@pytest.mark.parametrize(("typed", "meant"), [(["rn"], "run"), (["rootcause", "trian"], "train"),
                                              (["scenario", "chek"], "check"), (["ledger", "verfy"], "verify")])
def test_a_misspelled_subcommand_gets_a_suggestion(typed: list[str], meant: str) -> None:
    result = runner.invoke(app, typed)
    assert result.exit_code == 2
    assert f"Did you mean '{meant}'?" in result.output


def test_a_misspelled_scenario_key_gets_a_suggestion_with_its_line(tmp_path: Path) -> None:
    text = FLAGSHIP.read_text().replace("  warmup_s:", "  warmup:", 1).replace("scan_ms:", "scan_msec:", 1)
    path = tmp_path / "typo.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_scenario(path)
    lines = text.splitlines()
    warmup_line = next(i for i, line in enumerate(lines, 1) if line.startswith("  warmup:"))
    expected = f"field detection.warmup (line {warmup_line}): unknown key 'warmup'; did you mean 'warmup_s'?"
    assert expected in str(err.value)
    assert "unknown key 'scan_msec'; did you mean 'scan_ms'?" in str(err.value)


@given(st.integers(min_value=2, max_value=30))
def test_a_key_without_its_colon_is_reported_on_its_own_line(line: int) -> None:
    """The parser only notices on the next line; the message names the line the mistake is on."""
    keys = [f"key{i}: {i}" for i in range(1, 31)]
    keys[line - 1] = f"key{line} {line}"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "broken.yaml"
        path.write_text("\n".join(keys) + "\n")
        with pytest.raises(ConfigError, match=rf"line {line}: YAML syntax error: could not find expected ':'"):
            load_scenario(path)


def test_a_run_that_ends_before_the_fault_or_in_the_warm_up_warns(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", str(FLAGSHIP), "--offline", "--duration", "2", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "warning: the run ends at 2 s, before the first fault starts (120 s): nothing is injected" in result.output
    assert "within the detection warm-up (120 s): no alarm can be raised" in result.output
    quiet = runner.invoke(app, ["run", str(FLAGSHIP), "--offline", "--duration", "2", "--out", str(tmp_path)],
                          env={"COLUMNS": "200"})
    assert quiet.output.count("warning:") == 2  # the same two, no more


def _report(n_diagnoses: int) -> RunReport:
    """A finished run's report with ``n_diagnoses`` diagnoses of a long-named asset."""
    diagnoses = [{"id": f"d{i}", "t_ms": 150_000 + 1000 * i, "alarm_ids": ["a1"], "method": "gnn", "model_version": "1",
                  "candidates": [{"asset": "coater.coolant.valve.some_very_long_asset_name_for_width", "score": 0.9}],
                  "evidence_path": [{"cause": "coater.coolant.valve", "effect": "coater.coolant.flow",
                                     "signal": "coater.coolant.flow", "score": 0.8}]} for i in range(n_diagnoses)]
    return RunReport.model_validate({
        "scenario": {"name": "a_scenario_name", "control": {"policy": "off"}}, "seed": 1, "mode": "offline",
        "faults": [{"kind": "valve_coil_ageing", "target": "coater.coolant.valve.with.a.long.target.name",
                    "onset_s": 120.0}],
        "counts": {"frames": 10, "samples": 10, "samples_by_quality": {"good": 10}, "polls": 10, "failed_polls": 0,
                   "reconnects": 0},
        "diagnoses": diagnoses, "durations": {"plant_s": 1.0, "wall_s": 1.0, "realtime_factor": 1.0}, "outputs": {}})


@given(n=st.integers(min_value=0, max_value=3 * MAX_DIAGNOSES), width=st.integers(min_value=60, max_value=160))
def test_the_summary_fits_the_terminal_and_accounts_for_every_diagnosis(n: int, width: int) -> None:
    console = Console(width=width, record=True, force_terminal=False)
    print_summary(_report(n), Path("/nonexistent/run"), console=console)
    text = console.export_text()
    assert all(len(line) <= width for line in text.splitlines())
    assert "…" not in text  # folded, never cut
    shown = text.count("diagnosis at")
    assert shown == min(n, MAX_DIAGNOSES)
    if n > MAX_DIAGNOSES:
        assert f"and {n - MAX_DIAGNOSES} more diagnoses" in text
    assert "twin plot" in text and "twin report html" in text


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["off", "auto"])
def test_only_a_command_that_was_sent_is_watching(tmp_path: Path, policy: str) -> None:
    result = runner.invoke(app, ["run", str(FLAGSHIP), "--offline", "--duration", "200", "--policy", policy,
                                 "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    commands = json.loads((tmp_path / "report.json").read_text())["commands"]
    assert commands, "the flagship's playbook proposed a correction"
    for command in commands:
        outcome = (command["verification"] or {}).get("outcome")
        if command["sent_t_ms"] is None:
            assert outcome in (None, "not_sent"), command
        else:
            assert outcome != "not_sent", command
    assert any(c["sent_t_ms"] is not None for c in commands) == (policy == "auto")


def _options() -> list[tuple[str, str, str]]:
    """(command, option, help) of every option of every command of ``twin``."""
    import typer.main

    found = []

    def walk(group, prefix: str) -> None:  # noqa: ANN001
        for name, command in group.commands.items():
            if hasattr(command, "commands"):
                walk(command, f"{prefix} {name}")
                continue
            for param in command.params:
                for option in getattr(param, "opts", []):
                    found.append((f"{prefix} {name}", option, getattr(param, "help", "") or ""))

    walk(typer.main.get_command(app), "twin")
    return found


def test_each_flag_name_means_one_thing_across_commands() -> None:
    """``--policy`` is the control mode wherever it appears (plug-ins are ``--control-policy``); ``--duration``
    is plant time wherever it appears (wall time is ``--wall-seconds``)."""
    options = _options()
    policies = [(c, h) for c, o, h in options if o == "--policy"]
    durations = [(c, h) for c, o, h in options if o == "--duration"]
    assert policies and durations
    for command, text in policies:
        assert "off | recommend | auto" in text, command
    for command, text in durations:
        assert "plant" in text or "PLC time" in text, command
    assert all("wall" in h for c, o, h in options if o == "--wall-seconds")
    assert any(o == "--control-policy" for c, o, h in options if c == "twin check")
