"""The declarative line: a plant built from a YAML line template, no Python needed.

* :mod:`~plant_models.line.template` — the template's schema (pydantic; JSON Schema in the docs).
* :mod:`~plant_models.line.compile` — names resolved, evaluation order, algebraic loops refused,
  the ground-truth causal graph derived from the declarations.
* :mod:`~plant_models.line.model` — the SimPy plant (``LineModel``).
* :mod:`~plant_models.line.faults` — the generic fault kinds, valid on any template.
* :mod:`~plant_models.line.tools` — what ``twin line check|graph|new`` do.

A scenario uses it as ``plant: line`` with ``plant_options: {template: PATH}``; the knowledge file,
playbook and root-cause model a run uses by default are the ones beside the template.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plant_models.base import PlantModel
from plant_models.spec import FaultRange, PlantSpec, QualityCharacteristic

if TYPE_CHECKING:
    from plant_models.line.compile import CompiledLine

STARTER = "starter.yaml"


def starter_template_path() -> Path:
    """The commented starter template ``twin line new`` copies (shipped with the package)."""
    return Path(str(files(__name__) / STARTER))


def template_of(options: dict[str, Any]) -> Path:
    """The template path in a line's plant options (``ValueError`` naming what is wrong)."""
    unknown = sorted(set(options) - {"template"})
    if unknown:
        raise ValueError(f"unknown line option {unknown[0]!r}; valid options: ['template']")
    if "template" not in options:
        raise ValueError("plant line needs plant_options: {template: PATH} (a line template; "
                         "`twin line new NAME` writes a starter)")
    path = Path(str(options["template"]))
    if not path.is_file():
        raise ValueError(f"line template {path} not found")
    return path


def _build(seed: int, options: dict[str, Any]) -> PlantModel:
    from plant_models.line.model import LineModel  # imported when built: the plant's modules import this package

    return LineModel(template_of(options), seed)


def _compiled(options: dict[str, Any]) -> CompiledLine:
    """The line the options name, compiled (what its quality characteristics and fault catalogue come from)."""
    from plant_models.line.compile import compile_template
    from plant_models.line.template import load_template

    return compile_template(load_template(template_of(options)))


def _quality(options: dict[str, Any]) -> tuple[QualityCharacteristic, ...]:
    from plant_models.line.compile import quality_characteristics

    return quality_characteristics(_compiled(options))


def _faults(options: dict[str, Any]) -> tuple[FaultRange, ...]:
    from plant_models.line.faults import fault_catalogue

    return fault_catalogue(_compiled(options))


SPEC = PlantSpec(name="line", package=__name__, build=_build, quality=_quality, faults=_faults,
                 data_folder=lambda options: template_of(options).parent,
                 description="a line declared in a YAML template (plant_options: {template: PATH})")
