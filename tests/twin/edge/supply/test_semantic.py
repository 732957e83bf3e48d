"""The semantic layer maps units with pint and names every mismatch instead of merging it."""

from __future__ import annotations

import pytest

from twin.edge.supply.semantic import Definition, SemanticLayer

CATALOGUE = {"disc.runout": Definition(unit="mm", definition="lateral runout at 10 mm from the rim"),
             "site.humidity": Definition(unit="percent", definition="relative humidity"),
             "site.temperature": Definition(unit="degC")}


def layer_with(claims):
    layer = SemanticLayer(CATALOGUE)
    layer.declare("brakeco", claims)
    return layer


def test_units_are_converted_to_the_canonical_unit():
    layer = layer_with({"RO": {"canonical": "disc.runout", "unit": "micrometer"},
                        "T": {"canonical": "site.temperature", "unit": "degF"}})
    out = layer.map("brakeco", {"RO": [[20.0, 25.0]], "T": 212.0})
    assert out["disc.runout"] == [[0.02, 0.025]] and out["site.temperature"] == pytest.approx(100.0)
    assert layer.mismatches == []


@pytest.mark.parametrize(("claim", "kind", "words"), [
    ({"canonical": "disc.runout", "unit": "mm", "definition": "radial runout"}, "definition", "radial runout"),
    ({"canonical": "site.humidity", "unit": "g/m^3"}, "unit", "cannot be site.humidity"),
    ({"canonical": "site.humidity", "unit": "furlongs per blorp"}, "unit", "is not a unit"),
    ({"canonical": "disc.thickness", "unit": "mm"}, "unknown_parameter", "no canonical parameter 'disc.thickness'"),
])
def test_mismatches_are_named_and_not_merged(claim, kind, words):
    layer = layer_with({"F": claim})
    assert layer.map("brakeco", {"F": 1.0}) == {}
    (mismatch,) = layer.mismatches
    assert (mismatch.supplier, mismatch.field, mismatch.kind) == ("brakeco", "F", kind)
    assert words in mismatch.detail


def test_an_undeclared_field_is_reported_once():
    layer = layer_with({})
    layer.map("brakeco", {"X": 1.0})
    layer.map("brakeco", {"X": 2.0})
    assert [(m.field, m.kind) for m in layer.mismatches] == [("X", "undeclared_field")]


def test_same_definition_in_other_words_spacing_and_case_is_accepted():
    layer = layer_with({"RO": {"canonical": "disc.runout", "unit": "mm",
                               "definition": "Lateral  runout at 10 mm from the RIM"}})
    assert layer.mismatches == [] and layer.streams("brakeco") == ["disc.runout"]
