"""A family of lines: every generated template validates, compiles and runs; its causal graph holds the motifs
the family declares; the same family, seed and index give the same YAML; a bad family file is refused by field
and line; the faults drawn are of every generic kind, valid on the line, and labelled as the datasets label them."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from ruamel.yaml import YAML

from plant_models.base import SENSOR_FAULT_KINDS, FaultSpec
from plant_models.line.compile import compile_template
from plant_models.line.family import (
    ALL_FAULT_KINDS,
    FamilyLine,
    LineFamily,
    draw_fault,
    dump_template,
    family_faults,
    family_line,
    family_template,
    load_family,
)
from plant_models.line.faults import PROCESS_KINDS
from plant_models.line.model import LineModel
from plant_models.line.template import LineTemplate
from qtconfig import ConfigError
from tests.conftest import REPO
from twin.harness.scores import expected_answer

SHIPPED = REPO / "scenarios" / "families" / "small_lines.yaml"
# every motif at least once, so each line shows all of them
EVERY_MOTIF = LineFamily.model_validate({
    "line_prefix": "fam", "units": [3, 4],
    "utilities": {"count": [1, 3], "feeds": [2, 3]},
    "motifs": {"servo_loops": [1, 2], "recycles": [1, 2], "redundant_sensors": [1, 2], "derived_sensors": [1, 2],
               "hidden_share": 0.2, "environment": {"drivers": [1, 2], "fanout": [2, 4]},
               "quality": {"count": [1, 2], "steps": [1, 2]}}})
SEEDS = st.integers(min_value=0, max_value=2**31 - 1)
INDICES = st.integers(min_value=0, max_value=500)


def within(value: int, bounds: tuple[int, int]) -> bool:
    return bounds[0] <= value <= bounds[1]


@settings(max_examples=10, deadline=None)
@given(seed=SEEDS, index=INDICES)
def test_every_line_validates_compiles_and_runs_30_plant_seconds(seed: int, index: int) -> None:
    template = family_template(EVERY_MOTIF, index, seed)
    text = dump_template(template)
    assert LineTemplate.model_validate(YAML(typ="safe").load(text)) == template  # the YAML is the template
    model = LineModel(template, seed=1)
    names = [n for n in model.compiled.nodes]
    assert len(names) == len(set(names)) and all(n.startswith(f"fam_{index:04d}.") or n.startswith("part.")
                                                 for n in names)
    model.env.run(until=30_000)
    assert np.isfinite(model.x).all()
    values = model.measurements()
    assert values and all(np.isfinite(v) for v in values.values())


@settings(max_examples=10, deadline=None)
@given(seed=SEEDS, index=INDICES)
def test_the_causal_graph_holds_every_motif_the_family_declares(seed: int, index: int) -> None:
    line = family_line(EVERY_MOTIF, index, seed)
    graph = LineModel(line.template, seed=1).causal_graph()
    compiled = compile_template(line.template)
    m, f = line.motifs, EVERY_MOTIF
    units = [a for a in compiled.assets if a.count(".") == 1 and compiled.assets[a].kind == "unit"]
    assert within(len(units), f.units) and len(m.flow) == len(units) - 1

    # a shared utility: its signals enter two or more units
    assert within(len(m.utilities), f.utilities.count)
    for utility, fed in m.utilities.items():
        assert compiled.assets[utility].kind == "utility" and len(fed) >= 2
        reached = {graph.nodes[t]["asset"].split(".")[1] for s in graph if graph.nodes[s]["asset"] == utility
                   for t in graph.successors(s) if graph.nodes[t]["asset"] != utility}
        assert {u.split(".")[1] for u in fed} <= reached and len(reached) >= 2

    # servo loops: setpoint -> controller output (a tag) -> the controlled signal
    assert within(len(m.servos), f.motifs.servo_loops)
    for name in m.servos:
        node = compiled.nodes[name]
        assert graph.has_edge(node.servo_setpoint, node.servo_output) and graph.has_edge(node.servo_output, name)
        assert graph.nodes[node.servo_output]["observed"] and node.signal.lag_s > 0

    # material flow: a unit's feed follows the previous unit's product after a dead time
    for product, feed in m.flow:
        assert graph.has_edge(product, feed) and compiled.nodes[feed].signal.dead_time_s > 0

    # a recycle: a cycle of the graph through a lagged stream
    assert within(len(m.recycles), f.motifs.recycles)
    for stream, source, into in m.recycles:
        assert graph.has_edge(source, stream) and graph.has_edge(stream, into)
        assert nx.has_path(graph, into, source)  # so stream -> into -> ... -> source -> stream is a cycle
        assert compiled.nodes[stream].signal.lag_s > 0 and stream in compiled.dynamic

    # redundant sensors: X_b reads X and nothing else, at gain 1
    assert within(len(m.redundant), f.motifs.redundant_sensors)
    for primary, second in m.redundant:
        assert list(graph.predecessors(second)) == [primary]
        assert graph.nodes[primary]["observed"] and graph.nodes[second]["observed"]
        assert [item.gain for item, _ in compiled.nodes[second].inputs] == [1.0]

    # derived sensors: computed from two measured signals
    assert within(len(m.derived), f.motifs.derived_sensors)
    for derived, sources in m.derived:
        assert set(sources) <= set(graph.predecessors(derived))
        assert all(graph.nodes[s]["observed"] for s in sources) and graph.nodes[derived]["observed"]

    # the environment drives several signals at once
    assert within(len(m.environment), f.motifs.environment.drivers)
    for ambient, driven in m.environment.items():
        assert graph.nodes[ambient]["kind"] == "environment"
        assert set(graph.successors(ambient)) == set(driven)
        assert within(len(driven), f.motifs.environment.fanout)

    # quality characteristics several steps downstream of their cause
    assert within(len(m.quality), f.motifs.quality.count)
    for quality, cause, steps in m.quality:
        assert compiled.nodes[quality].signal.kind == "quality" and compiled.nodes[quality].signal.spec
        assert graph.nodes[cause]["kind"] == "condition" and within(steps, f.motifs.quality.steps)
        assert nx.shortest_path_length(graph, cause, quality) >= max(2, steps + 2)
        assert quality.split(".")[1] == f"unit{int(cause.split('.')[1][4:]) + steps}"


def test_the_same_family_seed_and_index_give_the_same_yaml_byte_for_byte() -> None:
    family = load_family(SHIPPED)
    first = dump_template(family_template(family, 7, 42))
    assert first == dump_template(family_template(load_family(SHIPPED), 7, 42))
    assert first != dump_template(family_template(family, 7, 43)) != dump_template(family_template(family, 8, 42))
    assert family_template(family, 7, 42).line == "small_0007"
    with pytest.raises(ValueError, match="must be >= 0"):
        family_template(family, -1, 0)


def test_the_shipped_family_sets_every_field() -> None:
    """small_lines.yaml is the family's documentation by example: it sets (and comments) every field."""
    text = SHIPPED.read_text()

    def check(model: BaseModel, where: str) -> None:
        for name in type(model).model_fields:
            assert f"{name}:" in text, f"small_lines.yaml does not set {where}{name}"
            value = getattr(model, name)
            if isinstance(value, BaseModel):
                check(value, f"{where}{name}.")

    family = load_family(SHIPPED)
    check(family, "")
    assert set(family.faults.kinds) == set(ALL_FAULT_KINDS) == set(PROCESS_KINDS) | SENSOR_FAULT_KINDS


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "family.yaml"
    path.write_text(dedent(text))
    return path


