"""Labelled episodes from a family of lines: ``twin rootcause dataset --family FILE`` draws a line per episode and a
fault on it, runs the episodes offline and saves a dataset in the usual format, each sample with its own line's
files and tag map; the labels are the injected faults' causes, as the harness's truth names them."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from plant_models.line.compile import compile_template
from plant_models.line.family import FamilyFault, LineFamily, draw_fault, dump_template, family_template
from plant_models.line.template import load_template
from qtconfig import ConfigError
from tests.conftest import RAY_MISSING
from tests.support import flat
from twin.cli import app
from twin.harness.episode import build_episode_plant
from twin.harness.rca.dataset import (
    Dataset,
    EpisodeSpec,
    episode_scenario,
    episode_seed,
    family_specs,
    generate,
    load_dataset,
    sweep_of,
    truth_label,
)
from twin.harness.rca.sweep import LINE_FILE, family_runs_dir, line_folder, load_family_file, sweep_plant
from twin.harness.scores import with_answers

TINY = """\
description: tiny lines for tests
line_prefix: tiny
units: [2, 3]
motifs:
  quality: {count: [1, 1], steps: [1, 1]}
episode:
  per_line: 2
  onset_s: [40, 50]
  detect_within_s: 40
  base:
    detection: {warmup_s: 30}
    control: {policy: "off"}
"""


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path



def test_family_specs_draw_a_line_per_episode_group_and_carry_its_files(tiny: Path) -> None:
    family = load_family_file(tiny)
    specs = family_specs(family, "train", 5, 3)
    assert specs == family_specs(family, "train", 5, 3)
    assert [s.variant for s in specs] == [0, 0, 1, 1, 2]  # two episodes per line
    for s in specs:
        files = dict(s.line_files)
        assert files[LINE_FILE] == dump_template(family_template(family, s.variant, 3))
        assert s.plant == "line" and s.plant_options == () and s.seed == episode_seed("train", 3, s.index) % 1_000_000
        assert 40 <= s.onset_s <= 50 and s.target.startswith(f"tiny_{s.variant:04d}.")
    # the line's folder: its template and a sweep file made of the family's episode settings
    folder = line_folder(specs[0].line_files)
    assert specs[0].options == {"template": str(folder / LINE_FILE)}
    assert load_template(folder / LINE_FILE) == family_template(family, 0, 3)
    sweep = sweep_plant("line", specs[0].options)
    assert sweep == sweep_of(specs[0])
    assert (sweep.scan_ms, sweep.settings.detect_within_s, sweep.base.detection.warmup_s) == (100, 40, 30)
    assert sweep.base.control.policy == "off" and list(sweep.splits) == ["train"]
    # the faults are the family's draw on the line, labelled as the plant's truth says
    for s in specs:
        fault = drawn(family, s, 3)
        assert (fault.kind, fault.target, fault.magnitude, fault.quantile) == (s.kind, s.target, s.magnitude,
                                                                               s.quantile)
        assert truth_label(s) == fault.label == (s.target if s.label_kind == "sensor" else s.target.rsplit(".", 1)[0])


def test_a_bad_family_file_is_refused_naming_the_field_and_its_line(tiny: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(TINY.replace("detection: {warmup_s: 30}", "detection: {warmup_s: -30}"))
    with pytest.raises(ConfigError, match=r"field episode.base.detection.warmup_s \(line 11\): Input should be "
                                          "greater than 0"):
        load_family_file(bad)
    result = CliRunner().invoke(app, ["rootcause", "dataset", "--family", str(bad)])
    assert result.exit_code != 0 and "episode.base.detection.warmup_s (line 11)" in flat(result.output)
    both = CliRunner().invoke(app, ["rootcause", "dataset", "--family", str(tiny), "--plant", "coater"])
    assert both.exit_code != 0 and "not with --plant or --template" in flat(both.output)


def test_twin_rootcause_dataset_family_labels_each_episode_with_its_injected_cause(tiny: Path,
                                                                                    tmp_path: Path) -> None:
    out = tmp_path / "family.pkl"
    result = CliRunner().invoke(app, ["rootcause", "dataset", "--family", str(tiny), "--episodes", "3",
                                      "--seed", "4", "--backend", "serial", "--out", str(out)],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "episodes detected on 2 lines" in flat(result.output)
    dataset = load_dataset(out)
    family = load_family_file(tiny)
    specs = family_specs(family, "train", 3, 4)
    assert [s.spec for s in dataset.samples] == specs
    assert dataset.is_family and sorted(dataset.tagmaps) == [0, 1] and dataset.plant == "line"
    assert dataset.meta["family"]["file"] == str(tiny) and dataset.meta["family"]["lines"] == 2
    assert any(s.detected for s in dataset.samples)
    for sample in dataset.samples:
        spec = sample.spec
        tagmap = dataset.tagmaps[spec.variant]  # the sample's own line's tag map
        assert all(tag in tagmap.names() for tag in sample.tags)
        if spec.label_kind == "sensor":
            assert spec.target in tagmap.names()
        # the truth the harness records for this episode's run, and the answer it scores against
        sweep = sweep_of(spec)
        scenario = episode_scenario(sweep.base, spec, 60.0)
        plant = build_episode_plant(scenario, spec.seed)
        (record,) = with_answers(plant, plant.truth())
        assert (record["kind"], record["target"], record["magnitude"]) == (spec.kind, spec.target, spec.magnitude)
        assert truth_label(spec) == record["answer"]
        # ... and the family's own label for the fault it drew
        fault = drawn(family, spec, 4)
        assert (fault.kind, fault.target, fault.magnitude) == (spec.kind, spec.target, spec.magnitude)
        assert record["answer"] == fault.label
    # a family is no one plant instance: asking for one is refused by name (training reads each sample's own)
    with pytest.raises(ValueError, match="family of lines"):
        _ = dataset.plant_options
    assert dataset.lines() == ["family:tiny"]


def drawn(family: LineFamily, spec: EpisodeSpec, sweep_seed: int) -> FamilyFault:
    """The fault the family's draw gives this episode, drawn again from its seed on its own line."""
    template = load_template(line_folder(spec.line_files) / LINE_FILE)
    return draw_fault(family, compile_template(template), np.random.default_rng(episode_seed(spec.split, sweep_seed,
                                                                                              spec.index)))


