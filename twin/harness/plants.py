"""A known plant's own files as the edge's defaults.

The edge has no defaults of its own (:mod:`twin.edge.settings`): it reads the knowledge file,
root-cause model and playbook its settings name. For a plant the project ships, the harness
fills in what the settings leave open from the plant's folder (:class:`plant_models.spec.PlantSpec`);
an unknown plant (a real line) keeps exactly what its settings say.
"""

from __future__ import annotations

from typing import Any

from plant_models.registry import SPECS
from twin.edge.settings import EdgeSettings, with_files


def with_plant_defaults(settings: EdgeSettings, plant: str, options: dict[str, Any] | None = None) -> EdgeSettings:
    """``settings`` with the plant's own knowledge file, model and playbook where they name none.

    ``options`` are the plant's (a declarative line's files sit beside its ``template``).

    >>> filled = with_plant_defaults(EdgeSettings(), "coater")
    >>> paths = (filled.rootcause.knowledge, filled.rootcause.model, filled.control.playbook)
    >>> tuple(p.rsplit("/", 1)[-1] for p in paths)
    ('knowledge.yaml', 'rootcause.pt', 'playbook.yaml')
    >>> with_plant_defaults(EdgeSettings(), "someone_elses_line") == EdgeSettings()
    True
    """
    spec = SPECS.get(plant)
    if spec is None:
        return settings
    return with_files(settings, spec.knowledge_file(options), spec.model_file(options), spec.playbook_file(options),
                      only_missing=True)
