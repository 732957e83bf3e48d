"""One model across lines: knowledge drafted from a template, training on a family of lines, zero-shot and
fine-tuned evaluation on a line the model never saw (``twin rootcause evaluate --zero-shot | --fine-tune N``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from plant_models.line.compile import CompiledLine, compile_template
from plant_models.line.family import family_template, load_family
from plant_models.line.knowledge import template_knowledge
from plant_models.line.template import load_template
from plant_models.spec import KNOWLEDGE_FILE
from rootcause.diagnoser import plant_names
from rootcause.knowledge import KnowledgeFile, load_knowledge, resolve_knowledge
from rootcause.model import ModelConfig, RootCauseGNN, load_model, save_model
from tests.support import flat
from tests.twin.harness.rca.test_family_dataset import TINY as TINY_FAMILY_TWO_PER_LINE
from twin.cli import app
from twin.harness.rca.bench import cases_from, train_on
from twin.harness.rca.dataset import Dataset, generate, line_identity, load_dataset, variant_tagmap
from twin.harness.rca.sweep import line_folder, sweep_plant

REPO = Path(__file__).resolve().parents[4]
TEMPLATES = sorted((REPO / "scenarios" / "lines").glob("*/line.yaml"))
FAMILY = REPO / "scenarios" / "families" / "small_lines.yaml"
LEAK = REPO / "scenarios" / "lines" / "leak_test" / "line.yaml"
TINY = ModelConfig(hidden=8, layers=1, heads=1, epochs=3, batch_size=4, seed=1)
runner = CliRunner()

TINY_FAMILY = TINY_FAMILY_TWO_PER_LINE.replace("per_line: 2", "per_line: 1")  # a line per episode


def _visible_paths(compiled: CompiledLine, knowledge: dict[str, Any]) -> None:
    """Every drafted link is a real path of the declared structure through hidden nodes only, and every edge
    between two tags (and from a condition to a tag) of the structure is a link."""
    graph = compiled.graph
    nodes = compiled.nodes
    observed = {n for n in graph if nodes[n].observed}
    links = {(link["cause"], link["effect"]) for link in knowledge["links"]}
    for cause, effect in links:
        sources = [cause] if cause in observed else [n for n in graph if nodes[n].role == "condition"
                                                      and nodes[n].asset == cause]
        hidden = graph.subgraph([n for n in graph if n not in observed or n in (*sources, effect)])
        assert any(nx.has_path(hidden, s, effect) for s in sources), (cause, effect)
    for u, v in graph.edges:
        if v in observed and (u in observed or nodes[u].role == "condition"):
            cause = u if u in observed else nodes[u].asset
            assert cause == v or (cause, v) in links, (u, v)


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.parent.name)
def test_a_drafted_knowledge_file_resolves_on_its_line_and_follows_the_declared_structure(template: Path,
                                                                                         tmp_path: Path) -> None:
    compiled = compile_template(load_template(template))
    knowledge = template_knowledge(compiled)
    _visible_paths(compiled, knowledge)
    tagmap = variant_tagmap(sweep_plant("line", {"template": str(template.resolve())}), 0, None)
    resolved = resolve_knowledge(KnowledgeFile.model_validate(knowledge), plant_names(tagmap))
    assert len(resolved.links) == len(knowledge["links"]) > 0
    # every quality characteristic is an effect: the model can walk from a defect back to its causes
    quality = [n.name for n in compiled.nodes.values() if n.signal is not None and n.signal.kind == "quality"]
    assert set(quality) <= {link["effect"] for link in knowledge["links"]} | {n["name"] for n in knowledge["nodes"]}


def test_twin_line_knowledge_drafts_a_file_that_loads_and_never_overwrites(tmp_path: Path) -> None:
    template = tmp_path / "line.yaml"
    template.write_text(LEAK.read_text())
    done = runner.invoke(app, ["line", "knowledge", str(template)], env={"COLUMNS": "200"})
    assert done.exit_code == 0, done.output
    written = tmp_path / KNOWLEDGE_FILE
    tagmap = variant_tagmap(sweep_plant("line", {"template": str(template)}), 0, None)
    expected = template_knowledge(compile_template(load_template(template)))
    assert len(load_knowledge(written, plant_names(tagmap)).links) == len(expected["links"])
    assert f"({len(expected['links'])} links)" in flat(done.output)
    again = runner.invoke(app, ["line", "knowledge", str(template)], env={"COLUMNS": "200"})
    assert again.exit_code != 0 and "not overwritten" in flat(again.output)
    broken = tmp_path / "broken.yaml"
    broken.write_text(LEAK.read_text().replace("line: pack", "line: 9pack", 1))
    bad = runner.invoke(app, ["line", "knowledge", str(broken), "--out", str(tmp_path / "k2.yaml")],
                        env={"COLUMNS": "200"})
    assert bad.exit_code != 0 and "invalid template" in flat(bad.output) and not (tmp_path / "k2.yaml").exists()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(0, 500), seed=st.integers(0, 2**16))
def test_every_family_line_gets_knowledge_of_its_own_declared_structure(index: int, seed: int) -> None:
    family = load_family(FAMILY)
    compiled = compile_template(family_template(family, index, seed))
    knowledge = template_knowledge(compiled)
    _visible_paths(compiled, knowledge)
    # every condition's asset (what a process fault's diagnosis names) causes something a tag shows
    causes = {link["cause"] for link in knowledge["links"]}
    assert {n.asset for n in compiled.nodes.values() if n.role == "condition"} <= causes


@pytest.fixture(scope="module")
def family_dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Dataset, Path]:
    from twin.harness.rca.dataset import family_specs
    from twin.harness.rca.sweep import load_family_file

    folder = tmp_path_factory.mktemp("family")
    path = folder / "tiny.yaml"
    path.write_text(TINY_FAMILY)
    family = load_family_file(path)
    ds = generate(family_specs(family, "train", 4, 2), processes=2, backend="pool")
    ds.meta["family"] = {"file": str(path), "line_prefix": family.line_prefix}
    # fixed seeds: episodes that alarm are part of what this module tests, not a condition to skip on
    assert any(s.detected for s in ds.samples), "no family episode alarmed"
    return ds, ds.save(folder / "train.pkl")


@pytest.fixture(scope="module")
def general_model(family_dataset: tuple[Dataset, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model trained on the family, saved with a card that says so (a small general model)."""
    general, _ = train_on(family_dataset[0], TINY)
    return save_model(general, tmp_path_factory.mktemp("general") / "general.pt",
                      {"version": "g", "plant": "family:tiny", "data": {"lines": ["family:tiny"]}})