@pytest.mark.parametrize(("text", "expected"), [
    ("units: [5, 3]\n", r"field units \(line 1\): Value error, \[5, 3\] must be \[low, high\]"),
    ("line_prefix: ok\nmotifs:\n  recylces: [0, 1]\n",
     r"field motifs.recylces \(line 3\): unknown key 'recylces'; did you mean 'recycles'\?"),
    ("units: [2, 4]\nmotifs:\n  servo_loops: [1, 3]\n",
     r"field motifs.servo_loops \(line 3\) must not exceed the fewest units of a line \(2\)"),
    ("faults:\n  kinds: [step, sensor_drift]\n",
     r"field faults.kinds\[1\] \(line 2\): Input should be 'condition_drift'"),
    ("episode:\n  base: {seed: 3}\n", r"field episode.base \(line 2\) must not set name, plant"),
    ("dynamics:\n  periods_ms: [100, 250]\n", r"field dynamics.periods_ms \(line 2\) must be multiples of tick_ms"),
])
def test_a_bad_family_file_is_refused_naming_the_field_and_its_line(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=expected) as err:
        load_family(path)
    assert str(path) in str(err.value)


def test_faults_of_every_kind_are_drawn_valid_and_labelled_as_the_datasets_label_them() -> None:
    family = EVERY_MOTIF
    line: FamilyLine = family_line(family, 3, 11)
    faults = family_faults(family, line.template, 120, seed=5)
    assert faults == family_faults(family, line.template, 120, seed=5)
    assert {f.kind for f in faults} == set(ALL_FAULT_KINDS)
    model = LineModel(line.template, seed=2)
    targets, graph = model.fault_targets(), model.causal_graph()
    for fault in faults:
        assert fault.target in targets[fault.kind]
        spec = FaultSpec(kind=fault.kind, target=fault.target, start_s=5.0, magnitude=fault.magnitude)  # type: ignore[arg-type]
        model.inject(spec)  # validated by the engine: kind, target, magnitude range
        assert fault.label == expected_answer(model, spec, graph)
        assert fault.cause == model.cause_node(spec) and 0.0 <= fault.quantile <= 1.0
        if fault.kind not in SENSOR_FAULT_KINDS:
            assert graph.nodes[fault.cause]["kind"] == "condition"
            assert 0.2 <= abs(fault.magnitude) <= 1.0
    model.env.run(until=20_000)  # every fault of the line at once: still runs


def test_a_family_without_sensor_kinds_draws_only_condition_faults() -> None:
    family = EVERY_MOTIF.model_copy(update={"faults": EVERY_MOTIF.faults.model_copy(update={"kinds": ["step"]})})
    compiled = compile_template(family_template(family, 0, 0))
    rng = np.random.default_rng(0)
    assert {draw_fault(family, compiled, rng).kind for _ in range(20)} == {"step"}
