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

PACKAGES = ["twin", "plant_models", "supply_chain_sim", "rootcause", "virtual_plc", "qtconfig"]


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
    assert "BROKEN" not in result.stdout and "3 kept, 0 broken" in result.stdout


def test_an_indirect_leak_into_the_edge_is_caught(tmp_path: Path) -> None:
    for package in PACKAGES:
        shutil.copytree(REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    # an edge module reaching the plant through a twin helper, two hops away
    (tmp_path / "twin" / "edge" / "leak.py").write_text("from twin.harness import episode  # noqa\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "The edge never imports a plant model" in result.stdout and "BROKEN" in result.stdout
    assert "twin.edge.leak -> twin.harness.episode" in result.stdout


# the parts of ``twin``: the shared contracts and the edge (under the contract), the harness (the truth side), the CLI
FOLDERS = ("twin.contracts", "twin.edge", "twin.harness", "twin.cli")


def test_every_twin_module_lives_in_the_edge_the_harness_or_the_cli() -> None:
    """The contract follows the folders: a module outside them would escape it unnoticed."""
    import pkgutil
    import tomllib

    import twin

    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    (edge_contract,) = [c for c in config["tool"]["importlinter"]["contracts"] if c["name"].startswith("The edge")]
    assert {"twin.edge", "twin.contracts"} <= set(edge_contract["source_modules"])
    assert {"twin.harness", "twin.cli", "plant_models"} <= set(edge_contract["forbidden_modules"])
    modules = [m.name for m in pkgutil.walk_packages(twin.__path__, "twin.")]
    assert modules, "no twin modules found"
    for module in modules:
        assert any(module == f or module.startswith(f + ".") for f in FOLDERS), (
            f"{module} is outside {FOLDERS}: put edge code under twin/edge/, truth-side code under twin/harness/"
        )


def test_no_module_imports_itself_through_others() -> None:
    """No import cycles between the project's modules (function-level imports count too)."""
    import grimp
    import networkx as nx

    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    edges = nx.DiGraph((m, d) for m in graph.modules for d in graph.find_modules_directly_imported_by(m))
    cycles = [c for c in nx.simple_cycles(edges) if len(c) > 1]
    assert not cycles, "import cycles: " + "; ".join(" -> ".join([*c, c[0]]) for c in cycles[:5])