@pytest.mark.slow
def test_a_family_line_carries_its_knowledge_and_training_learns_across_lines(
        family_dataset: tuple[Dataset, Path], tmp_path: Path) -> None:
    ds, path = family_dataset
    for sample in ds.samples:
        folder = line_folder(sample.spec.line_files)
        tagmap = ds.tagmaps[sample.spec.variant]
        knowledge = load_knowledge(folder / KNOWLEDGE_FILE, plant_names(tagmap))  # resolves on its own line
        assert knowledge.links and knowledge.plant == tagmap.tags[0].name.split(".")[0]
    detected = [s for s in ds.samples if s.detected]
    for case in cases_from(detected, ds.tagmaps):
        assert case.graph.candidates[case.label_index()].node == case.label  # the truth is a candidate of its line
    out = tmp_path / "general.pt"
    result = runner.invoke(app, ["rootcause", "train", "--dataset", str(path), "--out", str(out), "--epochs", "2",
                                 "--hidden", "8"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    _, card = load_model(out)
    assert card["data"]["lines"] == ["family:tiny"] and card["plant"] == "family:tiny"  # type: ignore[index]
    assert card["data"]["train_samples"] == len(detected)  # type: ignore[index]


def _model_seen(path: Path, lines: list[str] | None) -> Path:
    card = {"version": "test", "plant": "x"} | ({"data": {"lines": lines}} if lines is not None else {})
    return save_model(RootCauseGNN(TINY), path, card)


def test_zero_shot_refuses_a_model_that_trained_on_the_target(tmp_path: Path) -> None:
    coater = _model_seen(tmp_path / "coater.pt", ["coater", "family:small"])
    refused = runner.invoke(app, ["rootcause", "evaluate", "--plant", "coater", "--zero-shot", "--model",
                                  str(coater), "--episodes", "1"], env={"COLUMNS": "200"})
    assert refused.exit_code != 0 and "was trained on coater" in flat(refused.output)
    leak = _model_seen(tmp_path / "leak.pt", ["line:pack"])
    refused = runner.invoke(app, ["rootcause", "evaluate", "--line", str(LEAK), "--zero-shot", "--model",
                                  str(leak)], env={"COLUMNS": "200"})
    assert refused.exit_code != 0 and "was trained on line:pack" in flat(refused.output)
    assert line_identity("line", {"template": str(LEAK)}) == "line:pack"
    none = runner.invoke(app, ["rootcause", "evaluate", "--plant", "coater", "--zero-shot", "--model", "none"],
                         env={"COLUMNS": "200"})
    assert none.exit_code != 0 and "need a model" in flat(none.output)


def test_fine_tuning_starts_from_the_given_model(family_dataset: tuple[Dataset, Path]) -> None:
    ds, _ = family_dataset
    base, _ = train_on(ds, TINY)
    frozen = ModelConfig(**{**TINY.__dict__, "lr": 0.0, "weight_decay": 0.0, "hidden": 16})
    tuned, _ = train_on(ds, frozen, initial=base)
    assert tuned.config.hidden == base.config.hidden  # the base's architecture, whatever the config says
    for key, value in base.state_dict().items():
        assert torch.equal(value, tuned.state_dict()[key]), key  # no learning rate: the base's weights
    moved, _ = train_on(ds, TINY, initial=base)
    assert any(not torch.equal(v, moved.state_dict()[k]) for k, v in base.state_dict().items())
    # limit takes the first train episodes by index (missed ones count): up to the first detected one
    ordered = sorted((s for s in ds.samples if s.spec.split == "train"), key=lambda s: s.spec.index)
    limit = next(k for k, s in enumerate(ordered) if s.detected) + 1
    one, _ = train_on(ds, TINY, limit=limit)
    same, _ = train_on(Dataset(ordered[:limit], ds.tagmaps, {}), TINY)
    for key, value in one.state_dict().items():
        assert torch.equal(value, same.state_dict()[key]), key


def test_the_general_model_is_calibrated_on_a_family_dataset(family_dataset: tuple[Dataset, Path],
                                                             general_model: Path, tmp_path: Path) -> None:
    ds, path = family_dataset
    model = shutil.copy(general_model, tmp_path / "general.pt")  # calibrating writes into the model's card
    done = runner.invoke(app, ["rootcause", "calibrate", str(path), "--model", str(model)], env={"COLUMNS": "200"})
    assert done.exit_code == 0, done.output
    _, card = load_model(model)
    record = card["calibration"]  # type: ignore[index]
    assert record["cases"] == sum(s.detected for s in ds.samples) and record["temperature"] > 0  # type: ignore[index]
    assert f"fitted on {record['cases']} cases" in flat(done.output)  # type: ignore[index]


@pytest.mark.slow
def test_evaluate_zero_shot_and_fine_tune_on_a_line_it_never_saw(general_model: Path, tmp_path: Path) -> None:
    model = general_model
    held = tmp_path / "heldout_seeds.pkl"
    made = runner.invoke(app, ["rootcause", "dataset", "--line", str(LEAK), "--split", "heldout_seeds",
                               "--episodes", "2", "--seed", "1", "--backend", "serial", "--out", str(held)],
                         env={"COLUMNS": "200"})
    assert made.exit_code == 0, made.output
    common = ["rootcause", "evaluate", "--line", str(LEAK), "--dataset", str(held), "--model", str(model),
              "--backend", "serial"]
    zero = runner.invoke(app, [*common, "--zero-shot", "--out", str(tmp_path / "zero.json")], env={"COLUMNS": "200"})
    assert zero.exit_code == 0, zero.output
    payload = json.loads((tmp_path / "zero.json").read_text())
    assert payload["transfer"]["target"] == "line:pack" and payload["transfer"]["zero_shot"]
    assert payload["model"] == str(model) and "heldout_seeds" in payload["evaluations"]
    methods = payload["evaluations"]["heldout_seeds"]["methods"]
    assert {"gnn", "baro", "pc_pagerank", "kg_earliest_onset"} <= set(methods)
    tuned = runner.invoke(app, [*common, "--fine-tune", "2", "--fine-tune-epochs", "2", "--out",
                                str(tmp_path / "tuned.json")], env={"COLUMNS": "200"})
    assert tuned.exit_code == 0, tuned.output
    payload = json.loads((tmp_path / "tuned.json").read_text())
    tuned_model = Path(payload["transfer"]["fine_tuned_model"])
    assert payload["model"] == str(tuned_model) and tuned_model.name == "tuned.tuned.pt"
    _, card = load_model(tuned_model)
    assert card["fine_tune"]["base_model"] == str(model) and card["fine_tune"]["episodes"] == 2  # type: ignore[index]
    assert card["data"]["lines"] == ["family:tiny", "line:pack"]  # type: ignore[index]
    assert load_dataset(tmp_path / "tuned.tuned-episodes.pkl").plant == "line"
    assert set(payload["evaluations"]) == set(json.loads((tmp_path / "zero.json").read_text())["evaluations"])
