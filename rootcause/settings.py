"""The ``rootcause`` block of a scenario: which knowledge, which method, how much evidence."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from rootcause.features import EvidenceSettings

Method = Literal["gnn", "earliest_onset", "correlation", "random_walk", "baro", "pc_pagerank", "kg_earliest_onset"]


class RootCauseSettings(BaseModel):
    """Root-cause diagnosis in a run (defaults, for a plant the project ships: its own knowledge file and model)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    enabled: bool = True
    knowledge: str | None = Field(
        default=None, description="knowledge file (relative to the scenario); default: the plant's own knowledge.yaml"
    )
    method: Method | None = Field(
        default=None, description="gnn, or a baseline; default: gnn if the plant has a model, else random_walk"
    )
    model: str | None = Field(default=None, description="model file; default: the plant's own rootcause.pt")
    evidence: EvidenceSettings = Field(default_factory=EvidenceSettings)
    knowledge_drop: float = Field(default=0.0, ge=0.0, le=1.0, description="share of knowledge links dropped")
    knowledge_add: float = Field(default=0.0, ge=0.0, le=1.0, description="spurious links added, share of links")
    knowledge_seed: int = Field(default=0, ge=0, description="seed of the knowledge perturbation")