def test_a_dataset_without_family_lines_loads_as_before(tmp_path: Path) -> None:
    """An episode pickled before episodes could carry a line reads as one without (the class default), with the
    digest it had; a dataset of one plant keeps its plant options."""
    spec = EpisodeSpec("train", 0, 1, 4, "step", "coater.blade1", 0.5, 0.5, 150.0)
    before = spec.digest_record()
    del spec.__dict__["line_files"]
    assert spec.line_files == () and spec.digest_record() == before and "line_files" not in before
    path = tmp_path / "old.pkl"
    with path.open("wb") as fh:
        pickle.dump({"format": 1, "samples": [], "tagmaps": {}, "meta": {"plant": "coater"}}, fh)
    old = load_dataset(path)
    assert not old.is_family and (old.plant, old.plant_options) == ("coater", {})


def test_episodes_of_a_family_and_of_a_plant_make_no_dataset_together(tiny: Path) -> None:
    specs = family_specs(load_family_file(tiny), "train", 1, 0)
    coater = EpisodeSpec("train", 0, 1, 4, "step", "coater.blade1", 0.5, 0.5, 150.0)
    with pytest.raises(ValueError, match="mix a family of lines with a plant"):
        generate([*specs, coater])
    assert family_runs_dir(tiny) == Path("runs/rootcause/family/tiny")
    assert Dataset([], {}, {"family": {"file": "x"}}).is_family


@pytest.mark.slow  # four episodes on two processes, then again on Ray
def test_a_process_pool_and_ray_give_the_same_family_dataset(tiny: Path) -> None:
    specs = family_specs(load_family_file(tiny), "train", 4, 1)
    serial = generate(specs, backend="serial")
    assert generate(specs, processes=2, backend="pool").digest() == serial.digest()
    pytest.importorskip("ray", reason=RAY_MISSING)
    assert generate(specs, processes=2, backend="ray").digest() == serial.digest()
