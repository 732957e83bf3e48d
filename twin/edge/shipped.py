"""Where the data the project ships live: scenarios, playbooks, knowledge files, trained models.

The one place that knows the layout; everything else asks here. A scenario, the edge's
settings or a command-line flag may point at any other file: these are only the defaults.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
PLAYBOOKS = SCENARIOS / "playbooks"
KNOWLEDGE = SCENARIOS / "knowledge"
MODELS = ROOT / "models"


def default_playbook(plant: str) -> Path:
    """The playbook shipped for ``plant`` (it may not exist: a plant without one has no closed loop)."""
    return PLAYBOOKS / f"{plant}.yaml"


def default_knowledge(plant: str) -> Path:
    """The knowledge file shipped for ``plant``."""
    return KNOWLEDGE / f"{plant}.yaml"


def default_model(plant: str) -> Path:
    """The root-cause model shipped for ``plant``."""
    return MODELS / f"rootcause_{plant}.pt"
