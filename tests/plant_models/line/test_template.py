"""Line templates: field errors with their line, references and loops refused by name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from plant_models.line import starter_template_path, template_of
from plant_models.line.compile import TemplateError, compile_template
from plant_models.line.template import LineTemplate, load_template
from qtconfig import ConfigError
from tests.conftest import REPO


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "line.yaml"
    path.write_text(text, encoding="utf-8")
    return path


MINIMAL = """\
line: mini
assets:
  unit:
    conditions:
      fouling: {initial: 0, range: [0, 10]}
    signals:
      sp: {kind: setpoint, range: [0, 100], nominal: 50}
      a:
        range: [0, 100]
        nominal: 50
        lag_s: 1
        servo: {setpoint: sp, gain: 1.0}
        inputs: [{from: fouling, gain: -2}]
      b:
        range: [0, 100]
        nominal: 10
        inputs: [{from: a, gain: 0.5}]
"""


def test_the_starter_template_compiles_and_names_its_line() -> None:
    template = load_template(starter_template_path())
    compiled = compile_template(template)
    assert template.line == "starter"
    assert {n.role for n in compiled.nodes.values()} >= {"condition", "setpoint", "signal", "part", "lot",
                                                          "servo_output", "environment", "station"}


def test_a_wrong_field_is_named_with_its_line(tmp_path: Path) -> None:
    broken = MINIMAL.replace("nominal: 10", "nominal: 10\n        lag: 3")
    with pytest.raises(ConfigError) as err:
        load_template(write(tmp_path, broken))
    message = str(err.value)
    assert "line.yaml" in message and "assets.unit.signals.b" in message and "lag" in message
    assert "(line 17)" in message


def test_a_nominal_outside_the_range_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"assets.unit.signals.b.*nominal 500 is outside"):
        load_template(write(tmp_path, MINIMAL.replace("nominal: 10", "nominal: 500")))


def test_an_unknown_input_is_named_with_where_it_was_looked_up(tmp_path: Path) -> None:
    broken = MINIMAL.replace("{from: a, gain: 0.5}", "{from: flow, gain: 0.5}")
    with pytest.raises(TemplateError) as err:
        compile_template(load_template(write(tmp_path, broken)))
    assert "mini.unit.b: unknown input 'flow'" in str(err.value)
    assert "mini.unit.flow" in str(err.value)


def test_an_algebraic_loop_is_refused_naming_its_signals(tmp_path: Path) -> None:
    looped = MINIMAL + """\
      c:
        range: [0, 100]
        nominal: 1
        inputs: [{from: d}]
      d:
        range: [0, 100]
        nominal: 1
        inputs: [{from: c}]
"""
    loop = r"algebraic loop .*mini\.unit\.[cd] -> mini\.unit\.[cd] -> mini\.unit\.[cd]"
    with pytest.raises(TemplateError, match=loop):
        compile_template(load_template(write(tmp_path, looped)))


def test_a_loop_through_a_lag_is_allowed(tmp_path: Path) -> None:
    looped = MINIMAL + """\
      c:
        range: [0, 100]
        nominal: 1
        lag_s: 2
        inputs: [{from: d}]
      d:
        range: [0, 100]
        nominal: 1
        inputs: [{from: c}]
"""
    compiled = compile_template(load_template(write(tmp_path, looped)))
    assert "mini.unit.c" in compiled.dynamic


def test_references_are_looked_up_from_the_asset_outwards(tmp_path: Path) -> None:
    nested = """\
line: nest
assets:
  hall:
    signals:
      t: {range: [0, 50], nominal: 20}
    assets:
      oven:
        signals:
          t: {range: [0, 300], nominal: 200}
          out: {range: [0, 400], nominal: 220, inputs: [{from: t}]}
      press:
        signals:
          out: {range: [0, 100], nominal: 20, inputs: [{from: t}]}
"""
    compiled = compile_template(load_template(write(tmp_path, nested)))
    assert compiled.nodes["nest.hall.oven.out"].inputs[0][1] == ["nest.hall.oven.t"]  # its own asset first
    assert compiled.nodes["nest.hall.press.out"].inputs[0][1] == ["nest.hall.t"]      # then outwards


def test_form_specific_fields_are_required(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="form hinge needs a threshold"):
        load_template(write(tmp_path, MINIMAL.replace("{from: a, gain: 0.5}", "{from: a, form: hinge}")))
    with pytest.raises(ConfigError, match="form product takes two inputs"):
        load_template(write(tmp_path, MINIMAL.replace("{from: a, gain: 0.5}", "{from: a, form: product}")))
    with pytest.raises(ConfigError, match="must increase"):
        load_template(write(tmp_path, MINIMAL.replace(
            "{from: a, gain: 0.5}", "{from: a, form: table, points: [[1, 0], [0, 1]]}")))


def test_plant_options_name_the_template() -> None:
    with pytest.raises(ValueError, match="plant_options: {template: PATH}"):
        template_of({})
    with pytest.raises(ValueError, match="unknown line option 'blades'"):
        template_of({"template": str(starter_template_path()), "blades": 4})
    with pytest.raises(ValueError, match="not found"):
        template_of({"template": "/nonexistent/line.yaml"})


def test_the_published_json_schema_is_the_models() -> None:
    published = json.loads((REPO / "docs" / "reference" / "line-template.schema.json").read_text())
    assert published == json.loads(json.dumps(LineTemplate.model_json_schema()))
    assert "from" in published["$defs"]["Input"]["properties"]  # the input's alias, as written in YAML


def test_part_names_and_part_wear_that_could_not_work_are_refused(tmp_path: Path) -> None:
    text = """\
line: p
assets:
  supplier:
    conditions:
      spread: {initial: 1, range: [0, 5]}
  press:
    conditions:
      wear: {initial: 0, range: [0, 5], per_part: 0.1}
  oven:
    conditions:
      fouling: {initial: 0, range: [0, 5], per_part: 0.1}
parts:
  cycle_s: 1
  lots:
    lot: {asset: supplier, size: 10, properties: {flatness: {mean: 1, within: spread}}}
  stations:
    - asset: press
      process_s: 0.5
      measure:
        flatness: {range: [0, 10], nominal: 1}
"""
    with pytest.raises(TemplateError) as err:
        compile_template(load_template(write(tmp_path, text)))
    problems = err.value.problems
    assert any("p.press.flatness" in p and "lot property part.flatness" in p for p in problems)
    assert any("p.oven.fouling" in p and "p.oven is not a station" in p for p in problems)
    assert not any("p.press.wear" in p for p in problems)  # the press is a station: its wear counts parts
