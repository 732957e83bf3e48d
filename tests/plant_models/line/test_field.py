"""The field: shipped parts fail in service as the template's table says, seeded, and only shipped parts do."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plant_models.line.model import LineModel
from qtconfig import ConfigError
from twin.contracts import RunFiles
from twin.harness.episode import write_field

TEMPLATE = """\
line: f
period_ms: 1000
assets:
  maker:
    kind: supplier
  gauge:
    kind: equipment
parts:
  cycle_s: 1
  lots:
    box: {asset: maker, part: ring, size: 10, properties: {gap: {mean: 0, between: 0.5, within: 1, spec: [-2, 2],
                                                                  unit: um}}}
  stations:
    - asset: gauge
      process_s: 0.5
      measure:
        reading: {kind: quality, range: [-10, 10], nominal: 0, spec: [-2.5, 2.5], inputs: [{from: part.gap}]}
  field:
    service_h: 100
    failures:
      - {mode: wear_out, component: ring, lot: box, from: gap, points: POINTS, repair: new ring}
"""


def line_with(tmp_path: Path, points: str, seed: int, text: str = TEMPLATE) -> LineModel:
    path = tmp_path / "line.yaml"
    path.write_text(text.replace("POINTS", points), encoding="utf-8")
    return LineModel(path, seed)


def shipped(line: LineModel) -> dict[int, dict]:
    """Parts that left the last station and were rejected nowhere (the truth side's own record)."""
    return {r["part_id"]: r for r in line.parts_log if not r["rejected"]}


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), chance=st.floats(0.05, 0.95))
def test_a_constant_chance_fails_that_share_of_the_shipped_parts_and_no_other(tmp_path_factory, seed: int,
                                                                               chance: float) -> None:
    line = line_with(tmp_path_factory.mktemp("f"), f"[[-10, {chance}], [10, {chance}]]", seed)
    line.env.run(until=400_000)
    returns, made = line.field_returns(), shipped(line)
    assert returns is not None and {r["serial"] for r in returns} <= set(made)
    n = len(made)
    assert abs(len(returns) - chance * n) < 5 * (n * chance * (1 - chance)) ** 0.5  # five binomial sigmas
    for r in returns:
        part = made[r["serial"]]
        assert (r["unit"], r["part"], r["mode"], r["lot"], r["repair"]) == (f"f-{r['serial']}", "ring", "wear_out",
                                                                            "box", "new ring")
        assert r["lot_number"] == part["box"] and 0 < r["service_h"] <= 100
        assert r["t_h"] == pytest.approx(part["t_s"] / 3600 + r["service_h"], abs=1e-3)


def test_the_chance_follows_the_attribute_through_the_table(tmp_path: Path) -> None:
    line = line_with(tmp_path, "[[0, 0], [0.000001, 1]]", seed=5)  # certain above a gap of 0, never below
    line.env.run(until=300_000)
    made = shipped(line)
    failed = {r["serial"] for r in line.field_returns() or []}
    assert failed == {pid for pid, part in made.items() if part["gap"] >= 0.000001}
    assert 0 < len(failed) < len(made)


def test_same_seed_same_returns_and_a_longer_run_keeps_the_shorter_ones(tmp_path: Path) -> None:
    def returns(until_ms: int, seed: int) -> list[dict]:
        line = line_with(tmp_path, "[[-3, 0.05], [3, 0.6]]", seed)
        line.env.run(until=until_ms)
        return line.field_returns() or []

    short, long = returns(150_000, 3), returns(400_000, 3)
    assert short == returns(150_000, 3) and short
    last = max(r["serial"] for r in short)
    assert [r for r in long if r["serial"] <= last] == short
    assert returns(400_000, 4) != long


def test_a_run_writes_returns_and_design_and_a_line_without_a_field_writes_neither(tmp_path: Path) -> None:
    line = line_with(tmp_path, "[[-3, 0.05], [3, 0.6]]", seed=1)
    line.env.run(until=100_000)
    out = tmp_path / "run"
    out.mkdir()
    assert write_field(line, out) == {"returns": RunFiles.RETURNS, "design": RunFiles.DESIGN}
    assert pq.read_table(out / RunFiles.RETURNS).to_pylist() == line.field_returns()
    assert json.loads((out / RunFiles.DESIGN).read_text()) == [
        {"design": "ring/gap", "lot": "box", "part": "ring", "property": "gap", "spec": [-2.0, 2.0], "unit": "um",
         "supplier": "f.maker"}]
    bare = tmp_path / "bare"
    bare.mkdir()
    plain = TEMPLATE.split("  field:")[0].replace(", spec: [-2, 2],\n", ",\n")
    line = line_with(bare, "", seed=1, text=plain)
    line.env.run(until=20_000)
    assert line.field_returns() is None and write_field(line, bare) == {}
    assert sorted(p.name for p in bare.iterdir()) == ["line.yaml"]


@pytest.mark.parametrize(("edit", "message"), [
    ("lot: box", "lot: nowhere"),
    ("from: gap", "from: depth"),
    ("POINTS", "[[0, 0.5], [1, 1.5]]"),
    ("POINTS", "[[1, 0.5], [0, 0.6]]"),
])
def test_a_bad_field_is_refused_naming_the_field(tmp_path: Path, edit: str, message: str) -> None:
    text = TEMPLATE.replace(edit, message).replace("POINTS", "[[0, 0], [1, 1]]")
    with pytest.raises(ConfigError) as err:
        line_with(tmp_path, "", seed=0, text=text)
    said = str(err.value)
    assert "line.yaml" in said and "field" in said
    assert any(word in said for word in ("nowhere", "depth", "outside 0..1", "must increase"))
