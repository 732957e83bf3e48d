"""The import contract: what runs at the edge never imports a plant model.

Checked with import-linter (contracts in pyproject.toml), on the real tree and on a copy
with a deliberate leak, to show the contract bites.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

PACKAGES = ["twin", "plant_models", "supply_chain_sim", "rootcause", "virtual_plc"]


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [str(exe), "--no-cache"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
    )


def test_the_edge_never_imports_a_plant_model() -> None:
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout and "2 kept, 0 broken" in result.stdout


def test_an_indirect_leak_into_the_edge_is_caught(tmp_path: Path) -> None:
    for package in PACKAGES:
        shutil.copytree(REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    # an edge module reaching the plant through a twin helper, two hops away
    (tmp_path / "twin" / "edge" / "leak.py").write_text("from twin import episode  # noqa\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "The edge never imports a plant model" in result.stdout and "BROKEN" in result.stdout
    assert "twin.edge.leak -> twin.episode" in result.stdout


# twin modules that may see the plant: they wire runs, hold the truth or present it
NOT_EDGE = {"twin", "twin.binding", "twin.checks", "twin.cli", "twin.episode", "twin.plots", "twin.report",
            "twin.scenario", "twin.serve",
            # scoring a run against the injected truth (issue 6)
            "twin.scores",
            # scenario suites with score gates, the pytest plug-in, the CLI's progress bar (issue 10)
            "twin.suite", "twin.suite.cli", "twin.suite.gates", "twin.suite.junit", "twin.suite.metrics",
            "twin.suite.runner", "twin.suite.spec", "twin.pytest_plugin", "twin.progress",
            # root-cause datasets, training and scoring (issue 5): they label episodes with the truth
            "twin.rca_bench", "twin.rca_cli", "twin.rca_dataset", "twin.rca_tep",
            # the app's run views (issue 8): reporting on a finished run, truth included
            "twin.runview", "twin.runview.charts", "twin.runview.cli", "twin.runview.html", "twin.runview.metrics",
            "twin.runview.roles", "twin.runview.run", "twin.runview.whatif",
            # supply runs (issue 9): wiring, scenario, truth-side scoring; twin.supply.analytics is edge
            "twin.supply", "twin.supply.cli", "twin.supply.report", "twin.supply.runner", "twin.supply.scenario",
            "twin.supply.scoring",
            # the suppliers' side of the portal (encodes what the chain publishes) and its transports
            "twin.supply.portal"}


def test_every_twin_module_is_either_edge_or_declared_not_edge() -> None:
    """A new module (twin.detection, twin.control, ...) cannot slip past the contract unnoticed."""
    import pkgutil
    import tomllib

    import twin

    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    (edge_contract,) = [c for c in config["tool"]["importlinter"]["contracts"] if c["name"].startswith("The edge")]
    guarded = edge_contract["source_modules"]
    modules = ["twin"] + [m.name for m in pkgutil.walk_packages(twin.__path__, "twin.")]
    for module in modules:
        covered = any(module == g or module.startswith(g + ".") for g in guarded)
        assert covered or module in NOT_EDGE, (
            f"{module} is neither under the edge import contract ({guarded}) nor declared not-edge; "
            "add it to the contract in pyproject.toml if it runs at the edge"
        )
