"""The README documents every command and scenario, and CI runs the README's test command."""

from __future__ import annotations

import re

import typer.main

from tests.conftest import REPO
from twin.cli import app

README = (REPO / "README.md").read_text()


def quick_start_commands() -> list[str]:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "Quick start needs a fenced bash block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def cli_commands() -> list[str]:
    def walk(group, prefix: str) -> list[str]:  # noqa: ANN001
        names = []
        for name, command in group.commands.items():
            full = f"{prefix} {name}".strip()
            names.extend(walk(command, full) if hasattr(command, "commands") else [full])
        return names

    return walk(typer.main.get_command(app), "twin")


def test_quick_start_has_exactly_two_commands_run_then_test() -> None:
    first, second = quick_start_commands()
    assert "twin run scenarios/coater_coil_ageing.yaml" in first and "pip install" in first
    assert "pytest" in second


def test_ci_runs_the_readme_test_command() -> None:
    ci = (REPO / ".ci" / "run").read_text()
    assert quick_start_commands()[1] in ci.splitlines()


def test_every_cli_command_is_documented() -> None:
    commands = cli_commands()
    assert {"twin run", "twin plc serve", "twin tags export", "twin scenario check"} <= set(commands)
    for command in commands:
        assert f"`{command}" in README, f"{command} is not documented in README.md"


def test_every_scenario_is_documented() -> None:
    for path in sorted((REPO / "scenarios").glob("*.yaml")):
        assert f"scenarios/{path.name}" in README, f"{path.name} is not documented in README.md"
