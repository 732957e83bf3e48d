"""The wheel carries what a run needs: built, installed in a fresh venv outside the checkout, run there.

The fresh venv gets the project's dependencies from this venv's site-packages through a path
file (so nothing is downloaded), but not the editable install of the checkout: the run can only
find ``twin``, the plant models and their knowledge file, playbook and model inside the wheel.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def _copy_checkout(to: Path) -> None:
    """The checkout's files as git sees them (tracked, and new ones not ignored), without build leftovers."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.split("\n")
    for name in filter(None, listed):
        if (REPO / name).is_file():
            (to / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, to / name)


def _site_packages(env_dir: Path) -> Path:
    return env_dir / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"


@pytest.mark.timeout(900)  # builds a wheel, makes a venv and runs the flagship offline: minutes on a busy machine
def test_the_wheel_runs_the_flagship_offline_outside_the_checkout(tmp_path: Path) -> None:
    source, wheels = tmp_path / "source", tmp_path / "wheels"
    _copy_checkout(source)  # pip builds in the source tree: build it from a copy, not the checkout
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels),
                    str(source)], check=True, cwd=tmp_path, timeout=600)
    (wheel,) = wheels.glob("quality_twin-*.whl")

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    site = _site_packages(env_dir)
    (site / "project_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    python = env_dir / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True,
                   cwd=tmp_path, timeout=300)

    work = tmp_path / "elsewhere"
    work.mkdir()
    shutil.copy(REPO / "scenarios" / "coater_coil_ageing.yaml", work / "flagship.yaml")
    code = "import twin, plant_models; print(twin.__file__, plant_models.__file__)"
    where = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True, cwd=work,
                           timeout=120).stdout
    assert str(REPO) not in where and str(site) in where, where

    run = subprocess.run([str(env_dir / "bin" / "twin"), "run", "flagship.yaml", "--offline", "--out", "run"],
                         capture_output=True, text=True, cwd=work, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads((work / "run" / "report.json").read_text())
    # the plant's own files came from the installed wheel, and they did their work
    assert report["rootcause"]["knowledge"].startswith(str(site)), report["rootcause"]
    assert report["rootcause"]["method"] == "gnn", report["rootcause"]
    assert report["scenario"]["control"]["playbook"].startswith(str(site))
    assert report["alarms"] and report["diagnoses"], "the flagship's fault was detected and diagnosed"

    # a line as a file: the starter template comes from the installed wheel, and checks there
    new = subprocess.run([str(env_dir / "bin" / "twin"), "line", "new", "my_line"], capture_output=True, text=True,
                         cwd=work, timeout=120)
    assert new.returncode == 0, new.stdout + new.stderr
    check = subprocess.run([str(env_dir / "bin" / "twin"), "line", "check", "my_line.yaml", "--seconds", "30"],
                           capture_output=True, text=True, cwd=work, timeout=300)
    assert check.returncode == 0 and "my_line" in check.stdout, check.stdout + check.stderr
